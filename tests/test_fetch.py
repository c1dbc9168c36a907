"""The crawler against a real, hostile web on loopback (tests/web.py; design.md §8).

Every scenario asserts the verdict *and* reason that ``classify`` gives the
observation, so these tests prove the whole "no false alarm, no missed rot"
promise, not just that fetch returned something.  All traffic goes to
127.0.0.0/8; names are resolved by the test web's fake resolver.
"""

from __future__ import annotations

import gzip
import itertools
import socket
import ssl
import time
import tracemalloc
import uuid
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, cast

import anyio
import httpx
import pytest

from linkwatch.classify import classify, is_network_failure, should_retry
from linkwatch.connections import Connection, HostPool, IdleBudget
from linkwatch.fetch import (
    PROBE_SUFFIX,
    RESERVED_FILES,
    Checker,
    _BoundedDecoder,
    _decode_headers,
    _handoff_limit,
    _HostGate,
    _map_exception,
    _path_is_root,
    _with_fragment,
    check_links,
    is_public_address,
    matches_probe,
    page_signature,
    socket_budget,
    spread_by_host,
    system_resolver,
)
from linkwatch.models import Hop, Link, Observation, RunSummary, Settings, Validators
from linkwatch.pipeline import observe
from linkwatch.report import report_dict
from web import PUBLIC_LOOKALIKE, REFRESH_FORMS, TestWeb

pytestmark = pytest.mark.anyio

SETTINGS = Settings(
    concurrency=32,
    per_host=4,
    connect_timeout=1.0,
    read_timeout=1.0,
    link_timeout=3.0,
    retries=2,
    max_redirects=5,
    max_body_bytes=256 * 1024,
    retry_after_cap=2.0,
)


