"""Red-flag triage: the catalogue's schema, its own phrases, look-alikes, robustness and the labelled tune split."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from eval.questions import load_questions
from ingest import load_sources
from tests.conftest import CORPUS
from tests.heldout import held_out_paraphrases, held_out_words_in_patterns, near_copies_of_held_out
from triage import (
    DEFAULT_CATALOGUE_PATH,
    LEVELS,
    RedFlagCatalogue,
    RedFlagCatalogueError,
    detect_red_flags,
    load_catalogue,
    normalise,
)

ROOT = Path(__file__).resolve().parents[2]
QUESTIONS = ROOT / "eval" / "data" / "questions.jsonl"
CATALOGUE = load_catalogue()
RANK: dict[str, int] = {level: rank for rank, level in enumerate(LEVELS)}  # lower is more serious


def rules_for(question: str, catalogue: RedFlagCatalogue = CATALOGUE) -> list[str]:
    return [flag.rule for flag in detect_red_flags(question, catalogue)]


# ---------------------------------------------------------------------------------------------- catalogue


def test_default_catalogue_loads_with_rules_at_both_levels() -> None:
    assert CATALOGUE.version == 1
    assert {rule.level for rule in CATALOGUE.rules} == set(LEVELS)
    assert len({rule.id for rule in CATALOGUE.rules}) == len(CATALOGUE.rules)
    for rule in CATALOGUE.rules:
        assert rule.source.startswith("https://"), rule.id
        assert len(rule.test_phrases) >= 4, rule.id
        assert rule.message.strip(), rule.id


GOOD_RULE: dict[str, object] = {
    "id": "fever-with-back-pain",
    "level": "urgent",
    "family": "spinal-infection",
    "message": "Get same-day care.",
    "source": "https://www.nhs.uk/conditions/back-pain/",
    "patterns": ["\\bfever\\b"],
    "test_phrases": ["fever", "a fever", "fever and back pain", "back pain with fever"],
}


def write_catalogue(tmp_path: Path, *rules: Mapping[str, object], **top: object) -> Path:
    path = tmp_path / "redflags.yaml"
    families = {"spinal-infection": "an infection in the spine"}
    path.write_text(yaml.safe_dump({"version": 1, "families": families, "rules": list(rules), **top}), encoding="utf-8")
    return path


def test_a_minimal_catalogue_loads(tmp_path: Path) -> None:
    catalogue = load_catalogue(write_catalogue(tmp_path, GOOD_RULE))
    assert [rule.id for rule in catalogue.rules] == ["fever-with-back-pain"]
    assert rules_for("back pain and a fever", catalogue) == ["fever-with-back-pain"]


def test_the_rarest_part_of_a_pattern_is_tried_first_and_the_answer_is_the_same(tmp_path: Path) -> None:
    rule = {
        **GOOD_RULE,
        "patterns": [{"all": ["\\bback\\b", "\\bfever\\b"]}],
        "test_phrases": ["fever and back pain", "back pain with fever", "back ache and a fever", "a fever, sore back"],
        "negative_phrases": ["sore back after the gym", "back stiff in the morning", "no fever, just a stiff back"],
    }
    catalogue = load_catalogue(write_catalogue(tmp_path, rule))
    # "back" is in every negative phrase, "fever" in one: fever is checked first.
    assert [part.pattern for part in catalogue.rules[0].patterns[0]] == ["\\bfever\\b", "\\bback\\b"]
    assert rules_for("back pain and a fever", catalogue) == ["fever-with-back-pain"]
    assert rules_for("back pain after lifting", catalogue) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"level": "critical"}, r"rule 'fever-with-back-pain': level must be one of emergency, urgent, got 'critical'"),
        ({"message": None}, r"rule 'fever-with-back-pain': message: must be non-empty text"),
        ({"test_phrases": []}, r"rule 'fever-with-back-pain': test_phrases: must be a list of at least 4 phrases"),
        ({"source": "http://example.com"}, r"rule 'fever-with-back-pain': source must be an https:// address"),
        ({"patterns": []}, r"rule 'fever-with-back-pain': patterns: must be a non-empty list"),
        ({"patterns": ["(unclosed"]}, r"rule 'fever-with-back-pain': patterns\[0\]: invalid regex '\(unclosed'"),
        ({"patterns": ["{nope}"]}, r"rule 'fever-with-back-pain': patterns\[0\]: unknown term \{nope\}"),
        ({"patterns": ["x?"]}, r"rule 'fever-with-back-pain': patterns\[0\]: regex 'x\?' matches empty text"),
        ({"patterns": [{"any": ["x"]}]}, r"rule 'fever-with-back-pain': patterns\[0\]: missing field 'all'"),
        ({"paterns": ["x"]}, r"rule 'fever-with-back-pain': unknown field 'paterns'"),
        ({"history": "yes"}, r"rule 'fever-with-back-pain': history must be true or false"),
        ({"others": 1}, r"rule 'fever-with-back-pain': others must be true or false"),
        ({"id": "Fever With Back Pain"}, r"rules\[0\]: id must be kebab-case"),
        (
            {"family": "spine"},
            r"rule 'fever-with-back-pain': family must be one of the catalogue's families, or a list",
        ),
        ({"family": []}, r"rule 'fever-with-back-pain': family must be one of the catalogue's families, or a list"),
    ],
)
def test_schema_errors_name_the_rule_and_field(tmp_path: Path, change: dict[str, object], expected: str) -> None:
    rule = {**GOOD_RULE, **change}
    if change.get("message", "") is None:
        del rule["message"]
        expected = r"rule 'fever-with-back-pain': missing field 'message'"
    with pytest.raises(RedFlagCatalogueError, match=expected):
        load_catalogue(write_catalogue(tmp_path, rule))


def test_schema_errors_are_value_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="rule 'fever-with-back-pain': level"):
        load_catalogue(write_catalogue(tmp_path, {**GOOD_RULE, "level": "soon"}))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version: 1\nrules: [", r"not valid YAML"),
        ("- just a list", r"must be a mapping"),
        ("version: 0\nfamilies: {a: b}\nrules: []", r"version must be a positive integer, got 0"),
        ("version: 1\nrules: [1]", r"missing field 'families'"),
        ("version: 1\nfamilies: {}\nrules: [1]", r"families must name at least one family"),
        ("version: 1\nfamilies: {a: b}\nrules: []", r"rules must be a non-empty list"),
        ("version: 1\nfamilies: {a: b}\nrules: [1]\nextra: 2", r"unknown field 'extra'"),
    ],
)
def test_top_level_schema_errors(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RedFlagCatalogueError, match=expected):
        load_catalogue(path)


def test_duplicate_rule_ids_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(RedFlagCatalogueError, match="rule 'fever-with-back-pain': id is used by more than one rule"):
        load_catalogue(write_catalogue(tmp_path, GOOD_RULE, GOOD_RULE))


def test_terms_expand_and_unknown_terms_are_named(tmp_path: Path) -> None:
    rule = {**GOOD_RULE, "patterns": ["{hot} {thing}"]}
    path = write_catalogue(tmp_path, rule, terms={"hot": "(?:fever|temp)", "thing": "{hot}ish"})
    assert load_catalogue(path).rules[0].patterns[0][0].search("fever tempish")
    with pytest.raises(RedFlagCatalogueError, match=r"terms.thing: unknown term \{cold\}"):
        load_catalogue(write_catalogue(tmp_path, rule, terms={"hot": "fever", "thing": "{cold}"}))


def test_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_catalogue(tmp_path / "nope.yaml")


def test_default_path_is_beside_the_module() -> None:
    assert DEFAULT_CATALOGUE_PATH.name == "redflags.yaml" and DEFAULT_CATALOGUE_PATH.is_file()


# ---------------------------------------------------------------------------------------------- the catalogue's phrases

POSITIVES = [(rule.id, rule.level, phrase) for rule in CATALOGUE.rules for phrase in rule.test_phrases]
NEGATIVES = [(rule.id, phrase) for rule in CATALOGUE.rules for phrase in rule.negative_phrases]


@pytest.mark.parametrize(("rule_id", "level", "phrase"), POSITIVES)
def test_every_test_phrase_triggers_its_rule_at_its_level(rule_id: str, level: str, phrase: str) -> None:
    flags = {flag.rule: flag.level for flag in detect_red_flags(phrase, CATALOGUE)}
    assert flags.get(rule_id) == level, flags


@pytest.mark.parametrize(("rule_id", "phrase"), NEGATIVES)
def test_no_negative_phrase_triggers_its_rule(rule_id: str, phrase: str) -> None:
    assert rule_id not in rules_for(phrase)


# ---------------------------------------------------------------------------------------------- look-alikes and hedges

BENIGN = [
    # negated
    "no numbness or tingling anywhere, just stiff and achy after deadlifts",
    "no fever or chills, my back is just sore from moving house",
    "without any fever, just a stiff lower back",
    "I don't have bladder problems, just sciatica down one leg",
    "never lost control of my bladder, it's only my back that hurts",
    "denies any numbness in the groin, just lower back pain",
    "not numb at all, just sore",
    "no fever no weight loss, back just achey for 2 weeks",
    "both legs feel completely normal, just my lower back twinges when i bend over",
    "chest feels totally fine, just a knot between my shoulder blades",
    "no pain at night at all, only after sitting at work all day",
    "my doctor already ruled out cauda equina, what exercises can i do for sciatica",
    # someone else, or long ago
    "my friend had a fever last week, my back is sore from moving house",
    "my mum had cancer (not me), my back aches from gardening",
    "my dad has osteoporosis, which exercises are safe for him?",
    "had sciatica in both legs years ago, fine now, any posture tips?",
    "can a bad disc in your neck make your arm tingle?",
    "my brother has sciatica in both legs, how can i help him",
    "someone at work had cauda equina, im scared, my back aches a bit",
    # information requests
    "a physio mentioned cauda equina in a talk at our club, can you explain that term",
    "what are red flags for back pain?",
    "what are the warning signs of cauda equina syndrome?",
    "what is cauda equina",
    "writing a leaflet for my pilates class about when back pain needs A&E, what should go in it",
    "what happens if you cant pee with a slipped disc?",
    "is numbness in the groin a symptom of cauda equina?",
    "can sciatica affect both legs",
    "i read that losing bladder control is a red flag",
    # other body parts, normal soreness, everyday words
    "my knees hurt after leg day, is that a bad sign",
    "elbows ache every time after bench press",
    "legs are wrecked 2 days after my first spin class, normal?",
    "lower back is sore on both sides the day after heavy rows",
    "i get up at night to pee like always, but my back is stiff in the morning",
    "sore bum from sitting on a hard chair at work",
    "my wrist goes numb when i type for hours",
    "is it normal for back pain to be worse in the morning?",
    "hot water bottle or ice for my back?",
    "my back is killing me after gardening",
    "i hurt myself lifting a box at work",
    "how many mg of ibuprofen can i take in one day",
    "will losing weight help my back?",
    "stiff neck from sleeping funny, no fever, no headache",
    "im 38 and my lower back hurts after running",
    "fever free, just back ache",
    "tramadol makes me drowsy, is that normal",
    "i slipped on ice and landed on my bum, tailbone hurts",
    "my spine is a bit curved, scoliosis since i was a kid",
]


@pytest.mark.parametrize("question", BENIGN)
def test_benign_look_alikes_raise_nothing(question: str) -> None:
    assert rules_for(question) == []


@pytest.mark.parametrize(
    ("question", "rule_id"),
    [
        ("kind of numb around my bum since my back went", "cauda-equina-saddle-numbness"),
        ("maybe a bit of fever with this back pain", "fever-with-back-pain"),
        ("i think i peed myself, back is agony", "cauda-equina-incontinence"),
        ("not sure but i cant pee properly since my back went", "cauda-equina-urinary-retention"),
        ("is it bad that i cant feel my bum when i wipe?", "cauda-equina-saddle-numbness"),
        ("I can't pee", "cauda-equina-urinary-retention"),
        ("i cannot pee", "cauda-equina-urinary-retention"),
        ("i can\u2019t wee since yesterday", "cauda-equina-urinary-retention"),
        ("no fever but i can't feel my bum", "cauda-equina-saddle-numbness"),
        ("no fever, my legs are both numb", "both-legs-weak-or-numb"),
        ("i've never had pain like this, tearing through my chest and back", "chest-pain-or-tearing-pain"),
        ("started 2 months ago and now i cant feel my legs", "both-legs-weak-or-numb"),
    ],
)
def test_hedged_or_mixed_mentions_still_escalate(question: str, rule_id: str) -> None:
    assert rule_id in rules_for(question)


@pytest.mark.parametrize(
    ("question", "rule_id"),
    [
        ("my husband fell off a ladder, should i move him?", "major-trauma"),
        ("my son fell off the roof and cant feel his legs", "major-trauma"),
        ("my friend is here with me and cant feel his legs", "both-legs-weak-or-numb"),
        ("my brother took a handful of his tramadol and wont wake up", "medicine-overdose"),
        ("my best friend keeps talking about killing himself", "suicidal-thoughts"),
    ],
)
def test_someone_with_the_user_now_counts(question: str, rule_id: str) -> None:
    assert rule_id in rules_for(question)


@pytest.mark.parametrize(
    ("question", "level"),
    [
        ("lbp for 3 days and now numb down below", "emergency"),
        ("it takes ages to start peeing now, bad back", "emergency"),
        ("i had to wear a pad because i keep leaking, back agony", "emergency"),
        ("my legs went from under me and my back is in agony", "emergency"),
        ("got knocked off my bike by a van this morning", "emergency"),
        ("i think im having a heart attack, back and arm hurt", "emergency"),
        ("i dont see the point in living anymore", "emergency"),
        ("i'm shivering and my lower back aches", "urgent"),
        ("finished radiotherapy last year and now my back aches", "urgent"),
        ("clothes are hanging off me and i'm not trying to lose weight, back ache", "urgent"),
        ("my toes catch on the ground when i walk, sciatica", "urgent"),
        ("i keep waking up at 3am because the pain in my spine is so bad", "urgent"),
        ("neck pain and i cant grip my cup properly", "urgent"),
    ],
)
def test_lay_wording_is_recognised_at_its_level(question: str, level: str) -> None:
    flags = detect_red_flags(question, CATALOGUE)
    assert flags and flags[0].level == level, flags


@pytest.mark.parametrize(
    ("question", "rule_id"),
    [
        ("my wife says it feels numb between her legs and her back is agony", "cauda-equina-saddle-numbness"),
        ("grandad has wet himself twice and his back is really bad", "cauda-equina-incontinence"),
        ("my son came off his scooter, his wrist is pointing the wrong way", "possible-fracture-or-dislocation"),
        ("hes been shivery all day and his elbow is red and swollen", "hot-swollen-joint-with-fever"),
    ],
)
def test_third_person_words_count_when_the_person_is_with_the_user(question: str, rule_id: str) -> None:
    assert rule_id in rules_for(question)


@pytest.mark.parametrize(
    "question",
    [
        "my brothers knee went hot and swollen with a fever last year, mine is just stiff",
        "my flatmates calf swelled up after her flight, can long trips cause that?",
        "my uncle has bowel cancer and tingling feet, what helps neuropathy?",
    ],
)
def test_someone_elses_signs_with_no_sign_they_are_present_raise_nothing(question: str) -> None:
    assert rules_for(question) == []


@pytest.mark.parametrize(
    ("misspelt", "rule_id"),
    [
        ("cant feel my leggs and my bak is agony", "both-legs-weak-or-numb"),
        ("both lges numb and bck killin me", "both-legs-weak-or-numb"),
    ],
)
def test_common_misspellings_are_folded(misspelt: str, rule_id: str) -> None:
    assert rule_id in rules_for(misspelt)


@pytest.mark.parametrize(
    "question",
    [
        "my finger is bent sideways after catching the ball and i cant straighten it",
        "ankle made a cracking noise when i landed and theres no way i can stand on it",
        "my calf is hard as a rock and the pain is through the roof since the tackle",
        "leg swelled up after the long drive and now im gasping for breath",
        "fell off the climbing wall and my hand has gone pale and cold",
        "had bowel cancer, now my legs are unsteady and i keep tripping",
        "jaw and left arm ache with this upper back pain and im sweaty",
        "neck is stiff, got a temperature and the light hurts my eyes",
        "back went at work, now i cant tell if i need a wee or not",
        "pain started in my chest and went through to my back, im cold and sweaty",
        "broke out in a sweat with this pain between my shoulders, feel like throwing up",
        "think my kneecap has slipped out, its gone sideways",
        "my ankle is huge and purple and i cant walk on it after falling off the kerb",
        "fever 39 and i cant lift my foot, back pain too",
        "collarbone looks like its got a lump sticking up after i fell off my bike",
        "both my legs have gone heavy and wont do what i tell them, back agony",
    ],
)
def test_lay_paraphrases_of_joint_limb_heart_and_infection_signs_are_emergencies(question: str) -> None:
    flags = detect_red_flags(question, CATALOGUE)
    assert flags and flags[0].level == "emergency", flags


@pytest.mark.parametrize(
    "question",
    [
        "knee is hot to touch and puffed up and i feel shivery and rough",
        "my calf is swollen and tender and warm, took a long haul flight last week",
        "pain in the middle of my upper back between my shoulder blades",
        "im injecting drugs again and my back has been killing me for a week",
        "im on immunosuppressants for crohns and have new back pain",
        "im an iv drug user and my back is agony",
        "had a discectomy 3 weeks ago and now my back hurts more and more",
        "my wrist is throbbing and swollen and i feel fluey",
        "calf swollen up since the plane, painful to walk",
    ],
)
def test_lay_paraphrases_of_same_day_signs_are_at_least_urgent(question: str) -> None:
    assert detect_red_flags(question, CATALOGUE), question


@pytest.mark.parametrize(
    "question",
    [
        "my knee is sore but its not hot or swollen and no fever",
        "had a scan and the clot was ruled out, calf still a bit sore",
        "knocked my shin on the table yesterday, bruised but settling",
        "calf cramp last night that went away after stretching",
        "how much ibuprofen for a swollen knee",
        "can i take aspirin to prevent blood clots on a flight",
        "upper back is tight after rowing but no pain really",
        "my legs are tired and heavy after a long hike",
        "what does compartment syndrome feel like",
        "sore hamstring after sprinting, can i still train",
        "no numbness, no weakness, no bladder issues, just sore",
        "my knee swelled a bit after football, no heat, no temperature",
        "years ago i had a dvt, now i just want tips for flights",
        "my gp ruled out a blood clot, calf still tight",
        "what are the signs of a heart attack in women",
        "is it normal for my legs to feel heavy after squats",
        "my ankle clicks but doesnt hurt",
        "had a fracture in my wrist as a kid, now it aches when its cold",
        "my back hurts when i cough, no fever, no other symptoms",
    ],
)
def test_joint_and_limb_look_alikes_raise_nothing(question: str) -> None:
    assert rules_for(question) == []


# ---------------------------------------------------------------------------------------------- scopes and words added 2026-11-30
# Written as our own paraphrases while the detector was widened; none is a held-out question (see the near-copy
# test below).


@pytest.mark.parametrize(
    "question",
    [
        # a symptom that has gone
        "the numbness in my groin has gone now, back still sore",
        "had a temperature on monday but its gone, lower back stiff from the sofa",
        # a hypothetical, or how to tell
        "if i ever lost feeling in both legs with back pain would that mean a&e",
        "in case i ever get a hot swollen knee with a fever, who do i call",
        "how to tell if a sprained ankle is broken",
        # school days, a cause the user names, a cancer check
        "dislocated my kneecap at school, now it aches on long runs",
        "pain between shoulder blades from bad posture, what exercises help",
        "numb bum after a long bike ride",
        "had cancer checks and all clear, back is just sore from work",
        "i am scared i might have cancer because my back hurts",
        # someone the user cares for, not someone with a sign now
        "my mum is on chemo and im worried about her, what can i do to help her back pain",
        "is meningitis contagious",
        "out of breath after sprints and my calves ache",
        # slang and everyday words next to the widened ones
        "my bum is dead sore after squats",
        "i have a limp and a rash on my leg",
        "stiff neck and spots on my back",
        "back pain since secondary school, any exercises",
        "legs wobbly after a long run, back a bit stiff",
        "my back pain spreads to the other side sometimes",
        "weight dropping off me since i started running, back feels better",
    ],
)
def test_resolved_hypothetical_past_explained_and_informational_mentions_raise_nothing(question: str) -> None:
    assert rules_for(question) == []


@pytest.mark.parametrize(
    ("question", "level"),
    [
        # "has gone" followed by a sign is a symptom, and "has not gone away" is not resolved
        ("both my legs have gone numb and my back hurts", "emergency"),
        ("my legs are weak and it has not gone away, back pain", "emergency"),
        ("fever has gone up and my back hurts", "urgent"),
        # a resolved other symptom does not reach back past "but" to hide this one
        ("my legs are numb but my back is better", "emergency"),
        ("cant pee but the pain has settled", "emergency"),
        # "i suppose" is a hedge, not a hypothetical; "at school" is past only where it ends the clause
        ("i suppose its numb around my bum and back hurts", "emergency"),
        ("he fell at school, his arm is bent the wrong way", "emergency"),
        ("numb bum after a bike ride and my lower back is agony", "emergency"),
        # lay and non-native words
        ("my bum cheeks feel like theyre asleep and my back is wrecked", "emergency"),
        ("i no can feel my legs good, back hurt from work yesterday", "emergency"),
        ("Doctor please help, my back very pain and I cannot make urine since morning", "emergency"),
        ("my wee just came out while i was standing, never happened before, bad back", "emergency"),
        ("sciatica was in one leg, now its spread to the other leg and gone numb", "emergency"),
        ("spots on her legs that dont fade under a glass", "emergency"),
        ("neck very stiff and she is sleepy and hot, baby 8 months", "emergency"),
        ("calf pain for days and today i coughed up some blood", "emergency"),
        ("mum 80 fell in garden, hip pain, leg looks shorter and turned out, cant get up", "emergency"),
        ("my leg is in plaster and the pain is much worse than when it was put on, toes tingling", "emergency"),
        ("i have breast cancer that spread and now my legs wont hold me up", "emergency"),
        ("i feel like taking all my tablets tonight", "emergency"),
        ("weight has dropped off me and my back aches", "urgent"),
        ("calf feels hot and throbs after my flight", "urgent"),
        ("my flatmate took a bunch of codeine with vodka and im struggling to wake him", "emergency"),
        ("after 300 burpees my arms are swollen and my urine looks like coffee", "emergency"),
        (
            "pain in the front of my shin keeps getting worse after a tackle, skin tight and shiny, foot tingles",
            "emergency",
        ),
        ("secondary cancer in my bones, now numbness round my waist like a band and back pain", "emergency"),
        ("heroin user with new bad back pain", "urgent"),
        ("had a spinal injection last week and back is worse", "urgent"),
        # A sign that "came back" after easing has returned; it is not a recovery.
        ("since my back went my bum goes numb, it eased off but came back within an hour", "emergency"),
        # "is my ... always" asks about the user, not for information.
        ("is my neck always going to be this stiff? ive got a fever and the light hurts", "emergency"),
    ],
)
def test_new_wordings_are_recognised_at_their_level(question: str, level: str) -> None:
    flags = detect_red_flags(question, CATALOGUE)
    assert flags and flags[0].level == level, flags


# ---------------------------------------------------------------------------------------------- the criteria's context
# Messages from the triage issue (written by people outside the team): each rule must see the context its criterion
# names. The ones marked xfail are known gaps, strict so that a fix shows: the criterion-based rules must make
# them pass.


def known_gap(message: str, level: str | None, name: str, missing: str) -> object:
    """A criteria case the catalogue still gets wrong: ``missing`` names what its rule lacks."""
    return pytest.param(message, level, id=name, marks=pytest.mark.xfail(strict=True, reason=missing))


CRITERIA_CASES = [
    # An erection problem needs a word for one: "cant get up out of bed" is about the back.
    pytest.param("my back is so bad i cant get up out of bed", None, id="getting-up-is-not-sexual"),
    # NHS: weakness in both legs with back pain; a heavy lift the day before does not explain it away.
    pytest.param(
        "my legs have gone weak since heavy deadlifts yesterday and my lower back is agony", "emergency", id="both-legs"
    ),
    known_gap(
        "my back suddenly went while deadlifting, the pain is horrible",
        None,
        "aneurysm-needs-age-or-shock-not-a-lift",
        "the aneurysm rule does not yet require age, a known aneurysm or shock",
    ),
    known_gap("slept at a funny angle, neck stiff", None, "no-injury-no-fracture", "fracture needs no injury yet"),
    known_gap(
        "my doms is way worse than i expected",
        None,
        "soreness-is-not-compartment-syndrome",
        "compartment syndrome does not yet require an injury or crush",
    ),
    known_gap(
        "migraine, lights hurt, been sick",
        None,
        "migraine-is-not-meningitis",
        "meningitis needs no NHS combination yet",
    ),
    known_gap(
        "i leak a bit when i sneeze since having my baby",
        None,
        "stress-leaks-are-not-cauda-equina",
        "incontinence does not yet require back or leg pain",
    ),
    known_gap(
        "chest aches the day after bench press",
        None,
        "sore-chest-muscles",
        "chest pain does not weigh an exercise cause",
    ),
    known_gap(
        "neck cracked at the chiropractor, double vision, slurred speech",
        "emergency",
        "stroke-after-neck-manipulation",
        "the catalogue has no stroke or neck-artery rule yet",
    ),
]


@pytest.mark.parametrize(("message", "level"), CRITERIA_CASES)
def test_rules_see_the_context_their_criterion_names(message: str, level: str | None) -> None:
    flags = detect_red_flags(message, CATALOGUE)
    assert (flags[0].level if flags else None) == level, [flag.rule for flag in flags]


def test_unless_must_be_a_list_of_regexes(tmp_path: Path) -> None:
    rule = {
        **GOOD_RULE,
        "patterns": ["x+y"],
        "test_phrases": ["xy"] * 4,
        "unless": "not a list",
    }
    path = write_catalogue(tmp_path, rule)
    with pytest.raises(RedFlagCatalogueError, match="unless: must be a list"):
        load_catalogue(path)
    rule["unless"] = ["\\bafter\\b"]
    catalogue = load_catalogue(write_catalogue(tmp_path, rule))
    assert rules_for("xy", catalogue) == ["fever-with-back-pain"] and rules_for("xy after the gym", catalogue) == []


def _string_literals(path: Path) -> list[str]:
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)]


def test_no_test_phrase_is_a_near_copy_of_a_held_out_question() -> None:
    """Held-out wording never reaches the catalogue or these tests, so it stays a fair test of new wording."""
    phrases = [phrase for rule in CATALOGUE.rules for phrase in (*rule.test_phrases, *rule.negative_phrases)]
    phrases += [text for text in _string_literals(Path(__file__)) if len(text.split()) >= 5]
    near = near_copies_of_held_out(phrases)
    assert near == []


def _tuning_text_and_articles() -> str:
    questions = [q.question for q in load_questions(split="tune")]
    articles = [d.text for d in load_sources([CORPUS]).documents]
    return "\n".join(normalise(text) for text in (*questions, *articles))


def test_no_pattern_holds_words_only_a_held_out_question_uses() -> None:
    """Looks inside the patterns: two or more words of one held-out question that no tuning question, phrase or
    article uses may not both appear in one rule's patterns (they would have been copied from it)."""
    phrases = [phrase for rule in CATALOGUE.rules for phrase in (*rule.test_phrases, *rule.negative_phrases)]
    known = _tuning_text_and_articles() + "\n" + "\n".join(normalise(p) for p in phrases)
    assert held_out_words_in_patterns(CATALOGUE, known=known) == []


