"""Answer ids: what a response's ``answer_id`` stands for (the index version and the cited passages).

It carries what feedback needs to refer to the answer, so any API process, before or after a restart, can read
it back without the service storing every answer it gives.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence

MAX_CITED_CHUNKS = 20
MAX_CHUNK_ID_CHARS = 300
MAX_ANSWER_ID_CHARS = 8000
ANSWER_ID_PREFIX = "a1."
VERSION_PATTERN = r"^v\d{6}$"


class AnswerIdError(ValueError):
    """A string that is not an answer id this service gives out."""


def answer_id_for(index_version: str, chunk_ids: Sequence[str]) -> str:
    """The id of an answer: the index version and the cited passages, encoded (base64url of JSON).

    It carries what feedback needs to refer to the answer, so any API process, before or after a
    restart, can read it back without the service storing every answer it gives.
    """
    payload = json.dumps([index_version, list(chunk_ids)], separators=(",", ":"), ensure_ascii=False)
    return ANSWER_ID_PREFIX + base64.urlsafe_b64encode(payload.encode("utf-8")).decode("ascii").rstrip("=")


def parse_answer_id(answer_id: str) -> tuple[str, tuple[str, ...]]:
    """The index version and cited chunk ids an answer id stands for.

    Raises:
        AnswerIdError: when it is not an answer id this service gives out.
    """
    problem = f"answer_id: {answer_id[:40]!r} is not an answer id from /v1/ask"
    if not answer_id.startswith(ANSWER_ID_PREFIX) or len(answer_id) > MAX_ANSWER_ID_CHARS:
        raise AnswerIdError(problem)
    body = answer_id[len(ANSWER_ID_PREFIX) :]
    try:
        decoded = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise AnswerIdError(problem) from exc
    if (
        not isinstance(decoded, list)
        or len(decoded) != 2
        or not isinstance(decoded[0], str)
        or not re.match(VERSION_PATTERN, decoded[0])
        or not isinstance(decoded[1], list)
        or len(decoded[1]) > MAX_CITED_CHUNKS
        or not all(isinstance(c, str) and 0 < len(c) <= MAX_CHUNK_ID_CHARS for c in decoded[1])
    ):
        raise AnswerIdError(problem)
    return decoded[0], tuple(decoded[1])
