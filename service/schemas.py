"""HTTP request and response models (pydantic at the boundary only).

Requests are written here by hand: they are the boundary's own validation. The answer's response models derive
from the engine's dataclasses (``public_model``), so that a field added to ``Answer`` is added to the API.
"""

from __future__ import annotations

import dataclasses
import operator
import re
from collections.abc import Callable, Collection, Mapping
from functools import reduce
from types import GenericAlias, UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, create_model
from pydantic_core import PydanticCustomError

from answer import (
    MAX_ANSWER_ID_CHARS,
    MAX_CHUNK_ID_CHARS,
    MAX_CITED_CHUNKS,
    VERSION_PATTERN,
    Answer,
    AnswerSentence,
    ArticleRef,
    Citation,
    Safety,
    SourceSafety,
)
from feedback import MAX_COMMENT_CHARS
from index import VISIBLE_TEXT_PATTERN
from triage import RedFlag

MAX_K = 20


def _json_integer(value: object) -> object:
    # JSON Schema's integer: 5 and 5.0, but not true or "5", which pydantic's lax mode turns into 1 and 5.
    if isinstance(value, bool | str):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


PassageCount = Annotated[int, Field(ge=1, le=MAX_K), BeforeValidator(_json_integer)]

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _without_lone_surrogates(value: object) -> object:
    # JSON may escape half of a UTF-16 pair ("\ud800"); Python keeps it as a lone surrogate, which
    # pydantic refuses as a string. A paired escape arrives as one character, so anything in the
    # surrogate range here is lone: it becomes a space, as control characters do, instead of a 422.
    return _LONE_SURROGATE.sub(" ", value) if isinstance(value, str) else value


UserText = Annotated[str, BeforeValidator(_without_lone_surrogates)]


class AskRequest(BaseModel):
    """A question for ``POST /v1/ask``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"question": "is it normal for my knees to ache after the gym?", "k": 5}]},
    )

    question: UserText = Field(
        pattern=VISIBLE_TEXT_PATTERN,
        description="The question, in plain words: some visible text, at most HEALTHQA_MAX_QUESTION_CHARS characters.",
    )
    k: PassageCount | None = Field(None, description="Passages to retrieve (default from settings).")


class SearchRequest(BaseModel):
    """A query for ``POST /v1/search``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"query": "sciatica pain down one leg", "k": 5, "mode": "hybrid"}]},
    )

    query: UserText = Field(pattern=VISIBLE_TEXT_PATTERN, description="What to look for (same limits as a question).")
    k: PassageCount = Field(5, description="How many passages.")
    mode: Literal["hybrid", "dense", "sparse"] = Field("hybrid", description="Retriever: fused, dense or BM25.")


# ------------------------------------------------------------- responses derived from the engine's types


def public_model(
    source: type[Any],
    name: str,
    *,
    nested: Mapping[type[Any], type[BaseModel]] | None = None,
    exclude: Collection[str] = (),
    extra: Mapping[str, tuple[Any, Any]] | None = None,
    extra_after: str | None = None,
    doc: str | None = None,
    config: ConfigDict | None = None,
) -> type[BaseModel]:
    """A response model with the fields of a dataclass, so that the API schema cannot drift from the engine's types.

    Each field keeps its name, order, type, default and the ``description`` in its metadata. ``tuple[X, ...]``
    becomes ``list[X]`` (JSON has arrays), a dataclass becomes its public model from ``nested``, and a default
    that is not a plain value (a tuple, a dataclass, a ``default_factory``) becomes a factory of its public form.
    The schema lists every field as required: a response always carries all of them.

    ### Usage example
        >>> CitationPublic = public_model(Citation, "CitationPublic")

    Args:
        source: The dataclass the response mirrors.
        name: The model's name, as the OpenAPI schema shows it.
        nested: The public model of each dataclass that ``source``'s fields hold.
        exclude: Fields of ``source`` the response leaves out.
        extra: Fields the response adds, as ``{name: (type, Field(...))}``.
        extra_after: The field of ``source`` that the ``extra`` fields follow (default: they come last).
        doc: The model's description in the schema.
        config: More model configuration, e.g. ``json_schema_extra`` with examples.

    Raises:
        TypeError: ``source`` is not a dataclass, or a field's type holds a dataclass missing from ``nested``.
        ValueError: ``extra_after`` or ``exclude`` names no field of ``source``, or ``extra`` repeats one.
    """
    if not (isinstance(source, type) and dataclasses.is_dataclass(source)):
        raise TypeError(f"public_model needs a dataclass type, got {source!r}")
    extra = extra or {}
    names = [item.name for item in dataclasses.fields(source)]
    for given in (*exclude, *([extra_after] if extra_after else [])):
        if given not in names:
            raise ValueError(f"{name}: {source.__name__} has no field {given!r}")
    if clash := sorted(set(extra) & set(names)):
        raise ValueError(f"{name}: extra fields {clash} are fields of {source.__name__} already")
    hints = get_type_hints(source)
    fields: dict[str, Any] = {}
    for item in dataclasses.fields(source):
        if item.name not in exclude:
            where = f"{source.__name__}.{item.name}"
            annotation = _public_type(hints[item.name], nested or {}, where=where)
            fields[item.name] = (annotation, _public_field(item, annotation))
        if item.name == extra_after:
            fields.update(extra)
    if extra_after is None:
        fields.update(extra)
    model: type[BaseModel] = create_model(
        name,
        __config__=ConfigDict(json_schema_serialization_defaults_required=True, **(config or {})),
        __doc__=doc,
        __module__=__name__,
        **fields,
    )
    return model


