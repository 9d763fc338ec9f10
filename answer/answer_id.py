"""Answer ids: what a response's ``answer_id`` stands for (the index version and the cited passages), signed.

An id carries what feedback needs to refer to the answer, so any API process, before or after a restart, can
read it back without the service storing every answer it gives. An HMAC (SHA-256) over its contents with the
deployment's secret makes it unforgeable: ``POST /v1/feedback`` refuses an id this deployment did not give out.
Rotating the secret makes older ids stop verifying; answers go on.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
from collections.abc import Sequence
from pathlib import Path

MAX_CITED_CHUNKS = 20
MAX_CHUNK_ID_CHARS = 300
MAX_ANSWER_ID_CHARS = 8000
ANSWER_ID_PREFIX = "a2."
SECRET_FILE = "answer-secret"  # beside the index versions, so replicas sharing the index share it
logger = logging.getLogger(__name__)
VERSION_PATTERN = r"^v\d{6}$"


class AnswerIdError(ValueError):
    """A string that is not an answer id this service gives out."""


def answer_id_for(index_version: str, chunk_ids: Sequence[str], *, secret: bytes) -> str:
    """The signed id of an answer: ``a2.<base64url JSON>.<base64url HMAC-SHA256>``."""
    payload = json.dumps([index_version, list(chunk_ids)], separators=(",", ":"), ensure_ascii=False)
    body = ANSWER_ID_PREFIX + _b64(payload.encode("utf-8"))
    return f"{body}.{_b64(_mac(secret, body))}"


def parse_answer_id(answer_id: str, *, secret: bytes) -> tuple[str, tuple[str, ...]]:
    """The index version and cited chunk ids a signed answer id stands for.

    Raises:
        AnswerIdError: it is not an id this deployment gave out (malformed, or its signature does not verify).
    """
    problem = f"answer_id: {answer_id[:40]!r} is not an answer id from /v1/ask"
    if not answer_id.startswith(ANSWER_ID_PREFIX) or len(answer_id) > MAX_ANSWER_ID_CHARS:
        raise AnswerIdError(problem)
    body, _, signature = answer_id.rpartition(".")
    if not body.startswith(ANSWER_ID_PREFIX) or not hmac.compare_digest(signature, _b64(_mac(secret, body))):
        raise AnswerIdError(problem)
    payload = body[len(ANSWER_ID_PREFIX) :]
    try:
        decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode("utf-8"))
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


def answer_secret(configured: str | None, index_dir: Path) -> bytes:
    """The secret answer ids are signed with: ``configured`` (``HEALTHQA_ANSWER_SECRET``), or else the one kept
    beside the index, made on first start (readable by its owner only).

    Raises:
        OSError: the secret file cannot be read or made.
    """
    if configured:
        return configured.encode("utf-8")
    path = index_dir / SECRET_FILE
    if not path.exists():
        index_dir.mkdir(parents=True, exist_ok=True)
        draft = index_dir / f".{SECRET_FILE}.{os.getpid()}"
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_urlsafe(32) + "\n")
        try:
            os.link(draft, path)  # whole or not at all; another replica's secret, made first, wins
            logger.warning(
                "no HEALTHQA_ANSWER_SECRET is set: made a secret for answer ids at %s (replicas sharing this "
                "index folder use it too; set HEALTHQA_ANSWER_SECRET to choose one)",
                path,
            )
        except FileExistsError:
            pass
        finally:
            draft.unlink(missing_ok=True)
    secret = path.read_text(encoding="utf-8").strip()
    if not secret:
        raise OSError(f"{path} is empty: delete it to make a new answer-id secret")
    return secret.encode("utf-8")


def _mac(secret: bytes, body: str) -> bytes:
    return hmac.new(secret, body.encode("utf-8"), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")