def test_no_phrase_or_test_string_paraphrases_a_held_out_question() -> None:
    """A paraphrase shares a question's rarest words however it is reworded: three or more words of one held-out
    question that no tuning question or article uses may not appear together in a phrase or a test string."""
    phrases = [phrase for rule in CATALOGUE.rules for phrase in (*rule.test_phrases, *rule.negative_phrases)]
    phrases += [text for text in _string_literals(Path(__file__)) if len(text.split()) >= 5]
    assert held_out_paraphrases(phrases, known=_tuning_text_and_articles()) == []


# ---------------------------------------------------------------------------------------------- robustness


@pytest.mark.parametrize(
    "question", ["", "   ", "\n\t\r ", "?!?!", "\x00\x07\x1b", "\U0001f62d\U0001f64f", "\u200b\u200d"]
)
def test_empty_or_junk_input_raises_nothing(question: str) -> None:
    assert detect_red_flags(question, CATALOGUE) == []


@pytest.mark.parametrize(
    "question",
    [
        "\x00cant feel my bum\x07 when i wipe\x1b",
        "\U0001f62d\U0001f62d cant feel my bum when i wipe \U0001f64f",
        "c\u200bant fe\u200del my b\u200cum when i w\ufeffipe",
        "CAN\u2019T FEEL MY BUM WHEN I WIPE",
        "\uff43\uff41\uff4e\uff54 \uff46\uff45\uff45\uff4c my bum when i wipe",  # full-width letters
        "my back hurts\n\ncant feel my bum when i wipe",
    ],
)
def test_noisy_input_is_normalised_and_still_flagged(question: str) -> None:
    assert rules_for(question) == ["cauda-equina-saddle-numbness"]


