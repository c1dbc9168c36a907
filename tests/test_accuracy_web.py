"""The accuracy benchmark's web answers as its cases are labelled, night by night.

Not a run of the benchmark: neither linkwatch's crawler nor lychee runs
here.  It keeps ``benchmarks/accuracy.py`` honest between runs — a case
labelled "404" really answers 404, the one-night troubles happen on their
night only, the offline night listens nowhere — and checks how the script
reads each tool's JSON into alarms.  Plain ``http.client`` over loopback.
"""

from __future__ import annotations

import http.client
import re
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import accuracy  # noqa: E402
from benchmarks.accuracy import OFFLINE_NIGHT, TROUBLE_NIGHT, AccuracyWeb  # noqa: E402

Reply = tuple[int, dict[str, str], bytes]


@pytest.fixture(scope="module")
def web() -> Iterator[AccuracyWeb]:
    with AccuracyWeb(slow_s=0.2) as running:
        yield running


@pytest.fixture
def night1(web: AccuracyWeb) -> AccuracyWeb:
    web.begin(1)
    return web


def get(web: AccuracyWeb, case: str, path: str | None = None, **headers: str) -> Reply:
    parts = urlsplit(web.url(case, path))
    assert parts.hostname is not None and parts.hostname.startswith("127.")
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        conn.request("GET", parts.path, headers=headers)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def title(body: bytes) -> str:
    found = re.search(rb"<title>(.*?)</title>", body, re.S)
    return found.group(1).decode() if found else ""


def refused(web: AccuracyWeb, case: str) -> bool:
    parts = urlsplit(web.url(case))
    assert parts.hostname is not None and parts.port is not None
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_every_case_has_its_own_loopback_host_and_a_label() -> None:
    hosts = [accuracy.case_address(i) for i in range(len(accuracy.CASES))]
    assert len(set(hosts)) == len(hosts)
    assert all(h.startswith("127.43.0.") for h in hosts)
    human = {c.name for c in accuracy.CASES if c.needs_human}
    assert human == {
        "not-found-404", "gone-410", "soft-404", "soft-404-catch-all", "parked-domain",
        "moved-301", "moved-by-stub", "redirect-to-home", "redirect-loop", "dead-host",
        "never-answers", "soft-404-zh", "error-page-zh", "pdf-gone", "redirect-to-404",
        "fragment-missing", "spa-gone",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("case", "status"), [("healthy", 200), ("not-found-404", 404), ("gone-410", 410)]
)
def test_plain_cases_answer_their_status(night1: AccuracyWeb, case: str, status: int) -> None:
    assert get(night1, case)[0] == status


def test_a_real_site_answers_404_to_a_made_up_path(night1: AccuracyWeb) -> None:
    assert get(night1, "healthy", "/no-such-page-xyz")[0] == 404
    assert get(night1, "healthy", "/")[0] == 200


def test_healthy_page_has_an_etag_and_honours_if_none_match(night1: AccuracyWeb) -> None:
    status, headers, body = get(night1, "healthy")
    assert status == 200 and body
    assert get(night1, "healthy", **{"If-None-Match": headers["etag"]})[:3:2] == (304, b"")


def test_soft_404_is_a_200_page_titled_not_found(night1: AccuracyWeb) -> None:
    status, _, body = get(night1, "soft-404")
    assert status == 200
    assert title(body).startswith("Page not found")


def test_catch_all_host_answers_every_path_with_the_same_page(night1: AccuracyWeb) -> None:
    status, _, body = get(night1, "soft-404-catch-all")
    other = get(night1, "soft-404-catch-all", "/made-up-path-123")
    assert (status, other[0]) == (200, 200)
    assert other[2] == body
    assert "Not Found" not in title(body)


def test_parked_domain_is_a_for_sale_lander_on_every_path(night1: AccuracyWeb) -> None:
    status, _, body = get(night1, "parked-domain")
    assert status == 200
    assert "for sale" in title(body)
    assert get(night1, "parked-domain", "/anything")[2] == body


def test_a_moved_github_pages_page_is_a_redirect_stub(night1: AccuracyWeb) -> None:
    status, _, body = get(night1, "moved-by-stub")
    new = night1.url("moved-by-stub", "/docs/setup/")
    assert status == 200 and title(body) == "Redirecting&hellip;"
    assert f'<meta http-equiv="refresh" content="0; url={new}">'.encode() in body
    assert get(night1, "moved-by-stub", "/docs/setup/")[0] == 200


