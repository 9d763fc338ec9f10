"""Where in a normalised question a match does not count: negation, someone else, information requests, the past."""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass
from typing import Final, Literal

from triage.catalogue import RedFlagRule

_ScopeKind = Literal["negation", "other", "info"]

_TOKEN: Final = re.compile(r"\d+(?:[.,]\d+)+|\w+|[^\w\s]")
_HARD_BREAKS: Final = frozenset(
    {".", ";", "!", "?", "(", ")", "[", "]", ":", "but", "however", "although", "though", "whereas", "yet"}
    | {"except", "unless", "anyway"}
)
_FIRST_PERSON: Final = frozenset({"i", "im", "ive", "id", "ill", "me", "my", "myself", "mine"})
# A comma ends a scope unless what follows looks like the next item of a short list ("no fever, chills or sweats").
_NEW_CLAUSE: Final = _FIRST_PERSON | {
    *("it", "its", "just", "only", "now", "then", "since", "is", "are", "was", "were", "has", "have", "had"),
    *("feel", "feels", "felt", "still", "also", "so", "he", "she", "they", "this", "that", "the", "been"),
    *("got", "get", "gets", "keep", "keeps", "started", "cant", "dont", "can", "will", "wont", "doesnt"),
    *("didnt", "back", "after", "when", "because", "but"),
}
_NEGATION_STOPS: Final = frozenset(
    {"just", "only", "now", "since", "then", "until", "because", "so", "when", "while", "after", "still", "apart"}
    | {"otherwise", "today", "recently", "lately", "suddenly"}
)
_NEW_SUBJECT: Final = _FIRST_PERSON | {"it", "its", "now", "then", "the", "this", "today", "both", "since", "also"}
_BACKWARD_STOPS: Final = frozenset({",", "and", "or", "but", "with", "so", "because"})
_PAST_STOPS: Final = frozenset(
    {",", "now", "since", "today", "currently", "recently", "lately", "still", "then", "this"}
)
_MAX_WORDS: Final[dict[_ScopeKind, int]] = {"negation": 8, "other": 12, "info": 12}
_MAX_BACKWARD_WORDS: Final = 6