class Sleeps:
    """An instant sleep that remembers what it was asked to wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def only_lookalike_is_public(ip: str) -> bool:
    """127.0.0.2 plays a public address, so SSRF refusal is testable on loopback."""
    return ip == PUBLIC_LOOKALIKE


def checker(web: TestWeb, *, settings: Settings = SETTINGS, **kwargs: object) -> Checker:
    options: dict[str, object] = {
        "allow_private": True,
        "resolver": web.resolve,
        "sleep": Sleeps(),
        "is_public": only_lookalike_is_public,
    }
    options.update(kwargs)
    return Checker(settings, **options)  # type: ignore[arg-type]


async def check(
    web: TestWeb, url: str, *, settings: Settings = SETTINGS, **kwargs: object
) -> Observation:
    async with checker(web, settings=settings, **kwargs) as c:
        return await c.check(Link(url=url, title="t"))


def token() -> str:
    return uuid.uuid4().hex[:8]


# -- the scenario table: every row of design.md §2 and the hostile cases ------


@dataclass(frozen=True)
class Scenario:
    name: str
    url: Callable[[TestWeb], str]
    verdict: str
    reason: str


def site(path: str, name: str = "site") -> Callable[[TestWeb], str]:
    return lambda web: web.url(path, f"{name}.test")


def fresh(prefix: str, name: str = "site") -> Callable[[TestWeb], str]:
    """A stateful route ('fail first, then work') gets a new path each run."""
    return lambda web: web.url(f"{prefix}{token()}", f"{name}.test")


SCENARIOS = [
    Scenario("200", site("/article"), "ok", "ok"),
    Scenario("302 then 200", site("/redirect-302"), "ok", "ok-redirected"),
    Scenario("HEAD refused, GET works", site("/head-405"), "ok", "ok"),
    Scenario("301 301 200", site("/moved-twice"), "moved", "moved-permanently"),
    Scenario("308", site("/perm-308"), "moved", "moved-permanently"),
    Scenario("404", site("/gone-404"), "broken", "http-404"),
    Scenario("410", site("/gone-410"), "broken", "http-410"),
    Scenario("redirect loop", site("/loop-a"), "broken", "redirect-loop"),
    Scenario("cookie check, not a loop", site("/cookie-check"), "ok", "ok-redirected"),
    Scenario("too many hops", site("/hops/0"), "broken", "too-many-redirects"),
    Scenario("redirect to 404", site("/to-404"), "broken", "redirect-to-404"),
    Scenario("3xx without Location", site("/no-location"), "broken", "redirect-without-location"),
    Scenario("soft 404 (en)", site("/soft-404-en"), "broken", "soft-404-title"),
    Scenario("soft 404 (zh)", site("/soft-404-zh"), "broken", "soft-404-title"),
    Scenario(
        "soft 404 (probe)", lambda w: w.url("/blog/post-1", "soft.test"), "broken", "soft-404-probe"
    ),
    Scenario(
        "single-page app, not a soft 404", lambda w: w.url("/docs/guide", "spa.test"), "ok", "ok"
    ),
    Scenario("deep link to home", site("/deep/article/123"), "broken", "redirect-to-home"),
    Scenario("parked domain", lambda w: w.url("/", "parked.test"), "broken", "parked-domain"),
    Scenario("fragment present", site("/doc#present"), "ok", "ok"),
    Scenario("GitHub user-content- fragment", site("/doc#install"), "ok", "ok"),
    Scenario("fragment missing", site("/doc#missing"), "broken", "fragment-missing"),
    Scenario("503 then 200", fresh("/flaky-503/"), "ok", "ok"),
    Scenario("503 forever", site("/always-503"), "broken", "http-5xx"),
    # Rate limits and Retry-After are a host's, not a path's (the checker
    # slows the whole host down): each on a host of its own.
    Scenario("503 through a CDN, then 200", fresh("/cdn-flaky/503/", "cdn503"), "ok", "ok"),
    Scenario("429 through a CDN, then 200", fresh("/cdn-flaky/429/", "cdn429"), "ok", "ok"),
    Scenario("429 Retry-After then 200", fresh("/retry-after/", "later"), "ok", "ok"),
    Scenario("429 forever", site("/always-429", "limited"), "blocked", "rate-limited"),
    Scenario("Cloudflare challenge", lambda w: w.url("/", "cf.test"), "blocked", "bot-challenge"),
    Scenario("401", site("/private"), "blocked", "auth-required"),
    Scenario("redirect to login", site("/members"), "blocked", "login-required"),
    Scenario("never answers", site("/hang"), "error", "timeout"),
    Scenario("trickles", site("/trickle"), "error", "timeout"),
    Scenario("endless body", site("/endless"), "ok", "ok"),
    Scenario("gzip bomb", site("/gzip-bomb"), "ok", "ok"),
    Scenario("deflate bomb", site("/deflate-bomb"), "ok", "ok"),
    Scenario("invalid gzip", site("/bad-gzip"), "ok", "ok"),
    Scenario("invalid charset", site("/bad-charset"), "ok", "ok"),
    *(
        Scenario(f"charset {label}", site(f"/charset/{label}"), "ok", "ok")
        for label in ("undefined", "idna", "zlib", "meta-undefined", "meta-idna", "meta-rot13")
    ),
    Scenario(
        "connection refused",
        lambda w: f"http://site.test:{w.closed_port}/",
        "error",
        "connect-refused",
    ),
    Scenario("reset, then fine", fresh("/reset-once/"), "ok", "ok"),
    Scenario("DNS NXDOMAIN", lambda w: "http://nowhere.test/", "broken", "dns-nxdomain"),
    Scenario(
        "SSRF redirect",
        lambda w: f"http://public.test:{w.public_port}/to-internal",
        "broken",
        "ssrf-blocked",
    ),
    # Redirect stubs: a 200 page whose meta refresh sends the reader on at once.
    Scenario("meta refresh stub", site("/stub/jekyll"), "moved", "moved-permanently"),
    Scenario("meta refresh stub, relative", site("/stub/relative"), "moved", "moved-permanently"),
    Scenario("meta refresh stub to home", site("/stub/home"), "broken", "redirect-to-home"),
    Scenario("meta refresh stubs in a loop", site("/stub/ping"), "broken", "redirect-loop"),
    Scenario("meta refresh stub to a 404", site("/stub/to-missing"), "broken", "redirect-to-404"),
    Scenario("meta refresh stub to login", site("/stub/to-login"), "blocked", "login-required"),
    Scenario("302 then a meta refresh stub", site("/stub/via-302"), "ok", "ok-redirected"),
    Scenario("301 then a meta refresh stub", site("/stub/via-301"), "moved", "moved-permanently"),
    Scenario("meta refresh stub then 301", site("/stub/to-301"), "moved", "moved-permanently"),
    Scenario("meta refresh stubs, too many", site("/stub/hops/0"), "broken", "too-many-redirects"),
    Scenario("meta refresh to itself", site("/stub/self"), "ok", "ok"),
    Scenario("meta refresh without a URL", site("/stub/reload"), "ok", "ok"),
    Scenario("meta refresh every 300 s", site("/stub/every-5-minutes"), "ok", "ok"),
    Scenario("meta refresh after a minute", site("/stub/in-a-minute"), "ok", "ok"),
    Scenario("invalid meta refresh", site("/stub/invalid"), "ok", "ok"),
    Scenario("meta refresh to mailto:", site("/stub/to-mailto"), "ok", "ok"),
    Scenario("meta refresh in text/plain", site("/stub/as-text"), "ok", "ok"),
    Scenario("meta refresh on a big page", site("/stub/big"), "ok", "ok"),
    Scenario("meta refresh in <noscript>", site("/stub/noscript"), "ok", "ok"),
    Scenario(
        "SSRF by a meta refresh stub",
        lambda w: f"http://public.test:{w.public_port}/stub/to-internal",
        "broken",
        "ssrf-blocked",
    ),
]

TLS_SCENARIO = Scenario(
    "self-signed TLS", lambda w: f"https://tls.test:{w.tls_port}/article", "error", "tls-verify"
)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
async def test_scenario_verdict(web: TestWeb, scenario: Scenario) -> None:
    obs = await check(web, scenario.url(web))
    verdict = classify(obs, Link(url=obs.url, title="t"))
    assert (verdict.verdict.value, verdict.reason) == (scenario.verdict, scenario.reason), (
        obs.error,
        obs.error_detail,
        obs.status_code,
        verdict.detail,
    )


async def test_self_signed_tls_is_a_verification_error(web: TestWeb) -> None:
    if not web.tls_port:
        pytest.skip("no openssl CLI to make a test certificate")
    obs = await check(web, TLS_SCENARIO.url(web))
    verdict = classify(obs, Link(url=obs.url, title="t"))
    assert (verdict.verdict.value, verdict.reason) == ("error", "tls-verify")


async def test_whole_web_no_false_alarm_no_missed_rot(web: TestWeb) -> None:
    """Every scenario at once through the streaming driver: each gets its verdict."""
    table = [*SCENARIOS, TLS_SCENARIO] if web.tls_port else SCENARIOS
    links = {s.url(web): s for s in table}
    seen: dict[str, tuple[str, str]] = {}

    def on_result(link: Link, obs: Observation) -> None:
        got = classify(obs, link)
        seen[link.url] = (got.verdict.value, got.reason)

    await _run_all(web, [Link(url=u, title=s.name) for u, s in links.items()], on_result)
    expected = {u: (s.verdict, s.reason) for u, s in links.items()}
    assert seen == expected


async def _run_all(
    web: TestWeb, links: list[Link], on_result: Callable[[Link, Observation], None]
) -> None:
    with anyio.fail_after(4 * SETTINGS.link_timeout):
        await check_links(
            links,
            SETTINGS,
            on_result=on_result,
            allow_private=True,
            resolver=web.resolve,
            sleep=Sleeps(),
            is_public=only_lookalike_is_public,
        )


# -- what the scenarios' observations must also say -------------------------


async def test_head_is_never_sent(web: TestWeb) -> None:
    obs = await check(web, web.url("/head-405"))
    assert obs.method == "GET"
    assert obs.status_code == 200
    assert not [r for r in web.requests if r.path == "/head-405" and r.method == "HEAD"]


async def test_permanent_chain_records_hops_and_suggests_final_url(web: TestWeb) -> None:
    obs = await check(web, web.url("/moved-twice"))
    assert obs.hops == (Hop(web.url("/moved-twice"), 301), Hop(web.url("/moved-once"), 301))
    assert obs.final_url == web.url("/article")
    assert classify(obs, Link(url=obs.url, title="t")).suggested_url == web.url("/article")


async def test_fragment_is_carried_through_redirects(web: TestWeb) -> None:
    obs = await check(web, web.url("/perm-308#intro"))
    assert obs.final_url == web.url("/article#intro")


@pytest.mark.parametrize("path", ["/perm-308", "/stub/jekyll"])
async def test_a_moved_links_suggestion_keeps_its_fragment(web: TestWeb, path: str) -> None:
    obs = await check(web, web.url(f"{path}#intro"))
    verdict = classify(obs, Link(url=obs.url, title="t", check_fragment=False))
    assert verdict.suggested_url == web.url("/article#intro")


@pytest.mark.parametrize(
    "url",
    [
        "http://h.test/a#intro",
        "http://h.test/a#a%41",
        "http://h.test/a#caf%C3%A9",
        "http://h.test/a#",
    ],
)
def test_fragment_is_appended_as_httpx_would(url: str) -> None:
    parsed = httpx.URL(url)
    plain, _, fragment = str(parsed).partition("#")
    assert _with_fragment(plain, fragment) == str(
        parsed.copy_with(fragment=parsed.fragment or None)
    )


async def test_cookies_live_for_one_check_only(web: TestWeb) -> None:
    """The cookie-check dance happens again on the next check: no jar outlives a check."""
    url = web.url(f"/cookie-check?{token()}")
    async with checker(web) as c:
        first = await c.check(Link(url=url, title="t"))
        second = await c.check(Link(url=url, title="t"))
    assert (first.status_code, len(first.hops)) == (200, 1)
    assert (second.status_code, len(second.hops)) == (200, 1)


async def test_transient_503_is_retried_until_it_clears(web: TestWeb) -> None:
    obs = await check(web, web.url(f"/flaky-503/{token()}"))
    assert (obs.status_code, obs.attempts) == (200, 3)


async def test_persistent_503_stops_after_the_configured_retries(web: TestWeb) -> None:
    obs = await check(web, web.url("/always-503"))
    assert (obs.status_code, obs.attempts) == (503, SETTINGS.retries + 1)


async def test_retry_after_is_honoured(web: TestWeb) -> None:
    sleeps = Sleeps()
    obs = await check(web, web.url(f"/retry-after/{token()}"), sleep=sleeps)
    assert (obs.status_code, obs.attempts) == (200, 2)
    assert sleeps.waits == [1.0]


async def test_backoff_without_retry_after_is_bounded_jittered_exponential(web: TestWeb) -> None:
    sleeps = Sleeps()
    await check(web, web.url("/always-503"), sleep=sleeps)
    assert len(sleeps.waits) == SETTINGS.retries
    assert all(0 <= w <= SETTINGS.retry_after_cap for w in sleeps.waits)


async def test_reset_mid_response_is_retried(web: TestWeb) -> None:
    obs = await check(web, web.url(f"/reset-once/{token()}"))
    assert (obs.status_code, obs.attempts) == (200, 2)


async def test_reset_is_reported_as_connect_reset_without_retries(web: TestWeb) -> None:
    obs = await check(web, web.url(f"/reset-once/{token()}"), settings=replace(SETTINGS, retries=0))
    assert obs.error == "connect-reset"


async def test_trickling_server_is_cut_by_the_total_deadline(web: TestWeb) -> None:
    obs = await check(web, web.url("/trickle"))
    assert obs.error == "timeout"
    assert "per link" in obs.error_detail  # the link budget fired, not a read timeout
    assert obs.elapsed_ms < 4 * SETTINGS.link_timeout * 1000


async def test_silent_server_times_out(web: TestWeb) -> None:
    obs = await check(web, web.url("/hang"), settings=replace(SETTINGS, retries=0))
    assert obs.error == "timeout"
    assert not is_network_failure(obs)  # a server was reached: not "we are offline"


async def test_endless_body_is_read_only_up_to_the_cap(web: TestWeb) -> None:
    obs = await check(web, web.url("/endless"))
    assert obs.status_code == 200
    assert obs.body_truncated
    assert len(obs.body) == SETTINGS.max_body_bytes
    assert obs.bytes_received < 4 * SETTINGS.max_body_bytes


@pytest.mark.parametrize("path", ["/gzip-bomb", "/deflate-bomb"])
async def test_compression_bomb_is_bounded(web: TestWeb, path: str) -> None:
    """1 GiB of gzip (128 MiB of deflate) decodes to no more than the body cap."""
    tracemalloc.start()
    try:
        obs = await check(web, web.url(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert obs.status_code == 200
    assert obs.body_truncated
    assert len(obs.body) == SETTINGS.max_body_bytes
    assert set(obs.body) == {0}
    assert obs.bytes_received < 1 << 20
    assert peak < 24 << 20  # the server's own ~1 MiB payload copy included


async def test_invalid_gzip_is_a_note_not_a_crash(web: TestWeb) -> None:
    obs = await check(web, web.url("/bad-gzip"))
    assert (obs.status_code, obs.error) == (200, "decode-error")
    assert "Content-Encoding: gzip" in obs.error_detail


async def test_connection_refused(web: TestWeb) -> None:
    obs = await check(web, f"http://site.test:{web.closed_port}/")
    assert obs.error == "connect-refused"
    assert is_network_failure(obs)


async def test_temporary_dns_failure(web: TestWeb) -> None:
    async def flaky_dns(host: str) -> list[str]:
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    obs = await check(web, "http://anything.test/", resolver=flaky_dns)
    assert obs.error == "dns-temporary"
    assert is_network_failure(obs)


async def test_a_temporary_dns_failure_is_asked_again_on_retry(web: TestWeb) -> None:
    """The resolver hiccups once: the retry (and the host's next link) must see it recover."""
    calls: list[str] = []

    async def hiccup_once(host: str) -> list[str]:
        calls.append(host)
        if len(calls) == 1:
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return await web.resolve(host)

    host = f"hiccup-{token()}.test"
    async with checker(web, resolver=hiccup_once) as c:
        first = await c.check(Link(url=web.url("/article", host), title="t"))
        second = await c.check(Link(url=web.url("/gone-404", host), title="t"))
    assert (first.status_code, first.attempts, first.error) == (200, 2, None)
    assert second.status_code == 404
    assert len(calls) == 2  # once failed, once answered; the answer then holds for the run


async def test_lookups_waiting_together_share_one_temporary_failure(web: TestWeb) -> None:
    calls: list[str] = []

    async def slow_failure(host: str) -> list[str]:
        calls.append(host)
        await anyio.sleep(0.05)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    host = f"down-{token()}.test"
    no_retries = replace(SETTINGS, retries=0)
    async with (
        checker(web, resolver=slow_failure, settings=no_retries) as c,
        anyio.create_task_group() as tg,
    ):
        for i in range(5):
            tg.start_soon(c.check, Link(url=web.url(f"/p{i}", host), title="t"))
    assert len(calls) == 1


async def test_names_are_resolved_once_per_run(web: TestWeb) -> None:
    host = f"cache-{token()}.test"
    async with checker(web) as c:
        for path in ("/article", "/gone-404", "/redirect-302"):
            await c.check(Link(url=web.url(path, host), title="t"))
    assert web.lookups[host] == 1


def _verify_error(code: int) -> ssl.SSLCertVerificationError:
    exc = ssl.SSLCertVerificationError(1, "certificate verify failed")
    exc.verify_code = code
    exc.verify_message = "certificate has expired" if code == 10 else "self-signed certificate"
    return exc


def _caused(outer: Exception, cause: BaseException) -> Exception:
    outer.__cause__ = cause
    return outer


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (_caused(httpx.ConnectError("x"), ConnectionRefusedError(111, "no")), "connect-refused"),
        (_caused(httpx.ReadError("x"), ConnectionResetError(104, "reset")), "connect-reset"),
        (_caused(httpx.ConnectError("x"), OSError(101, "Network is unreachable")),
         "connect-unreachable"),
        (_caused(httpx.ConnectError("x"), _verify_error(18)), "tls-verify"),
        (_caused(httpx.ConnectError("x"), _verify_error(10)), "tls-expired"),
        (_caused(httpx.ConnectError("x"), ssl.SSLError(1, "wrong version number")),
         "tls-handshake"),
        (_caused(httpx.ConnectError("x"), OSError(24, "Too many open files")), "local-resources"),
        (_caused(httpx.ConnectError("x"), OSError(105, "No buffer space available")),
         "local-resources"),
        (httpx.ConnectTimeout("x"), "timeout"),
        (httpx.ReadTimeout("x"), "timeout"),
        (httpx.RemoteProtocolError("Server disconnected without sending a response."),
         "connect-reset"),
        (httpx.RemoteProtocolError("illegal header line"), "protocol-error"),
        (httpx.UnsupportedProtocol("ftp"), "invalid-url"),
    ],
)  # fmt: skip
def test_foreign_exceptions_map_to_error_kinds(exc: Exception, kind: str) -> None:
    assert _map_exception(exc).kind == kind


