"""Requests the service declines by policy, whatever the articles hold: instructions and medicine doses."""

from __future__ import annotations

import re

# Requests to change the service's behaviour rather than questions about health.
INSTRUCTIONS = re.compile(
    r"\b(?:ignore|disregard|forget)\b.{0,40}\b(?:instructions?|rules?|prompts?|guidelines?|everything)\b"
    r"|\b(?:system|hidden|initial)\s+prompt\b"
    r"|\byou\s+are\s+now\b|\bact\s+as\b|\bpretend\s+(?:to\s+be|you)\b|\bjailbreak\b|\bdeveloper\s+mode\b",
    re.IGNORECASE | re.DOTALL,
)
# Requests for a medicine's dose: the product gives no drug doses (team brief), so these are declined
# by policy, whatever the articles hold. General forms only: "how many mg / tablets", "how much X can I
# take", "maximum / safe / daily dose", "dosage", "how often can I take", an amount in mg or mcg.
_DOSE_REQUESTS = re.compile(
    r"\bhow\s+(?:many|much)\s+(?:mg|mgs|milligrams?|mcg|micrograms?|ml|millilit(?:re|er)s?|tablets?|pills?"
    r"|capsules?|doses?|puffs?|drops?)\b"
    # "how much ibuprofen / how many co-codamol can i take", not "how much time / how many physio sessions
    # should i have".
    r"|\bhow\s+(?:much|many)\s+(?![\w-]*\s*(?:[\w-]+\s+)?(?:time|rest|weight|water|sleep|exercise|off|reps|sets"
    r"|days?|weeks?|hours?|minutes?|times?|steps?|miles?|breaks?|sessions?|classes|lessons?|rounds?|laps?|kg|kilos?"
    r"|pounds?|lbs)\b)[\w-]+(?:\s+[\w-]+)?\s+"
    r"(?:can|should|could|may|must|do)\s+(?:i|you|we|he|she|they|my\s+\w+)\s+(?:take|have|give|use)\b"
    r"|\b(?:max(?:imum)?|safe|daily|right|correct|recommended|usual|normal|starting|highest)\s+(?:dose|dosage)s?\b"
    r"|\b(?:what|which)\s+(?:dose|dosage|strength)\b|\bdosages?\b"
    r"|\bhow\s+often\s+(?:can|should|do)\s+(?:i|you|we|he|she|they)\s+(?:take|give)\b"
    r"|\bhow\s+many\s+times\s+(?:a|per|each|in\s+a)\s+day\s+(?:can|should|could|may|must|do)\s+"
    r"(?:i|you|we|he|she|they|my\s+\w+)\s+(?:take|have|give|use)\b"
    r"|\b\d+(?:\.\d+)?\s*(?:mg|mcg|milligrams?|micrograms?)\b",
    re.IGNORECASE,
)


def is_instruction(question: str) -> bool:
    """A request to change the service's behaviour rather than a question: declined, never scored."""
    return INSTRUCTIONS.search(question) is not None


def is_dose_request(question: str) -> bool:
    """A request for a medicine's dose: declined by policy (no drug doses), never scored."""
    return _DOSE_REQUESTS.search(question) is not None