_NEGATION_CUE: Final = re.compile(
    r"\b(?:no|not|without|never|nor|neither|none|deny|denies|denied|havent|hasnt|hadnt|didnt|isnt|arent|wasnt"
    r"|werent|doesnt|dont (?:have|get|think|notice|see|feel) any|dont (?:have|get|think|feel|seem|look|notice)|free (?:of|from)"
    r"|zero|nil|negative for|not any|lack of"
    r"|ruled out|rule out|absence of|nothing (?:like|wrong with))\b"
)
# Negation words that do not negate a symptom ("no longer", "not sure", "never felt anything like this").
_PSEUDO_NEGATION: Final = re.compile(
    r"\b(?:no longer|no matter|no idea|no clue|no reason|no one|no way|no better|no relief|no position|no apparent"
    r"|no warning|not sure|not certain|not know|not just|not only|not (?:getting|any) better|not improving"
    r"|not easing|not going away|not normal|not right|not the same"
    r"|never (?:had|felt|experienced|known|been)(?: \w+){0,4} (?:like (?:this|it)|before|so bad|this bad)"
    r"|never ending|didnt (?:notice|realise|realize|know|feel it)|doesnt feel (?:normal|right|the same)"
    r"|(?:doesnt|wont|didnt|isnt) (?:fade|disappear)|dont think (?:anyone|anybody|people|they|he|she) (?:would|will|d)"
    r"|not (?:even )?trying|without (?:even )?(?:trying|realising|realizing|noticing|knowing|warning|meaning to|dieting"
    r"|reason))\b"
)
# "... my legs are fine", "cauda equina was ruled out": negates the words just before.
_BACKWARD_NEGATION_CUE: Final = re.compile(
    r"\b(?:(?:is|are|am|feels?|felt|seems?|looks?|looked|was|were|been|still)(?: (?!not\b|no\b|never\b)\w+)?"
    r" (?:fine|ok|okay|normal|good|alright|all right|unaffected)"
    r"|(?:was|were|been|got|is|are) (?:\w+ )?ruled out|(?:came back|were|was) (?:clear|normal|negative)"
    r"|(?<=\w )free(?! of| from))\b"
)
_RESOLVED_CUE: Final = re.compile(
    r"\b(?:(?:its|it has|it is|that has|thats|which has|they have|theyve|has|have|is|are|both) (?:all |now |since )?"
    r"(?:gone|passed|cleared|settled|resolved|stopped|over|better)(?: away| off)?"
    r"|(?:went|gone|passed|wore) (?:away|off)|cleared up|(?:all )?gone now|back to normal"
    r"|(?:fully |completely |totally )?recovered(?: now)?|(?:gone|over|clear) (?:for )?(?:\d+|a|two|three|several) (?:days|weeks|months))\b"
    # Only where the clause ends there: "my legs have gone numb" is a symptom, "its gone now" is not.
    r"(?=\s*(?:$|[,.;!?)]|(?:now|completely|totally|again|since|but|and|so|though|thankfully)\b))"
)
# "had a high fever, but fully recovered now", "a fever last week, temperatures been normal for 3 days": the whole
# sentence before it is over, commas and all.
_FULL_RECOVERY: Final = re.compile(
    r"\b(?:fully|completely|totally) (?:recovered|better|over it|healed)\b|\b(?:recovered|healed) (?:fully|completely|up)\b"
    r"|\b(?:temperatures?|temps?|fevers?) (?:has |have |s )?(?:been (?:back to )?normal|(?:gone|come) (?:back )?(?:down|to normal)|back to normal)\b"
    r"|\b(?:(?:it|feeling|the feeling|sensation|everything) )?(?:all )?came back (?:within|after|in) (?:a |an |\d+|one|two|five|ten|fifteen|twenty|thirty|a few|few|half an?) ?(?:\w+ )?(?:seconds?|minutes?|mins?|hours?)\b"
)
# "... went away but came back within an hour", "came back again": the sign returned, it is not over.
_RECURRENCE: Final = re.compile(
    r"\b(?:went|gone|go|goes|going) away|\b(?:stopped|eased|settled|disappeared|cleared|again|keeps?|kept)\b"
)
_RESOLVED_STOPS: Final = _HARD_BREAKS | {"and", "or", "so", "because", "now"}
# Only "it" and its kind point back past "but" ("a fever yesterday but its gone"); "my legs are numb but my back is
# better" resolves the back alone.
_CONTRAST: Final = frozenset({"but", "though", "although", "yet"})
# "... tingled for a minute, all back to normal now": these point back past one comma too.
_POINTING_BACK: Final = frozenset({"it", "its", "that", "thats", "which", "they", "theyve", "both", "this", "all"})
_MAX_RESOLVED_WORDS: Final = 10
_NOT_BEFORE: Final = re.compile(r"\b(?:not|never|no|\w+nt)\s+(?:\w+\s+)?$")
_OTHER_PERSON_CUE: Final = re.compile(
    r"\b(?:(?:my|our|his|her|a|the|their) )?(?:friends?|mates?|mum|mom|mother|mam|mummy|dad|daddy|father|wife"
    r"|husband|hubby|partner|boyfriend|girlfriend|bf|gf|son|daughter|kids?|child|children|baby|toddler|brother"
    r"|sister|gran|granny|grandma|grandmother|grandad|granddad|grandpa|grandfather|nan|nana|nanna|uncle|aunt"
    r"|auntie|cousin|colleague|coworker|boss|neighbou?r|flatmate|roommate|housemate|client|patients?|fiancee?"
    r"|in laws?|stepdad|stepmum|stepmom|niece|nephew|teammate|doctor|gp|physio|nurse|consultant|surgeon|chiro"
    r"|osteopath|family|relatives?)s?\b"  # "my brothers leg": a possessive without its apostrophe
    r"|\b(?:my|our|her|his|a|the) (?:\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve) (?:month|week|year|yr)s? old\b"
    r"|\b(?:someone|somebody|anyone|anybody|people|person|he|she|him|them|others|everyone|you|your|yourself)\b"
    # "they found ... on a scan", "they said": clinicians telling the user about the user.
    r"|\bthey\b(?! (?:found|said|told|diagnosed|think|thought|reckon|saw|spotted|picked|checked|scanned|did|want|wanted"
    r"|gave|put|took|sent|referred|called|named|confirmed|suspect\w*)\b)"
)
# Someone the user only knows of ("a guy at work", "saw on the news", "in a film"): never with the user, so these
# open an other-person scope even where another cue says someone is present ("... his spine").
_DISTANT_PERSON_CUE: Final = re.compile(
    r"\b(?:a|an|this|some|one) (?:guy|bloke|man|woman|lady|girl|boy|lad|chap|fella)"
    r" (?:(?:at|from) (?:my |our |the )?(?:work|gym|office|school|college|uni|club|church|job|class|team)"
    r"|i (?:know|knew|heard of|heard about|read about|met))\b"
    r"|\b(?:on|in) (?:the |a |an )?(?:news|tv|telly|radio|paper|papers|newspaper|film|movie|show|series|documentary|podcast"
    r"|youtube|reddit|tiktok|instagram|facebook|forum)\b"
)
# A pet as the subject ("my dachshund slipped a disc and his back legs are wobbly"): its signs are not a person's.
_ANIMAL_SUBJECT: Final = re.compile(
    r"\b(?:my|our|the) (?:dog|puppy|pup|cat|kitten|dachshund|labrador|spaniel|terrier|collie|greyhound|pet|rabbit|bunny)"
    r"(?:s|s has|s is| has| is| was| had| slipped| hurt| injured| cant| wont| keeps)\b"
)
_FIRST_PERSON_WORD: Final = re.compile(r"\b(?:i|im|ive|id|me|my|myself)\b")
# "me and my partner", "my wife and i": the user is part of the subject.
_WITH_ME: Final = re.compile(
    r"\b(?:me|i) and (?:my |our )?\w+|\b(?:my|our) \w+ and (?:i|me)\b"
    r"|\b(?:with|and) (?:my|our) (?:partner|wife|husband|hubby|boyfriend|girlfriend|bf|gf|fiancee?)\b(?! (?:is|has|was|had|says|said|thinks|s)\b)"
    r"|\b(?:as|when i was|since i was|back when i was) (?:a |an )?(?:child|kid|baby|toddler|teen\w*|little one)\b"
)
# Signs that the other person is with the user now, so their symptoms count ("should we lift him", "his neck").
_PRESENCE: Final = re.compile(
    r"\b(?:(?:should|do|can|shall|must) (?:we|i) (?:\w+ )?(?:move|lift|carry|drive|take|get|sit|lie|lay|put|roll|turn"
    r"|wake|leave|let|give) (?:him|her|them)|cant (?:wake|rouse|move|get) (?:him|her|them)"
    r"|(?:he|she)(?: is|s)? (?:says|saying|keeps|cant|wont|isnt|just|complaining|whinging|whining|moaning|groaning|wincing|limping|hobbling|struggling|screaming|crying)"
    r"|(?:hes|shes) (?:been|got|not|now|so|really)"
    # "his wrist", but not "help her back pain": there the user asks how to care for someone, not what is wrong now.
    r"|(?<!help )(?<!helping )(?<!ease )(?<!relieve )(?<!for )(?<!about )(?<!treat )(?<!massage )(?<!massaging )"
    r"(?<!spread to )(?<!spread into )(?:his|her) (?:(?:lower|upper|mid|middle|left|right|bad) )?(?:back|neck|legs?|spine|head|chest|bladder|lips|breathing|feet|arms?|hands?|knees?|ankles?"
    r"|hips?|elbows?|wrists?|shoulders?|calf|calves|skin)"
    r"|(?:glass|tumbler) test|press\w* (?:a |the )?(?:glass|tumbler)"
    r"|with me|next to me|right now|just now|here now|(?:call|ring) (?:an )?(?:ambulance|999|911|112)"
    r"|(?:has |just )?(?:collapsed|fainted)(?! (?:at|in|on|last|yesterday|a|two|three|years))|unconscious|not breathing"
    r"|(?:baby|toddler|child|kid|little one|son|daughter|boy|girl|(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten) (?:month|year|yr)s? old)(?: is| has(?! had)| hasnt| isnt| keeps| wont| cant| seems| looks| feels)"
    r"|(?:hes|shes) (?:got|not|now|so|really|very|too|burning|floppy|sleepy|drowsy|limp)"
    r"|(?:he|she) (?:tells?|told) (?:me|us)|(?:he|she) not\b"
    r"|(?:staying|living|lives|stays|sitting|lying|here) with (?:us|me)\b|(?:sat|sitting|standing|lying) (?:right )?(?:here|next to me|beside me)\b"
    r"|(?:hes|shes|theyre|he is|she is|they are) (?:still |just )?(?:lying|laying|stuck|trapped|on the (?:floor|ground))"
    # Where someone the user is watching is now: "has been sat on the commode", "is in the bath".
    r"|(?:has|have|s) been (?:sat |sitting |lying |laid up |stuck )?(?:on|in) (?:the|a) (?:commode|toilet|loo|floor|bed|sofa|couch"
    r"|chair|armchair|bath)|(?:is|s) (?:in|on) the (?:bath|shower|loo|toilet|commode|floor)"
    # "my father ... he fell from the roof": the user tells what just happened to someone in their care.
    r"|(?:he|she) (?:has |just |had )?(?:fell|fall|fallen|crashed|was hit|got hit|landed|was knocked)"
    # "the gp saw her this morning" is when a doctor looked, not that she is here.
    r"|(?<!saw her )(?<!saw him )(?<!seen her )(?<!seen him )(?<!saw them )"
    r"(?:this morning|this afternoon|this evening|tonight|(?:an|one|two|three|a few|a couple of) hours? ago|minutes ago)"
    r"|(?:he|she|hes|shes) (?:is |s |looks |seems |feels |has gone |went |gone |turned |going |turning )?(?:\w+ )?(?:sleepy|drowsy|floppy|limp|hot|burning|pale|grey|gray|blue"
    r"|confused|unwell|poorly|vomiting|being sick|shaking|shivering|sweating|clammy|not (?:himself|herself|making sense)))\b"
)
_INFO_CUE: Final = re.compile(
    r"\b(?:what (?:(?:actually|exactly|even|really) )?(?:is|are|does|do|causes|counts as|happens|would|should (?:you|someone"
    r"|people|a person))|whats|what signs"
    r"|how (?:do|can|would|does|is|are|common|likely) (?:you|someone|people|doctors|they|it|a person|one)"
    r"|why (?:do|does|would) (?:people|you|someone)|(?:read|reading|heard|hearing|learn\w*|asking|curious|wondering"
    r"|question|info\w*|article|articles|video|leaflet|poster|essay|project|presentation|assignment|lecture|course"
    r"|exam|study\w*|writing) (?:about|on|for|regarding|re)|(?:read|heard|saw|seen|told) (?:that|somewhere)"
    r"|signs? (?:of|for)|symptoms? (?:of|for)|warning signs|red flags?|tell me about|explain|define|definition of"
    r"|meaning of|difference between|is it true|in general|generally|hypothetically|for example|eg|such as"
    r"|list of|examples? of|(?:is|are|does|do) (?:a|an) (?:\w+ ){1,3}always"  # "is a stiff neck always ...", not "is my"
    r"|(?:what )?if (?:i|you|someone|somebody|anyone|he|she|they|we) (?:ever|were to|was to|should ever)"
    r"|how (?:to|do|can|would|will|should|could) (?:i |you |we |they )?(?:tell|know|check|spot|recogni[sz]e)"
    r"|(?:just )?in case (?:i|you|someone|anyone|he|she|they|we) ever|hypothetical\w*"
    r"|(?:scared|afraid|worried|frightened|terrified|paranoid|anxious|nervous) (?:of|about) (?:getting|developing|catching"
    r"|ending up with)|(?:how (?:do|can|should|would|could) (?:i|we|you) |how to |ways? to |tips? (?:to|for) |best way to )"
    r"(?:avoid|prevent|reduce the (?:risk|chance) of|lower the (?:risk|chance) of|stop (?:myself )?getting))\b"
)
# A sign in a condition about the future ("if my sciatica ever gets into both legs", "say my knee blew up ..."):
# hypothetical to the end of its clause, which "now", "but" or "today" also ends.
_CONDITIONAL: Final = re.compile(
    r"(?:\b(?:if|when|once) (?:my |your |his |her |the |it |this |that |i |you )?\w+ (?:ever|were to|should ever|ever starts? to)"
    r"|(?:^|(?<=[.!?] ))(?:say|suppose|supposing|imagine|lets say|let us say|what if))\b(?:(?! (?:now|but|today|tonight|this morning|and now)\b)[^.;!?,])*"
)
# "is numbness in the groin a sign of cauda equina?": a question about what a symptom means, with no "i" or "my".
_SENTENCE: Final = re.compile(r"[^.!?;]+")
_SENTENCE_END: Final = re.compile(r"[.!?;]")
_GENERIC_OPENER: Final = re.compile(r"\s*(?:is|are|does|do|can|could|would|will|what|whats|how|when|which)\b")
_ABOUT_MEANING: Final = re.compile(
    r"\b(?:signs?|symptoms?|mean|means|meaning|causes?|caused|red flags?|warning|linked|related|associated|common"
    r"|affects?|spreads?|possible|normal for|happens?|contagious|catching|infectious|serious|dangerous|curable"
    r"|treatable|hereditary|genetic|preventable|fatal|deadly|treated|diagnosed|feels? like|looks? like|mistaken for)\b"
)
_SELF: Final = re.compile(r"\b(?:i|im|ive|id|me|my|myself|mine|we|us|our)\b")
_PAST_CUE: Final = re.compile(
    r"\b(?:(?:(?:\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|few|a few|couple|a couple"
    r"|couple of|a couple of|several|many|some|\d+ or \d+) )?(?:years?|yrs?|decades?|months?|mths?) ago"
    r"|last (?:year|summer|winter|spring|autumn)|years (?:back|before|earlier)|used to|in the past"
    r"|as a (?:kid|child|teen\w*|baby|youngster)"
    r"|when i was (?:a kid|younger|little|small|a child|a teen\w*|pregnant|\d+)"
    r"|back in (?:19|20)\d\d|in (?:19|20)\d\d|long time ago|ages ago|once before|had (?:it|that|this) before"
    r"|since (?:i was (?:a kid|a child|little|young|a teen\w*|born)|childhood|birth)"
    r"|when i was (?:at|in) \w+|(?:back )?(?:at|in) (?:high |secondary |primary |middle |grammar )?school(?= *(?:$|[,.;!?]|now\b|but\b))"
    r"|(?:at|in) (?:uni|university|college)(?= *(?:$|[,.;!?(]|now\b|but\b))"
    r"|in my (?:teens|twenties|thirties|20s|30s|youth|younger days)|as a (?:student|teenager|schoolboy|schoolgirl)"
    r"|previously|an old (?:\w+ )?injury|years (?:and years )?ago|a (?:while|long while|good while) (?:back|ago)"
    r"|some time ago|(?:history|hx) of|once had|had (?:one|it|that|a \w+) once)\b"
)
# A clause about something over: someone's presence in it ("he collapsed in his garden last month") is not now.
_OVER_NOW: Final = re.compile(r"\b(?:(?<!since )last (?:month|year)|died|passed away|didnt make it|funeral)\b")
_POSSESSIVES: Final = ("my ", "our ", "his ", "her ", "their ")
# "started 2 months ago" is how long a current symptom has lasted, not a past event.
_PAST_PSEUDO: Final = re.compile(
    r"\b(?:started|began|begun|since|came on|kicked in|first noticed|noticed it|been going on)(?: \w+){0,4} ago\b"
)


