"""Read articles from files: Markdown with front matter, text, HTML, JSONL (incl. MedQuAD).

Each loader turns one file into ``Document``s or raises ``SourceError`` with
a reason a person can act on. ``load_sources`` walks folders, collects every
problem instead of stopping at the first, rejects duplicate ids, and screens
each document for scripts, raw HTML and AI instructions (reported, never removed).
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import frontmatter
import trafilatura
import yaml

from index import Document
from ingest.errors import Problem, SourceError
from ingest.screening import FlaggedDocument, screen_document

SUFFIXES = (".md", ".markdown", ".txt", ".html", ".htm", ".jsonl", ".jsonl.gz")
_DOC_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
_SPACE_RUN = re.compile(r"[ \t\u00a0]+")
_BLANK_RUN = re.compile(r"\n{3,}")
_TITLE_MAX_CHARS = 200


@dataclass
class LoadResult:
    """Documents read, problems met, files passed over for their type, and documents flagged by screening."""

    documents: list[Document] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    flagged: list[FlaggedDocument] = field(default_factory=list)


def load_sources(paths: Sequence[Path]) -> LoadResult:
    """Read every supported file under the given files and folders.

    Folders are walked recursively (hidden files and folders are skipped, as
    are files of other types, which are listed in ``ignored``). A file named
    directly must be of a supported type. Every document read is screened
    (``ingest.screening``); flagged ones are listed in ``flagged`` and kept as they are.
    """
    result = LoadResult()
    seen: dict[str, str] = {}
    for path in paths:
        if not path.exists():
            result.problems.append(Problem(str(path), "no such file or folder"))
            continue
        for file in _files(path, result):
            try:
                documents = list(_load_file(file, result))
            except SourceError as exc:
                result.problems.append(exc.problem)
                continue
            for document, html_source in documents:
                if document.doc_id in seen:
                    result.problems.append(
                        Problem(
                            document.source,
                            f"duplicate document id {document.doc_id!r}, also in {seen[document.doc_id]}",
                        )
                    )
                    continue
                seen[document.doc_id] = document.source
                result.documents.append(document)
                flagged = screen_document(document, html_source=html_source)
                if flagged is not None:
                    result.flagged.append(flagged)
    return result


def _files(path: Path, result: LoadResult) -> Iterator[Path]:
    if path.is_file():
        if _suffix(path) is None:
            result.problems.append(Problem(str(path), f"unsupported file type; expected one of {', '.join(SUFFIXES)}"))
            return
        yield path
        return
    for file in sorted(path.rglob("*")):
        relative = file.relative_to(path).parts
        if any(part.startswith(".") for part in relative) or not file.is_file():
            continue
        if _suffix(file) is None:
            result.ignored.append(str(file))
            continue
        yield file


def _suffix(path: Path) -> str | None:
    name = path.name.lower()
    return next((s for s in sorted(SUFFIXES, key=len, reverse=True) if name.endswith(s)), None)


def _load_file(path: Path, result: LoadResult) -> Iterator[tuple[Document, str | None]]:
    """Documents with, for an HTML file, the page they were extracted from (screened apart)."""
    suffix = _suffix(path)
    if suffix in (".jsonl", ".jsonl.gz"):
        yield from ((document, None) for document in _load_jsonl(path, result))
        return
    text = _read_text(path)
    if suffix in (".md", ".markdown"):
        yield _load_markdown(path, text), None
    elif suffix in (".html", ".htm"):
        yield _load_html(path, text), text
    else:
        yield _load_plain_text(path, text), None


def _read_bytes(path: Path) -> bytes:
    try:
        if path.name.lower().endswith(".gz"):
            with gzip.open(path, "rb") as handle:
                data = handle.read()
        else:
            data = path.read_bytes()
    except PermissionError as exc:
        raise SourceError(str(path), "cannot be read: permission denied") from exc
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise SourceError(str(path), f"is not a valid gzip file ({exc})") from exc
    except OSError as exc:
        raise SourceError(str(path), f"cannot be read: {exc.strerror or exc}") from exc
    if not data.strip():
        raise SourceError(str(path), "file is empty")
    return data


def _read_text(path: Path) -> str:
    data = _read_bytes(path)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad = data[exc.start : exc.start + 1].hex()
        raise SourceError(
            str(path), f"is not valid UTF-8 (byte 0x{bad} at offset {exc.start}); save it as UTF-8"
        ) from exc


def clean_text(text: str, *, collapse_spaces: bool) -> str:
    """Normalise line endings and trailing space; optionally collapse space runs.

    Markdown keeps its spacing (so shipped articles stay verbatim); text from
    JSONL and HTML often carries layout whitespace, which is folded.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.rstrip() for line in text.split("\n")]
    if collapse_spaces:
        lines = [_SPACE_RUN.sub(" ", line).strip() for line in lines]
    return _BLANK_RUN.sub("\n\n", "\n".join(lines)).strip("\n")


def _check_id(doc_id: Any, source: str) -> str:
    if not isinstance(doc_id, str | int) or not _DOC_ID.match(str(doc_id)):
        raise SourceError(
            source, f"invalid document id {doc_id!r}: use letters, digits, '.', '_' or '-' (at most 200 characters)"
        )
    return str(doc_id)


