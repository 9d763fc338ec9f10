"""``public_model``: a response model derived from a dataclass, so that the two cannot drift."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from service.schemas import public_model

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