def test_normalise_folds_contractions_quotes_and_invisible_characters() -> None:
    assert normalise("  I CAN\u2019T  pee,\u200b I DO NOT   know\t") == "i cant pee, i dont know"
    assert normalise("pins-and-needles w/o fever") == "pins and needles without fever"


def test_very_long_input_is_handled() -> None:
    """Speed is measured by the benchmarks, not asserted here (machines are noisy)."""
    filler = "my lower back has been stiff after work and i stretch every evening. " * 150  # ~10,000 characters
    assert len(filler) >= 10_000
    assert detect_red_flags(filler, CATALOGUE) == []
    assert rules_for(filler + "now i cant feel my bum when i wipe") == ["cauda-equina-saddle-numbness"]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_arbitrary_text_never_crashes(question: str) -> None:
    flags = detect_red_flags(question, CATALOGUE)
    assert len({flag.rule for flag in flags}) == len(flags)


# ---------------------------------------------------------------------------------------------- ordering


def test_emergency_comes_before_urgent_and_each_rule_once() -> None:
    question = (
        "had breast cancer 3 yrs ago, now fever and back pain, i cant pee and i cant pee, "
        "and both legs are numb and tingly, both legs numb"
    )
    flags = detect_red_flags(question, CATALOGUE)
    levels = [flag.level for flag in flags]
    assert levels == sorted(levels, key=RANK.__getitem__)
    assert {"cauda-equina-urinary-retention", "both-legs-weak-or-numb", "fever-with-back-pain", "cancer-history"} <= {
        flag.rule for flag in flags
    }
    assert len({flag.rule for flag in flags}) == len(flags)


