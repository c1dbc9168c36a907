"""Sharding end to end: ``check --shard k/4`` ×4 then ``merge`` equals one unsharded run,
and ``check --jobs 2`` (the same split, in worker processes) equals ``--jobs 1``.

The catalog spreads 60 links over 12 loopback hosts (``127.3.0.1`` …
``127.3.0.12``: every 127.x address is its own host on Linux, and the shard
key is the host name, so addresses are the simplest way to have many hosts
without a resolver the CLI cannot be given).  Each host serves ``/ok/*``
(200), ``/gone/*`` (404) and ``/moved/*`` (301 to ``/ok/*``), so the verdicts
compared are not all the same.  Everything goes through ``linkwatch.cli.main``
in-process, as a CI matrix would run the commands.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections import defaultdict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from linkwatch.catalog import load_catalog, split_by_host
from linkwatch.cli import main

HOSTS = [f"127.3.0.{i}" for i in range(1, 13)]
KINDS = ("ok", "ok", "gone", "moved", "ok")  # five links per host
SHARDS = 4


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real sites

    def do_GET(self) -> None:
        host = str(self.connection.getsockname()[0])
        if self.path.startswith("/ok/"):
            body = (
                f"<!doctype html><html><head><title>{host}{self.path}</title></head>"
                f"<body><h1>{self.path}</h1><p>Page {self.path} on {host}, "
                "with enough real words to be a page.</p></body></html>"
            ).encode()
            self._answer(200, body, {"Content-Type": "text/html; charset=utf-8"})
        elif self.path.startswith("/moved/"):
            target = "/ok/" + self.path.removeprefix("/moved/")
            self._answer(301, b"", {"Location": target})
        else:
            self._answer(
                404, b"<html><title>Not Found</title></html>", {"Content-Type": "text/html"}
            )

    def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def sites() -> Iterator[dict[str, int]]:
    """One tiny threaded server per host address; yields host → port."""
    servers = [ThreadingHTTPServer((host, 0), _Handler) for host in HOSTS]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    try:
        yield {str(s.server_address[0]): int(s.server_port) for s in servers}
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("shard")


@pytest.fixture(scope="module")
def catalog(work: Path, sites: dict[str, int]) -> Path:
    lines = ["[settings]", "retries = 0", "per_host = 2", "link_timeout = 10.0", ""]
    for h, host in enumerate(HOSTS):
        for i, kind in enumerate(KINDS):
            url = f"http://{host}:{sites[host]}/{kind}/{h}-{i}"
            lines += ["[[link]]", f'title = "{kind} {h}-{i}"', f'url = "{url}"', ""]
    path = work / "catalog.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _check(catalog: Path, state: Path, reports: Path, *extra: str) -> int:
    return main(
        [
            "check",
            "--catalog",
            str(catalog),
            "--state",
            str(state),
            "--reports",
            str(reports),
            "--allow-private",
            "--no-adapters",
            "-q",
            *extra,
        ]
    )


def _verdicts(reports: Path) -> dict[str, tuple[str, str]]:
    data = json.loads((reports / "results.json").read_text(encoding="utf-8"))
    return {r["url"]: (r["verdict"], r["reason"]) for r in data["results"]}


@pytest.fixture(scope="module")
def sharded(catalog: Path, work: Path) -> list[Path]:
    """Run the four shards; returns their report folders (states sit beside them)."""
    folders = []
    for k in range(1, SHARDS + 1):
        folder = work / f"shard-{k}"
        code = _check(catalog, folder / "state.db", folder / "reports", "--shard", f"{k}/{SHARDS}")
        assert code in (0, 1), f"shard {k} exited {code}"
        folders.append(folder)
    return folders


def test_merged_shards_give_the_unsharded_verdicts(
    catalog: Path, sharded: list[Path], tmp_path: Path
) -> None:
    whole = tmp_path / "whole"
    assert _check(catalog, whole / "state.db", whole / "reports") == 1  # 404s need a human

    merged = tmp_path / "merged"
    shard_dbs = [str(folder / "state.db") for folder in sharded]
    code = main(
        [
            "merge",
            *shard_dbs,
            "--catalog",
            str(catalog),
            "--state",
            str(merged / "state.db"),
            "--reports",
            str(merged / "reports"),
            "-q",
        ]
    )
    assert code == 1

    expected = _verdicts(whole / "reports")
    assert len(expected) == len(HOSTS) * len(KINDS)
    assert {v for v, _ in expected.values()} == {"ok", "broken", "moved"}
    assert _verdicts(merged / "reports") == expected


def test_every_host_lands_in_exactly_one_shard(sharded: list[Path]) -> None:
    shards_of_host: dict[str, set[int]] = defaultdict(set)
    seen: list[str] = []
    for k, folder in enumerate(sharded, start=1):
        for url in _verdicts(folder / "reports"):
            shards_of_host[urlsplit(url).hostname or ""].add(k)
            seen.append(url)
    assert len(seen) == len(set(seen)) == len(HOSTS) * len(KINDS)  # a partition of the links
    assert set(shards_of_host) == set(HOSTS)
    assert all(len(ks) == 1 for ks in shards_of_host.values()), dict(shards_of_host)
    assert len({k for ks in shards_of_host.values() for k in ks}) > 1  # really split


def test_jobs_2_gives_the_verdicts_of_jobs_1(catalog: Path, work: Path) -> None:
    """Through a child CLI process: the workers are spawned far from this test's server threads."""
    assert all(
        split_by_host(load_catalog(catalog).links, 2)
    )  # this process and one worker each check
    folders = {}
    for jobs in ("1", "2"):
        folder = work / f"jobs-{jobs}"
        done = subprocess.run(
            [sys.executable, "-m", "linkwatch", "check", "--catalog", str(catalog),
             "--state", str(folder / "state.db"), "--reports", str(folder / "reports"),
             "--allow-private", "--no-adapters", "-q", "--jobs", jobs],
            capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 1, done.stderr  # the 404s need a human
        folders[jobs] = folder
    expected = _verdicts(folders["1"] / "reports")
    assert len(expected) == len(HOSTS) * len(KINDS)
    assert {v for v, _ in expected.values()} == {"ok", "broken", "moved"}
    assert _verdicts(folders["2"] / "reports") == expected


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_an_empty_shard_is_an_empty_run_with_any_jobs(catalog: Path, work: Path, jobs: str) -> None:
    """More shards than hosts leaves some empty; ``--jobs 2`` must not fail where 1 succeeds."""
    shards = len(HOSTS) * 2
    parts = split_by_host(load_catalog(catalog).links, shards)
    empty = next(k for k, part in enumerate(parts, start=1) if not part)
    folder = work / f"empty-shard-jobs-{jobs}"
    code = _check(
        catalog, folder / "state.db", folder / "reports", "--shard", f"{empty}/{shards}",
        "--jobs", jobs,
    )  # fmt: skip
    assert code == 0
    assert _verdicts(folder / "reports") == {}


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_catalog_without_links_is_an_empty_run_with_any_jobs(tmp_path: Path, jobs: str) -> None:
    cat = tmp_path / "catalog.toml"
    cat.write_text("[settings]\nretries = 0\n", encoding="utf-8")
    assert _check(cat, tmp_path / "state.db", tmp_path / "reports", "--jobs", jobs) == 0
    assert _verdicts(tmp_path / "reports") == {}


def test_a_shard_holding_only_a_dead_host_is_not_taken_for_an_offline_runner(
    sites: dict[str, int], tmp_path: Path
) -> None:
    """Alone in its shard, one dead host looks like "we are offline"; the whole
    run had three live hosts beside it.  The shard asks those hosts (witnesses)
    before it decides, so the merge gives the whole run's verdicts."""
    live = HOSTS[:3]
    cat = tmp_path / "catalog.toml"
    for last in range(90, 100):  # an address whose shard holds no live host
        dead = f"127.3.0.{last}"  # nothing listens on it
        lines = ["[settings]", "retries = 0", "link_timeout = 5.0", ""]
        for host in [*live, dead]:
            url = f"http://{host}:{sites[live[0]]}/gone/{host}"
            lines += ["[[link]]", f'title = "{host}"', f'url = "{url}"', ""]
        cat.write_text("\n".join(lines), encoding="utf-8")
        parts = split_by_host(load_catalog(cat).links, 4)
        if any(len(part) == 1 and dead in part[0].url for part in parts):
            break
    else:
        pytest.fail("no address lands alone in a shard")

    whole = tmp_path / "whole"
    assert _check(cat, whole / "state.db", whole / "reports") == 1
    dbs = []
    for k in range(1, 5):
        folder = tmp_path / f"shard-{k}"
        code = _check(cat, folder / "state.db", folder / "reports", "--shard", f"{k}/4")
        assert code in (0, 1)  # an empty shard has nothing to act on
        dbs.append(str(folder / "state.db"))
    merged = tmp_path / "merged"
    args = ["merge", *dbs, "--catalog", str(cat), "--state", str(merged / "state.db")]
    assert main([*args, "--reports", str(merged / "reports"), "-q"]) == 1
    expected = _verdicts(whole / "reports")
    assert expected[f"http://{dead}:{sites[live[0]]}/gone/{dead}"] == ("error", "connect-refused")
    assert _verdicts(merged / "reports") == expected