@dataclass(frozen=True)
class _Tokens:
    words: tuple[str, ...]
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    @classmethod
    def of(cls, text: str) -> _Tokens:
        matches = list(_TOKEN.finditer(text))
        return cls(
            words=tuple(m.group() for m in matches),
            starts=tuple(m.start() for m in matches),
            ends=tuple(m.end() for m in matches),
        )

    def word(self, index: int) -> str:
        return self.words[index] if 0 <= index < len(self.words) else ""


@dataclass(frozen=True)
class Scopes:
    """Character ranges of a normalised question in which a match is not affirmed."""

    forward: tuple[tuple[int, int], ...]  # a match *starting* here is negated or informational
    others: tuple[tuple[int, int], ...]  # a match starting here is about someone else
    backward: tuple[tuple[int, int], ...]  # a match *ending* here is negated by what follows ("... are fine")
    past: tuple[tuple[int, int], ...]  # a match starting here is long past
    named_others: tuple[int, ...] = ()  # where "my aunts", "his dads" ... end: a match holding one is about them

    def block(self, start: int, end: int, rule: RedFlagRule) -> bool:
        if any(lo <= start < hi for lo, hi in self.forward):
            return True
        if any(lo <= end - 1 < hi for lo, hi in self.backward):
            return True
        # About someone else: the match starts in their scope, or names them inside it ("after my aunts fusion").
        if not rule.others and (
            any(lo <= start < hi for lo, hi in self.others) or any(start < at < end for at in self.named_others)
        ):
            return True
        return not rule.history and any(lo <= start < hi for lo, hi in self.past)