def _plain(value: Any) -> Any:
    """Front matter values as JSON-friendly data (YAML dates become ISO strings)."""
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _load_markdown(path: Path, raw: str) -> Document:
    source = str(path)
    try:
        post = frontmatter.loads(raw)
    except yaml.YAMLError as exc:
        raise SourceError(source, f"front matter is not valid YAML: {' '.join(str(exc).split())}") from exc
    meta = _plain(dict(post.metadata))
    text = clean_text(post.content, collapse_spaces=False)
    if not text.strip():
        raise SourceError(source, "has no article text after the front matter")
    doc_id = _check_id(meta.pop("id", path.stem), source)
    title = meta.pop("title", None) or _first_heading(text) or path.stem
    url = meta.pop("url", "") or ""
    if not isinstance(title, str) or not isinstance(url, str):
        raise SourceError(source, "front matter 'title' and 'url' must be text")
    return Document(doc_id=doc_id, title=title.strip(), text=text, url=url, source=source, metadata=meta)


def _first_heading(text: str) -> str | None:
    match = re.search(r"^\s{0,3}#\s+(.+?)\s*$", text, flags=re.MULTILINE)
    return match.group(1) if match else None


def _load_plain_text(path: Path, raw: str) -> Document:
    text = clean_text(raw, collapse_spaces=False)
    first_line, _, rest = text.partition("\n")
    # The first line is the title only when text follows it; the chunker then treats it as a heading.
    title = first_line.strip() if rest.strip() and len(first_line.strip()) <= _TITLE_MAX_CHARS else path.stem
    return Document(doc_id=_check_id(path.stem, str(path)), title=title, text=text, source=str(path))


def _load_html(path: Path, raw: str) -> Document:
    source = str(path)
    extracted = trafilatura.extract(
        raw,
        output_format="markdown",
        include_comments=False,
        include_tables=True,
        include_links=False,
        include_images=False,
    )
    if not extracted or not extracted.strip():
        raise SourceError(source, "no main text found in the HTML")
    metadata = trafilatura.extract_metadata(raw)
    title = (metadata.title if metadata and metadata.title else None) or _first_heading(extracted) or path.stem
    url = metadata.url if metadata and metadata.url else ""
    text = clean_text(extracted, collapse_spaces=True)
    return Document(doc_id=_check_id(path.stem, source), title=title.strip(), text=text, url=url or "", source=source)


def _load_jsonl(path: Path, result: LoadResult) -> Iterator[Document]:
    """One document per line; a bad line is a problem of its own, the rest still load."""
    data = _read_bytes(path)
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line.decode("utf-8-sig" if number == 1 else "utf-8"))
        except UnicodeDecodeError:
            result.problems.append(Problem(where, "line is not valid UTF-8"))
            continue
        except json.JSONDecodeError as exc:
            result.problems.append(Problem(where, f"line is not valid JSON ({exc.msg} at column {exc.colno})"))
            continue
        try:
            yield _record_document(record, where, line=number)
        except SourceError as exc:
            result.problems.append(exc.problem)


def _record_document(record: Any, where: str, *, line: int) -> Document:
    if not isinstance(record, dict):
        raise SourceError(where, f"expected a JSON object, got {type(record).__name__}")
    if "text" not in record and "question" in record and "answer" in record:
        return _medquad_document(record, where, line=line)
    missing = [name for name in ("id", "text") if name not in record]
    if missing:
        raise SourceError(
            where, f"record lacks {' and '.join(repr(m) for m in missing)} (expected id, title, text, url)"
        )
    text = record.pop("text")
    if not isinstance(text, str) or not text.strip():
        raise SourceError(where, "'text' must be non-empty text")
    doc_id = _check_id(record.pop("id"), where)
    title = record.pop("title", None) or doc_id
    url = record.pop("url", "") or ""
    return Document(
        doc_id=doc_id,
        title=str(title).strip(),
        text=clean_text(text, collapse_spaces=True),
        url=str(url),
        source=where,
        metadata=_plain(record),
    )


def _medquad_document(record: dict[str, Any], where: str, *, line: int) -> Document:
    """A MedQuAD pair: the answer is the document, its question the title.

    MedQuAD's own ids repeat (one source page answers several questions), so
    the document id is the record's line number, ``medquad-00042`` for line 42;
    the original id is kept as ``medquad_id``.
    """
    answer, question = record.get("answer"), record.get("question")
    if not isinstance(answer, str) or not answer.strip():
        raise SourceError(where, "MedQuAD record has an empty 'answer'")
    if not isinstance(question, str) or not question.strip():
        raise SourceError(where, "MedQuAD record has an empty 'question'")
    doc_id = f"medquad-{line:05d}"
    metadata: dict[str, Any] = {k: record[k] for k in ("focus", "qtype", "source", "collection") if k in record}
    metadata["medquad_id"] = str(record.get("id", ""))
    return Document(
        doc_id=doc_id,
        title=" ".join(question.split()),
        text=clean_text(answer, collapse_spaces=True),
        url=str(record.get("url") or ""),
        source=where,
        metadata=metadata,
    )