def test_emergency_comes_first_even_when_the_catalogue_lists_urgent_first(tmp_path: Path) -> None:
    urgent = {**GOOD_RULE, "id": "fever", "level": "urgent", "patterns": ["\\bfever\\b"]}
    emergency = {**GOOD_RULE, "id": "cant-pee", "level": "emergency", "patterns": ["\\bcant pee\\b"]}
    catalogue = load_catalogue(write_catalogue(tmp_path, urgent, emergency))
    assert rules_for("fever and i cant pee", catalogue) == ["cant-pee", "fever"]


# ---------------------------------------------------------------------------------------------- labelled tune split


def tune_questions() -> list[dict[str, object]]:
    """Only the tune split: the held-out split is for reporting and never tunes the patterns."""
    rows = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [row for row in rows if row["split"] == "tune"]


# The catalogue's patterns were fitted to the tuning halves of q001-q1597; later batches (the everyday ones of
# 2026-12-07) were written for a detector that does not rest on wording, and are held to the gate's bounds by the
# whole product (rules and learned triage), not by the rules alone.
RULES_FITTED_THROUGH = 1597


def test_tune_split_recall_at_level_and_false_alarms() -> None:
    """Strict, as the eval gate counts it (an emergency needs an emergency flag, an urgent question at least urgent):
    on the questions the rules were fitted to, the rules alone meet the gate's tuning bounds (``eval/thresholds.toml``,
    the one place they are set); the learned backstop only adds to them."""
    from eval.gate import load_thresholds

    bounds = load_thresholds()
    prefix = "corpus.tune.answers."
    rows = [row for row in tune_questions() if int(str(row["id"])[1:]) <= RULES_FITTED_THROUGH]
    for level in ("emergency", "urgent"):
        red = [row for row in rows if row["kind"] == "red_flag" and row["red_flag_level"] == level]
        assert red, f"the tune split has {level} questions"
        below_level = [
            row["id"]
            for row in red
            if not (flags := detect_red_flags(str(row["question"]), CATALOGUE)) or RANK[flags[0].level] > RANK[level]
        ]
        floor = bounds["min"][f"{prefix}red_flag_recall_at_level.{level}"]
        assert 1 - len(below_level) / len(red) >= floor, below_level
    for kind in ("benign", "answerable", "out_of_scope"):
        questions = [row for row in rows if row["kind"] == kind]
        fired = [row["id"] for row in questions if rules_for(str(row["question"]))]
        assert len(fired) / len(questions) <= bounds["max"][f"{prefix}false_alarms.{kind}"], fired
