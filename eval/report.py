"""Write a run's results: JSON, a Markdown report, and plots (matplotlib, no display needed)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers or in CI
import matplotlib.pyplot as plt  # noqa: E402

RETRIEVAL_COLUMNS = ("recall@1", "recall@3", "recall@5", "recall@10", "mrr@10", "ndcg@10")
MEDQUAD_REFERENCE = {
    "BM25 (reference)": {"mrr@10": 0.422, "recall@10": 0.800},
    "dense, whole answers (reference)": {"mrr@10": 0.606, "recall@10": 0.847},
    "plain RRF (reference)": {"mrr@10": 0.548, "recall@10": 0.856},
}


def write_report(results: dict[str, Any], out_dir: Path) -> Path:
    """Write results.json, report.md and the plots into ``out_dir``; returns the report's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    lines = [f"# healthqa evaluation — {results['run_at']}", "", _context(results), ""]
    for suite, body in results.items():
        if suite.startswith("corpus."):
            lines += _corpus_section(suite, body, out_dir)
        elif suite.startswith("mediqa."):
            lines += _mediqa_section(suite, body)
        elif suite.startswith("medquad"):
            lines += _medquad_section(suite, body, out_dir)
    if "gate" in results:
        gate = results["gate"]
        lines += ["## Gate", "", "passed" if gate["passed"] else "**failed**:", ""]
        lines += [f"- {failure}" for failure in gate["failures"]]
    report = out_dir / "report.md"
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return report


def _context(results: dict[str, Any]) -> str:
    return f"Model `{results['model']}`; settings {json.dumps(results['settings'])}."


def retrieval_table(by_mode: dict[str, dict[str, float]]) -> list[str]:
    rows = ["| mode | " + " | ".join(RETRIEVAL_COLUMNS) + " |", "| --- |" + " --- |" * len(RETRIEVAL_COLUMNS)]
    for mode, metrics in by_mode.items():
        rows.append(f"| {mode} | " + " | ".join(f"{metrics.get(c, math.nan):.3f}" for c in RETRIEVAL_COLUMNS) + " |")
    return rows


def _corpus_section(suite: str, body: dict[str, Any], out_dir: Path) -> list[str]:
    split = suite.split(".", 1)[1]
    lines = [
        f"## Corpus suite, {split} split ({body['questions']} questions; retrieval on {body['retrieval_questions']})",
        "",
    ]
    lines += retrieval_table(body["retrieval"]) + [""]
    lines += ["| answer check | rate |", "| --- | --- |"]
    lines += [f"| {name} | {value:.3f} |" for name, value in body["answers"].items()]
    plot = _recall_plot(body["recall_curves"], f"Recall@k, corpus {split}", out_dir / f"recall-corpus-{split}.png")
    hist = _confidence_plot(body["confidences"], body["abstain_threshold"], split, out_dir / f"confidence-{split}.png")
    lines += ["", f"![Recall@k]({plot.name}) ![Confidence]({hist.name})", ""]
    if body["failures"]:
        lines += (
            ["<details><summary>Misses</summary>", ""] + [f"- {f}" for f in body["failures"]] + ["", "</details>", ""]
        )
    return lines


def _medquad_section(suite: str, body: dict[str, Any], out_dir: Path) -> list[str]:
    lines = [f"## {suite}: {body['documents']} documents, {body['queries']} queries", ""]
    lines += retrieval_table(body["retrieval"]) + [""]
    if suite == "medquad":
        lines += ["| reference run | mrr@10 | recall@10 |", "| --- | --- | --- |"]
        lines += [f"| {name} | {m['mrr@10']:.3f} | {m['recall@10']:.3f} |" for name, m in MEDQUAD_REFERENCE.items()]
        lines.append("")
    plot = _recall_plot(body["recall_curves"], f"Recall@k, {suite}", out_dir / f"recall-{suite}.png")
    return [*lines, f"![Recall@k]({plot.name})", ""]


def _mediqa_section(suite: str, body: dict[str, Any]) -> list[str]:
    split = suite.split(".", 1)[1]
    columns = ("mrr@10", "precision@1", "ndcg@10", "recall@10", "ndcg@10_judged_only", "unjudged@10")
    lines = [f"## MEDIQA consumer questions, {split} ({body['questions']} answerable questions)", ""]
    lines += ["| mode | " + " | ".join(columns) + " |", "| --- |" + " --- |" * len(columns)]
    for mode, metrics in body["retrieval"].items():
        lines.append(f"| {mode} | " + " | ".join(f"{metrics[c]:.3f}" for c in columns) + " |")
    counts = body["answer_counts"]
    lines += ["", f"| answer check ({counts['answered']} of {counts['questions']} answered) | rate |", "| --- | --- |"]
    lines += [f"| {name} | {value:.3f} |" for name, value in body["answers"].items()]
    if "triage_counts" in body:
        lines += ["", "| triage, every labelled question (banners against the blind labels) | count |", "| --- | --- |"]
        lines += [f"| {name} | {value} |" for name, value in body["triage_counts"].items()]
    if body.get("failures"):
        lines += ["", "<details><summary>Misses</summary>", ""] + [f"- {f}" for f in body["failures"]]
        lines += ["", "</details>"]
    return [*lines, ""]


def _recall_plot(curves: dict[str, list[float]], title: str, path: Path) -> Path:
    figure, axes = plt.subplots(figsize=(6, 4))
    for mode, values in curves.items():
        axes.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=mode)
    axes.set(xlabel="k (documents)", ylabel="Recall@k", title=title, ylim=(0, 1.02))
    axes.set_xticks(range(1, max((len(v) for v in curves.values()), default=1) + 1, 2))
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _confidence_plot(confidences: list[tuple[bool, float]], threshold: float, split: str, path: Path) -> Path:
    figure, axes = plt.subplots(figsize=(6, 4))
    inside = [c for in_scope, c in confidences if in_scope]
    outside = [c for in_scope, c in confidences if not in_scope]
    bins = [i / 40 for i in range(0, 41)]
    axes.hist(inside, bins=bins, alpha=0.6, label=f"in scope ({len(inside)})")
    axes.hist(outside, bins=bins, alpha=0.6, label=f"out of scope ({len(outside)})")
    axes.axvline(threshold, color="black", linestyle="--", label=f"abstain below {threshold:.3f}")
    axes.set(xlabel="confidence", ylabel="questions", title=f"Answer confidence, {split} split")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
