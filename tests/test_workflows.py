"""The GitHub workflows and the composite action are code too: lint them in the suite.

check-jsonschema validates them against SchemaStore's schemas (bundled, no
network); zizmor audits them for injection, credential leaks and unpinned
actions, offline.  A few structural rules the tools do not know about are
pinned here as well.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
WORKFLOWS = [ROOT / ".github/workflows/ci.yml", ROOT / ".github/workflows/linkwatch.yml"]
ACTION = ROOT / "action.yml"
ALL = [*WORKFLOWS, ACTION]


def _tool(name: str) -> str:
    exe = BIN / name
    found = str(exe) if exe.exists() else shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[test]')")
    return found


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=False, cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    ("schema", "files"),
    [("vendor.github-workflows", WORKFLOWS), ("vendor.github-actions", [ACTION])],
    ids=["workflows", "action"],
)
def test_schema_valid(schema: str, files: list[Path]) -> None:
    proc = _run(_tool("check-jsonschema"), "--builtin-schema", schema, *map(str, files))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_zizmor_finds_nothing_high() -> None:
    proc = _run(_tool("zizmor"), "--offline", "--min-severity", "high", *map(str, ALL))
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_commit_with_a_version_comment(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    uses = re.findall(r"^\s*(?:- )?uses:\s*(\S+)(.*)", text, flags=re.MULTILINE)
    assert uses
    for ref, rest in uses:
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), ref
        assert re.search(r"#\s*v\d", rest), f"{ref} has no version comment"


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_checkout_never_persists_credentials(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count("actions/checkout@") == text.count("persist-credentials: false")


def test_action_inputs_never_expand_inside_scripts() -> None:
    text = ACTION.read_text(encoding="utf-8")
    scripts = re.findall(r"run: \|\n((?:\s{8}.*\n?)+)", text) + re.findall(r"run: (.+)", text)
    assert scripts
    assert not any("${{" in script for script in scripts)