def _public_type(hint: Any, nested: Mapping[type[Any], type[BaseModel]], *, where: str) -> Any:
    origin, args = get_origin(hint), get_args(hint)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return GenericAlias(list, (_public_type(args[0], nested, where=where),))
    if origin in (list, dict):
        return GenericAlias(origin, tuple(_public_type(arg, nested, where=where) for arg in args))
    if origin in (Union, UnionType):
        return reduce(operator.or_, (_public_type(arg, nested, where=where) for arg in args))
    if origin is tuple or (isinstance(hint, type) and dataclasses.is_dataclass(hint) and hint not in nested):
        raise TypeError(f"{where}: no public type for {hint!r} (pass the public model of a dataclass in nested)")
    return nested.get(hint, hint) if isinstance(hint, type) else hint


def _public_field(item: dataclasses.Field[Any], annotation: Any) -> Any:
    description = item.metadata.get("description")
    default, factory = item.default, item.default_factory
    if default is dataclasses.MISSING and factory is dataclasses.MISSING:
        return Field(description=description)
    if default is None or isinstance(default, str | int | float | bool):
        return Field(default, description=description)
    # A tuple, a dataclass or a factory's value: its public form (a list, a model) is built for each response.
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    raw: Callable[[], Any] = (lambda: default) if factory is dataclasses.MISSING else factory
    return Field(default_factory=lambda: adapter.validate_python(raw(), from_attributes=True), description=description)


SentencePublic = public_model(AnswerSentence, "SentencePublic")
CitationPublic = public_model(Citation, "CitationPublic")
RedFlagPublic = public_model(RedFlag, "RedFlagPublic")
ArticlePublic = public_model(ArticleRef, "ArticlePublic")
SourceSafetyPublic = public_model(SourceSafety, "SourceSafetyPublic")
SafetyPublic = public_model(Safety, "SafetyPublic", nested={SourceSafety: SourceSafetyPublic})

AskResponse = public_model(
    Answer,
    "AskResponse",
    nested={
        AnswerSentence: SentencePublic,
        Citation: CitationPublic,
        RedFlag: RedFlagPublic,
        ArticleRef: ArticlePublic,
        Safety: SafetyPublic,
    },
    exclude={"question"},
    extra={"answer_id": (str, Field(description="Refers to this answer in POST /v1/feedback."))},
    extra_after="safety",
    doc="An answer, an abstention, or either with red flags first.",
    config=ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "answer": "Joint pain after working out is generally not a good sign and may indicate an underlying issue. [1]",
                    "sentences": [
                        {
                            "text": "Joint pain after working out is generally not a good sign and may indicate an underlying issue.",
                            "citations": [1],
                        }
                    ],
                    "citations": [
                        {
                            "id": 1,
                            "doc_id": "joint-pain-after-working-out",
                            "title": "Is joint pain good after working out?",
                            "url": "/articles/joint-pain-after-working-out",
                            "chunk_id": "joint-pain-after-working-out#0",
                            "quote": "Joint pain after working out is generally not a good sign and may indicate an underlying issue.",
                            "start": 39,
                            "end": 134,
                            "section": "",
                            "reviewed": "2026-11-24",
                        }
                    ],
                    "abstained": False,
                    "red_flags": [],
                    "disclaimer": "This is general health information ...",
                    "safety": {
                        "general": "This is general health information ...",
                        "sources": [
                            {
                                "doc_id": "joint-pain-after-working-out",
                                "title": "Is joint pain good after working out?",
                                "text": "Joint pain after exercise that persists ... should be checked ...",
                                "editor_note": "",
                                "editor_note_sources": [],
                            }
                        ],
                    },
                    "answer_id": "a2.WyJ2MDAwMDAxIixbImpvaW50LXBhaW4tYWZ0ZXItd29ya2luZy1vdXQjMCJdXQ.Xb3kq0P-2rPZ1tQfLx8mYw5yT7uJm3aKc9V0eR4nS6o",
                    "index_version": "v000001",
                    "timings_ms": {"total": 12.5},
                }
            ]
        }
    ),
)


