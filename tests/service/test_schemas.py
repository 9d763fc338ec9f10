"""The answer's response models derive from the engine's dataclasses (``public_model``): they cannot drift."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, get_args, get_type_hints

import pytest

from answer import Answer
from service.main import create_app
from service.schemas import public_model
from settings import Settings


@pytest.fixture(scope="module")
def components(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    # The schema needs no index or model: neither loads before the app starts.
    app = create_app(Settings(index_dir=tmp_path_factory.mktemp("no-index")))
    schemas: dict[str, Any] = app.openapi()["components"]["schemas"]
    return schemas


def _dataclasses_in(hint: Any) -> list[type[Any]]:
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return [hint]
    return [found for arg in get_args(hint) for found in _dataclasses_in(arg)]


def _component(prop: dict[str, Any]) -> str:
    """The component a property refers to, directly, as array items, or in an anyOf."""
    for candidate in (prop, prop.get("items", {}), *prop.get("anyOf", [])):
        if "$ref" in candidate:
            return str(candidate["$ref"]).rsplit("/", 1)[-1]
    raise AssertionError(f"no $ref in {prop}")


def _missing(source: type[Any], component: str, components: dict[str, Any], *, skip: set[str]) -> list[str]:
    """Fields of ``source`` and of the dataclasses it holds that the schema lacks or describes otherwise."""
    schema, hints, missing = components[component], get_type_hints(source), []
    for item in dataclasses.fields(source):
        where = f"{source.__name__}.{item.name} ({component})"
        prop = schema["properties"].get(item.name)
        if item.name in skip:
            continue
        if prop is None:
            missing.append(f"{where}: not in the schema")
            continue
        if prop.get("description") != item.metadata.get("description"):
            missing.append(f"{where}: description {prop.get('description')!r}")
        if item.name not in schema.get("required", []):
            missing.append(f"{where}: not required, yet every response carries it")
        for inner in _dataclasses_in(hints[item.name]):
            missing += _missing(inner, _component(prop), components, skip=set())
    return missing


def test_every_field_of_an_answer_is_in_the_openapi_schema(components: dict[str, Any]) -> None:
    """Answer and every dataclass it holds (Citation, RedFlag, Safety, ...) reach the response schema whole."""
    assert _missing(Answer, "AskResponse", components, skip={"question"}) == []


def test_the_response_adds_answer_id_and_leaves_out_the_question(components: dict[str, Any]) -> None:
    properties = components["AskResponse"]["properties"]
    assert "question" not in properties
    assert properties["answer_id"]["description"] == "Refers to this answer in POST /v1/feedback."


# ------------------------------------------------------------------------ a tiny engine type of our own


@dataclasses.dataclass(frozen=True)
class Dose:
    amount: float = dataclasses.field(metadata={"description": "How much."})
    unit: str = "mg"


@dataclasses.dataclass(frozen=True)
class Advice:
    text: str
    doses: tuple[Dose, ...] = ()
    sources: tuple[str, ...] = dataclasses.field(default=(), metadata={"description": "Where it comes from."})
    extra: dict[str, float] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class AdviceWithNote(Advice):
    note: str | None = dataclasses.field(default=None, metadata={"description": "A field added later."})


DosePublic = public_model(Dose, "DosePublic")


def test_a_field_added_to_a_dataclass_appears_in_its_public_model() -> None:
    before = public_model(Advice, "AdvicePublic", nested={Dose: DosePublic}).model_json_schema()
    after = public_model(AdviceWithNote, "AdvicePublic", nested={Dose: DosePublic}).model_json_schema()

    assert list(after["properties"]) == [*before["properties"], "note"]
    assert after["properties"]["note"] == {
        "anyOf": [{"type": "string"}, {"type": "null"}],
        "default": None,
        "description": "A field added later.",
        "title": "Note",
    }


def test_a_public_model_carries_types_defaults_and_descriptions() -> None:
    model = public_model(Advice, "AdvicePublic", nested={Dose: DosePublic})
    properties = model.model_json_schema()["properties"]

    assert properties["doses"]["type"] == "array"  # tuple[Dose, ...] is a JSON array of DosePublic
    assert properties["doses"]["items"] == {"$ref": "#/$defs/DosePublic"}
    assert properties["sources"]["description"] == "Where it comes from."
    assert model.model_validate({"text": "rest"}).model_dump() == {
        "text": "rest",
        "doses": [],
        "sources": [],
        "extra": {},
    }
    advice = Advice("rest", doses=(Dose(5.0),), sources=("nhs",))
    assert model.model_validate(dataclasses.asdict(advice)).model_dump() == {
        "text": "rest",
        "doses": [{"amount": 5.0, "unit": "mg"}],
        "sources": ["nhs"],
        "extra": {},
    }


@pytest.mark.parametrize(
    ("source", "options", "error"),
    [
        (Advice, {}, TypeError),  # Dose has no public model
        (Dose, {"exclude": {"ammount"}}, ValueError),  # a typo would leak the field it meant to hide
        (Dose, {"extra": {"unit": (str, None)}}, ValueError),
        (Dose, {"extra_after": "units"}, ValueError),
        (Path, {}, TypeError),
    ],
)
def test_public_model_refuses_what_it_cannot_mirror(source: type[Any], options: dict[str, Any], error: type) -> None:
    with pytest.raises(error):
        public_model(source, "Refused", **options)
