"""The gate: bounds from the TOML file, and a run that falls below one fails naming it."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from eval.gate import THRESHOLDS_FILE, check_gate, load_thresholds
from tests.conftest import ROOT

RESULTS = {
    "corpus.tune": {
        "retrieval": {"hybrid": {"mrr@10": 0.9, "recall@5": 0.97}},
        "answers": {"false_alarms.benign": 0.0},
    },
    "medquad-quick": {"retrieval": {"hybrid": {"mrr@10": 0.7}}},
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "thresholds.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_results_within_bounds_pass(tmp_path: Path) -> None:
    bounds = load_thresholds(
        write(
            tmp_path,
            '[min."corpus.tune"]\n"retrieval.hybrid.mrr@10" = 0.8\n[max."corpus.tune"]\n"answers.false_alarms.benign" = 0.0\n',
        )
    )
    assert check_gate(RESULTS, bounds) == []


def test_a_metric_pushed_below_its_minimum_fails_by_name(tmp_path: Path) -> None:
    bounds = load_thresholds(write(tmp_path, '[min."medquad-quick"]\n"retrieval.hybrid.mrr@10" = 0.75\n'))
    assert check_gate(RESULTS, bounds) == ["medquad-quick.retrieval.hybrid.mrr@10 = 0.7000, below its minimum 0.7500"]


def test_a_false_alarm_above_its_maximum_fails(tmp_path: Path) -> None:
    results = {"corpus.tune": {"answers": {"false_alarms.benign": 0.25}}}
    bounds = load_thresholds(write(tmp_path, '[max."corpus.tune"]\n"answers.false_alarms.benign" = 0.0\n'))
    assert check_gate(results, bounds) == ["corpus.tune.answers.false_alarms.benign = 0.2500, above its maximum 0.0000"]


def test_missing_and_nan_metrics_fail_but_absent_suites_are_skipped(tmp_path: Path) -> None:
    bounds = load_thresholds(
        write(
            tmp_path,
            '[min."corpus.tune"]\n"retrieval.sparse.mrr@10" = 0.1\n[min.medquad]\n"retrieval.hybrid.mrr@10" = 0.6\n',
        )
    )
    assert check_gate(RESULTS, bounds) == [
        "corpus.tune.retrieval.sparse.mrr@10: missing from the results (bound min 0.1)"
    ]
    nan = {"corpus.tune": {"retrieval": {"sparse": {"mrr@10": math.nan}}}}
    assert check_gate(nan, bounds)[0].startswith("corpus.tune.retrieval.sparse.mrr@10: missing")


def test_bad_threshold_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="is not valid TOML"):
        load_thresholds(write(tmp_path, "[min\n"))
    with pytest.raises(ValueError, match=r"must be a number, got 'high'"):
        load_thresholds(write(tmp_path, '[min."corpus.tune"]\n"x" = "high"\n'))


def test_the_shipped_thresholds_load() -> None:
    bounds = load_thresholds(THRESHOLDS_FILE)
    assert bounds["min"] and all(0 <= v <= 1 for v in bounds["min"].values())


@pytest.mark.slow
def test_eval_gate_exits_1_naming_the_metric_that_fell(tmp_path: Path) -> None:
    """The whole command, in its own process; the gate itself runs the full suites once, in scripts/test.sh."""
    impossible = write(tmp_path, '[min."corpus.heldout"]\n"retrieval.hybrid.recall@10" = 1.01\n')
    # A dozen labelled questions of each split exercise the same path as all of them.
    lines = (ROOT / "eval" / "data" / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    few = [line for split in ("tune", "heldout") for line in [x for x in lines if f'"split": "{split}"' in x][:12]]
    questions = tmp_path / "questions.jsonl"
    questions.write_text("\n".join(few) + "\n", encoding="utf-8")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli",
            "eval",
            "--suite",
            "corpus",
            "--gate",
            "--thresholds",
            str(impossible),
            "--out",
            str(tmp_path / "reports"),
            "--work-dir",
            str(tmp_path / "work"),
            "--questions",
            str(questions),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Gate failed" in result.stderr
    assert "corpus.heldout.retrieval.hybrid.recall@10" in result.stderr and "below its minimum 1.0100" in result.stderr
    report = (tmp_path / "reports" / "latest" / "report.md").read_text(encoding="utf-8")
    assert "Corpus suite, tune split" in report and "Corpus suite, heldout split" in report
    assert (tmp_path / "reports" / "latest" / "recall-corpus-heldout.png").stat().st_size > 1000
    assert (tmp_path / "reports" / "latest" / "confidence-tune.png").stat().st_size > 1000