@pytest.mark.parametrize(
    ("case", "status", "location"),
    [
        ("moved-301", 301, "/handbook/guide/"),
        ("redirect-to-home", 301, "/"),
        ("redirect-loop", 301, "/account/settings/"),
        ("temporary-302", 302, "/download/v2.4/"),
    ],
)
def test_redirects(night1: AccuracyWeb, case: str, status: int, location: str) -> None:
    got, headers, _ = get(night1, case)
    assert (got, headers["location"]) == (status, location)
    after = get(night1, case, location)
    if case == "redirect-loop":
        assert (after[0], after[1]["location"]) == (301, "/account/settings")
    else:
        assert after[0] == 200


def test_bot_wall_is_a_cloudflare_challenge(night1: AccuracyWeb) -> None:
    status, headers, body = get(night1, "bot-wall")
    assert status == 403
    assert headers["cf-mitigated"] == "challenge"
    assert headers["server"] == "cloudflare"
    assert title(body) == "Just a moment..."


def test_503_clears_on_the_second_request_each_night(web: AccuracyWeb) -> None:
    for night in (1, 2):
        web.begin(night)
        assert [get(web, "503-then-ok")[0] for _ in range(3)] == [503, 200, 200]


def test_429_says_retry_after_one_second_then_lets_through(night1: AccuracyWeb) -> None:
    status, headers, _ = get(night1, "429-retry-after")
    assert (status, headers["retry-after"]) == (429, "1")
    time.sleep(1.05)
    assert get(night1, "429-retry-after")[0] == 200


def test_slow_page_answers_after_its_delay(night1: AccuracyWeb) -> None:
    started = time.monotonic()
    assert get(night1, "slow")[0] == 200
    assert time.monotonic() - started >= 0.2


def test_content_changes_from_night_to_night(web: AccuracyWeb) -> None:
    bodies = []
    for night in (1, 2):
        web.begin(night)
        bodies.append(get(web, "content-changes")[2])
    assert bodies[0] != bodies[1]


def test_trouble_night_503s_and_downs_one_host_only(web: AccuracyWeb) -> None:
    web.begin(TROUBLE_NIGHT)
    assert get(web, "503-one-night")[0] == 503
    assert refused(web, "down-one-night")
    assert get(web, "healthy")[0] == 200
    web.begin(1)
    assert get(web, "503-one-night")[0] == 200
    assert get(web, "down-one-night")[0] == 200


def test_dead_host_never_listens(web: AccuracyWeb) -> None:
    for night in (1, TROUBLE_NIGHT, 4):
        web.begin(night)
        assert refused(web, "dead-host")


def test_offline_night_listens_nowhere_and_the_next_night_comes_back(web: AccuracyWeb) -> None:
    web.begin(OFFLINE_NIGHT)
    assert all(refused(web, c.name) for c in accuracy.CASES)
    web.begin(4)
    assert get(web, "healthy")[0] == 200


# -- reading the tools' JSON -------------------------------------------------


def _lw(url: str, verdict: str, health: str, group: str | None = None) -> dict[str, str | None]:
    return {"url": url, "verdict": verdict, "reason": "r", "health": health, "needs_human": group}


def test_linkwatch_alarms_are_rotten_newly_broken_and_moved_not_blocked() -> None:
    report = {
        "run": {"inconclusive": False},
        "results": [
            _lw("a", "broken", "failing", "broken"),
            _lw("b", "error", "failing"),  # newly unreachable: waits for rot
            _lw("c", "error", "rotten", "rotten"),
            _lw("d", "moved", "healthy", "moved"),
            _lw("e", "blocked", "healthy", "blocked"),
            _lw("f", "ok", "rotten"),  # answers again
            _lw("g", "ok", "healthy"),
        ],
    }
    alarms, said = accuracy.linkwatch_alarms(report)
    assert alarms == {"a", "c", "d"}
    assert said["e"] == "blocked/r healthy"


def test_an_inconclusive_linkwatch_run_alarms_nothing() -> None:
    report = {"run": {"inconclusive": True}, "results": [_lw("a", "error", "rotten", "rotten")]}
    assert accuracy.linkwatch_alarms(report)[0] == frozenset()


def test_lychee_alarms_are_its_errors_and_timeouts_only() -> None:
    report = {
        "redirects": 1,
        "error_map": {
            "links.md": [
                {"url": "a", "status": {"text": "Rejected status code: 404", "code": 404}},
                {
                    "url": "b",
                    "status": {
                        "text": "Network error: Connection refused - server may be down",
                        "details": "Connection refused - server may be down or port blocked",
                    },
                },
            ]
        },
        "timeout_map": {"links.md": [{"url": "c", "status": {"text": "Timeout"}}]},
        "excluded_map": {"links.md": [{"url": "d", "status": {"text": "Excluded"}}]},
        "success_map": {},
    }
    alarms, said = accuracy.lychee_alarms(report)
    assert alarms == {"a", "b", "c"}
    assert said == {"a": "failed 404", "b": "failed: connection refused", "c": "timeout"}