def find_scopes(text: str) -> Scopes:
    tokens = _Tokens.of(text)
    forward: list[tuple[int, int]] = []
    pseudo = [m.span() for m in _PSEUDO_NEGATION.finditer(text)]
    for cue in _NEGATION_CUE.finditer(text):
        if not any(lo < cue.end() and cue.start() < hi for lo, hi in pseudo):
            # From just after the cue's first letter: "no feeling" and "not able to pee" are symptoms that start
            # with the cue, while "have" in "dont have cancer" is negated.
            forward.append((cue.start() + 1, _walk_forward(tokens, cue.end(), "negation")))
    forward += [(cue.end(), _walk_forward(tokens, cue.end(), "info")) for cue in _INFO_CUE.finditer(text)]
    forward += [cue.span() for cue in _CONDITIONAL.finditer(text)]
    forward += [
        sentence.span()
        for sentence in _SENTENCE.finditer(text)
        if _GENERIC_OPENER.match(sentence.group())
        and _ABOUT_MEANING.search(sentence.group())
        and not _SELF.search(sentence.group())
    ]
    others = [(cue.end(), _walk_forward(tokens, cue.end(), "other")) for cue in _DISTANT_PERSON_CUE.finditer(text)]
    others += [(cue.end(), _animal_scope_end(text, cue.end())) for cue in _ANIMAL_SUBJECT.finditer(text)]
    named_others: list[int] = []
    if not _someone_present_now(text, tokens):
        with_me = [m.span() for m in _WITH_ME.finditer(text)]
        cues = [
            cue
            for cue in _OTHER_PERSON_CUE.finditer(text)
            if not any(lo < cue.end() and cue.start() < hi for lo, hi in with_me)
        ]
        others += [(cue.end(), _walk_forward(tokens, cue.end(), "other")) for cue in cues]
        # "my aunts fusion" (a possessive without its apostrophe), not "with my husband".
        named_others = [cue.end() for cue in cues if cue.group().startswith(_POSSESSIVES) and cue.group().endswith("s")]
    backward = [(_walk_backward(tokens, cue.start()), cue.start()) for cue in _BACKWARD_NEGATION_CUE.finditer(text)]
    backward += [
        (_walk_back_resolved(tokens, cue.start(), cue.group()), cue.start())
        for cue in _RESOLVED_CUE.finditer(text)
        if not _NOT_BEFORE.search(text, 0, cue.start())  # "it hasnt gone away" is not resolved
    ]
    backward += [
        (_recovered_from(text, cue), cue.start())
        for cue in _FULL_RECOVERY.finditer(text)
        if not _NOT_BEFORE.search(text, 0, cue.start())  # "not fully recovered" is not over
        and not (
            "came back" in cue.group()
            and _RECURRENCE.search(text, _sentence_start(text, cue.start()), _sentence_end(text, cue.end()))
        )
    ]
    not_past = [m.span() for m in _PAST_PSEUDO.finditer(text)]
    past = [
        _clause(tokens, cue.start(), cue.end())
        for cue in _PAST_CUE.finditer(text)
        if not any(lo <= cue.start() < hi for lo, hi in not_past)
    ]
    return Scopes(
        forward=tuple(forward),
        others=tuple(others),
        backward=tuple(backward),
        past=tuple(past),
        named_others=tuple(named_others),
    )


