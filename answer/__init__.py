"""The answer engine: cited extractive answers from an index, with triage first and calibrated abstention.

No FastAPI here: the service, the CLI and the evaluations call it alike. Other packages use only the names
listed here.
"""

from answer.abstention import FEATURES, AbstentionModel, abstention_features, load_abstention_model
from answer.answer_id import (
    MAX_ANSWER_ID_CHARS,
    MAX_CHUNK_ID_CHARS,
    MAX_CITED_CHUNKS,
    VERSION_PATTERN,
    AnswerIdError,
    answer_id_for,
    answer_secret,
    parse_answer_id,
)
from answer.cache import AnswerCache
from answer.messages import GENERAL_DISCLAIMER, NO_DOSES, NOT_A_QUESTION, NOT_COVERED
from answer.models import (
    ABSTENTION_FILE,
    BACKSTOP_FILE,
    ArtifactError,
    LearnedModels,
    load_models,
    verify_artifact,
    write_artifact,
)
from answer.pipeline import Evidence, answer_question, gather_evidence
from answer.policy import is_dose_request, is_instruction
from answer.question import QuestionError, clean_question
from answer.selection import asks_for_content
from answer.types import Answer, AnswerSentence, ArticleRef, Citation, Safety, SourceSafety, answer_to_dict

__all__ = [
    "AnswerCache",
    "MAX_ANSWER_ID_CHARS",
    "MAX_CHUNK_ID_CHARS",
    "MAX_CITED_CHUNKS",
    "VERSION_PATTERN",
    "ABSTENTION_FILE",
    "BACKSTOP_FILE",
    "ArtifactError",
    "LearnedModels",
    "load_models",
    "verify_artifact",
    "write_artifact",
    "FEATURES",
    "GENERAL_DISCLAIMER",
    "NOT_A_QUESTION",
    "NOT_COVERED",
    "NO_DOSES",
    "QuestionError",
    "AbstentionModel",
    "Answer",
    "AnswerIdError",
    "AnswerSentence",
    "ArticleRef",
    "Citation",
    "Evidence",
    "Safety",
    "SourceSafety",
    "abstention_features",
    "answer_id_for",
    "answer_secret",
    "answer_question",
    "answer_to_dict",
    "asks_for_content",
    "clean_question",
    "gather_evidence",
    "is_dose_request",
    "is_instruction",
    "load_abstention_model",
    "parse_answer_id",
]
