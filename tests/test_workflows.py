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


def _run_block(path: Path, step: str) -> str:
    """The ``run: |`` script of the step named ``step`` (no YAML parser needed)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == f"- name: {step}")
    at = next(i for i in range(start, len(lines)) if lines[i].strip() == "run: |")
    indent = len(lines[at + 1]) - len(lines[at + 1].lstrip())
    block = []
    for line in lines[at + 1 :]:
        if line.strip() and len(line) - len(line.lstrip()) < indent:
            break
        block.append(line[indent:])
    return "\n".join(block) + "\n"


# What linkwatch's exit code means for the job: results pass, anything else fails.
_RESULT_CODES = {0: True, 1: True, 2: False, 3: True, 4: False, 130: False}


@pytest.mark.parametrize(("code", "passes"), sorted(_RESULT_CODES.items()))
def test_the_action_fails_unless_linkwatch_ran_to_a_result(
    tmp_path: Path, code: int, passes: bool
) -> None:
    stub = tmp_path / "bin" / "linkwatch"
    stub.parent.mkdir()
    stub.write_text(f"#!/bin/sh\nexit {code}\n", encoding="utf-8")
    stub.chmod(0o755)
    env = {
        "PATH": f"{stub.parent}:/usr/bin:/bin",
        "LW_CATALOG": "catalog.toml",
        "LW_STATE": "state.db",
        "LW_REPORTS": str(tmp_path / "reports"),
        "LW_ISSUES": "false",
        "LW_ARGS": "",
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
    }
    script = _run_block(ACTION, "Check links")
    done = subprocess.run(["bash", "-c", script], env=env, check=False, timeout=60)
    assert (done.returncode == 0) is passes
    assert (tmp_path / "output").read_text(encoding="utf-8") == f"exit-code={code}\n"


@pytest.mark.parametrize(("code", "passes"), sorted(_RESULT_CODES.items()))
def test_the_nightly_workflow_fails_unless_linkwatch_ran_to_a_result(
    code: int, passes: bool
) -> None:
    script = _run_block(
        ROOT / ".github/workflows/linkwatch.yml", "Fail unless linkwatch ran to a result"
    )
    env = {"PATH": "/usr/bin:/bin", "CHECK_EXIT": str(code)}
    done = subprocess.run(
        ["bash", "-c", script], env=env, check=False, timeout=60, capture_output=True
    )
    assert (done.returncode == 0) is passes


@pytest.mark.parametrize(
    "path",
    [ROOT / ".github/workflows/linkwatch.yml", ROOT / "docs/scaling.md", ROOT / "docs/github.md"],
)
def test_the_history_is_saved_under_a_key_new_for_every_attempt(path: Path) -> None:
    # A re-run keeps github.run_id; a cache key cannot be saved twice, so a
    # key of the run id alone loses the re-run's history (a warning only).
    keys = re.findall(r"^\s*key: (linkwatch-state-.*)$", path.read_text(encoding="utf-8"), re.M)
    assert keys
    assert set(keys) == {"linkwatch-state-${{ github.run_id }}-${{ github.run_attempt }}"}