def _someone_present_now(text: str, tokens: _Tokens) -> bool:
    """A presence cue ("his back", "collapsed") in a clause that is not about the past ("last month", "died")."""
    for cue in _PRESENCE.finditer(text):
        lo, hi = _clause(tokens, cue.start(), cue.end())
        if not (_PAST_CUE.search(text, lo, hi) or _OVER_NOW.search(text, lo, hi)):
            return True
    return False


def _recovered_from(text: str, cue: re.Match[str]) -> int:
    """Where a full recovery reaches back to: its sentence, or the one before when the cue opens its sentence
    pointing back ("my bum went numb on the ride. it came back within ten minutes")."""
    start = _sentence_start(text, cue.start())
    if text[start : cue.start()].strip() == "" and cue.group().split(" ", 1)[0] in _POINTING_BACK:
        start = _sentence_start(text, max(start - 1, 0))
    return start


def _sentence_start(text: str, position: int) -> int:
    return max(text.rfind(mark, 0, position) for mark in ".;!?") + 1


def _sentence_end(text: str, position: int) -> int:
    end = _SENTENCE_END.search(text, position)
    return end.start() if end else len(text)


def _animal_scope_end(text: str, position: int) -> int:
    """The end of the sentence, or the user's own first word after ``position``, whichever is first."""
    ends = [
        match.start()
        for match in (_SENTENCE_END.search(text, position), _FIRST_PERSON_WORD.search(text, position))
        if match
    ]
    return min(ends, default=len(text))


