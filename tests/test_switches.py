"""CI's switches hold: with HEALTHQA_REQUIRE_<X>=1 a test whose resource is absent fails, even though every
test runs with the HEALTHQA_* variables cleared (tests/conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

TINY_CASE = """
from pathlib import Path

from tests.conftest import require_shared
from tests.mounts import cannot_run_root_only
from tests.service.test_replicas import require_nginx


def test_shared_data(tmp_path: Path) -> None:
    require_shared(tmp_path / "absent")


def test_root_only() -> None:
    cannot_run_root_only("pretend this machine cannot mount")


def test_nginx(monkeypatch) -> None:
    import tests.service.test_replicas as replicas

    monkeypatch.setattr(replicas, "nginx_binary", lambda: None)
    require_nginx()
"""


def run_tiny_case(tmp_path: Path, **switches: str) -> subprocess.CompletedProcess[str]:
    case = tmp_path / "test_tiny_case.py"
    case.write_text(TINY_CASE, encoding="utf-8")
    # The tiny case runs under the project's own conftest, whose autouse fixture clears HEALTHQA_* variables.
    (tmp_path / "conftest.py").write_text("from tests.conftest import *  # noqa: F403\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEALTHQA_REQUIRE_")} | switches
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(case)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )


def test_without_the_switches_an_absent_resource_is_a_skip(tmp_path: Path) -> None:
    result = run_tiny_case(tmp_path)
    assert result.returncode == 0 and "3 skipped" in result.stdout, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("switch", "test"), [("SHARED", "test_shared_data"), ("MOUNTS", "test_root_only"), ("NGINX", "test_nginx")]
)
def test_a_switch_turns_its_skip_into_a_failure(tmp_path: Path, switch: str, test: str) -> None:
    result = run_tiny_case(tmp_path, **{f"HEALTHQA_REQUIRE_{switch}": "1"})
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"FAILED test_tiny_case.py::{test}" in result.stdout and "1 failed, 2 skipped" in result.stdout
    assert f"HEALTHQA_REQUIRE_{switch}=1 makes it mandatory" in result.stdout
