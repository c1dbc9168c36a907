"""The command line end to end, against the real loopback test web (tests/web.py).

URLs here are IP literals on 127.0.0.0/8, so the CLI resolves nothing: no
test sends a DNS query or any packet beyond loopback.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import psutil
import pytest

from fake_github import FakeGitHub
from linkwatch.cli import main, write_atomic
from linkwatch.models import Link
from linkwatch.pipeline import job_parts
from linkwatch.store import Store
from web import TestWeb

ROOT = Path(__file__).resolve().parents[1]

FAST = """
[settings]
connect_timeout = 1.0
read_timeout = 1.0
link_timeout = 3.0
retries = 1
rot_after_runs = 1
rot_after_hours = 0
recover_after_runs = 1
"""


def catalog(tmp_path: Path, urls: list[tuple[str, str]], settings: str = FAST) -> Path:
    lines = [settings]
    for title, url in urls:
        lines += ["[[link]]", f'title = "{title}"', f'url = "{url}"', 'section = "Tests"', ""]
    path = tmp_path / "catalog.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def base(web: TestWeb, host: str = "127.0.0.1") -> str:
    return f"http://{host}:{web.port}"


def check_args(tmp_path: Path, cat: Path, *extra: str) -> list[str]:
    """``check`` over ``cat`` with its state and reports in ``tmp_path``."""
    return [
        "check",
        "--catalog",
        str(cat),
        "--state",
        str(tmp_path / "state.db"),
        "--reports",
        str(tmp_path / "reports"),
        "--allow-private",
        "--no-adapters",
        "-q",
        *extra,
    ]


def run_cli(tmp_path: Path, cat: Path, *extra: str) -> int:
    return main(check_args(tmp_path, cat, *extra))


def test_check_writes_the_json_contract_and_every_report(web: TestWeb, tmp_path: Path) -> None:
    b = base(web)
    cat = catalog(
        tmp_path,
        [("ok", f"{b}/article"), ("gone", f"{b}/gone-404"), ("moved", f"{b}/moved-twice")],
    )
    out = tmp_path / "out.json"
    code = run_cli(tmp_path, cat, "--format", "json", "--output", str(out))
    assert code == 1  # a 404 and a moved link need a human
    data = json.loads(out.read_text(encoding="utf-8"))
    run = data["run"]
    assert {"started", "finished", "catalog", "inconclusive", "counts"} <= run.keys()
    assert run["inconclusive"] is False
    assert run["counts"] == {"ok": 1, "moved": 1, "broken": 1, "blocked": 0, "error": 0}
    by_url = {r["url"]: r for r in data["results"]}
    gone = by_url[f"{b}/gone-404"]
    assert (gone["verdict"], gone["reason"], gone["status_code"]) == ("broken", "http-404", 404)
    moved = by_url[f"{b}/moved-twice"]
    assert moved["verdict"] == "moved"
    assert moved["final_url"] == f"{b}/article"
    assert [h["status"] for h in moved["redirects"]] == [301, 301]
    expected_keys = {
        "url", "title", "section", "verdict", "reason", "detail", "status_code", "final_url",
        "redirects", "attempts", "elapsed_ms", "health", "changed", "content_hash",
    }  # fmt: skip
    assert all(expected_keys <= r.keys() for r in data["results"])
    names = sorted(p.name for p in (tmp_path / "reports").iterdir())
    assert names == ["badge.json", "index.html", "report.md", "results.json"]


def test_reports_read_the_catalogs_clock(web: TestWeb, tmp_path: Path) -> None:
    """``timezone`` puts the reports' run times on the curator's clock; results.json keeps UTC."""
    cat = catalog(tmp_path, [("ok", f"{base(web)}/article")], FAST + 'timezone = "Asia/Shanghai"\n')
    assert run_cli(tmp_path, cat) == 0
    reports = tmp_path / "reports"
    started = json.loads((reports / "results.json").read_text(encoding="utf-8"))["run"]["started"]
    assert started.endswith("+00:00")
    here = datetime.fromisoformat(started).astimezone(ZoneInfo("Asia/Shanghai"))
    assert f"Run {here.isoformat(timespec='seconds')} →" in (reports / "report.md").read_text(
        encoding="utf-8"
    )
    assert here.strftime("%Y-%m-%d %H:%M CST") in (reports / "index.html").read_text(
        encoding="utf-8"
    )


def test_the_progress_bar_stays_off_stdout(
    web: TestWeb,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``check --format json | jq`` run from a terminal: no progress bar in the piped output."""
    cat = catalog(tmp_path, [("ok", f"{base(web)}/article")])
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    args = [a for a in check_args(tmp_path, cat, "--format", "json") if a != "-q"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.startswith("{"), out[:40]
    assert json.loads(out)["run"]["counts"]["ok"] == 1


def test_all_hosts_unreachable_is_inconclusive_not_rot(web: TestWeb, tmp_path: Path) -> None:
    # Nothing listens on closed_port on any of these loopback hosts: every host of
    # the catalog fails at the network level, as when the runner itself is offline.
    urls = [(f"h{i}", f"http://127.0.0.{i}:{web.closed_port}/page") for i in range(10, 16)]
    cat = catalog(tmp_path, urls)
    out = tmp_path / "out.json"
    code = run_cli(tmp_path, cat, "--format", "json", "--output", str(out))
    assert code == 3
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["run"]["inconclusive"] is True
    assert "network" in data["run"]["inconclusive_reason"]
    assert {r["health"] for r in data["results"]} == {"healthy"}  # nothing moved toward rot
    # Not "6 broken": an offline checker's failures are not verdicts on the links.
    assert data["run"]["counts"]["broken"] == 0
    assert {(r["verdict"], r["reason"]) for r in data["results"]} == {("error", "checker-offline")}
    assert all("connect-refused" in r["detail"] for r in data["results"])


def test_private_targets_are_refused_without_the_flag(web: TestWeb, tmp_path: Path) -> None:
    cat = catalog(tmp_path, [("ok", f"{base(web)}/article")])
    out = tmp_path / "out.json"
    main(["check", "--catalog", str(cat), "--state", str(tmp_path / "s.db"), "--no-reports",
          "-q", "--format", "json", "-o", str(out)])  # fmt: skip
    result = json.loads(out.read_text(encoding="utf-8"))["results"][0]
    assert (result["verdict"], result["reason"]) == ("error", "private-address")


def test_broken_catalog_is_one_line_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cat = tmp_path / "catalog.toml"
    cat.write_text('[[link]]\ntitle = "x"\nurl = "https://a.example/"\ntittle = "y"\n')
    code = main(["check", "--catalog", str(cat), "--state", str(tmp_path / "s.db")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert f"{cat}:4:" in err
    assert "tittle" in err
    assert not (tmp_path / "s.db").exists()  # nothing was touched


def test_unwritable_report_folder_fails_before_the_run(
    web: TestWeb, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cat = catalog(tmp_path, [("ok", f"{base(web)}/article")])
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    hits = sum(web.hits.values())
    code = main(["check", "--catalog", str(cat), "--state", str(tmp_path / "s.db"),
                 "--reports", str(blocker / "reports"), "--allow-private"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "cannot write reports" in err
    assert sum(web.hits.values()) == hits  # no request was made
    assert not (tmp_path / "s.db").exists()


def test_status_history_report_and_fix(
    web: TestWeb, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    b = base(web)
    cat = catalog(tmp_path, [("ok", f"{b}/doc"), ("moved", f"{b}/perm-308")])
    cat.write_text("# my precious comment\n" + cat.read_text(encoding="utf-8"), encoding="utf-8")
    assert run_cli(tmp_path, cat) == 1
    state = str(tmp_path / "state.db")
    capsys.readouterr()

    assert main(["status", "--catalog", str(cat), "--state", state, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["url"]: r["last_verdict"] for r in rows} == {
        f"{b}/doc": "ok",
        f"{b}/perm-308": "moved",
    }

    assert main(["history", f"{b}/doc", "--state", state, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["verdict"] == "ok"

    (tmp_path / "reports" / "index.html").unlink()
    assert main(["report", "--catalog", str(cat), "--state", state, "--reports",
                 str(tmp_path / "reports"), "-q"]) == 0  # fmt: skip
    assert (tmp_path / "reports" / "index.html").exists()

    before = cat.read_text(encoding="utf-8")
    assert main(["fix", "--catalog", str(cat), "--state", state, "--dry-run"]) == 0
    diff = capsys.readouterr().out
    assert f'-url = "{b}/perm-308"' in diff and f'+url = "{b}/article"' in diff
    assert cat.read_text(encoding="utf-8") == before  # dry run changes nothing

    assert main(["fix", "--catalog", str(cat), "--state", state, "-q"]) == 0
    after = cat.read_text(encoding="utf-8")
    assert "# my precious comment" in after
    assert f'url = "{b}/perm-308"' not in after
    assert after.count(f'url = "{b}/article"') == 1


def test_fix_holds_back_a_move_onto_a_url_the_catalog_already_has(
    web: TestWeb, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """/perm-308 moved to /article, which is listed too, as its child: rewriting would
    leave a duplicate URL and a link that is its own parent."""
    b = base(web)
    cat = tmp_path / "catalog.toml"
    cat.write_text(
        FAST
        + f'''
[[link]]
title = "old"
url = "{b}/perm-308"

[[link]]
title = "new"
url = "{b}/article"
parent = "{b}/perm-308"

[[link]]
title = "also moved"
url = "{b}/moved-once"
''',
        encoding="utf-8",
    )
    assert run_cli(tmp_path, cat) == 1
    capsys.readouterr()
    before = cat.read_text(encoding="utf-8")
    code = main(["fix", "--catalog", str(cat), "--state", str(tmp_path / "state.db")])
    out, err = capsys.readouterr()
    assert code == 0
    assert f"not rewriting {b}/perm-308: {b}/article is already in the catalog" in err
    assert f"not rewriting {b}/moved-once: {b}/article is already in the catalog" in err
    assert "rewrote" not in out
    assert cat.read_text(encoding="utf-8") == before
    assert main(["validate", "--catalog", str(cat), "-q"]) == 0


def test_fix_never_writes_a_catalog_that_does_not_load(
    web: TestWeb, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The parent is spelled ``HTTP://``: the same link to the loader, not to the exact-match
    rewrite, so the rewritten catalog would name a parent it no longer has."""
    b = base(web)
    cat = tmp_path / "catalog.toml"
    cat.write_text(
        FAST
        + f'''
[[link]]
title = "old"
url = "{b}/perm-308"

[[link]]
title = "child"
url = "{b}/doc"
parent = "{b.replace("http://", "HTTP://")}/perm-308"
''',
        encoding="utf-8",
    )
    assert run_cli(tmp_path, cat) == 1
    capsys.readouterr()
    before = cat.read_text(encoding="utf-8")
    code = main(["fix", "--catalog", str(cat), "--state", str(tmp_path / "state.db")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert f"{cat}:" in err and "not rewritten" in err and "link.parent" in err
    assert cat.read_text(encoding="utf-8") == before


def test_import_reproduces_the_shipped_catalog_urls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from linkwatch.catalog import load_catalog, parse_catalog

    seed = ROOT / "tests" / "data" / "seed_llm_path.md"
    assert main(["import", str(seed), "-o", "-", "-q"]) == 0
    imported = parse_catalog(capsys.readouterr().out, "imported.toml")
    shipped = load_catalog(ROOT / "catalog.toml")
    assert [link.url for link in imported.links] == [link.url for link in shipped.links]
    assert len(shipped.links) == 44


def test_issues_open_through_the_cli_and_token_stays_home(
    web: TestWeb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeGitHub("127.0.0.1", token="t0ken") as api:
        monkeypatch.setenv("GITHUB_TOKEN", "t0ken")
        monkeypatch.setenv("GITHUB_REPOSITORY", "owner/repo")
        monkeypatch.setenv("GITHUB_API_URL", api.url)
        monkeypatch.setenv("LINKWATCH_WAYBACK_API", api.url + "/wayback/available")
        b = base(web)
        cat = catalog(tmp_path, [("ok", f"{b}/article"), ("gone", f"{b}/gone-410")])
        assert run_cli(tmp_path, cat, "--issues") == 1
        assert run_cli(tmp_path, cat, "--issues") == 1  # a rerun opens no duplicate
        opened = [i for i in api.issues.values() if i.state == "open"]
        assert len(opened) == 1
        assert "gone" in opened[0].title
        assert all(r.authorization == "Bearer t0ken" for r in api.requests if "/repos/" in r.path)
        assert not any(
            "t0ken" in (r.authorization or "") for r in api.requests if "wayback" in r.path
        )


def test_issues_sync_acts_on_links_a_later_conclusive_run_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An old inconclusive run must not freeze issues for links checked since.

    Run 1 (inconclusive) checked A and B; run 2 (conclusive, a subset as a
    schedule or ``check --section`` makes) found A rotten.  A gets its issue;
    B, whose latest word is the inconclusive run, gets nothing.
    """
    from datetime import UTC, datetime, timedelta

    from linkwatch.models import CheckResult, Health, LinkState, RunSummary, Verdict
    from linkwatch.store import Store

    a, b = "https://a.example/", "https://b.example/"
    cat = catalog(tmp_path, [("A", a), ("B", b)])
    t0 = datetime(2025, 3, 1, tzinfo=UTC)

    def checked(url: str, verdict: Verdict, at: datetime) -> CheckResult:
        return CheckResult(Link(url, url[8]), verdict, "http-404", "gone", at, 404)

    with Store.open(tmp_path / "s.db") as store:
        offline = (checked(a, Verdict.ERROR, t0), checked(b, Verdict.ERROR, t0))
        store.record_run(
            RunSummary(t0, t0, str(cat), offline, inconclusive=True),
            {a: LinkState(a), b: LinkState(b, Health.ROTTEN, fail_streak=3)},
        )
        t1 = t0 + timedelta(days=1)
        store.record_run(
            RunSummary(t1, t1, str(cat), (checked(a, Verdict.BROKEN, t1),)),
            {a: LinkState(a, Health.ROTTEN, Verdict.BROKEN, fail_streak=3)},
        )
    with FakeGitHub("127.0.0.1", token="t0ken") as api:
        monkeypatch.setenv("GITHUB_TOKEN", "t0ken")
        monkeypatch.setenv("GITHUB_REPOSITORY", "owner/repo")
        monkeypatch.setenv("GITHUB_API_URL", api.url)
        code = main(["issues", "sync", "--catalog", str(cat), "--state", str(tmp_path / "s.db"),
                     "--no-wayback"])  # fmt: skip
        assert code == 0
        assert [i.title for i in api.issues.values()] == ["Link rotten: A"]


# ------------------------------------------------------------ killed runs


def _spawn(tmp_path: Path, cat: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "linkwatch", *check_args(tmp_path, cat, *extra)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _workers(pid: int, expected: int, timeout: float = 10.0) -> list[psutil.Process]:
    """The ``--jobs`` worker processes of ``pid`` (not multiprocessing's resource tracker)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [
            child
            for child in psutil.Process(pid).children()
            if "spawn_main" in " ".join(child.cmdline())
        ]
        if len(found) >= expected or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def _gone(proc: psutil.Process, timeout: float = 10.0) -> bool:
    try:
        proc.wait(timeout)
    except psutil.TimeoutExpired:
        return False
    except psutil.NoSuchProcess:
        pass
    return True


def _hanging_run(
    web: TestWeb, tmp_path: Path, *extra: str
) -> tuple[subprocess.Popen[bytes], dict[str, bytes]]:
    """A first run recorded, then a second run started and stuck on a hanging link."""
    b = base(web)
    good = catalog(tmp_path, [("ok", f"{b}/article"), ("gone", f"{b}/gone-404")])
    assert run_cli(tmp_path, good) == 1
    reports = _snapshot(tmp_path / "reports")
    hanging = FAST.replace("link_timeout = 3.0", "link_timeout = 30.0").replace(
        "read_timeout = 1.0", "read_timeout = 30.0"
    )
    elsewhere = f"http://127.0.0.2:{web.public_port}/article"  # a second host
    slow = catalog(
        tmp_path,
        [("ok", f"{b}/article"), ("hang", f"{b}/hang"), ("gone", f"{b}/gone-404"),
         ("elsewhere", elsewhere)],
        hanging,
    )  # fmt: skip
    hung_before = web.hits.get("127.0.0.1/hang", 0)  # the web lives for the whole session
    proc = _spawn(tmp_path, slow, *extra)
    deadline = time.monotonic() + 10
    while web.hits.get("127.0.0.1/hang", 0) == hung_before and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    return proc, reports


def _history_untouched(tmp_path: Path, reports: dict[str, bytes]) -> None:
    assert _snapshot(tmp_path / "reports") == reports
    conn = sqlite3.connect(tmp_path / "state.db")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1
    finally:
        conn.close()


#: With --jobs 3, 127.0.0.2 (one link) is the smallest part, checked by the CLI
#: process itself, and 127.0.0.1 (three, one hanging) a worker's; no third part.
JOBS = 3


def test_the_kill_tests_split_as_they_assume() -> None:
    hosts = ("127.0.0.1", "127.0.0.1", "127.0.0.1", "127.0.0.2")
    links = [Link(url=f"http://{h}:1/{n}", title=h) for n, h in enumerate(hosts)]
    parts = job_parts(links, JOBS)
    assert [{link.url.split("/")[2] for link in part} for part in parts] == [
        {"127.0.0.2:1"},
        {"127.0.0.1:1"},
    ]


@pytest.mark.parametrize("jobs", [1, JOBS])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_a_killed_run_loses_nothing(
    web: TestWeb, tmp_path: Path, sig: signal.Signals, jobs: int
) -> None:
    proc, reports = _hanging_run(web, tmp_path, "--jobs", str(jobs))
    workers = _workers(proc.pid, expected=1) if jobs > 1 else []
    assert len(workers) == (jobs > 1)
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=20)
    if sig is signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode == 130, err
        assert b"interrupted" in err
    assert all(_gone(w) for w in workers)  # no orphan keeps crawling, even after SIGKILL
    _history_untouched(tmp_path, reports)


def test_a_dead_worker_fails_the_run_in_one_line(web: TestWeb, tmp_path: Path) -> None:
    proc, reports = _hanging_run(web, tmp_path, "--jobs", str(JOBS))
    (worker,) = _workers(proc.pid, expected=1)
    worker.kill()
    _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 2, err
    assert err.decode().count("\n") == 1
    assert b"was killed by SIGKILL before it finished" in err
    _history_untouched(tmp_path, reports)


def test_second_run_is_answered_with_304_and_counts_bytes_saved(
    web: TestWeb, tmp_path: Path
) -> None:
    b = base(web)
    cat = catalog(tmp_path, [("versioned", f"{b}/etag"), ("ok", f"{b}/article")])
    first, second = tmp_path / "1.json", tmp_path / "2.json"
    assert run_cli(tmp_path, cat, "--format", "json", "-o", str(first)) == 0
    assert run_cli(tmp_path, cat, "--format", "json", "-o", str(second)) == 0
    one = json.loads(first.read_text(encoding="utf-8"))
    two = json.loads(second.read_text(encoding="utf-8"))
    assert one["run"]["bytes_saved"] == 0
    assert two["run"]["bytes_saved"] > 0
    etag = next(r for r in two["results"] if r["url"] == f"{b}/etag")
    assert etag["verdict"] == "ok" and etag["changed"] is False
    assert (
        etag["content_hash"]
        == next(r for r in one["results"] if r["url"] == f"{b}/etag")["content_hash"]
    )
    assert web.requests[-1].headers.get("if-none-match") == '"v1"' or any(
        r.headers.get("if-none-match") == '"v1"' for r in web.requests
    )


def test_a_moved_link_stays_moved_when_its_target_answers_304(web: TestWeb, tmp_path: Path) -> None:
    """The target is unchanged, but the catalog still points at the old URL."""
    b = base(web)
    cat = catalog(tmp_path, [("moved", f"{b}/moved-to-etag")])
    for night in ("1.json", "2.json", "3.json"):
        assert run_cli(tmp_path, cat, "--format", "json", "-o", str(tmp_path / night)) == 1
        (result,) = json.loads((tmp_path / night).read_text(encoding="utf-8"))["results"]
        assert (result["verdict"], result["reason"]) == ("moved", "moved-permanently")
        assert result["suggested_url"] == f"{b}/etag"
    assert result["status_code"] == 304  # the last night was answered from the validators


def test_validators_of_an_older_edition_are_not_sent(web: TestWeb, tmp_path: Path) -> None:
    """After an upgrade that follows redirect stubs, the stub's own ETag is not sent again.

    The older linkwatch took the stub for the page and kept its ETag; sent
    again, the stub answers 304 and the moved link stays "ok" for ever.
    """
    b = base(web)
    cat = catalog(tmp_path, [("stub", f"{b}/stub/etag")])
    out = tmp_path / "out.json"
    assert run_cli(tmp_path, cat) == 1
    with sqlite3.connect(tmp_path / "state.db") as db:  # as the older edition left it
        db.execute("UPDATE link_state SET etag = '\"stub-1\"', fingerprint_version = 2")
    assert run_cli(tmp_path, cat, "--format", "json", "-o", str(out)) == 1
    (result,) = json.loads(out.read_text(encoding="utf-8"))["results"]
    assert (result["verdict"], result["suggested_url"]) == ("moved", f"{b}/article")
    assert not any(r.headers.get("if-none-match") == '"stub-1"' for r in web.requests)


def test_schedule_runs_each_schedule_over_its_subset_and_writes_reports(
    web: TestWeb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import linkwatch.schedule as schedule_module
    from linkwatch.models import Schedule

    seen: list[tuple[str, int, int]] = []

    async def run_each_once(schedules: list[Schedule], job: object, **_: object) -> None:
        for schedule in schedules:
            summary = await job(schedule)  # type: ignore[operator]
            report = json.loads((tmp_path / "reports" / "results.json").read_text("utf-8"))
            seen.append((schedule.name, len(summary.results), len(report["results"])))

    monkeypatch.setattr(schedule_module, "run_schedules", run_each_once)  # cli imports it late
    b = base(web)
    text = (
        FAST
        + f"""
[[schedule]]
name = "nightly"
cron = "30 3 * * *"

[[schedule]]
name = "must-read"
cron = "0 * * * *"
must_read_only = true

[[link]]
title = "star"
url = "{b}/article"
must_read = true

[[link]]
title = "plain"
url = "{b}/doc"
"""
    )
    cat = tmp_path / "catalog.toml"
    cat.write_text(text, encoding="utf-8")
    state, reports = str(tmp_path / "s.db"), str(tmp_path / "reports")
    code = main(["schedule", "--catalog", str(cat), "--state", state, "--reports", reports,
                 "--allow-private", "--no-adapters"])  # fmt: skip
    assert code == 0
    # (schedule, links it checked, links in the report): the hourly must-read run
    # checks one link, and the report still shows the whole catalog.
    assert seen == [("nightly", 2, 2), ("must-read", 1, 2)]


def test_schedule_sends_the_token_to_the_api_it_belongs_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On GitHub Enterprise the token is for GITHUB_API_URL, never api.github.com."""
    import linkwatch.cli as cli_module
    import linkwatch.schedule as schedule_module
    from linkwatch.models import Schedule
    from linkwatch.pipeline import RunOptions

    seen: list[RunOptions] = []

    class Stop(Exception):
        pass

    async def capture(*_: object, options: RunOptions, **__: object) -> None:
        seen.append(options)
        raise Stop

    async def run_first(schedules: list[Schedule], job: object, **_: object) -> None:
        with pytest.raises(Stop):
            await job(schedules[0])  # type: ignore[operator]

    monkeypatch.setattr(schedule_module, "run_schedules", run_first)
    monkeypatch.setattr(cli_module, "run_once", capture)
    monkeypatch.setenv("GITHUB_TOKEN", "ghe-t0ken")
    monkeypatch.setenv("GITHUB_API_URL", "https://ghe.example/api/v3")
    cat = catalog(tmp_path, [("a", "https://a.example/")])
    code = main(["schedule", "--catalog", str(cat), "--state", str(tmp_path / "s.db"),
                 "--reports", str(tmp_path / "reports")])  # fmt: skip
    assert code == 0
    assert [(o.github_token, o.github_api_url) for o in seen] == [
        ("ghe-t0ken", "https://ghe.example/api/v3")
    ]


def test_a_damaged_state_database_is_one_line_and_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "state.db"
    bad.write_bytes(b"not a database, just bytes\n" * 10)
    before = bad.read_bytes()
    code = main(["status", "--catalog", str(ROOT / "catalog.toml"), "--state", str(bad)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and str(bad) in err
    assert bad.read_bytes() == before


@pytest.mark.parametrize(
    ("setting", "flags", "probed"),
    [("true", (), True), ("false", (), False), ("true", ("--no-soft404-probe",), False)],
)
def test_the_soft404_probe_follows_the_setting_and_flag(
    web: TestWeb, tmp_path: Path, setting: str, flags: tuple[str, ...], probed: bool
) -> None:
    probes = lambda: sum(n for k, n in web.hits.items() if k.endswith("-linkwatch-probe"))  # noqa: E731
    before = probes()
    cat = catalog(
        tmp_path, [("deep", f"{base(web)}/article")], FAST + f"soft404_probe = {setting}\n"
    )
    assert run_cli(tmp_path, cat, *flags) == 0
    assert (probes() > before) is probed


def test_a_filter_that_matches_nothing_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cat = catalog(tmp_path, [("x", "http://127.0.0.1:9/x")])
    code = main(["check", "--catalog", str(cat), "--state", str(tmp_path / "s.db"),
                 "--section", "nowhere"])  # fmt: skip
    assert code == 2
    assert "matches --section nowhere" in capsys.readouterr().err
    assert not (tmp_path / "s.db").exists()


def test_collector_is_tuned_only_when_the_process_is_ours(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The console script tunes the cycle collector; a caller's ``main([...])`` keeps its own."""
    calls: list[str] = []
    monkeypatch.setattr("linkwatch.cli.tune_gc", lambda: calls.append("tuned"))
    path = catalog(tmp_path, [("example", "https://example.test/")])
    assert main(["validate", "--catalog", str(path)]) == 0
    assert calls == []
    monkeypatch.setattr(sys, "argv", ["linkwatch", "validate", "--catalog", str(path)])
    assert main() == 0
    assert calls == ["tuned"]


def test_tune_gc_freezes_what_is_alive_and_raises_the_thresholds() -> None:
    code = (
        "import gc; from linkwatch.workers import tune_gc; tune_gc(); "
        "print(gc.get_freeze_count() > 1000, gc.get_threshold())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split(" ", 1) == ["True", "(10000, 20, 100)\n"]


_HEAP = """
import ctypes, sys
from linkwatch.workers import tune_malloc
class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
applied = tune_malloc()
before = libc.mallinfo2().hblks
blocks = [libc.malloc(1 << 20) for _ in range(16)]  # what a page parse and a zlib stream ask for
mapped = libc.mallinfo2().hblks - before
for block in blocks:
    libc.free(block)
kept = libc.mallinfo2().arena >= 16 << 20
again = libc.malloc(1 << 20)
print(applied, mapped, kept, again in blocks)
"""


@pytest.mark.skipif(
    not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"), reason="glibc only"
)
def test_tune_malloc_serves_big_blocks_from_the_heap_and_keeps_them_after_free() -> None:
    """The allocator's own books, not page faults: the kernel's fault count varies by sandbox.

    Untuned, glibc maps such blocks with mmap (or trims them off the heap once
    freed), so each page parse faulted the same memory in again: measured on
    this machine, ~10,000 minor faults for 2,000 parses against ~50 tuned.
    """
    out = subprocess.run([sys.executable, "-c", _HEAP], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "0", "True", "True"]


def test_written_files_get_the_usual_mode_and_keep_an_existing_one(tmp_path: Path) -> None:
    """Reports must be readable by the web server that serves them; fix keeps a catalog's mode."""
    old_mask = os.umask(0o022)
    try:
        report = tmp_path / "reports" / "index.html"
        write_atomic(report, "<p>new</p>")
        catalog_file = tmp_path / "catalog.toml"
        catalog_file.write_text("x = 1\n", encoding="utf-8")
        catalog_file.chmod(0o640)
        write_atomic(catalog_file, "x = 2\n")
    finally:
        os.umask(old_mask)
    assert report.stat().st_mode & 0o777 == 0o644
    assert catalog_file.stat().st_mode & 0o777 == 0o640
    assert catalog_file.read_text(encoding="utf-8") == "x = 2\n"


def test_a_crash_is_exit_4_with_its_traceback_not_links_need_a_human(
    web: TestWeb,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Python exits 1 on an uncaught exception, which scripts would read as a verdict."""
    import linkwatch.pipeline as pipeline_module

    def bug(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(pipeline_module, "observe", bug)
    cat = catalog(tmp_path, [("a", f"{base(web)}/article")])
    assert run_cli(tmp_path, cat) == 4
    err = capsys.readouterr().err
    assert "RuntimeError: a bug" in err
    assert err.strip().splitlines()[-1].startswith("linkwatch: internal error")
    assert not (tmp_path / "reports").exists() or not any((tmp_path / "reports").iterdir())


@contextlib.contextmanager
def _black_holes(hosts: list[str]) -> Iterator[int]:
    """Listeners that never accept, their backlog already full: new SYNs are
    dropped, so connecting hangs — a firewall that drops packets, seen from here."""
    held: list[socket.socket] = []
    port = 0
    try:
        for host in hosts:
            listener = socket.socket()
            listener.bind((host, port))
            port = listener.getsockname()[1]
            listener.listen(0)
            held.append(listener)
            for _ in range(3):
                filler = socket.socket()
                filler.setblocking(False)
                with contextlib.suppress(BlockingIOError):
                    filler.connect((host, port))
                held.append(filler)
        time.sleep(0.2)  # let the fillers' handshakes fill the queue
        yield port
    finally:
        for sock in held:
            sock.close()


def test_a_runner_whose_packets_are_dropped_is_offline_even_with_links_queued(
    tmp_path: Path,
) -> None:
    """Links waiting for their host's slot behind a hanging connect ran out of
    time without a request of their own: they fail as their host does."""
    hosts = ["127.0.9.1", "127.0.9.2"]
    settings = FAST.replace("link_timeout = 3.0", "link_timeout = 2.5").replace(
        "retries = 1", "retries = 0\nper_host = 1"
    )
    with _black_holes(hosts) as port:
        urls = [(f"{h}-{i}", f"http://{h}:{port}/p{i}") for h in hosts for i in range(4)]
        cat = catalog(tmp_path, urls, settings=settings)
        out = tmp_path / "out.json"
        assert run_cli(tmp_path, cat, "--format", "json", "--output", str(out)) == 3
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["run"]["inconclusive"] is True
    assert {r["health"] for r in data["results"]} == {"healthy"}


def test_fix_writes_through_a_symlinked_catalog(
    web: TestWeb, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    b = base(web)
    kept = tmp_path / "kept"
    kept.mkdir()
    real = catalog(kept, [("moved", f"{b}/perm-308")])
    link = tmp_path / "catalog-link.toml"
    link.symlink_to(real)
    assert run_cli(tmp_path, link) == 1
    assert main(["fix", "--catalog", str(link), "--state", str(tmp_path / "state.db"), "-q"]) == 0
    assert link.is_symlink() and link.resolve() == real
    assert f'url = "{b}/article"' in real.read_text(encoding="utf-8")
    assert [p.name for p in real.parent.iterdir()] == ["catalog.toml"]  # no temporary left


def test_fix_with_a_missing_markdown_source_changes_nothing(
    web: TestWeb, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cat = catalog(tmp_path, [("moved", f"{base(web)}/perm-308")])
    assert run_cli(tmp_path, cat) == 1
    capsys.readouterr()
    before = cat.read_text(encoding="utf-8")
    missing = tmp_path / "nosuch.md"
    code = main(["fix", "--catalog", str(cat), "--state", str(tmp_path / "state.db"),
                 "--markdown", str(missing)])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 2
    assert err.count("\n") == 1 and err.startswith(f"linkwatch: {missing}: cannot read")
    assert out == ""
    assert cat.read_text(encoding="utf-8") == before  # not half-applied


def test_an_output_that_is_a_folder_fails_before_the_run(
    web: TestWeb, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cat = catalog(tmp_path, [("ok", f"{base(web)}/article")])
    folder = tmp_path / "out"
    folder.mkdir()
    hits = sum(web.hits.values())
    code = run_cli(tmp_path, cat, "--format", "json", "--output", str(folder))
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and f"{folder}: is a folder" in err
    assert sum(web.hits.values()) == hits  # no request was made
    assert not (tmp_path / "state.db").exists()


def test_a_schedule_the_scheduler_refuses_names_the_real_catalog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import linkwatch.schedule as schedule_module

    def refuse(_schedule: object) -> None:
        raise ValueError("refused by the scheduler")

    monkeypatch.setattr(schedule_module, "build_trigger", refuse)
    cat = tmp_path / "my-links.toml"
    cat.write_text(FAST + '\n[[schedule]]\nname = "nightly"\ncron = "0 3 * * *"\n', "utf-8")
    code = main(["schedule", "--catalog", str(cat), "--state", str(tmp_path / "s.db"),
                 "--reports", str(tmp_path / "reports")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert err == f"linkwatch: {cat}: schedule.nightly: refused by the scheduler\n"


def test_merge_keeps_only_keep_runs_of_history(web: TestWeb, tmp_path: Path) -> None:
    """Three nights of one shard merged into the kept database hold keep_runs checks, not 3."""
    url = f"{base(web)}/article"
    cat = catalog(tmp_path, [("ok", url)], FAST + "keep_runs = 2\n")
    merged = tmp_path / "merged.db"
    for night in range(3):
        shard = tmp_path / f"night-{night}.db"
        assert main(check_args(tmp_path, cat, "--state", str(shard), "--no-reports")) == 0
        assert main(["merge", str(shard), "--catalog", str(cat), "--state", str(merged),
                     "--reports", str(tmp_path / "reports"), "-q"]) == 0  # fmt: skip
    with Store.open(merged) as store:
        assert len(store.history(url)) == 2


def test_schedule_keeps_only_keep_runs_of_history(
    web: TestWeb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long-running schedule trims its history to keep_runs, as check and merge do."""
    import linkwatch.schedule as schedule_module
    from linkwatch.models import Schedule

    async def three_nights(schedules: list[Schedule], job: object, **_: object) -> None:
        for _night in range(3):
            await job(schedules[0])  # type: ignore[operator]

    monkeypatch.setattr(schedule_module, "run_schedules", three_nights)  # cli imports it late
    url = f"{base(web)}/article"
    cat = catalog(tmp_path, [("ok", url)], FAST + "keep_runs = 2\n")
    state = tmp_path / "s.db"
    assert main(["schedule", "--catalog", str(cat), "--state", str(state),
                 "--reports", str(tmp_path / "reports"), "--allow-private",
                 "--no-adapters"]) == 0  # fmt: skip
    with Store.open(state) as store:
        assert len(store.history(url)) == 2


@pytest.mark.parametrize("command", [["status"], ["history", "https://x.example/"], ["report"]])
def test_a_read_only_command_with_a_mistyped_state_creates_nothing(
    tmp_path: Path, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    cat = catalog(tmp_path, [("a", "https://x.example/")])
    state = tmp_path / "typo" / "nested" / "state.db"
    args = [*command, "--state", str(state)]
    if command[0] != "history":  # the one command that needs no catalog
        args += ["--catalog", str(cat)]
    if command == ["report"]:
        args += ["--reports", str(tmp_path / "reports")]
    assert main(args) == 2
    assert "no state database here" in capsys.readouterr().err
    assert not (tmp_path / "typo").exists()


def test_a_report_for_a_missing_state_creates_no_report_folder(tmp_path: Path) -> None:
    cat = catalog(tmp_path, [("a", "https://x.example/")])
    reports = tmp_path / "reports"
    args = ["report", "--catalog", str(cat), "--state", str(tmp_path / "nope.db")]
    assert main([*args, "--reports", str(reports)]) == 2
    assert not reports.exists()


def test_a_file_the_user_named_that_cannot_be_written_is_one_line_not_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "list.md"
    source.write_text("- [A](https://a.example/)\n", encoding="utf-8")
    folder = tmp_path / "out.toml"
    folder.mkdir()  # where the catalog file should go
    assert main(["import", str(source), "-o", str(folder), "--force", "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("linkwatch: ") and "Traceback" not in err[0]


# ------------------------------------------------------------ open-file limit


class _ManyPorts:
    """``count`` tiny keep-alive web servers on 127.0.0.1, one port each: ``count`` hosts.

    Every ``/p…`` path answers a page of its own, anything else 404 (the
    soft-404 probe), and connections stay open for the next request, as a
    real site's do, so a client that keeps one per host holds ``count``.
    """

    def __init__(self, count: int) -> None:
        import asyncio
        import threading

        self.ports: list[int] = []
        self._loop = asyncio.new_event_loop()
        self._servers: list[asyncio.base_events.Server] = []
        ready = threading.Event()

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while head := await reader.readuntil(b"\r\n\r\n"):
                    path = head.split(b" ", 2)[1].decode()
                    found = path.startswith("/p")
                    title = f"Page {path}" if found else "Not Found"
                    body = f"<html><head><title>{title}</title></head><body><h1>{title}</h1>"
                    body += "<p>Real text for readers, long enough to be a page.</p>" * 8
                    data = body.encode()
                    writer.write(
                        f"HTTP/1.1 {200 if found else 404} X\r\nContent-Type: text/html\r\n"
                        f"Content-Length: {len(data)}\r\n\r\n".encode()
                        + data
                    )
                    await writer.drain()
            writer.close()

        async def start() -> None:
            for _ in range(count):
                server = await asyncio.start_server(serve, "127.0.0.1", 0)
                self._servers.append(server)
                self.ports.append(server.sockets[0].getsockname()[1])
            ready.set()

        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(start(), self._loop)
        assert ready.wait(10)

    def close(self) -> None:
        import asyncio

        async def stop() -> None:
            for server in self._servers:
                server.close()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX open-file limits")
def test_a_catalog_over_more_hosts_than_open_files_is_checked_without_a_false_alarm(
    tmp_path: Path,
) -> None:
    """120 hosts, two links each, host after host, under a hard limit of 100 open files.

    Keeping one idle connection per host until its second link, the run
    once needed ~120 sockets at the same time, and the connects past the
    limit failed with "Too many open files": links reported unreachable.
    """
    web = _ManyPorts(120)
    try:
        urls = [(f"p{n}", f"http://127.0.0.1:{port}/p{n}") for n in range(2) for port in web.ports]
        cat = catalog(tmp_path, urls, FAST + "concurrency = 16\n")

        # Set in the child's own first line: preexec_fn is unsafe with this
        # process's server threads running.
        limited = (
            "import resource, runpy, sys; "
            "resource.setrlimit(resource.RLIMIT_NOFILE, (100, 100)); "
            "sys.argv[0] = 'linkwatch'; runpy.run_module('linkwatch', run_name='__main__')"
        )
        out = subprocess.run(
            [sys.executable, "-c", limited, *check_args(tmp_path, cat), "--format", "json"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        web.close()
    assert out.returncode == 0, out.stderr
    results = json.loads(out.stdout)["results"]
    assert len(results) == 240
    assert {(r["verdict"], r["reason"]) for r in results} == {("ok", "ok")}


def test_raise_open_file_limit_lifts_the_soft_limit_to_the_hard_one() -> None:
    code = """
import resource
from linkwatch.workers import raise_open_file_limit
resource.setrlimit(resource.RLIMIT_NOFILE, (100, 300))
print(raise_open_file_limit(), resource.getrlimit(resource.RLIMIT_NOFILE))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split(" ", 1) == ["300", "(300, 300)\n"]