class FeedbackRequest(BaseModel):
    """Feedback on one answer for ``POST /v1/feedback``: the answer's ``answer_id``, or its
    ``index_version`` and the ``chunk_ids`` it cited (an empty list for an abstention)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            # The rules across fields, so that generated clients (and schemathesis) know them too.
            "anyOf": [
                {"required": ["answer_id"], "properties": {"answer_id": {"type": "string"}}},
                {
                    "required": ["index_version", "chunk_ids"],
                    "properties": {"index_version": {"type": "string"}, "chunk_ids": {"type": "array"}},
                },
            ],
            "not": {
                "required": ["rating", "reason"],
                "properties": {"rating": {"const": "up"}, "reason": {"type": "string"}},
            },
            "examples": [
                {
                    "question": "is it normal for my knees to ache after the gym?",
                    "answer_id": "a2.WyJ2MDAwMDAxIixbImpvaW50LXBhaW4tYWZ0ZXItd29ya2luZy1vdXQjMCJdXQ.Xb3kq0P-2rPZ1tQfLx8mYw5yT7uJm3aKc9V0eR4nS6o",
                    "rating": "down",
                    "reason": "unhelpful",
                    "comment": "It did not say when to see someone.",
                }
            ],
        },
    )

    question: str = Field(
        pattern=VISIBLE_TEXT_PATTERN,
        description="The question that was answered (stored: the person chose to send it), same limits as /v1/ask.",
    )
    answer_id: str | None = Field(
        None, min_length=1, max_length=MAX_ANSWER_ID_CHARS, description="The `answer_id` of the /v1/ask response."
    )
    index_version: str | None = Field(
        None, pattern=VERSION_PATTERN, description="Without an answer_id: the index version that answered."
    )
    chunk_ids: list[Annotated[str, Field(min_length=1, max_length=MAX_CHUNK_ID_CHARS)]] | None = Field(
        None, max_length=MAX_CITED_CHUNKS, description="Without an answer_id: the cited chunk ids."
    )
    rating: Literal["up", "down"]
    reason: Literal["wrong", "unhelpful", "unsafe", "outdated", "other"] | None = Field(
        None, description="Why the answer fell short (with a thumbs down only)."
    )
    comment: str | None = Field(None, max_length=MAX_COMMENT_CHARS, description="Anything else, in plain words.")


class FeedbackCreated(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"id": 42, "created_at": "2026-11-30T02:10:00.000000+00:00"}]}
    )

    id: int = Field(description="The stored feedback's id (as in `healthqa feedback list`).")
    created_at: str = Field(description="When it was stored (UTC, ISO 8601).")


class SearchResultPublic(BaseModel):
    rank: int
    score: float
    chunk_id: str
    doc_id: str
    title: str
    url: str
    section: str
    text: str
    start: int
    end: int


class SearchResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "results": [
                        {
                            "rank": 1,
                            "score": 0.0325,
                            "chunk_id": "sciatica#1",
                            "doc_id": "sciatica",
                            "title": "Sciatica: symptoms, causes and self-care",
                            "url": "/articles/sciatica",
                            "section": "What sciatica feels like",
                            "text": "Sciatica pain is often described as shooting ...",
                            "start": 512,
                            "end": 1020,
                        }
                    ],
                    "index_version": "v000001",
                }
            ]
        }
    )

    results: list[SearchResultPublic]
    index_version: str


class DocumentSummary(BaseModel):
    doc_id: str
    title: str
    url: str
    summary: str = ""
    reviewed: str | None = None
    tags: list[str] = Field(default_factory=list)


class DocumentList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "documents": [
                        {
                            "doc_id": "sciatica",
                            "title": "Sciatica: symptoms, causes and self-care",
                            "url": "/articles/sciatica",
                            "summary": "What sciatica is ...",
                            "reviewed": "2026-11-24",
                            "tags": ["sciatica"],
                        }
                    ],
                    "index_version": "v000001",
                }
            ]
        }
    )

    documents: list[DocumentSummary]
    index_version: str


class DocumentPublic(DocumentSummary):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "doc_id": "sciatica",
                    "title": "Sciatica: symptoms, causes and self-care",
                    "url": "/articles/sciatica",
                    "summary": "What sciatica is ...",
                    "reviewed": "2026-11-24",
                    "tags": ["sciatica"],
                    "text": "# Sciatica: symptoms, causes and self-care\n\nSciatica is pain ...",
                    "disclaimer": "This article is general information ...",
                    "metadata": {"sources": ["https://medlineplus.gov/sciatica.html"]},
                    "index_version": "v000001",
                }
            ]
        }
    )

    text: str = Field(description="The document text that citation offsets refer to.")
    disclaimer: str
    metadata: dict[str, Any]
    index_version: str


class HealthResponse(BaseModel):
    status: Literal["ok", "ready", "not_ready"]
    index_version: str | None = None
    detail: str | None = None


class ReloadResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"index_version": "v000002", "previous_version": "v000001", "changed": True}]}
    )

    index_version: str
    previous_version: str | None
    changed: bool


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. validation_error, payload_too_large.")
    message: str = Field(description="What went wrong, for people.")
    request_id: str = Field(description="Quote this when reporting a problem.")
    details: list[dict[str, Any]] | None = Field(None, description="Per-field problems, for validation errors.")


class ErrorResponse(BaseModel):
    """The one shape of every error response."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "error": {
                        "code": "validation_error",
                        "message": "question: must not be empty",
                        "request_id": "3f2c9a7e1b2d4c5f",
                        "details": None,
                    }
                }
            ]
        }
    )

    error: ErrorBody
