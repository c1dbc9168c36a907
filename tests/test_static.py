"""Static checks run as part of the test command: ruff, mypy --strict, import-linter.

They live in the suite so that the README's single test command proves the
code is typed, linted and keeps its layering (design.md §5).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    exe = BIN / args[0]
    cmd = [str(exe) if exe.exists() else shutil.which(args[0]) or args[0], *args[1:]]
    return subprocess.run(cmd, check=False, cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.mark.timeout(600)
def test_ruff_is_clean() -> None:
    proc = _run("ruff", "check", "src", "tests", "benchmarks")
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.timeout(600)
def test_ruff_format_is_clean() -> None:
    proc = _run("ruff", "format", "--check", "src", "tests", "benchmarks")
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.timeout(900)
def test_mypy_strict_is_clean() -> None:
    proc = _run("mypy", "--strict")
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.timeout(600)
def test_import_layers_hold() -> None:
    proc = _run("lint-imports")
    assert proc.returncode == 0, proc.stdout + proc.stderr