def test_connect_timeout_counts_as_a_network_failure() -> None:
    failure = _map_exception(httpx.ConnectTimeout("timed out"))
    obs = Observation(url="http://x.test/", error=failure.kind, error_detail=failure.detail)
    assert is_network_failure(obs)


def test_running_out_of_open_files_is_the_machines_failure_not_the_links() -> None:
    failure = _map_exception(_caused(httpx.ConnectError("x"), OSError(24, "Too many open files")))
    obs = Observation(url="http://x.test/", error=failure.kind, error_detail=failure.detail)
    assert is_network_failure(obs)
    assert should_retry(obs)
    assert classify(obs, Link(url=obs.url, title="t")).reason == "local-resources"


class _StubConnection:
    """What HostPool.release and IdleBudget ask of a connection."""

    reusable = True

    def __init__(self) -> None:
        self.closed = False

    def finish(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def test_idle_budget_closes_the_connection_idle_longest_whichever_host_it_is() -> None:
    budget = IdleBudget(2)
    a = HostPool(None, max_idle=4, keepalive_expiry=5.0, budget=budget)
    b = HostPool(None, max_idle=4, keepalive_expiry=5.0, budget=budget)
    first, second, third = _StubConnection(), _StubConnection(), _StubConnection()
    for pool, connection in ((a, first), (b, second), (a, third)):
        pool.release(cast(Connection, connection))
    assert (first.closed, second.closed, third.closed) == (True, False, False)
    assert len(budget) == 2
    b.close()  # a pool closing takes its connections out of the budget
    assert second.closed
    assert len(budget) == 1


def test_socket_budget_keeps_requests_in_flight_first_and_idle_ones_within_the_limit() -> None:
    import resource

    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    in_flight, idle = socket_budget(128)
    if soft == resource.RLIM_INFINITY:
        assert in_flight == 128
    else:
        assert in_flight == min(128, soft - RESERVED_FILES)
        assert in_flight + idle + RESERVED_FILES == soft


# -- address policy -----------------------------------------------------------


@pytest.mark.parametrize(
    ("ip", "public"),
    [
        ("8.8.8.8", True),
        ("1.1.1.1", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:169.254.169.254", False),
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 of 169.254.169.254
        ("64:ff9b::7f00:1", False),  # NAT64 of 127.0.0.1
        ("64:ff9b::808:808", True),  # NAT64 of 8.8.8.8
        ("64:ff9b:1::a9fe:a9fe", False),  # local-use NAT64 (RFC 8215)
        ("2002:7f00:1::1", False),  # 6to4 of 127.0.0.1
        ("2002:a9fe:a9fe::1", False),  # 6to4 of 169.254.169.254
        ("2002:808:808::1", True),  # 6to4 of 8.8.8.8
        ("::127.0.0.1", False),  # IPv4-compatible (deprecated)
        ("::ffff:0:7f00:1", False),  # IPv4-translated (SIIT) 127.0.0.1
        ("::ffff:0:808:808", True),
        ("::a9fe:a9fe", False),
        ("::", False),
        ("not-an-address", False),
    ],
)
def test_is_public_address(ip: str, public: bool) -> None:
    assert is_public_address(ip) is public


async def test_private_target_is_refused_by_default(web: TestWeb) -> None:
    url = web.url(f"/article?private-{token()}")
    async with Checker(SETTINGS, resolver=web.resolve) as c:
        obs = await c.check(Link(url=url, title="t"))
    assert obs.error == "private-address"
    assert web.hits[url.split("//", 1)[1].replace(f":{web.port}", "")] == 0
    verdict = classify(obs, Link(url=url, title="t"))
    assert (verdict.verdict.value, verdict.reason) == ("error", "private-address")


async def test_ssrf_redirect_is_never_followed(web: TestWeb) -> None:
    before = web.hits["internal.test/article"]
    obs = await check(web, f"http://public.test:{web.public_port}/to-internal")
    assert obs.error == "ssrf-blocked"
    assert obs.hops == (Hop(f"http://public.test:{web.public_port}/to-internal", 302),)
    assert web.hits["internal.test/article"] == before


async def test_ssrf_guard_holds_even_with_allow_private(web: TestWeb) -> None:
    obs = await check(web, f"http://public.test:{web.public_port}/to-internal", allow_private=True)
    assert obs.error == "ssrf-blocked"


async def test_ssrf_guard_refuses_a_meta_refresh_stub_as_it_refuses_a_redirect(
    web: TestWeb,
) -> None:
    stub = f"http://public.test:{web.public_port}/stub/to-internal"
    before = web.hits["internal.test/article"]
    for allow_private in (False, True):
        obs = await check(web, stub, allow_private=allow_private)
        assert obs.error == "ssrf-blocked"
        assert obs.hops == (Hop(stub, 200, meta_refresh=True),)
        assert obs.final_url == f"http://internal.test:{web.port}/article"
    assert web.hits["internal.test/article"] == before


# -- redirect stubs (meta refresh) ---------------------------------------------


async def test_a_meta_refresh_stub_is_a_hop_of_its_own_kind(web: TestWeb) -> None:
    obs = await check(web, web.url("/stub/jekyll"))
    assert obs.hops == (Hop(web.url("/stub/jekyll"), 200, meta_refresh=True),)
    assert (obs.status_code, obs.final_url) == (200, web.url("/article"))
    assert b"A real article" in obs.body
    verdict = classify(obs, Link(url=obs.url, title="t"))
    assert verdict.suggested_url == web.url("/article")
    assert "meta refresh" in verdict.detail


async def test_a_chain_of_redirects_and_stubs_records_every_hop(web: TestWeb) -> None:
    obs = await check(web, web.url("/stub/via-302"))
    assert obs.hops == (
        Hop(web.url("/stub/via-302"), 302),
        Hop(web.url("/stub/jekyll"), 200, meta_refresh=True),
    )
    assert obs.final_url == web.url("/article")


async def test_the_fragment_is_carried_through_a_meta_refresh_stub(web: TestWeb) -> None:
    obs = await check(web, web.url("/stub/jekyll#intro"))
    assert obs.final_url == web.url("/article#intro")


async def test_meta_refresh_stubs_count_toward_max_redirects(web: TestWeb) -> None:
    obs = await check(web, web.url("/stub/hops/0"))
    assert obs.error == "too-many-redirects"
    assert len(obs.hops) == SETTINGS.max_redirects + 1
    assert all(hop.meta_refresh and hop.status == 200 for hop in obs.hops)


@pytest.mark.parametrize("index", range(len(REFRESH_FORMS)), ids=REFRESH_FORMS)
async def test_every_way_sites_write_the_refresh_is_followed(web: TestWeb, index: int) -> None:
    obs = await check(web, web.url(f"/stub/form/{index}"))
    assert obs.final_url == web.url("/article"), obs.error_detail
    assert [hop.meta_refresh for hop in obs.hops] == [True]


async def test_a_redirect_stub_reaches_the_json_report_marked(web: TestWeb) -> None:
    """Loopback page to JSON row: the moved verdict, its target, the marked hop."""
    obs = await check(web, web.url("/stub/jekyll"))
    now = datetime.now(UTC)
    result = observe(Link(url=obs.url, title="t"), obs, now)
    row = report_dict(RunSummary(now, now, "catalog.toml", (result,)))["results"][0]
    assert (row["verdict"], row["reason"]) == ("moved", "moved-permanently")
    assert row["suggested_url"] == row["final_url"] == web.url("/article")
    assert row["redirects"] == [
        {"url": web.url("/stub/jekyll"), "status": 200, "meta_refresh": True}
    ]


@pytest.mark.parametrize(
    "path",
    [
        "/stub/self",
        "/stub/reload",
        "/stub/every-5-minutes",
        "/stub/in-a-minute",
        "/stub/invalid",
        "/stub/to-mailto",
        "/stub/as-text",
        "/stub/big",
        "/stub/noscript",
    ],
)
async def test_a_page_that_is_no_redirect_stub_is_the_answer(web: TestWeb, path: str) -> None:
    """Reloading itself, a long delay, no usable URL, not HTML, too big: the page stands."""
    obs = await check(web, web.url(path))
    assert (obs.status_code, obs.hops, obs.final_url) == (200, (), web.url(path))


# -- TLS: connect to the pinned address, verify the real name ----------------


async def test_tls_verifies_the_host_name_not_the_address(web: TestWeb) -> None:
    if web.cert is None:
        pytest.skip("no openssl CLI to make a test certificate")
    trusting = ssl.create_default_context(cafile=str(web.cert))
    ok = await check(web, f"https://tls.test:{web.tls_port}/article", ssl_context=trusting)
    wrong = await check(web, f"https://site.test:{web.tls_port}/article", ssl_context=trusting)
    assert (ok.status_code, ok.error) == (200, None)
    assert wrong.error == "tls-verify"


# -- conditional requests -----------------------------------------------------


async def test_conditional_request_answered_304(web: TestWeb) -> None:
    async with checker(web) as c:
        fresh_obs = await c.check(Link(url=web.url("/etag"), title="t"))
        again = await c.check(Link(url=web.url("/etag"), title="t"), Validators(etag='"v1"'))
    assert fresh_obs.status_code == 200 and fresh_obs.headers["etag"] == '"v1"'
    assert (again.status_code, again.not_modified, again.body) == (304, True, b"")
    assert again.bytes_received == 0 < fresh_obs.bytes_received
    verdict = classify(again, Link(url=again.url, title="t"))
    assert (verdict.verdict.value, verdict.reason) == ("ok", "not-modified")


# -- politeness and the engine ------------------------------------------------


async def _checked(
    links: list[Link], settings: Settings, web: TestWeb | None = None, *, probe: bool = False
) -> list[tuple[Link, Observation]]:
    """Each link with its observation, in the order they were checked.

    ``web``: resolve the test web's ``.test`` names; without it, links are literal addresses.
    ``probe``: with the soft-404 probe (off by default: most tests count requests).
    """
    results: list[tuple[Link, Observation]] = []
    kwargs: dict[str, Any] = {"resolver": web.resolve} if web is not None else {}
    await check_links(
        links,
        settings,
        on_result=lambda link, obs: results.append((link, obs)),
        allow_private=True,
        probe_soft404=probe,
        **kwargs,
    )
    return results


async def test_per_host_limit_is_never_exceeded(web: TestWeb) -> None:
    run = token()
    hosts = [f"busy-{run}-{i}.test" for i in range(4)]
    links = [Link(url=web.url(f"/p{n}", h), title="t") for h in hosts for n in range(6)]
    settings = replace(SETTINGS, per_host=2, concurrency=24)
    results = [obs for _, obs in await _checked(links, settings, web)]
    assert len(results) == len(links)
    assert all(obs.status_code == 200 for obs in results)
    assert [web.stats[h].max_active for h in hosts] == [2, 2, 2, 2]


async def test_min_interval_spaces_request_starts_to_one_host(web: TestWeb) -> None:
    host = f"busy-interval-{token()}.test"
    links = [Link(url=web.url(f"/p{n}", host), title="t") for n in range(4)]
    settings = replace(SETTINGS, per_host=4, min_interval_ms=200)
    await _checked(links, settings, web)
    starts = web.stats[host].starts
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert len(starts) == 4
    assert min(gaps) >= 0.1  # generous: the checker spaces them 0.2 s apart


async def test_a_host_listed_first_does_not_hold_up_the_others(web: TestWeb) -> None:
    """Curated lists group links by host; the crawl must not queue behind the first one.

    Host A's eight links are listed before host B's; A takes one request at
    a time, 0.2 s apart.  In catalog order, every worker would wait on A and
    B's first request would start after A's last.
    """
    run = token()
    first, second = f"busy-grouped-a-{run}.test", f"busy-grouped-b-{run}.test"
    links = [Link(url=web.url(f"/p{n}", h), title="t") for h in (first, second) for n in range(8)]
    settings = replace(SETTINGS, per_host=1, min_interval_ms=200, concurrency=4)
    await _checked(links, settings, web)
    a, b = web.stats[first].starts, web.stats[second].starts
    assert len(a) == len(b) == 8
    assert b[0] < a[1]  # B starts with A, not after it
    assert b[-1] < a[-1] + 0.15  # and the two hosts finish together


async def test_links_queued_behind_a_slow_host_get_their_own_full_time(web: TestWeb) -> None:
    """Waiting for our own politeness is not the server's time.

    The host answers each request in 0.15 s, one at a time; eight links are
    0.8 s of queueing, far past each link's 0.5 s.  Billed to the links,
    the last ones "timed out" without a request sent (and a timeout counts
    toward rot).
    """
    host = f"busy-slow-{token()}.test"
    links = [Link(url=web.url(f"/p{n}", host), title="t") for n in range(8)]
    settings = replace(SETTINGS, per_host=1, link_timeout=0.5, retries=0)
    results = [obs for _, obs in await _checked(links, settings, web)]
    assert [obs.status_code for obs in results] == [200] * 8
    # Each link's time is its own request's, not the queue's.
    assert max(obs.elapsed_ms for obs in results) < 450


async def test_a_host_that_refuses_every_connect_is_not_asked_again_and_again() -> None:
    """After three network-level failures in a row, the host's other links take the
    failure at once (marked "not tried"), as they would have met it anyway."""
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # closed again: nothing listens there
    links = [Link(url=f"http://127.0.0.1:{port}/p{n}", title="t") for n in range(12)]
    settings = replace(SETTINGS, per_host=1, retries=1)
    results = [obs for _, obs in await _checked(links, settings)]
    assert {obs.error for obs in results} == {"connect-refused"}
    assert all(is_network_failure(obs) for obs in results)
    spared = [obs for obs in results if "not tried" in obs.error_detail]
    assert len(spared) >= 9
    # A spared attempt is not retried: 12 links, one retry each, would be 24 attempts.
    assert sum(obs.attempts for obs in results) <= 16


async def test_a_host_that_looks_down_spares_its_links_without_spacing_them() -> None:
    """A request that is not sent owes the host no politeness: its links fail at once.

    Spared requests used to queue for the host's slot and book a start
    min_interval apart like the requests they stand in for: 12 links 0.2 s
    apart took 2.2 s to be told the host refuses connections.
    """
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # closed again: nothing listens there
    links = [Link(url=f"http://127.0.0.1:{port}/p{n}", title="t") for n in range(12)]
    settings = replace(SETTINGS, per_host=1, retries=0, min_interval_ms=200)
    started = time.monotonic()
    results = [obs for _, obs in await _checked(links, settings)]
    assert {obs.error for obs in results} == {"connect-refused"}
    assert sum("not tried" in obs.error_detail for obs in results) == 9
    assert time.monotonic() - started < 1.0  # three starts 0.2 s apart, then none


async def test_a_host_that_stops_answering_is_rested_like_one_that_refuses(
    web: TestWeb,
) -> None:
    """A server that accepts connections and never answers holds each request for the
    read timeout; the links queued behind it wait with their deadlines paused, so they
    used to time out round after round (12 links two at a time: six rounds).  Now three:
    two make the streak, one more, sent after it, shows it is the host and not its pages."""
    host = f"hung-{token()}.test"
    links = [Link(url=web.url(f"/hang?n={n}", host), title="t") for n in range(12)]
    settings = replace(SETTINGS, per_host=2, retries=0, read_timeout=0.3, link_timeout=1.0)
    started = time.monotonic()
    results = [obs for _, obs in await _checked(links, settings, web)]
    assert time.monotonic() - started < 1.2  # three rounds of 0.3 s, not six
    assert {obs.error for obs in results} == {"timeout"}
    assert not any(is_network_failure(obs) for obs in results)  # a server was reached
    assert sum("not tried" in obs.error_detail for obs in results) >= 6


@pytest.mark.parametrize(
    ("answered_first", "hung", "settings"),
    [
        # Three pages in a row time out, but the host answered before: it is alive.
        pytest.param(
            True, 3, replace(SETTINGS, per_host=3, retries=0, read_timeout=0.3, link_timeout=1.0),
            id="after-an-answer",
        ),
        # The first three hang, one at a time, before any page of it has answered.
        pytest.param(
            False, 3, replace(SETTINGS, per_host=1, retries=0, read_timeout=0.3, link_timeout=1.0),
            id="first-one-at-a-time",
        ),
        # A link's retries are requests too: one hung page's three attempts made the
        # streak and the next hung page's first confirmed it.
        pytest.param(
            False, 2,
            replace(SETTINGS, concurrency=1, per_host=1, retries=2, read_timeout=0.2,
                    link_timeout=2.0),
            id="two-pages-and-their-retries",
        ),
    ],
)  # fmt: skip
async def test_slow_pages_do_not_cost_a_live_hosts_other_links(
    web: TestWeb, answered_first: bool, hung: int, settings: Settings
) -> None:
    """A host whose pages hang while its others work is alive: its working pages must be
    checked, not spared as "timeout" without a request sent (which recurs every night, in
    catalog order, until they rot)."""
    host = f"slowpages-{token()}.test"
    links = [Link(url=web.url("/doc?n=first", host), title="t")] if answered_first else []
    links += [Link(url=web.url(f"/hang?n={n}", host), title="t") for n in range(hung)]
    links += [Link(url=web.url(f"/doc?n={n}", host), title="t") for n in range(5)]
    results = {link.url: obs for link, obs in await _checked(links, settings, web)}
    hanging = {link.url for link in links if "/hang" in link.url}
    assert {results[url].error for url in hanging} == {"timeout"}
    assert {obs.status_code for url, obs in results.items() if url not in hanging} == {200}


async def test_a_5xx_whose_retry_after_the_link_cannot_wait_is_not_called_broken(
    web: TestWeb,
) -> None:
    """A CDN answers 503 once, with "Retry-After" (a moment of maintenance), longer than
    the link has left.  The link was never asked again, yet it was judged ``broken``
    (http-5xx: "persisted through retries"), a newly broken link after one answer.  It is
    an error now: no alarm tonight, but a site stuck in maintenance still rots."""
    url = web.url(f"/cdn-flaky/{token()}")
    link = Link(url=url, title="t")
    obs = await check(web, url, settings=replace(SETTINGS, link_timeout=1.0))
    verdict = classify(obs, link)
    assert (obs.attempts, obs.status_code) == (1, 503)
    assert (verdict.verdict.value, verdict.reason) == ("error", "retry-later")
    assert "not retried" in verdict.detail
    # Time to wait it out: asked again, and answered.
    assert (await check(web, web.url(f"/cdn-flaky/{token()}"))).status_code == 200


async def test_a_host_that_looks_down_is_tried_again_once_at_a_time_after_a_rest() -> None:
    settings = replace(SETTINGS, link_timeout=5.0)
    async with Checker(settings, allow_private=True) as checker:
        key = ("http", "down.test", 80)
        url = "http://down.test/"
        cause = ConnectionRefusedError(111, "no")
        refused = _map_exception(_caused(httpx.ConnectError("x"), cause))
        assert checker._admission(key) == "go"
        for _ in range(3):
            checker._note_reachability(url, refused)
        assert checker._admission(key) == "spare"  # resting
        trouble = checker._unreachable[key]
        checker._unreachable[key] = replace(trouble, at=trouble.at - 5.0)
        assert checker._admission(key) == "trial"
        assert checker._admission(key) == "spare"  # one trial at a time
        checker._trials.discard(key)
        checker._note_reachability(url, None)  # the trial got an answer
        assert checker._admission(key) == "go"
        # A host that has answered this run is alive: refusals (a restart) do not rest it.
        checker._gate(key).heard = True
        for _ in range(3):
            checker._note_reachability(url, refused)
        assert checker._admission(key) == "go"


async def test_a_429_slows_the_whole_host_down_not_just_the_link(web: TestWeb) -> None:
    """The host allows one request per 0.4 s; four links ask at once.

    Three get 429 with "Retry-After: 1".  Each link used to retry on its
    own, all at the same moment, and earn the next round of 429s; the
    host's gate now holds every start until the Retry-After and spaces
    them a second apart.
    """
    host = f"limit-{token()}.test"
    links = [Link(url=web.url(f"/rate-limit/{n}", host), title="t") for n in range(4)]
    settings = replace(SETTINGS, per_host=4, retries=3, link_timeout=10.0)
    results = [obs for _, obs in await _checked(links, settings, web)]
    assert [obs.status_code for obs in results] == [200] * 4
    assert web.limited[host] <= 3  # the first burst only


async def test_starts_booked_before_a_429_wait_for_its_retry_after_too(web: TestWeb) -> None:
    """The host is busy for a second and says so ("Retry-After: 1") to its first request.

    Three slots, starts 0.3 s apart: the two starts booked before that 429
    used to go out on time, inside the second the host had asked for, and
    earn 429s that counted as strikes (three: every link "rate-limited").
    """
    host = f"hold-{token()}.test"
    links = [Link(url=web.url(f"/wait-a-second/{n}", host), title="t") for n in range(3)]
    settings = replace(SETTINGS, per_host=3, min_interval_ms=300, retries=0, link_timeout=5.0)
    results = [obs for _, obs in await _checked(links, settings, web)]
    assert sorted(obs.status_code or 0 for obs in results) == [200, 200, 429]
    assert web.limited[host] == 1


async def test_a_host_that_wants_more_patience_than_a_link_has_is_not_asked_again(
    web: TestWeb,
) -> None:
    """Retry-After: 30 against 2 s per link: the first link's answer stands for
    the host's other links, which are not sent (the run does not wait 30 s each)."""
    host = f"limit-long-{token()}.test"
    links = [Link(url=web.url(f"/always-429-long?n={n}", host), title="t") for n in range(5)]
    settings = replace(SETTINGS, per_host=1, retries=2, link_timeout=2.0, retry_after_cap=30.0)
    results = await _checked(links, settings, web)
    assert {classify(obs, link).reason for link, obs in results} == {"rate-limited"}
    assert len(web.stats[host].starts) == 1
    spared = [obs for _, obs in results if obs.error == "rate-limited"]
    assert len(spared) == 4
    assert all(obs.error_detail.startswith("not tried: the host asked us") for obs in spared)


async def test_a_host_that_keeps_saying_429_after_we_slowed_down_is_left_alone(
    web: TestWeb,
) -> None:
    """Three 429s to requests sent after slowing down: the host's other links are not
    sent this run (12 links, three retries each, would be 48 requests)."""
    host = f"limit-always-{token()}.test"
    links = [Link(url=web.url(f"/always-429?n={n}", host), title="t") for n in range(12)]
    settings = replace(SETTINGS, per_host=2, retries=3, link_timeout=5.0)
    results = await _checked(links, settings, web)
    assert {classify(obs, link).reason for link, obs in results} == {"rate-limited"}
    assert len(web.stats[host].starts) <= 8
    assert any("answered 429 to the last 3 requests" in obs.error_detail for _, obs in results)


async def test_one_path_that_always_says_429_does_not_cost_the_hosts_other_links(
    web: TestWeb,
) -> None:
    host = f"limit-one-path-{token()}.test"
    links = [Link(url=web.url("/always-429", host), title="t")]
    links += [Link(url=web.url(f"/doc?n={n}", host), title="t") for n in range(8)]
    settings = replace(SETTINGS, per_host=2, retries=1, link_timeout=5.0)
    results = await _checked(links, settings, web)
    reasons = {link.url: classify(obs, link).reason for link, obs in results}
    assert reasons.pop(links[0].url) == "rate-limited"
    assert set(reasons.values()) == {"ok"}


async def test_a_429_never_spaces_a_hosts_starts_closer_than_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """min_interval 5 s, Retry-After capped at 2 s: the doubled spacing is not capped below 5."""
    waits: list[float] = []

    async def no_sleep(seconds: float) -> None:
        waits.append(seconds)  # the clock stands still: each wait is its start's distance

    monkeypatch.setattr(anyio, "sleep", no_sleep)
    gate = _HostGate(1, 5.0)
    async with gate:
        pass
    gate.back_off(time.monotonic(), 0.0, 2.0)  # 429 with "Retry-After: 0"
    for _ in range(2):
        async with gate:
            pass
    assert len(waits) == 2
    assert waits[1] - waits[0] > 4.9  # not 2


async def test_one_link_retrying_a_path_that_says_429_does_not_close_its_host(
    web: TestWeb,
) -> None:
    """A link's own retries are one path asked again, not three requests turned away.

    Its three 429s (one attempt, two retries) used to count as three strikes,
    and the host's every later link was "rate-limited" without a request.
    """
    host = f"limit-retried-{token()}.test"
    settings = replace(SETTINGS, retries=2, link_timeout=5.0, retry_after_cap=0.2)
    async with checker(web, settings=settings, probe_soft404=False) as c:
        limited = await c.check(Link(url=web.url("/always-429", host), title="t"))
        assert (limited.status_code, limited.attempts) == (429, 3)
        after = await c.check(Link(url=web.url("/article", host), title="t"))
    assert after.status_code == 200


def test_spread_by_host_interleaves_hosts_in_proportion_keeping_each_hosts_order() -> None:
    def link(host: str, n: int) -> Link:
        return Link(url=f"https://{host}/{n}", title="t")

    big = [link("big.example", n) for n in range(4)]
    small = [link("small.example", n) for n in range(2)]
    odd = Link(url="not a url", title="t")
    spread = spread_by_host([*big, *small, odd])
    assert [x.url for x in spread if "big" in x.url] == [x.url for x in big]
    assert [x.url for x in spread if "small" in x.url] == [x.url for x in small]
    # big's k-th of 4 at (k+½)/4, small's at (k+½)/2, the lone URL at ½; ties in catalog order
    assert spread == [big[0], small[0], big[1], odd, big[2], small[1], big[3]]
    assert spread_by_host([]) == []


async def test_check_links_pulls_lazily_and_streams(web: TestWeb) -> None:
    """Workers pull links as they go: a bounded few ahead, never the whole catalog."""
    pulled = 0
    done = 0
    ahead: list[int] = []

    def links() -> object:
        nonlocal pulled
        for n in range(100):
            pulled += 1
            yield Link(url=web.url(f"/article?stream={n}"), title="t")

    def on_result(link: Link, obs: Observation) -> None:
        nonlocal done
        done += 1
        ahead.append(pulled - done)

    settings = replace(SETTINGS, concurrency=3)
    await check_links(
        links(),  # type: ignore[arg-type]
        settings,
        on_result=on_result,
        allow_private=True,
        resolver=web.resolve,
    )
    assert done == 100
    # In hand: one link per worker plus the answers waiting for on_result.
    assert max(ahead) <= 3 + _handoff_limit(3) == 11


async def test_global_limit_is_never_exceeded(web: TestWeb) -> None:
    """``concurrency`` bounds the requests in flight, counted by the servers."""
    run = token()
    hosts = [f"busy-global-{run}-{i}.test" for i in range(8)]
    links = [Link(url=web.url(f"/p{n}", h), title="t") for n in range(3) for h in hosts]
    settings = replace(SETTINGS, per_host=3, concurrency=3)
    seen = [obs.status_code for _, obs in await _checked(links, settings, web)]
    assert seen == [200] * len(links)
    edges = sorted(
        (t, +1 if k == 0 else -1)
        for h in hosts
        for span in web.stats[h].spans
        for k, t in enumerate(span)
    )
    active = list(itertools.accumulate(step for _, step in edges))
    assert max(active) == 3


async def test_a_hosts_pool_is_closed_after_its_last_link(web: TestWeb) -> None:
    first, last = (
        Link(url=web.url("/article?a"), title="t"),
        Link(url=web.url("/article?b"), title="t"),
    )
    async with checker(web) as c:
        c.expect([first.url, last.url])
        await c.check(first)
        await c.done(first.url)
        open_after_first = len(c._pools)
        await c.check(last)
        await c.done(last.url)
        assert (open_after_first, len(c._pools)) == (1, 0)


async def test_honest_user_agent_and_real_host_header(web: TestWeb) -> None:
    path = f"/article?ua-{token()}"
    await check(web, web.url(path))
    (request,) = [r for r in web.requests if r.path == path]
    assert request.headers["user-agent"] == SETTINGS.user_agent
    assert request.headers["host"] == f"site.test:{web.port}"


# -- adapters -----------------------------------------------------------------


class FakeAdapter:
    def __init__(self, api_host: str, answer: Observation | Exception | None) -> None:
        self.name = "fake"
        self.api_host = api_host
        self.answer = answer
        self.tokens: list[str | None] = []

    def matches(self, url: str) -> bool:
        return True

    async def check(
        self, url: str, client: httpx.AsyncClient, *, token: str | None = None
    ) -> Observation | None:
        self.tokens.append(token)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


async def test_adapter_answer_is_used(web: TestWeb) -> None:
    url = web.url(f"/article?adapter-{token()}")
    adapter = FakeAdapter("api.example.test", Observation(url=url, status_code=200))
    obs = await check(web, url, find_adapter=lambda u: adapter)
    assert obs.status_code == 200 and obs.attempts == 1
    assert web.hits[url.split("//", 1)[1].replace(f":{web.port}", "")] == 0


@pytest.mark.parametrize("answer", [None, httpx.ConnectError("api down")])
async def test_adapter_without_answer_falls_back_to_a_fetch(
    web: TestWeb, answer: Exception | None
) -> None:
    url = web.url(f"/article?fallback-{token()}")
    adapter = FakeAdapter("api.example.test", answer)
    obs = await check(web, url, find_adapter=lambda u: adapter)
    assert obs.status_code == 200
    assert web.hits[url.split("//", 1)[1].replace(f":{web.port}", "")] == 1


@pytest.mark.parametrize(
    ("api_host", "expected"), [("api.github.test", "s3cret"), ("api.other.test", None)]
)
async def test_github_token_goes_only_to_the_github_api_host(
    web: TestWeb, api_host: str, expected: str | None
) -> None:
    adapter = FakeAdapter(api_host, Observation(url="x", status_code=200))
    await check(
        web,
        web.url("/article"),
        find_adapter=lambda u: adapter,
        github_token="s3cret",
        github_api_url="https://api.github.test",
    )
    assert adapter.tokens == [expected]


# -- cheap helpers that must agree with the costly originals -------------------


def _page(title: str, text: str, extra: str = "") -> bytes:
    return f"<html><head><title>{title}</title>{extra}</head><body>{text}</body></html>".encode()


PROBE_PAGE = _page("Not here", "Sorry, that page is not here. " * 20)


_NAV = "".join(
    f"<li><a href='/docs/{i}'>Guide {i}: topic{i} and more{i}</a></li>" for i in range(900)
)
_ARTICLE = " ".join(f"word{i}" for i in range(180))


def _docs_page(main: str) -> bytes:
    """A docs site with one title on every page and a heavy navigation."""
    return _page("Acme Docs", f"<nav><ul>{_NAV}</ul></nav><main>{main}</main>")


def test_pages_of_one_template_and_title_are_not_look_alikes_when_their_words_differ() -> None:
    article, not_found = _docs_page(f"<p>{_ARTICLE}</p>"), _docs_page("<p>Sorry!</p>" * 100)
    assert abs(len(article) - len(not_found)) / len(article) < 0.05  # the old test's blind spot
    assert not page_signature(article).looks_like(page_signature(not_found))
    assert not matches_probe(article, page_signature(not_found))


def test_a_not_found_page_that_repeats_the_address_still_looks_like_the_probe() -> None:
    def not_found(path: str) -> bytes:
        return _docs_page(f"<p>Sorry, {path} is not a page of ours. Try the search.</p>")

    probe = page_signature(not_found("/a81f3c2e9b7d6a10-linkwatch-probe"))
    assert matches_probe(not_found("/guide/old-install"), probe)


@pytest.mark.parametrize(
    "body",
    [
        PROBE_PAGE,  # the same page
        _page("Not here", "Sorry, that page is not here. " * 20 + "!"),  # same title, ~same size
        _page("Not here", "x"),  # same title, other size
        _page("Welcome", "Sorry, that page is not here. " * 20),  # other title
        _page("", "Sorry, that page is not here. " * 20),  # no title
        _page("Not   here", "Sorry, that page is not here. " * 20),  # title spacing
        _page("Not &amp; here", "Sorry"),
        _page("Not here", "", "<script>app()</script>"),  # an app shell
    ],
)
def test_probe_shortcut_agrees_with_the_full_signature(body: bytes) -> None:
    for probe_body in (PROBE_PAGE, _page("", "Sorry, that page is not here. " * 20)):
        probe = page_signature(probe_body)
        assert matches_probe(body, probe) == page_signature(body).looks_like(probe)


@pytest.mark.parametrize(
    "url",
    [
        "http://h.test",
        "http://h.test/",
        "http://h.test/?q=1",
        "http://h.test/#top",
        "http://h.test/a",
        "http://u:p@h.test:8080/a/?x#y",
        "https://h.test/%2F",
        "http://[::1]:80/",
    ],
)
def test_root_path_test_agrees_with_httpx(url: str) -> None:
    normalised = str(httpx.URL(url))
    assert _path_is_root(normalised) == (httpx.URL(normalised).path in ("", "/"))


def test_headers_are_decoded_like_httpx() -> None:
    raw = [
        (b"Content-Type", b"text/html"),
        (b"Set-Cookie", b"a=1"),
        (b"set-cookie", b"b=2"),
        (b"Location", "/caf\u00e9".encode()),
    ]
    headers, cookies = _decode_headers(raw)
    expected = httpx.Headers(raw)
    assert headers == {k: ", ".join(expected.get_list(k)) for k in expected}
    assert cookies == ("a=1", "b=2")
    assert headers["location"] == "/caf\u00e9"


# -- the bounded decoder ------------------------------------------------------


@pytest.mark.parametrize(
    ("coding", "payload"),
    [
        ("gzip", gzip.compress(b"hello ") + gzip.compress(b"world")),  # two members
        ("deflate", zlib.compress(b"hello world")),
        ("deflate", zlib.compress(b"hello world")[2:-4]),  # raw deflate, as some servers send
        ("identity", b"hello world"),
    ],
)
def test_bounded_decoder_decodes(coding: str, payload: bytes) -> None:
    decoder = _BoundedDecoder(coding)
    out = b"".join(decoder.decode(payload[i : i + 3], 1000) for i in range(0, len(payload), 3))
    assert out == b"hello world"


@pytest.mark.parametrize(
    ("coding", "payload"),
    [
        ("gzip", gzip.compress(b"hello ") + gzip.compress(b"world")),
        ("deflate", zlib.compress(b"hello world")),
    ],
)
def test_bounded_decoder_gives_the_same_bytes_wherever_the_reads_split(
    coding: str, payload: bytes
) -> None:
    """A gzip member that ends exactly at the end of a read left the next
    member undecoded: the page was judged on compressed bytes."""
    for split in range(len(payload) + 1):
        decoder = _BoundedDecoder(coding)
        out = decoder.decode(payload[:split], 1000) + decoder.decode(payload[split:], 1000)
        assert out == b"hello world", split


def test_bytes_after_a_complete_deflate_stream_are_not_body() -> None:
    decoder = _BoundedDecoder("deflate")
    assert decoder.decode(zlib.compress(b"hello world"), 1000) == b"hello world"
    assert decoder.decode(b"<script>junk</script>", 1000) == b""


def test_bounded_decoder_never_exceeds_its_limit() -> None:
    decoder = _BoundedDecoder("gzip")
    assert len(decoder.decode(gzip.compress(b"\0" * 10_000_000), 4096)) == 4096


def test_unsupported_coding_is_left_unread() -> None:
    assert not _BoundedDecoder("br").supported


async def test_literal_address_needs_no_resolver(web: TestWeb) -> None:
    async def no_dns(host: str) -> list[str]:
        raise AssertionError(f"resolver called for {host}")

    obs = await check(web, f"http://127.0.0.1:{web.port}/article", resolver=no_dns)
    assert obs.status_code == 200


async def test_system_resolver_passes_numeric_addresses_through() -> None:
    assert await system_resolver("127.0.0.1") == ["127.0.0.1"]


async def test_a_probe_the_deadline_cuts_short_is_the_hosts_one_probe(web: TestWeb) -> None:
    """The host trickles its answer to a made-up path; the probe runs out of time.

    The host's links wait for that probe with their deadlines paused.  Each
    used to probe again in turn and run out of time: one link_timeout per
    link, one after another.
    """
    host = f"tarpit-{token()}.test"
    links = [Link(url=web.url(f"/post/{n}", host), title="t") for n in range(4)]
    settings = replace(SETTINGS, link_timeout=0.5, retries=0)
    before = len(web.requests)
    results: list[Observation] = []
    started = time.monotonic()
    await check_links(
        links,
        settings,
        on_result=lambda link, obs: results.append(obs),
        allow_private=True,
        resolver=web.resolve,
    )
    assert time.monotonic() - started < 1.5  # not 4 x 0.5 s
    probes = [r for r in web.requests[before:] if r.path.endswith(PROBE_SUFFIX)]
    assert len(probes) == 1
    # The links keep their pages' answers: a 200 is no "timeout".
    assert [obs.status_code for obs in results] == [200] * 4
    assert {obs.error for obs in results} == {None}


async def test_a_probe_is_not_cut_short_by_what_its_link_has_left(web: TestWeb) -> None:
    """A slow soft-404 host: page (0.3 s) and probe (0.3 s) outlast one link_timeout (0.5 s).

    The probe ran under the deadline of the link that needed it first and
    was cut short after that link's own page: no probe for the host all
    run, and its soft 404s passed as pages.  It has a deadline of its own.
    """
    host = f"slowsoft-{token()}.test"
    links = [Link(url=web.url(f"/blog/post-{n}", host), title="t") for n in range(2)]
    settings = replace(SETTINGS, concurrency=1, link_timeout=0.5, retries=0)
    checked = await _checked(links, settings, web, probe=True)
    assert [classify(obs, link).reason for link, obs in checked] == ["soft-404-probe"] * 2


async def test_soft404_probe_is_sent_once_per_host(web: TestWeb) -> None:
    """Concurrent links of one host share one probe; each is judged against it."""
    links = [Link(url=web.url(f"/blog/post-{n}", "soft.test"), title="t") for n in range(6)]
    before = len(web.requests)
    verdicts: list[str] = []
    await _run_all(web, links, lambda link, obs: verdicts.append(classify(obs, link).reason))
    probes = [r for r in web.requests[before:] if r.path.endswith(PROBE_SUFFIX)]
    assert len(probes) == 1
    assert verdicts == ["soft-404-probe"] * len(links)


async def test_a_failing_on_result_stops_the_crawl_at_once(web: TestWeb) -> None:
    """An error in on_result (the pipeline's own bug) ends the run; it must not hang it."""
    links = [Link(url=web.url(f"/article?fail-{n}"), title="t") for n in range(40)]
    seen: list[str] = []

    def on_result(link: Link, obs: Observation) -> None:
        seen.append(link.url)
        if len(seen) == 3:
            raise ValueError("observe broke")

    with anyio.fail_after(10), pytest.raises(ExceptionGroup) as caught:
        await check_links(
            links,
            replace(SETTINGS, concurrency=4),
            on_result=on_result,
            allow_private=True,
            resolver=web.resolve,
        )
    assert caught.group_contains(ValueError, match="observe broke")
    assert len(seen) == 3


async def test_plain_http_links_never_load_the_ca_bundle(web: TestWeb) -> None:
    """The TLS context (~25 ms of CA loading) is made at the first https request only."""
    async with checker(web) as c:
        obs = await c.check(Link(url=web.url("/article?plain-http"), title="t"))
        assert (obs.status_code, c._ssl) == (200, None)
    if not web.tls_port:
        return
    async with checker(web) as c:
        await c.check(Link(url=f"https://tls.test:{web.tls_port}/article", title="t"))
        assert isinstance(c._ssl, ssl.SSLContext)


@pytest.mark.parametrize("label", ["undefined", "idna", "zlib", "meta-undefined", "meta-idna"])
async def test_a_charset_no_browser_reads_pages_with_falls_back_to_utf8(
    web: TestWeb, label: str
) -> None:
    """A server's charset label is looked up in Python's codec registry, which
    also holds codecs that raise on any page: the whole pipeline must shrug."""
    obs = await check(web, web.url(f"/charset/{label}"))
    result = observe(Link(url=obs.url, title="t"), obs, datetime.now(UTC))
    assert (result.verdict.value, result.reason) == ("ok", "ok")
    assert result.text is not None and "café" in result.text


@pytest.mark.parametrize("unit", [b"<script ", b"<title>", b"<style>", b"<noscript ", b"<a ", b"<"])
def test_a_page_of_unclosed_tags_is_signed_in_linear_time(unit: bytes) -> None:
    """A 1 MiB body (the read cap) of unclosed tags: every tag used to rescan the
    rest of the page (160 KB of "<script " took 9 s).  A bound far above the
    linear cost (milliseconds), far below the quadratic one (minutes)."""
    body = unit * (SETTINGS.max_body_bytes // len(unit))
    started = time.perf_counter()
    matches_probe(body, page_signature(body))
    assert time.perf_counter() - started < 5.0


def _most_at_once(spans: Iterable[tuple[float, float]]) -> int:
    """The most requests the web was serving at one moment."""
    spans = list(spans)
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    most = now = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


@pytest.mark.parametrize(
    ("concurrency", "answer"),
    [(8, b"Met its probe"), (1, b"Answered alone")],
    ids=["a-slot-free", "no-slot-free"],
)
async def test_the_probe_goes_beside_the_page_only_in_a_free_slot(
    web: TestWeb, concurrency: int, answer: bytes
) -> None:
    """A small catalog's hosts are probed while their pages load, not after.

    Each ``beside*`` page answers only once its host's probe has arrived
    (or after ``BESIDE_WAIT``): probed after the page, as it was, every
    host of a small catalog took its answer time twice.  With every slot
    taken the probe still waits for its page: never over concurrency.
    """
    hosts = [f"beside-{token()}.test" for _ in range(3)]
    links = [Link(url=web.url("/guide/intro", host), title="t") for host in hosts]
    settings = replace(SETTINGS, concurrency=concurrency)
    results = [obs for _, obs in await _checked(links, settings, web, probe=True)]
    assert [obs.status_code == 200 and answer in obs.body for obs in results] == [True] * 3
    assert all(web.hits[f"{host}/guide/intro"] == 1 for host in hosts)
    probes = [r for r in web.requests if r.host in hosts and r.path.endswith(PROBE_SUFFIX)]
    assert len(probes) == 3
    in_flight = _most_at_once(span for host in hosts for span in web.stats[host].spans)
    assert in_flight <= concurrency


async def test_a_page_asked_with_validators_is_not_probed_beside(web: TestWeb) -> None:
    """A nightly run over unchanged pages: each answers 304, which needs no probe."""
    host = f"etag-{token()}.test"
    async with checker(web) as c:
        obs = await c.check(Link(url=web.url("/etag", host), title="t"), Validators(etag='"v1"'))
    assert obs.status_code == 304
    assert [r.path for r in web.requests if r.host == host] == ["/etag"]


async def test_a_probe_beside_a_page_does_not_cost_the_link_its_retries(web: TestWeb) -> None:
    """A refused probe is no evidence against the host: the link's own attempts tell.

    Counted, the probe's refusal and the link's first two made the
    streak that rests a host, and the link's last retry went unsent.
    """
    obs = await check(web, f"http://site.test:{web.closed_port}/article")
    assert obs.error == "connect-refused"
    assert obs.attempts == SETTINGS.retries + 1
    assert "not tried" not in (obs.error_detail or "")
