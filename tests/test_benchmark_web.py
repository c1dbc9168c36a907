"""Smoke tests of the benchmark harness: the loopback web answers, run.py's inputs are sound.

Not a timed test: nothing here measures speed.  It keeps ``benchmarks/``
working between benchmark runs — the web serves, counts and honours
``If-None-Match``; the catalog run.py writes loads in linkwatch with the
limits it claims; the lychee command carries the flags that make the
comparison fair.
"""

from __future__ import annotations

import http.client
import itertools
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import run  # noqa: E402
from benchmarks.web import LoopbackWeb, host_address  # noqa: E402

from linkwatch.catalog import load_catalog  # noqa: E402


@pytest.fixture(scope="module")
def bench_web() -> Iterator[LoopbackWeb]:
    with LoopbackWeb(hosts=3, latency_ms=0, body_bytes=1000, use_uvloop=False) as web:
        yield web


def _request(
    web: LoopbackWeb, host: int, method: str, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(host_address(host), web.port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("index", "address"),
    [(0, "127.1.0.1"), (249, "127.1.0.250"), (250, "127.1.1.1"), (1999, "127.1.7.250")],
)
def test_host_addresses_stay_in_127_1_and_skip_0_and_255(index: int, address: str) -> None:
    assert host_address(index) == address


def test_every_host_serves_its_own_page_with_an_etag(bench_web: LoopbackWeb) -> None:
    pages = {}
    for host in range(3):
        status, headers, body = _request(bench_web, host, "GET", "/p/7")
        assert status == 200
        assert len(body) == 1000
        assert headers["ETag"].startswith('"')
        pages[host] = body
    assert len(set(pages.values())) == 3  # three hosts, three different pages


def test_matching_if_none_match_gets_304_and_no_body(bench_web: LoopbackWeb) -> None:
    _, headers, _ = _request(bench_web, 1, "GET", "/p/9")
    status, _, body = _request(bench_web, 1, "GET", "/p/9", {"If-None-Match": headers["ETag"]})
    assert (status, body) == (304, b"")


def test_stale_if_none_match_gets_the_page(bench_web: LoopbackWeb) -> None:
    status, _, body = _request(bench_web, 1, "GET", "/p/9", {"If-None-Match": '"stale"'})
    assert status == 200
    assert body


def test_head_sends_headers_only(bench_web: LoopbackWeb) -> None:
    status, headers, body = _request(bench_web, 2, "HEAD", "/p/1")
    assert (status, body) == (200, b"")
    assert headers["Content-Length"] == "1000"


def test_counters_count_this_traffic_and_reset(bench_web: LoopbackWeb) -> None:
    bench_web.reset()
    _, headers, _ = _request(bench_web, 0, "GET", "/p/3")
    _request(bench_web, 0, "GET", "/p/3", {"If-None-Match": headers["ETag"]})
    stats = bench_web.stats()
    assert (stats.requests, stats.ok, stats.not_modified, stats.connections) == (2, 1, 1, 2)
    assert stats.body_bytes_sent == 1000
    assert stats.bytes_sent > 1000
    bench_web.reset()
    assert bench_web.stats().requests == 0


def test_the_catalog_run_writes_loads_with_the_limits_given(tmp_path: Path) -> None:
    limits = run.Limits(concurrency=32, per_host=10, host_interval_ms=50, retries=3, timeout_s=20)
    urls = run.urls(12, hosts=4, port=8080)
    path = tmp_path / "catalog.toml"
    path.write_text(run.catalog_toml(urls, limits), encoding="utf-8")
    catalog = load_catalog(path)
    assert [link.url for link in catalog.links] == urls
    s = catalog.settings
    assert (s.concurrency, s.per_host, s.min_interval_ms, s.retries, s.link_timeout) == (
        32,
        10,
        50,
        3,
        20.0,
    )


def test_urls_are_distinct_and_round_robin_over_hosts() -> None:
    urls = run.urls(10, hosts=4, port=1)
    assert len(set(urls)) == 10
    assert urls[0].startswith("http://127.1.0.1:1/") and urls[4].startswith("http://127.1.0.1:1/")


def test_lychee_gets_the_same_limits_and_no_cache(tmp_path: Path) -> None:
    limits = run.Limits(concurrency=128, per_host=10, host_interval_ms=50, retries=3, timeout_s=20)
    cmd = run.lychee_command("lychee", tmp_path / "l.md", tmp_path / "o.json", limits)
    pairs = dict(itertools.pairwise(cmd))
    assert pairs["--max-concurrency"] == "128"
    assert pairs["--host-concurrency"] == "10"
    assert pairs["--host-request-interval"] == "50ms"
    assert pairs["--max-retries"] == "3"
    assert pairs["--timeout"] == "20"
    assert "--cache" not in cmd
    assert not any(flag.startswith("--exclude") for flag in cmd)


def test_arguments_parse_with_the_documented_defaults() -> None:
    args = run.build_parser().parse_args(
        ["--links", "5000", "--hosts", "500", "--latency-ms", "50", "--concurrency", "128"]
    )
    assert (args.links, args.hosts, args.latency_ms, args.concurrency) == (5000, 500, 50.0, 128)
    assert (args.per_host, args.host_interval_ms) == (
        run.LYCHEE_HOST_CONCURRENCY,
        run.LYCHEE_HOST_INTERVAL_MS,
    )
    assert (args.runs, args.second_run, args.json) == (1, False, False)


@pytest.mark.parametrize(
    ("text", "sizes"),
    [("1000,10000,50000", [1000, 10000, 50000]), ("5", [5]), (None, [])],
)
def test_scaling_sizes_parse(text: str | None, sizes: list[int]) -> None:
    assert run.parse_sizes(text) == sizes


@pytest.mark.parametrize("text", ["1000,abc", "0", "-5"])
def test_bad_scaling_sizes_are_refused(text: str) -> None:
    with pytest.raises(SystemExit):
        run.parse_sizes(text)


def _measured(tool: str, requests: int, wall_s: float) -> run.Measurement:
    return run.Measurement(
        tool=tool, links=1000, wall_s=wall_s, user_s=0.5, sys_s=0.1, rss_mb=40.0,
        exit_code=0, ok_links=1000, bytes_sent=0, body_bytes_sent=0, requests=requests,
        connections=100, not_modified=0, server_cpu_s=0.0,
    )  # fmt: skip


def test_latency_floor_is_each_tools_own_requests_times_latency_over_concurrency() -> None:
    lw, ly = _measured("linkwatch", 1100, 1.0), _measured("lychee", 1000, 0.5)
    assert run.latency_floor_s(lw, 50.0, 100) == pytest.approx(0.55)
    assert run.latency_floor_s(ly, 50.0, 100) == pytest.approx(0.50)
    rows = {
        line[:20].strip(): line[20:].split()
        for line in run.comparison_table(lw, ly, latency_ms=50.0, concurrency=100).splitlines()[1:]
    }
    assert rows["latency floor s"] == ["0.55", "0.50", "1.10×"]
    assert rows["wall above floor s"] == ["0.45", "0.00", "-"]