def test_scores_count_false_alarms_online_misses_and_offline_alarms() -> None:
    cases = [accuracy.Case("fine", "/f", False, ""), accuracy.Case("dead", "/d", True, "")]
    urls = ["F", "D"]

    def run(night: int, alarms: set[str]) -> accuracy.NightRun:
        return accuracy.NightRun("x", night, 0, 0.0, frozenset(alarms), {})

    nights = [run(1, {"F"}), run(2, set()), run(OFFLINE_NIGHT, {"F", "D"}), run(4, {"F"})]
    scores = accuracy.score(cases, urls, nights)
    assert (scores["false_alarms"], scores["missed"], scores["offline_night_alarms"]) == (2, 1, 2)


# -- the harder half of the real web -----------------------------------------


def get_within(
    web: AccuracyWeb, case: str, seconds: float, path: str | None = None
) -> Reply | None:
    """A GET that gives up after ``seconds``: None when the server sent nothing by then."""
    parts = urlsplit(web.url(case, path))
    assert parts.hostname is not None and parts.hostname.startswith("127.")
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=seconds)
    try:
        conn.request("GET", parts.path)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    except TimeoutError:
        return None
    finally:
        conn.close()


def test_new_cases_keep_their_own_hosts_and_labels() -> None:
    truth = {c.name: c.needs_human for c in accuracy.CASES}
    fine = {
        "hangs-first-try", "login-wall", "auth-401", "429-all-night", "pdf",
        "noise-counters-zh", "noise-relative-en", "fragment-present", "500-then-ok",
        "302-to-cdn", "spa-live",
    }  # fmt: skip
    assert not any(truth[n] for n in fine)
    names = [c.name for c in accuracy.CASES]
    assert names.index("hangs-first-try") == 19  # the first nineteen keep their addresses
    assert accuracy.cdn_address(names.index("302-to-cdn")).startswith("127.43.1.")


def test_hanging_page_answers_nothing_first_then_200_each_night(web: AccuracyWeb) -> None:
    for night in (1, 4):
        web.begin(night)
        assert get_within(web, "hangs-first-try", 0.5) is None
        reply = get_within(web, "hangs-first-try", 5)
        assert reply is not None and reply[0] == 200


def test_never_answers_on_any_online_night(web: AccuracyWeb) -> None:
    for night in (1, TROUBLE_NIGHT, 4):
        web.begin(night)
        assert get_within(web, "never-answers", 0.3) is None
        assert get_within(web, "never-answers", 0.3, "/") is None
        assert not refused(web, "never-answers")


def test_login_wall_redirects_to_a_sign_in_form_on_the_same_host(night1: AccuracyWeb) -> None:
    status, headers, _ = get(night1, "login-wall")
    assert (status, headers["location"]) == (
        302,
        "/login?next=%2Fmembers%2Fcourses%2Frag-101%2Flesson-3",
    )
    status, _, body = get(night1, "login-wall", "/login")
    assert status == 200 and title(body).startswith("Sign in")


def test_auth_401_asks_for_basic_credentials(night1: AccuracyWeb) -> None:
    status, headers, _ = get(night1, "auth-401")
    assert (status, headers["www-authenticate"]) == (401, 'Basic realm="Team wiki"')


def test_429_with_an_hour_long_retry_after_all_trouble_night_only(web: AccuracyWeb) -> None:
    web.begin(TROUBLE_NIGHT)
    for path in (None, "/"):
        status, headers, _ = get(web, "429-all-night", path)
        assert (status, headers["retry-after"]) == (429, "3600")
    for night in (1, 4):
        web.begin(night)
        assert get(web, "429-all-night")[0] == 200


def test_chinese_soft_404_is_a_200_page_saying_the_page_does_not_exist(
    night1: AccuracyWeb,
) -> None:
    status, _, body = get(night1, "soft-404-zh")
    assert status == 200 and title(body) == "页面不存在 - AI研习社"
    assert get(night1, "soft-404-zh", "/article/made-up.html")[2] == body


def test_chinese_cms_redirects_a_missing_page_to_a_200_404_page(night1: AccuracyWeb) -> None:
    status, headers, _ = get(night1, "error-page-zh")
    assert (status, headers["location"]) == (302, "/404.html")
    status, _, body = get(night1, "error-page-zh", "/404.html")
    assert status == 200 and title(body) == "404 找不到页面"


def test_pdf_is_a_200_pdf_every_night(web: AccuracyWeb) -> None:
    for night in (1, 4):
        web.begin(night)
        status, headers, body = get(web, "pdf")
        assert (status, headers["content-type"]) == (200, "application/pdf")
        assert body.startswith(b"%PDF-1.5") and body.rstrip().endswith(b"%%EOF")