def _walk_forward(tokens: _Tokens, position: int, kind: _ScopeKind) -> int:
    """Return where a scope opened at ``position`` ends: at a clause break, or for people/info at "i"/"my"."""
    end, words = position, 0
    for index in range(bisect_left(tokens.starts, position), len(tokens.words)):
        word = tokens.words[index]
        if word in _HARD_BREAKS or (word == "," and not _list_continues(tokens, index + 1)):
            break
        if word == ",":
            continue
        if kind == "negation":
            if word in _NEGATION_STOPS or (word in ("and", "or") and tokens.word(index + 1) in _NEW_SUBJECT):
                break
        elif word in _FIRST_PERSON:
            break
        words += 1
        if words > _MAX_WORDS[kind]:
            break
        end = tokens.ends[index]
    return end


def _list_continues(tokens: _Tokens, index: int) -> bool:
    count = 0
    while index < len(tokens.words) and tokens.words[index] != "," and tokens.words[index] not in _HARD_BREAKS:
        if tokens.words[index] in _NEW_CLAUSE:
            return False
        count, index = count + 1, index + 1
    return 0 < count <= 4


def _walk_backward(tokens: _Tokens, position: int) -> int:
    start = position
    for words, index in enumerate(range(bisect_left(tokens.starts, position) - 1, -1, -1)):
        word = tokens.words[index]
        if word in _HARD_BREAKS or word in _BACKWARD_STOPS or words >= _MAX_BACKWARD_WORDS:
            break
        start = tokens.starts[index]
    return start