def test_pdf_gone_is_a_pdf_on_night_one_and_a_404_after(web: AccuracyWeb) -> None:
    web.begin(1)
    status, headers, _ = get(web, "pdf-gone")
    assert (status, headers["content-type"]) == (200, "application/pdf")
    for night in (TROUBLE_NIGHT, 4):
        web.begin(night)
        assert get(web, "pdf-gone")[0] == 404


@pytest.mark.parametrize("case", ["noise-counters-zh", "noise-relative-en"])
def test_noise_pages_change_only_their_counters(web: AccuracyWeb, case: str) -> None:
    bodies = []
    for night in (1, 4):
        web.begin(night)
        status, _, body = get(web, case)
        assert status == 200
        bodies.append(body.decode())
    assert bodies[0] != bodies[1]
    digits = re.compile(r"[\d.,]+")
    assert digits.sub("N", bodies[0]) == digits.sub("N", bodies[1])


def test_redirect_to_404(night1: AccuracyWeb) -> None:
    status, headers, _ = get(night1, "redirect-to-404")
    assert (status, headers["location"]) == (301, "/docs/v2/quickstart")
    assert get(night1, "redirect-to-404", "/docs/v2/quickstart")[0] == 404


def test_fragment_cases_request_the_page_and_only_one_has_its_anchor(
    night1: AccuracyWeb,
) -> None:
    missing, present = night1.url("fragment-missing"), night1.url("fragment-present")
    assert missing.endswith("#streaming-responses") and present.endswith("#from-source")
    status, _, body = get(night1, "fragment-missing")
    assert status == 200 and b"id='streaming'" in body
    assert b"id='streaming-responses'" not in body
    status, _, body = get(night1, "fragment-present")
    assert status == 200 and b"id='from-source'" in body


def test_500_clears_on_the_second_request_each_night(web: AccuracyWeb) -> None:
    for night in (1, 4):
        web.begin(night)
        assert [get(web, "500-then-ok")[0] for _ in range(3)] == [500, 200, 200]


def test_download_302s_twice_to_the_cdn_host_which_answers_200(web: AccuracyWeb) -> None:
    web.begin(1)
    status, headers, _ = get(web, "302-to-cdn")
    assert (status, headers["location"]) == (302, "/dl/dataset.zip?src=page")
    status, headers, _ = get(web, "302-to-cdn", "/dl/dataset.zip")
    cdn = urlsplit(headers["location"])
    assert status == 302 and cdn.hostname is not None and cdn.hostname.startswith("127.43.1.")
    conn = http.client.HTTPConnection(cdn.hostname, cdn.port, timeout=5)
    try:
        conn.request("GET", f"{cdn.path}?{cdn.query}")
        response = conn.getresponse()
        assert (response.status, response.getheader("content-type")) == (200, "application/zip")
    finally:
        conn.close()
    web.begin(OFFLINE_NIGHT)  # the CDN is offline with everything else
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((cdn.hostname, cdn.port), timeout=2).close()
    web.begin(1)


def test_spa_hosts_serve_one_shell_and_only_the_api_knows_the_lesson(
    night1: AccuracyWeb,
) -> None:
    live, gone = get(night1, "spa-live"), get(night1, "spa-gone")
    assert live[0] == gone[0] == 200
    assert live[2] == gone[2] == get(night1, "spa-gone", "/made/up")[2]
    assert b'<div id="root"></div>' in live[2]
    assert get(night1, "spa-live", "/api/lessons/prompt-engineering")[0] == 200
    assert get(night1, "spa-gone", "/api/lessons/gpt3-playground-tour")[0] == 404


def test_freshness_counts_noise_called_changed_and_real_changes_missed() -> None:
    cases = [
        accuracy.Case("noise", "/n", False, "", content_changes=False),
        accuracy.Case("news", "/c", False, "", content_changes=True),
        accuracy.Case("other", "/o", False, ""),
    ]
    urls = ["N", "C", "O"]

    def run(night: int, said: dict[str, str]) -> accuracy.NightRun:
        return accuracy.NightRun("linkwatch", night, 0, 0.0, frozenset(), said)

    nights = [
        run(1, {"N": "ok/ok healthy", "C": "ok/ok healthy", "O": "ok/ok healthy changed"}),
        run(2, {"N": "ok/ok healthy changed", "C": "ok/ok healthy changed"}),
        run(OFFLINE_NIGHT, {"N": "error/checker-offline healthy"}),
        run(4, {"N": "ok/ok healthy", "C": "ok/ok healthy"}),
    ]
    assert accuracy.freshness(cases, urls, nights) == {
        "noise_called_changed": 1,
        "noise_nights": 2,
        "change_not_seen": 1,
        "change_nights": 2,
    }