def _walk_back_resolved(tokens: _Tokens, position: int, cue: str) -> int:
    """Where a symptom that "has gone" starts: back to a clause break, "and" or "now", and past "but" only when
    the cue points back with "it" or the like."""
    first = bisect_left(tokens.starts, position)
    pointing = cue.split(" ", 1)[0] in _POINTING_BACK or tokens.word(first - 1) in _POINTING_BACK
    start = position
    for words, index in enumerate(range(first - 1, -1, -1)):
        word = tokens.words[index]
        if word in _CONTRAST or word == ",":
            if not pointing:
                break
            pointing = False  # across one contrast or comma at most
        elif word in _RESOLVED_STOPS or words >= _MAX_RESOLVED_WORDS:
            break
        start = tokens.starts[index]
    return start


def _clause(tokens: _Tokens, start: int, end: int) -> tuple[int, int]:
    """Return the clause around ``start:end``, bounded by breaks, commas and words such as "now" or "since"."""
    first = bisect_left(tokens.starts, start)
    lo = start
    for index in range(first - 1, -1, -1):
        if tokens.words[index] in _HARD_BREAKS or tokens.words[index] in _PAST_STOPS:
            break
        lo = tokens.starts[index]
    hi = end
    for index in range(bisect_left(tokens.starts, end), len(tokens.words)):
        if tokens.words[index] in _HARD_BREAKS or tokens.words[index] in _PAST_STOPS:
            break
        hi = tokens.ends[index]
    return lo, hi
