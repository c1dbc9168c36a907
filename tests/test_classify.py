"""Tables for classify: every row of design.md §2 and every rule in docs/verdicts.md."""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkwatch import classify as classify_module
from linkwatch.adapters import bilibili
from linkwatch.classify import (
    REASONS,
    classify,
    is_network_failure,
    parse_refresh,
    refresh_target,
    registrable_domain,
    retry_after_seconds,
    should_retry,
    soft_404_phrase,
)
from linkwatch.htmlpage import SharedBody
from linkwatch.models import Hop, Link, Observation, Verdict

ROOT = Path(__file__).resolve().parents[1]
URL = "https://example.org/docs/guide"
HTML = {"content-type": "text/html; charset=utf-8"}
FILLER = "<p>" + "Useful words about the subject. " * 20 + "</p>"


def page(title: str = "A guide", h1: str = "", body: str = FILLER, head: str = "") -> bytes:
    heading = f"<h1>{h1}</h1>" if h1 else ""
    return (
        f"<!doctype html><html><head><title>{title}</title>{head}</head>"
        f"<body>{heading}{body}</body></html>"
    ).encode()


def ob(
    status: int | None = 200,
    *,
    url: str = URL,
    final: str | None = None,
    hops: tuple[tuple[str, int], ...] = (),
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    error: str | None = None,
    error_detail: str = "",
    truncated: bool = False,
    probe: bool = False,
    attempts: int = 1,
    not_modified: bool = False,
) -> Observation:
    return Observation(
        url=url,
        final_url=final or url,
        status_code=status,
        hops=tuple(Hop(u, s) for u, s in hops),
        headers=dict(HTML if headers is None else headers),
        body=page() if body is None else body,
        body_truncated=truncated,
        error=error,
        error_detail=error_detail,
        soft404_probe_match=probe,
        attempts=attempts,
        not_modified=not_modified,
    )


def link(url: str = URL, **kwargs: object) -> Link:
    return Link(url=url, title="t", **kwargs)  # type: ignore[arg-type]


def check(obs: Observation, lnk: Link | None = None) -> tuple[Verdict, str]:
    result = classify(obs, lnk or link(obs.url))
    return result.verdict, result.reason


# --- transport errors -------------------------------------------------------

ERROR_CASES = [
    ("timeout", Verdict.ERROR, "timeout"),
    ("connect-timeout", Verdict.ERROR, "timeout"),
    ("read-timeout", Verdict.ERROR, "timeout"),
    ("connect-refused", Verdict.ERROR, "connect-refused"),
    ("connect-reset", Verdict.ERROR, "connect-reset"),
    ("connect-unreachable", Verdict.ERROR, "connect-unreachable"),
    ("tls-verify", Verdict.ERROR, "tls-verify"),
    ("tls-handshake", Verdict.ERROR, "tls-handshake"),
    ("tls-expired", Verdict.ERROR, "tls-expired"),
    ("dns-nxdomain", Verdict.BROKEN, "dns-nxdomain"),
    ("dns-temporary", Verdict.ERROR, "dns-temporary"),
    ("redirect-loop", Verdict.BROKEN, "redirect-loop"),
    ("too-many-redirects", Verdict.BROKEN, "too-many-redirects"),
    ("redirect-without-location", Verdict.BROKEN, "redirect-without-location"),
    ("ssrf-blocked", Verdict.BROKEN, "ssrf-blocked"),
    ("private-address", Verdict.ERROR, "private-address"),
    ("invalid-url", Verdict.BROKEN, "invalid-url"),
    ("unsupported-scheme", Verdict.BROKEN, "invalid-url"),
    ("protocol-error", Verdict.ERROR, "protocol-error"),
    ("something-new", Verdict.ERROR, "network-error"),
]


@pytest.mark.parametrize(("kind", "verdict", "reason"), ERROR_CASES)
def test_transport_error(kind: str, verdict: Verdict, reason: str) -> None:
    assert check(ob(None, error=kind, body=b"")) == (verdict, reason)


def test_tls_detail_names_the_failure() -> None:
    result = classify(ob(None, error="tls-expired", error_detail="expired 2024-01-01"), link())
    assert "expired" in result.detail and "2024-01-01" in result.detail


def test_body_too_large_is_not_an_error() -> None:
    assert check(ob(200, error="body-too-large", truncated=True)) == (Verdict.OK, "ok")


def test_no_status_and_no_error_is_reported() -> None:
    assert check(ob(None, body=b"")) == (Verdict.ERROR, "no-response")


# --- status codes -----------------------------------------------------------

STATUS_CASES = [
    (200, Verdict.OK, "ok"),
    (203, Verdict.OK, "ok"),
    (401, Verdict.BLOCKED, "auth-required"),
    (407, Verdict.BLOCKED, "auth-required"),
    (403, Verdict.BLOCKED, "http-403"),
    (429, Verdict.BLOCKED, "rate-limited"),
    (999, Verdict.BLOCKED, "bot-999"),
    (404, Verdict.BROKEN, "http-404"),
    (410, Verdict.BROKEN, "http-410"),
    (400, Verdict.BROKEN, "http-4xx"),
    (451, Verdict.BROKEN, "http-4xx"),
    (408, Verdict.ERROR, "http-408"),
    (500, Verdict.BROKEN, "http-5xx"),
    (502, Verdict.BROKEN, "http-5xx"),
    (503, Verdict.BROKEN, "http-5xx"),
    (301, Verdict.BROKEN, "redirect-without-location"),
    (304, Verdict.ERROR, "unexpected-status"),
    (101, Verdict.ERROR, "unexpected-status"),
    (700, Verdict.ERROR, "unexpected-status"),
]


@pytest.mark.parametrize(("status", "verdict", "reason"), STATUS_CASES)
def test_status(status: int, verdict: Verdict, reason: str) -> None:
    assert check(ob(status, body=page())) == (verdict, reason)


def test_304_on_a_conditional_request_is_ok() -> None:
    assert check(ob(304, body=b"", not_modified=True)) == (Verdict.OK, "not-modified")


def test_304_behind_a_permanent_redirect_is_still_moved() -> None:
    new = "https://example.org/new"
    obs = ob(304, body=b"", not_modified=True, final=new, hops=((URL, 301),))
    result = classify(obs, link())
    assert (result.verdict, result.reason, result.suggested_url) == (
        Verdict.MOVED,
        "moved-permanently",
        new,
    )
    temporary = ob(304, body=b"", not_modified=True, final=new, hops=((URL, 302),))
    assert check(temporary) == (Verdict.OK, "not-modified")


def test_5xx_detail_mentions_attempts() -> None:
    assert "3 attempts" in classify(ob(503, attempts=3), link()).detail


@pytest.mark.parametrize("status", [403, 404, 500, 999])
def test_accepted_status_is_ok(status: int) -> None:
    lnk = link(accept=frozenset({status}))
    assert check(ob(status), lnk) == (Verdict.OK, "accepted-status")


def test_accept_does_not_excuse_a_soft_404() -> None:
    lnk = link(accept=frozenset({200}))
    assert check(ob(200, body=page(title="Page not found")), lnk)[1] == "soft-404-title"


# --- redirects --------------------------------------------------------------

NEW = "https://example.org/handbook/guide"

REDIRECT_CASES = [
    pytest.param([(URL, 301)], NEW, 200, Verdict.MOVED, "moved-permanently", id="301"),
    pytest.param([(URL, 308)], NEW, 200, Verdict.MOVED, "moved-permanently", id="308"),
    pytest.param(
        [(URL, 301), ("https://example.org/x", 308)],
        NEW,
        200,
        Verdict.MOVED,
        "moved-permanently",
        id="all-permanent-chain",
    ),
    pytest.param([(URL, 302)], NEW, 200, Verdict.OK, "ok-redirected", id="302"),
    pytest.param([(URL, 303)], NEW, 200, Verdict.OK, "ok-redirected", id="303"),
    pytest.param([(URL, 307)], NEW, 200, Verdict.OK, "ok-redirected", id="307"),
    pytest.param(
        [(URL, 301), ("https://example.org/x", 302)],
        NEW,
        200,
        Verdict.OK,
        "ok-redirected",
        id="permanent-then-temporary",
    ),
    pytest.param(
        [(URL, 302), ("https://example.org/x", 301)],
        NEW,
        200,
        Verdict.OK,
        "ok-redirected",
        id="temporary-then-permanent",
    ),
    pytest.param([(URL, 301)], NEW, 404, Verdict.BROKEN, "redirect-to-404", id="301-to-404"),
    pytest.param([(URL, 302)], NEW, 410, Verdict.BROKEN, "redirect-to-404", id="302-to-410"),
    pytest.param([(URL, 301)], NEW, 500, Verdict.BROKEN, "http-5xx", id="301-to-500"),
    pytest.param([(URL, 301)], NEW, 403, Verdict.BLOCKED, "http-403", id="301-to-403"),
    pytest.param(
        [(URL, 301)],
        "https://example.org/",
        200,
        Verdict.BROKEN,
        "redirect-to-home",
        id="deep-to-root",
    ),
    pytest.param(
        [(URL, 302)],
        "https://www.example.org",
        200,
        Verdict.BROKEN,
        "redirect-to-home",
        id="deep-to-www-root-no-slash",
    ),
    pytest.param(
        [(URL, 302)],
        "https://example.org/en/",
        200,
        Verdict.BROKEN,
        "redirect-to-home",
        id="deep-to-locale-root",
    ),
    pytest.param(
        [(URL, 302)],
        "https://example.org/zh-cn/",
        200,
        Verdict.BROKEN,
        "redirect-to-home",
        id="deep-to-zh-cn-root",
    ),
    pytest.param(
        [(URL, 301)],
        "https://example.org/index.html",
        200,
        Verdict.BROKEN,
        "redirect-to-home",
        id="deep-to-index-html",
    ),
    pytest.param(
        [(URL, 301)],
        "https://other.net/",
        200,
        Verdict.MOVED,
        "moved-permanently",
        id="root-of-another-site-is-a-move",
    ),
    pytest.param(
        [(URL, 302)],
        "https://accounts.example.org/signin?next=/docs",
        200,
        Verdict.BLOCKED,
        "login-required",
        id="login-host",
    ),
    pytest.param(
        [(URL, 302)],
        "https://example.org/users/sign_in",
        200,
        Verdict.BLOCKED,
        "login-required",
        id="login-path",
    ),
    pytest.param(
        [(URL, 302)],
        "https://www.linkedin.com/authwall?trk=x",
        200,
        Verdict.BLOCKED,
        "login-required",
        id="authwall",
    ),
    pytest.param(
        [(URL, 302)],
        "https://passport.bilibili.com/login",
        200,
        Verdict.BLOCKED,
        "login-required",
        id="bilibili-passport",
    ),
    pytest.param(
        [(URL, 302)],
        "https://example.org/login.php",
        401,
        Verdict.BLOCKED,
        "login-required",
        id="login-page-answering-401",
    ),
]


@pytest.mark.parametrize(("hops", "final", "status", "verdict", "reason"), REDIRECT_CASES)
def test_redirect_chain(
    hops: list[tuple[str, int]], final: str, status: int, verdict: Verdict, reason: str
) -> None:
    assert check(ob(status, final=final, hops=tuple(hops))) == (verdict, reason)


@pytest.mark.parametrize(
    ("start", "final", "reason"),
    [
        ("https://example.com/docs", "https://docs.example.com/", "moved-permanently"),
        ("https://example.com/blog/", "https://blog.example.com", "moved-permanently"),
        ("https://example.com/Wiki/index.html", "https://wiki.example.com/", "moved-permanently"),
        # A deep page sent to the new site's home page was lost all the same.
        ("https://example.com/docs/guide", "https://docs.example.com/", "redirect-to-home"),
        ("https://example.com/docs", "https://help.example.com/", "redirect-to-home"),
    ],
)
def test_a_section_that_became_its_own_subdomain_is_moved(
    start: str, final: str, reason: str
) -> None:
    assert check(ob(200, url=start, final=final, hops=((start, 301),)))[1] == reason


@pytest.mark.parametrize("section", ["ai", "go", "js", "ml", "ui", "os", "io", "ts", "ux", "qa"])
def test_a_two_letter_section_that_is_no_language_is_not_a_home_page(section: str) -> None:
    start = "https://example.com/blog/ml-post"
    final = f"https://example.com/{section}/"
    assert check(ob(200, url=start, final=final, hops=((start, 301),))) == (
        Verdict.MOVED,
        "moved-permanently",
    )


@pytest.mark.parametrize("root", ["/de/", "/ja", "/pt-br/", "/zh_TW/index.html", "/fr-ca/"])
def test_a_language_root_is_a_home_page(root: str) -> None:
    final = "https://example.org" + root
    assert check(ob(200, final=final, hops=((URL, 301),)))[1] == "redirect-to-home"


def test_moved_suggests_the_final_url() -> None:
    result = classify(ob(200, final=NEW, hops=((URL, 301),)), link())
    assert result.suggested_url == NEW


def test_moved_keeps_the_fragment_in_the_suggestion() -> None:
    start = URL + "#install"
    body = page(body=FILLER + '<h2 id="install">Install</h2>')
    result = classify(ob(200, url=start, final=NEW, hops=((start, 301),), body=body), link(start))
    assert result.suggested_url == NEW + "#install"


# --- redirect stubs (a 200 page with an instant meta refresh) ----------------

STUB = Hop(URL, 200, meta_refresh=True)


def stub_ob(final: str, *hops: Hop, status: int = 200) -> Observation:
    return replace(ob(status, final=final), hops=hops or (STUB,))


@pytest.mark.parametrize(
    ("hops", "final", "expected"),
    [
        pytest.param((STUB,), NEW, (Verdict.MOVED, "moved-permanently"), id="stub"),
        pytest.param(
            (STUB, Hop("https://example.org/docs/guide-2", 301)),
            NEW,
            (Verdict.MOVED, "moved-permanently"),
            id="stub-then-301",
        ),
        pytest.param(
            (Hop(URL, 302), Hop("https://example.org/docs/guide-2", 200, meta_refresh=True)),
            NEW,
            (Verdict.OK, "ok-redirected"),
            id="302-then-stub",
        ),
        pytest.param((STUB,), URL + "/", (Verdict.MOVED, "moved-canonical"), id="canonical"),
        pytest.param(
            (STUB,), "https://example.org/", (Verdict.BROKEN, "redirect-to-home"), id="home"
        ),
        pytest.param(
            (STUB,),
            "https://example.org/login?next=/docs/guide",
            (Verdict.BLOCKED, "login-required"),
            id="login",
        ),
    ],
)
def test_a_followed_redirect_stub_counts_as_a_permanent_redirect(
    hops: tuple[Hop, ...], final: str, expected: tuple[Verdict, str]
) -> None:
    assert check(stub_ob(final, *hops)) == expected


def test_a_redirect_stub_moved_suggests_its_target_and_says_how() -> None:
    result = classify(stub_ob(NEW), link())
    assert result.suggested_url == NEW
    assert result.detail == f"Permanently redirected by a meta refresh page to {NEW}."


def test_a_redirect_stub_to_a_missing_page_is_broken() -> None:
    assert check(stub_ob(NEW, status=404)) == (Verdict.BROKEN, "redirect-to-404")


def test_a_200_hop_that_is_no_stub_is_no_redirect() -> None:
    """Only the fetch layer's mark makes a 200 hop a redirect, never its status."""
    obs = replace(ob(200, final=NEW), hops=(Hop(URL, 200),))
    assert check(obs) == (Verdict.OK, "ok")


REFRESH_CONTENTS = [
    ("0;url=/new", (0, "/new")),
    ("0; URL='/new'", (0, "/new")),
    ('0;url="/new"', (0, "/new")),
    ("  3 ;  Url =  /new  ", (3, "/new")),
    ("0,url=/new", (0, "/new")),
    ("0 url=/new", (0, "/new")),
    ("0; /new", (0, "/new")),
    ("0 https://example.org/new", (0, "https://example.org/new")),
    ("1.5; url=/new", (1, "/new")),
    (".5; url=/new", (0, "/new")),
    ("0; url='/new' and then some", (0, "/new")),
    ("0; url='/new", (0, "/new")),
    ("5;URL=https://a.example/b?c=d;e", (5, "https://a.example/b?c=d;e")),
    ("300", (300, "")),
    ("0", (0, "")),
    ("0;", (0, "")),
    ("0; url=", (0, "")),
    ("0; url=''", (0, "")),
    ("9" * 5000 + "; url=/new", (10**6, "/new")),
    ("", None),
    ("   ", None),
    ("url=/new", None),
    ("soon; url=/new", None),
    ("-1; url=/new", None),
    ("0x; url=/new", None),
    ("0/new", None),
]


@pytest.mark.parametrize(("content", "expected"), REFRESH_CONTENTS)
def test_refresh_content_is_parsed_as_browsers_do(
    content: str, expected: tuple[int, str] | None
) -> None:
    assert parse_refresh(content) == expected


@given(st.text(max_size=60))
def test_any_refresh_content_parses_or_is_ignored(content: str) -> None:
    parsed = parse_refresh(content)
    assert parsed is None or (parsed[0] >= 0 and isinstance(parsed[1], str))


def stub_page(meta: str, *, before: str = "", after: str = "") -> bytes:
    return (
        f"<!DOCTYPE html><html><head>{before}<title>Redirecting…</title>{meta}</head>"
        f"<body>{after}<a href='/new'>Click here</a></body></html>"
    ).encode()


REFRESH = '<meta http-equiv="refresh" content="0; url=/new">'


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        pytest.param(stub_page(REFRESH), "text/html", "/new", id="stub"),
        pytest.param(
            stub_page('<META HTTP-EQUIV="Refresh" CONTENT="0;URL=/new">'),
            "text/html; charset=utf-8",
            "/new",
            id="upper-case",
        ),
        pytest.param(
            stub_page("<meta http-equiv=refresh content='soon'>" + REFRESH),
            "text/html",
            "/new",
            id="first-valid-wins",
        ),
        pytest.param(
            stub_page('<meta http-equiv="refresh" content="300">' + REFRESH),
            "text/html",
            None,
            id="first-valid-is-a-reload",
        ),
        pytest.param(
            stub_page('<meta http-equiv="refresh" content="6; url=/new">'),
            "text/html",
            None,
            id="too-slow",
        ),
        pytest.param(
            stub_page('<meta http-equiv="refresh" content="5; url=/new">'),
            "text/html",
            "/new",
            id="five-seconds",
        ),
        pytest.param(stub_page(REFRESH), "text/plain", None, id="not-html"),
        pytest.param(stub_page(REFRESH), "", None, id="no-content-type"),
        pytest.param(stub_page("", after=REFRESH), "text/html", None, id="in-body"),
        pytest.param(
            stub_page(f"<noscript>{REFRESH}</noscript>"), "text/html", None, id="in-noscript"
        ),
        pytest.param(
            stub_page('<meta name="refresh" content="0; url=/new">'),
            "text/html",
            None,
            id="name-not-http-equiv",
        ),
        pytest.param(
            stub_page(REFRESH, after="<p>" + "x" * 8192 + "</p>"), "text/html", None, id="big"
        ),
        pytest.param(stub_page('<meta http-equiv="refresh">'), "text/html", None, id="no-content"),
        pytest.param(b"\xff\xfe\x00<" * 100 + b"refresh", "text/html", None, id="garbage"),
    ],
)
def test_refresh_target_finds_only_a_stubs_refresh(
    body: bytes, content_type: str, expected: str | None
) -> None:
    assert refresh_target(body, content_type) == expected


CANONICAL_CASES = [
    pytest.param("http://example.org/docs/guide", URL, "http → https", id="https-upgrade"),
    pytest.param(URL, URL + "/", "trailing slash added", id="slash-added"),
    pytest.param(URL + "/", URL, "trailing slash removed", id="slash-removed"),
    pytest.param(URL, "https://www.example.org/docs/guide", "www. added", id="www-added"),
]


@pytest.mark.parametrize(("start", "final", "words"), CANONICAL_CASES)
def test_cosmetic_permanent_redirect_is_moved_canonical(start: str, final: str, words: str) -> None:
    result = classify(ob(200, url=start, final=final, hops=((start, 301),)), link(start))
    assert (result.verdict, result.reason) == (Verdict.MOVED, "moved-canonical")
    assert words in result.detail
    assert result.suggested_url == final


def test_permanent_redirect_back_to_same_url_is_ok() -> None:
    assert check(ob(200, final=URL, hops=((URL, 301), (URL + "?x=1", 301)))) == (
        Verdict.OK,
        "ok-redirected",
    )


def test_home_redirect_from_a_home_link_is_not_broken() -> None:
    start = "http://example.org/"
    final = "https://example.org/"
    verdict, reason = check(ob(200, url=start, final=final, hops=((start, 301),)))
    assert (verdict, reason) == (Verdict.MOVED, "moved-canonical")


def test_home_page_keeping_the_query_is_not_redirect_to_home() -> None:
    start = "https://example.org/archives/12?p=12"
    final = "https://example.org/?p=12"
    assert check(ob(200, url=start, final=final, hops=((start, 301),)))[1] != "redirect-to-home"


@pytest.mark.parametrize(
    ("start", "final", "reason"),
    [
        # Documentation pages about logging in, renamed.
        (
            "https://supabase.com/docs/guides/authentication",
            "https://supabase.com/docs/guides/auth",
            "moved-permanently",
        ),
        (
            "https://huggingface.co/docs/hub/oauth-old",
            "https://huggingface.co/docs/hub/oauth",
            "moved-permanently",
        ),
        (
            "https://example.org/docs/signing-in",
            "https://example.org/docs/login/overview",
            "moved-permanently",
        ),
        # Login endpoints: named so, or saying where to return, or on another host.
        ("https://example.org/members", "https://example.org/login", "login-required"),
        ("https://example.org/members", "https://example.org/auth?next=/members", "login-required"),
        (
            "https://example.org/a",
            "https://example.org/oauth/authorize?redirect_uri=x",
            "login-required",
        ),
        ("https://example.org/a", "https://id.example.net/sso", "login-required"),
        ("https://example.org/a", "https://tenant.auth0.com/u/login/identifier", "login-required"),
        ("https://example.org/a", "https://example.org/cas/login?service=x", "login-required"),
        # Sign-in requests say so by their parameters (Auth0, SAML, OAuth).
        (
            "https://example.org/a",
            "https://example.org/u/login/identifier?state=abc",
            "login-required",
        ),
        (
            "https://example.org/a",
            "https://example.org/idp/profile/SAML2/Redirect/SSO?SAMLRequest=x&RelayState=y",
            "login-required",
        ),
        (
            "https://example.org/a",
            "https://example.org/login/oauth/authorize?client_id=x",
            "login-required",
        ),
        ("https://example.org/a", "https://example.okta.com/app/x/sso/saml", "login-required"),
        # A docs page that merely carries a state is no login.
        (
            "https://example.org/docs/a",
            "https://example.org/docs/state-management?state=x",
            "moved-permanently",
        ),
    ],
)
def test_login_pages_are_login_endpoints_not_pages_about_logging_in(
    start: str, final: str, reason: str
) -> None:
    assert check(ob(200, url=start, final=final, hops=((start, 301),)))[1] == reason


def test_login_link_redirecting_to_login_is_not_login_required() -> None:
    start = "https://example.org/login"
    final = "https://example.org/login/"
    assert check(ob(200, url=start, final=final, hops=((start, 301),)))[1] == "moved-canonical"


def test_login_page_without_redirect_is_ok() -> None:
    assert check(ob(200, url="https://example.org/signin"))[0] is Verdict.OK


# --- soft 404 ---------------------------------------------------------------

SOFT_404_TITLES = [
    "Page not found · GitHub",
    "404 Not Found",
    "404",
    "Error 404 | Example",
    "Not Found",
    "Oops! Page not found",
    "The page you were looking for doesn't exist (404)",
    "Sorry, this page isn't available.",
    "页面不存在",
    "404 - 找不到页面",
    "404 找不到页面",  # a Chinese CMS's error page (the accuracy benchmark's error-page-zh)
    "404 找不到网页 - 示例",
    "页面未找到 - 示例",
    "您访问的页面不存在",
    "啊叻？视频不见了？",
    "视频去哪了呢？_哔哩哔哩_bilibili",
    "ページが見つかりません",
    "お探しのページは見つかりませんでした",
    "페이지를 찾을 수 없습니다",
    "Seite nicht gefunden",
    "Page introuvable",
    "Página no encontrada",
    "Página não encontrada",
    "Страница не найдена",
    "Pagina non trovata",
]


@pytest.mark.parametrize("title", SOFT_404_TITLES)
def test_soft_404_title(title: str) -> None:
    assert check(ob(200, body=page(title=title))) == (Verdict.BROKEN, "soft-404-title")


@pytest.mark.parametrize(
    "heading",
    ["Page not found", "404", "页面不存在", "Seite nicht gefunden", "페이지를 찾을 수 없습니다"],
)
def test_soft_404_heading(heading: str) -> None:
    assert check(ob(200, body=page(title="Example", h1=heading))) == (
        Verdict.BROKEN,
        "soft-404-heading",
    )


NOT_SOFT_404 = [
    "How to fix 404 errors in nginx",
    "Why is my file not found in PATH? - Stack Overflow",
    "找不到工作怎么办",
    "Lost and Found",
    "HTTP status 404 explained",
    "Attention Is All You Need",
    "",
    # The phrase inside a sentence that is about something else.
    "How to Fix the 'Page Not Found' Error in WordPress",
    "Vue Router 处理页面不存在的情况 - 掘金",
    "Next.js: Custom page you are looking for component",
    "Seite nicht gefunden? So beheben Sie WordPress-Fehler",
]


@pytest.mark.parametrize("title", NOT_SOFT_404)
def test_titles_that_merely_mention_not_found_are_ok(title: str) -> None:
    assert check(ob(200, body=page(title=title))) == (Verdict.OK, "ok")


def test_soft_404_in_gbk_page_is_decoded() -> None:
    body = '<html><head><meta charset="gbk"><title>页面不存在</title></head></html>'.encode("gbk")
    assert check(ob(200, body=body, headers={"content-type": "text/html"}))[1] == "soft-404-title"


ARTICLE = "".join(
    f"<p>{'The server answers this status when nothing is at the address. ' * 6}</p>"
    for _ in range(4)
)


@pytest.mark.parametrize(
    ("title", "h1"),
    [
        ("404 Not Found - HTTP | MDN", "404 Not Found"),
        ("Not Found - A Novel | Goodreads", "Not Found"),
        ("Page Not Found - Songs | Example Band", ""),
    ],
)
def test_a_page_named_after_a_not_found_phrase_within_a_section_is_ok(title: str, h1: str) -> None:
    """A not-found segment beside a topic and a site's name names an article."""
    assert check(ob(200, body=page(title=title, h1=h1, body=ARTICLE))) == (Verdict.OK, "ok")


def test_a_page_named_after_a_not_found_phrase_is_broken_when_nearly_empty() -> None:
    body = page(title="Page not found | Docs | Acme", h1="Page not found", body="<p>Go home.</p>")
    assert check(ob(200, body=body)) == (Verdict.BROKEN, "soft-404-title")


@pytest.mark.parametrize(
    "title",
    [
        "Sorry, the page you were looking for could not be found.",
        "Oops! This page doesn’t exist - Example",
        "很抱歉，您访问的页面不存在 - 示例",
    ],
)
def test_a_not_found_phrase_with_only_small_talk_around_it_is_a_soft_404(title: str) -> None:
    assert check(ob(200, body=page(title=title))) == (Verdict.BROKEN, "soft-404-title")


SOFT_404_TITLES_ROBUST = [
    # Full-width bar, unspaced hyphens and ": " part the site's name.
    "ページが見つかりません｜サイト名",
    "页面不存在-站点名",
    "404-页面不存在-某某网",
    "Page not found-Site",
    # The small talk of not-found messages around a phrase.
    "ページが見つかりませんでした",
    "お探しのページが見つかりません",
    "お探しのページは存在しません - Example",
    "您访问的页面不存在或已被删除",
    "Die angeforderte Seite wurde nicht gefunden | Example",
]
SOFT_404_HEADINGS_ROBUST = [
    "お探しのページが見つかりませんでした",
    "Hmm, the page you were looking for doesn't seem to exist anymore.",
]


@pytest.mark.parametrize("body", [FILLER, "<p>Go home</p>"], ids=["full", "nearly-empty"])
@pytest.mark.parametrize("title", SOFT_404_TITLES_ROBUST)
def test_soft_404_title_past_separators_and_small_talk(title: str, body: str) -> None:
    assert check(ob(200, body=page(title=title, body=body))) == (Verdict.BROKEN, "soft-404-title")


def test_a_colon_parts_a_site_name_from_the_message_only_on_a_nearly_empty_page() -> None:
    """ "Page not found: Example" on an empty page; "Not Found: A Novel" on a full one."""
    title = "Page not found: Example"
    assert check(ob(200, body=page(title=title, body="<p>Go home</p>")))[1] == "soft-404-title"
    assert check(ob(200, body=page(title=title, body=FILLER))) == (Verdict.OK, "ok")


ARTICLES_ABOUT_NOT_FOUND = [
    # full pages: a colon starts a subtitle, a CJK word beside the phrase is a topic
    ("404: The Story of a Missing Page", FILLER),
    ("Error 404: what it means and how to fix it", FILLER),
    ("Not Found: A Novel", FILLER),
    ("Page Not Found: A Memoir of Digital Decay", FILLER),
    ("解决页面不存在-CSDN博客", FILLER),
    ("页面不存在问题_CSDN博客", FILLER),
    ("解决页面不存在 - 掘金", FILLER),
    ("ページが見つかりません対策 - Qiita", FILLER),
    # short notes: the phrase inside a sentence, not a clause of its own
    ("TIL: nginx says Page Not Found for SPA routes | Jane's notes", "<p>Short.</p>"),
    ("v2.1: page not found errors fixed – Changelog", "<p>Short.</p>"),
    ("解决 Nginx 页面不存在 的问题 - 简书", "<p>Short.</p>"),
    ("ページが見つかりませんエラーの対処法 | メモ", "<p>Short.</p>"),
    ("Kurz notiert: Seite nicht gefunden bei Nginx | Blog", "<p>Short.</p>"),
]


@pytest.mark.parametrize(("title", "body"), ARTICLES_ABOUT_NOT_FOUND)
def test_articles_about_not_found_pages_are_not_soft_404s(title: str, body: str) -> None:
    assert check(ob(200, body=page(title=title, body=body))) == (Verdict.OK, "ok")


REAL_NOT_FOUND_WORDINGS = [
    # as themes and frameworks render them (Docusaurus zh-Hant, Next.js, Laravel, VitePress…)
    ("頁面未找到 | Slimefun 中文", ""),
    ("Example", "喔不 我們找不到這個頁面"),
    ("Example", "没有找到页面"),
    ("Example", "您访问的页面不存在或已被移动。"),
    ("Example", "这个页面找不到了"),
    ("Example", "404 ERROR Not Found"),
    ("페이지를 찾을 수 없음 - 키워드 허브", ""),
    ("Example", "La página que buscas no existe"),
    ("Example", "Diese Seite gibt es leider nicht."),
]


@pytest.mark.parametrize("body", [FILLER, "<p>Go home</p>"], ids=["full", "nearly-empty"])
@pytest.mark.parametrize(("title", "h1"), REAL_NOT_FOUND_WORDINGS)
def test_real_not_found_wordings_are_soft_404s(title: str, h1: str, body: str) -> None:
    verdict, reason = check(ob(200, body=page(title=title, h1=h1, body=body)))
    assert verdict is Verdict.BROKEN and reason.startswith("soft-404-")


def test_a_bare_404_beside_a_headline_is_the_headlines_kicker_on_a_full_page() -> None:
    """ "404 : chemins qui ne mènent nulle part" is an essay; a site's name is shorter."""
    for title in ("404 : chemins qui ne mènent nulle part", "404 | Example"):
        assert check(ob(200, body=page(title=title, body="<p>Go home</p>")))[0] is Verdict.BROKEN
    essay = page(title="404 : chemins qui ne mènent nulle part | Christian Fauré", body=FILLER)
    assert check(ob(200, body=essay)) == (Verdict.OK, "ok")
    assert check(ob(200, body=page(title="404 | Example", body=FILLER)))[0] is Verdict.BROKEN


def test_an_article_on_its_own_domain_being_for_sale_is_not_parked() -> None:
    url = "https://example.org/blog/sale"
    body = page(title="Why example.org is for sale: our story", body=FILLER * 8)  # ~5 KB
    assert check(ob(200, url=url, body=body)) == (Verdict.OK, "ok")
    lander = page(title="example.org is for sale | HugeDomains", body=FILLER * 8)
    assert check(ob(200, url=url, body=lander))[1] == "parked-domain"


@pytest.mark.parametrize("body", [FILLER, "<p>Go home</p>"], ids=["full", "nearly-empty"])
@pytest.mark.parametrize("heading", SOFT_404_HEADINGS_ROBUST)
def test_soft_404_heading_with_small_talk(heading: str, body: str) -> None:
    obs = ob(200, body=page(title="Example", h1=heading, body=body))
    assert check(obs) == (Verdict.BROKEN, "soft-404-heading")


@pytest.mark.parametrize(
    "title",
    [
        "Page not found handler | Docs",
        "Wi-Fi page not found",
        "404-errors explained",
        "处理页面不存在的情况",
    ],
)
def test_a_phrase_beside_a_noun_is_still_a_name(title: str) -> None:
    """One topic word beside the phrase (or an ordinary hyphen) names something."""
    assert check(ob(200, body=page(title=title))) == (Verdict.OK, "ok")


@pytest.mark.parametrize(
    ("title", "h1", "reason"),
    [
        ("Sorry, we could not find it: page not found, try search", "", "soft-404-title"),
        ("Example", "Oh dear, page not found, please try the search", "soft-404-heading"),
    ],
)
def test_on_a_nearly_empty_page_a_phrase_anywhere_is_enough(
    title: str, h1: str, reason: str
) -> None:
    body = page(title=title, h1=h1, body="<p>Go home</p>")
    assert check(ob(200, body=body)) == (Verdict.BROKEN, reason)


def test_a_script_shell_titled_with_a_phrase_inside_a_sentence_is_ok() -> None:
    """A client-rendered article has little text in its HTML but is no error page."""
    shell = '<div id="root"></div><script src="/app.js"></script>'
    title = "How to Fix the 'Page Not Found' Error in WordPress"
    assert check(ob(200, body=page(title=title, body=shell))) == (Verdict.OK, "ok")


def test_soft_404_ignored_on_non_html() -> None:
    headers = {"content-type": "text/plain"}
    assert check(ob(200, body=b"<title>Page not found</title>", headers=headers))[1] == "ok"


def test_soft_404_probe_match_is_broken() -> None:
    assert check(ob(200, probe=True)) == (Verdict.BROKEN, "soft-404-probe")


def test_soft_404_after_permanent_redirect_beats_moved() -> None:
    obs = ob(200, final=NEW, hops=((URL, 301),), body=page(title="Page Not Found"))
    assert check(obs) == (Verdict.BROKEN, "soft-404-title")


def test_soft_404_phrase_returns_none_for_plain_titles() -> None:
    assert soft_404_phrase("Dive into Deep Learning") is None


# --- host-specific "gone" pages ---------------------------------------------

YT = "https://www.youtube.com/watch?v=bZQun8Y4L2A"


@pytest.mark.parametrize(
    "marker",
    [
        '{"playabilityStatus":{"status":"ERROR","reason":"Video unavailable"}}',
        "This video isn't available anymore",
        "This video is private",
    ],
)
def test_youtube_unavailable_page(marker: str) -> None:
    body = page(title=" - YouTube", body=f"<script>var x = '{marker}';</script>")
    assert check(ob(200, url=YT, body=body)) == (Verdict.BROKEN, "video-unavailable")


def _watch_page(title: str, status: dict[str, object]) -> bytes:
    player = json.dumps({"playabilityStatus": status, "videoDetails": {"title": title}})
    return page(
        title=f"{html.escape(title)} - YouTube",
        head=f'<meta name="title" content="{html.escape(title)}">',
        body=f"<script>var ytInitialPlayerResponse = {player};</script>",
    )


@pytest.mark.parametrize(
    ("title", "status", "reason"),
    [
        pytest.param(
            'How to fix "Video unavailable" on YouTube',
            {"status": "OK", "playableInEmbed": True},
            "ok",
            id="how-to-about-the-error",
        ),
        pytest.param(
            "This video is private? Sharing settings explained",
            {"status": "OK"},
            "ok",
            id="title-quoting-private",
        ),
        pytest.param(
            "Concert",
            {"status": "LOGIN_REQUIRED", "reason": "Sign in to confirm your age"},
            "ok",
            id="age-check",
        ),
        pytest.param(
            "",
            {"status": "LOGIN_REQUIRED", "reason": "This video is private"},
            "video-unavailable",
            id="private",
        ),
        pytest.param(
            "",
            {"status": "ERROR", "reason": "This video isn't available anymore"},
            "video-unavailable",
            id="removed",
        ),
        pytest.param(
            "",
            {"status": "ERROR", "reason": "This video is no longer available because the "
             "YouTube account associated with this video has been terminated."},
            "video-unavailable",
            id="account-terminated",
        ),
        pytest.param(
            "", {"status": "UNPLAYABLE", "reason": "Video unavailable"}, "video-unavailable",
            id="unplayable",
        ),
    ],
)  # fmt: skip
def test_youtube_watch_page_is_judged_by_its_player_status(
    title: str, status: dict[str, object], reason: str
) -> None:
    assert check(ob(200, url=YT, body=_watch_page(title, status)))[1] == reason


def test_youtube_title_without_a_player_response_is_not_a_signal() -> None:
    body = page(title="Video unavailable? Here is why - YouTube", body=FILLER)
    assert check(ob(200, url=YT, body=body)) == (Verdict.OK, "ok")


def test_video_unavailable_text_elsewhere_is_not_a_signal() -> None:
    body = page(body=FILLER + "<p>Video unavailable? Try reloading.</p>")
    assert check(ob(200, body=body)) == (Verdict.OK, "ok")


# --- parked domains ---------------------------------------------------------

PARKED_BODIES = [
    '<script src="https://www.sedoparking.com/frmpark/x.js"></script>',
    '<script src="//parkingcrew.net/jsparking.js"></script>',
    "<h1>This domain is for sale!</h1>",
    "<p>This domain may be for sale. Inquire now.</p>",
    '<a href="https://dan.com/buy-domain/example.org">Buy this domain</a>',
    '<a href="https://www.hugedomains.com/domain_profile.cfm?d=example">x</a>',
    "<p>This domain is parked free, courtesy of namecheap.com</p>",
    '<iframe src="https://www.bodis.com/x"></iframe>',
    "<p>Listed on afternic.com</p>",
    "<h1>此域名出售 域名出售</h1>",
]


@pytest.mark.parametrize("body", PARKED_BODIES)
def test_parked_domain(body: str) -> None:
    assert check(ob(200, body=page(title="example.org", body=body))) == (
        Verdict.BROKEN,
        "parked-domain",
    )


PARKING_FEED = "".join(
    f'<li><a href="/search?q=topic{n}">Related topic {n}</a></li>' for n in range(80)
)


def test_a_parking_services_script_is_parked_however_much_text_it_fills_in() -> None:
    body = (
        f'<ul>{PARKING_FEED}</ul><script src="https://www.sedoparking.com/frmpark/x.js"></script>'
    )
    assert check(ob(200, body=page(title="example.org", body=body))) == (
        Verdict.BROKEN,
        "parked-domain",
    )


NOT_PARKED = [
    pytest.param(
        "What is domain parking? - Wikipedia",
        "<p>Domain parking is the registration of an Internet domain name without that "
        "domain being associated with any services such as e-mail or a website.</p>",
        id="article-about-parking",
    ),
    pytest.param(
        "Buying my domain",
        '<p>I bought it on <a href="https://dan.com/">Dan.com</a> last spring.</p>',
        id="post-linking-a-marketplace",
    ),
    pytest.param(
        "域名交易指南",
        "<p>很多人通过域名出售平台赚钱。</p>",
        id="chinese-article-about-domain-sales",
    ),
    pytest.param(
        "Expired domains, a field guide",
        "<p>Open an expired domain and you may read 'This domain is for sale'.</p>" + ARTICLE * 2,
        id="long-article-quoting-a-parking-page",
    ),
]


@pytest.mark.parametrize(("title", "body"), NOT_PARKED)
def test_pages_that_talk_about_parking_are_not_parked(title: str, body: str) -> None:
    assert check(ob(200, body=page(title=title, body=FILLER + body))) == (Verdict.OK, "ok")


SALES_TALK = (
    "<p>Buying a domain is easy and secure. We handle the transfer and escrow, with our "
    "buyer protection program and fast transfers to any registrar in the world.</p>"
)
FAQ = f"<div>{SALES_TALK * 16}</div>"  # some 2,400 visible characters
HD_ASSETS = "<link rel=stylesheet href='https://static.hugedomains.com/css/x.css'>"


@pytest.mark.parametrize(
    ("title", "head", "body"),
    [
        pytest.param(
            "example.org is for sale",
            "",
            "<h1>The domain example.org is for sale</h1>"
            "<a href='https://www.afternic.com/forsale/example.org'>Buy</a>" + FAQ,
            id="own-name-in-title",
        ),
        pytest.param(
            "Make an offer",
            "",
            "<h1>The domain example.org is for sale</h1>" + FAQ,
            id="own-name-in-heading",
        ),
        pytest.param(
            "example.com is for sale",
            "",
            "<h1>example.com</h1><a href='https://dan.com/buy-domain/example.com'>Buy</a>" + FAQ,
            id="another-name-with-a-marketplace-link",
        ),
        pytest.param(
            "Example.org is for sale | HugeDomains",
            HD_ASSETS,
            "<h1>Example.org is available for purchase</h1>" + FAQ,
            id="hugedomains-lander",
        ),
        pytest.param("Get this domain", HD_ASSETS, FAQ, id="marketplace-stylesheet"),
        pytest.param(
            "Get this domain",
            "",
            "<img src='https://static.hugedomains.com/images/logo.png'><p>Price $2,695</p>",
            id="marketplace-image-on-a-short-page",
        ),
    ],
)
def test_for_sale_landers_with_sales_talk_are_parked(title: str, head: str, body: str) -> None:
    """The page's own title or heading, or the marketplace's parts, outweigh its length."""
    assert check(ob(200, body=page(title=title, head=head, body=body))) == (
        Verdict.BROKEN,
        "parked-domain",
    )


@pytest.mark.parametrize(
    ("title", "body"),
    [
        pytest.param("Voice.com is for sale for $30M", ARTICLE * 2, id="news-about-a-sale"),
        pytest.param(
            "Domain marketplaces compared",
            "<img src='https://www.hugedomains.com/images/logo.png'>" + ARTICLE * 2,
            id="article-with-a-marketplace-logo",
        ),
    ],
)
def test_long_pages_about_domain_sales_are_not_parked(title: str, body: str) -> None:
    assert check(ob(200, body=page(title=title, body=body))) == (Verdict.OK, "ok")


def test_parked_lookalike_domain_is_ok() -> None:
    body = page(body=FILLER + '<a href="https://jordan.com/">Jordan</a>')
    assert check(ob(200, body=body)) == (Verdict.OK, "ok")


def test_redirect_to_domain_marketplace_is_parked() -> None:
    final = "https://www.hugedomains.com/domain_profile.cfm?d=example.org"
    assert check(ob(200, final=final, hops=((URL, 302),))) == (Verdict.BROKEN, "parked-domain")


@pytest.mark.parametrize(
    "tail",
    [
        pytest.param(b"<meta refresh " * 1000, id="meta-refresh"),
        pytest.param(b"<meta http-equiv=refresh content='0;url " * 2000, id="meta-refresh-url"),
        pytest.param(b"<script a " * 20000, id="script"),
        pytest.param(b"<iframe " * 40000, id="iframe"),
        pytest.param(b"<a x " * 40000, id="a"),
        pytest.param(b"<title " * 40000, id="title"),
        pytest.param(b"<meta " * 40000, id="meta"),
        pytest.param(b"<title>" + b"a.b-c.d " * 10000 + b"</title>", id="title-of-hyphens"),
    ],
)
@pytest.mark.parametrize("url", [URL, YT])
def test_unclosed_tags_are_scanned_in_linear_time(tail: bytes, url: str) -> None:
    """Each unclosed tag once made the parked (and YouTube) scans rescan the page to its end.

    And each hyphen of a title made the soft-404 check try a split there.
    """
    body = b"<html><body><p>domain</p>" + tail
    started = time.perf_counter()
    classify(ob(200, url=url, body=body), link(url))
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    "head",
    [
        "<meta http-equiv='refresh' content='0;url=https://www.hugedomains.com/d?d=example.org'>",
        "<meta content=\"0; URL='https://sedo.com/search/details/?d=example.org'\" "
        'http-equiv="refresh">',
    ],
)
def test_a_refresh_to_a_marketplace_is_parked(head: str) -> None:
    assert check(ob(200, body=page(title="example.org", head=head, body=""))) == (
        Verdict.BROKEN,
        "parked-domain",
    )


# --- bot walls --------------------------------------------------------------

CF_CHALLENGE = page(
    title="Just a moment...",
    body="<script>window._cf_chl_opt={cvId:'3'};</script>",
)

BOT_CASES = [
    pytest.param(403, CF_CHALLENGE, {}, id="cloudflare-403"),
    pytest.param(503, CF_CHALLENGE, {}, id="cloudflare-503"),
    pytest.param(200, CF_CHALLENGE, {}, id="cloudflare-200"),
    pytest.param(403, page(title="Attention Required! | Cloudflare"), {}, id="cf-attention"),
    pytest.param(403, page(body="<div class=cf-browser-verification></div>"), {}, id="cf-verify"),
    pytest.param(200, page(), {"cf-mitigated": "challenge"}, id="cf-mitigated-header"),
    pytest.param(429, page(body='<div class="g-recaptcha"></div>'), {}, id="recaptcha-429"),
    pytest.param(403, page(body='<div class="h-captcha"></div>'), {}, id="hcaptcha-403"),
    pytest.param(403, page(title="DDoS-Guard"), {}, id="ddos-guard"),
    pytest.param(403, page(), {"server": "ddos-guard"}, id="ddos-guard-header-on-403"),
    pytest.param(403, page(title="Access Denied"), {}, id="akamai"),
    pytest.param(403, page(body='<div id="px-captcha"></div>'), {}, id="perimeterx"),
    pytest.param(
        403,
        page(body="<p>Please enable JS and disable any ad blocker</p>"),
        {},
        id="datadome",
    ),
    pytest.param(
        200,
        page(body='<script src="https://ct.captcha-delivery.com/c.js"></script>'),
        {},
        id="datadome-200",
    ),
    pytest.param(401, page(body="<p>captcha</p>"), {}, id="captcha-401"),
]


@pytest.mark.parametrize(("status", "body", "headers"), BOT_CASES)
def test_bot_challenge(status: int, body: bytes, headers: dict[str, str]) -> None:
    assert check(ob(status, body=body, headers={**HTML, **headers})) == (
        Verdict.BLOCKED,
        "bot-challenge",
    )


@pytest.mark.parametrize(
    "extra",
    [
        "<pre><code>window._cf_chl_opt = {cvId: '3', cType: 'managed'};</code></pre>",
        "<p>Cloudflare shows a page verifying you are human before letting you in.</p>",
        "<p>Scrapers look for <code>cf-browser-verification</code> and px-captcha.</p>",
    ],
)
def test_strong_wall_markers_quoted_by_an_ordinary_page_are_ok(extra: str) -> None:
    body = page(title="venv/cloudscraper: bypass Cloudflare", body=FILLER + extra)
    assert check(ob(200, url="https://github.com/venv/cloudscraper", body=body)) == (
        Verdict.OK,
        "ok",
    )
    # The same page behind a refusal is a wall: there the markers stay strong.
    assert check(ob(403, body=body)) == (Verdict.BLOCKED, "bot-challenge")


def test_a_nearly_empty_200_saying_verifying_you_are_human_is_a_wall() -> None:
    body = page(title="example.org", body="<p>Verifying you are human. This may take a second.</p>")
    assert check(ob(200, body=body)) == (Verdict.BLOCKED, "bot-challenge")


def test_recaptcha_on_an_ordinary_page_is_ok() -> None:
    body = page(body=FILLER + '<form><div class="g-recaptcha"></div></form>')
    assert check(ob(200, body=body)) == (Verdict.OK, "ok")


def test_cloudflare_injected_script_on_an_ordinary_page_is_ok() -> None:
    body = page(body=FILLER + '<script src="/cdn-cgi/challenge-platform/scripts/jsd/main.js">')
    assert check(ob(200, body=body, headers={**HTML, "server": "cloudflare"})) == (Verdict.OK, "ok")


def test_plain_503_is_a_server_error_not_a_wall() -> None:
    assert check(ob(503, body=b"Service Unavailable", headers={})) == (Verdict.BROKEN, "http-5xx")


@pytest.mark.parametrize("server", ["cloudflare", "AkamaiGHost", "ddos-guard"])
@pytest.mark.parametrize(
    ("status", "reason"), [(503, "http-5xx"), (429, "rate-limited"), (502, "http-5xx")]
)
def test_a_cdns_server_header_on_transient_trouble_is_retried_not_a_wall(
    server: str, status: int, reason: str
) -> None:
    """CDNs name themselves on every answer, their origins' 503s and 429s too."""
    obs = ob(status, body=page(title="Service Unavailable"), headers={**HTML, "server": server})
    assert should_retry(obs)
    assert check(obs)[1] == reason


# --- fragments --------------------------------------------------------------

FRAG_URL = URL + "#getting-started"

FRAGMENT_CASES = [
    pytest.param(FRAG_URL, '<h2 id="getting-started">x</h2>', "ok", id="id"),
    pytest.param(FRAG_URL, '<a name="getting-started"></a>', "ok", id="a-name"),
    pytest.param(FRAG_URL, "<h2 id='getting-started'>x</h2>", "ok", id="single-quotes"),
    pytest.param(FRAG_URL, '<h2 id="user-content-getting-started">x</h2>', "ok", id="github"),
    pytest.param(URL + "#%E5%AE%89%E8%A3%85", '<h2 id="安装">x</h2>', "ok", id="percent-decoded"),
    pytest.param(URL + "#a%20b", '<h2 id="a b">x</h2>', "ok", id="space"),
    pytest.param(FRAG_URL, '<h2 id="other">x</h2>', "fragment-missing", id="missing"),
    pytest.param(
        FRAG_URL, '<h2 id="Getting-Started">x</h2>', "fragment-missing", id="case-sensitive"
    ),
    pytest.param(FRAG_URL, "<p>getting-started</p>", "fragment-missing", id="text-is-not-id"),
    pytest.param(URL + "#/route/page", "", "ok", id="spa-route"),
    pytest.param(URL + "#!/route", "", "ok", id="hashbang"),
    pytest.param(URL + "#:~:text=hello", "", "ok", id="text-fragment"),
    pytest.param(URL + "#", "", "ok", id="empty"),
    pytest.param(URL + "#top", "", "ok", id="top"),
]


@pytest.mark.parametrize(("url", "extra", "reason"), FRAGMENT_CASES)
def test_fragment(url: str, extra: str, reason: str) -> None:
    obs = ob(200, url=url, body=page(body=FILLER + extra))
    assert check(obs, link(url))[1] == reason


def test_missing_fragment_is_broken() -> None:
    obs = ob(200, url=FRAG_URL, body=page())
    assert check(obs, link(FRAG_URL))[0] is Verdict.BROKEN


def test_missing_fragment_in_truncated_body_is_unverified() -> None:
    obs = ob(200, url=FRAG_URL, body=page(), truncated=True)
    result = classify(obs, link(FRAG_URL))
    assert (result.verdict, result.reason) == (Verdict.OK, "fragment-unverified")
    assert "larger than" in result.detail


def test_expected_text_missing_after_head_is_unverified() -> None:
    obs = replace(ob(200, body=b""), method="HEAD")
    assert check(obs, link(expect_text="x")) == (Verdict.OK, "expected-text-unverified")


def test_missing_fragment_in_undecodable_body_is_unverified() -> None:
    obs = replace(ob(200, url=FRAG_URL, body=b""), error="decode-error", error_detail="br")
    result = classify(obs, link(FRAG_URL))
    assert (result.verdict, result.reason) == (Verdict.OK, "fragment-unverified")
    assert "decoded" in result.detail


def test_missing_fragment_after_head_is_unverified() -> None:
    obs = replace(ob(200, url=FRAG_URL, body=b""), method="HEAD")
    assert check(obs, link(FRAG_URL)) == (Verdict.OK, "fragment-unverified")


def test_undecodable_body_is_judged_by_status_and_says_so() -> None:
    obs = replace(ob(200, body=b""), error="decode-error", error_detail="unsupported br")
    result = classify(obs, link())
    assert (result.verdict, result.reason) == (Verdict.OK, "ok")
    assert "unsupported br" in result.detail


def test_missing_fragment_on_script_rendered_page_is_unverified() -> None:
    body = page(body='<div id="root"></div><script src="/app.js"></script>')
    assert check(ob(200, url=FRAG_URL, body=body), link(FRAG_URL))[1] == "fragment-unverified"


def test_fragment_check_can_be_turned_off() -> None:
    obs = ob(200, url=FRAG_URL, body=page())
    assert check(obs, link(FRAG_URL, check_fragment=False)) == (Verdict.OK, "ok")


def test_github_line_anchor_is_not_checked() -> None:
    url = "https://github.com/o/r/blob/main/x.py#L10-L20"
    assert check(ob(200, url=url, body=page()), link(url)) == (Verdict.OK, "ok")


def test_fragment_not_checked_on_non_html() -> None:
    url = "https://example.org/paper.pdf#page=3"
    obs = ob(200, url=url, body=b"%PDF-1.7", headers={"content-type": "application/pdf"})
    assert check(obs, link(url)) == (Verdict.OK, "ok")


# --- expect_text ------------------------------------------------------------


def test_expected_text_present() -> None:
    body = page(body="<p>Dive   into <b>Deep</b> Learning</p>" + FILLER)
    assert check(ob(200, body=body), link(expect_text="dive into deep learning")) == (
        Verdict.OK,
        "ok",
    )


def test_expected_text_missing_is_broken() -> None:
    assert check(ob(200), link(expect_text="Transformers")) == (
        Verdict.BROKEN,
        "expected-text-missing",
    )


def test_expected_text_missing_from_truncated_body_is_unverified() -> None:
    obs = ob(200, truncated=True)
    assert check(obs, link(expect_text="Transformers")) == (
        Verdict.OK,
        "expected-text-unverified",
    )


def test_expected_text_with_entities_is_found() -> None:
    body = page(body="<p>Tom &amp; Jerry</p>")
    assert check(ob(200, body=body), link(expect_text="Tom & Jerry"))[1] == "ok"


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        pytest.param(
            "<p>本书介绍<strong>大语言</strong>模型的原理</p>", "大语言模型", id="strong-zh"
        ),
        pytest.param("<p>Fine-tune <code>Llama</code>-2 today</p>", "Llama-2", id="code"),
        pytest.param("<p>The Trans<wbr>former model</p>", "Transformer", id="wbr"),
        pytest.param('<p><a href="/x">Deep</a><em>Seek</em>-R1</p>', "DeepSeek-R1", id="nested"),
    ],
)
def test_inline_markup_does_not_split_the_expected_text(markup: str, expected: str) -> None:
    assert check(ob(200, body=page(body=FILLER + markup)), link(expect_text=expected)) == (
        Verdict.OK,
        "ok",
    )


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        pytest.param("<p><span>John</span><span>Smith</span></p>", "John Smith", id="spans"),
        pytest.param(
            "<div class=flex><span>Version</span><span>2.0</span></div>", "Version 2.0", id="flex"
        ),
        pytest.param("<nav><a href=/>Home</a><a href=/d>Docs</a></nav>", "Home Docs", id="menu"),
        pytest.param("<p>foo<img src=x>bar</p>", "foo bar", id="img"),
        pytest.param("<ruby>Alpha</ruby><span>Beta</span>", "Alpha Beta", id="ruby"),
    ],
)
def test_adjacent_inline_elements_may_also_be_read_apart(markup: str, expected: str) -> None:
    """CSS may set adjacent inline elements apart; either reading finds the text."""
    obs = ob(200, body=page(body=FILLER + markup))
    assert check(obs, link(expect_text=expected)) == (Verdict.OK, "ok")
    assert check(obs, link(expect_text=expected.replace(" ", ""))) == (Verdict.OK, "ok")


@pytest.mark.parametrize(
    "markup", ["<p>Deep</p><p>Seek</p>", "<li>Deep</li><li>Seek</li>", "Deep<br>Seek"]
)
def test_block_boundaries_still_part_words(markup: str) -> None:
    obs = ob(200, body=page(body=FILLER + markup))
    assert check(obs, link(expect_text="DeepSeek")) == (Verdict.BROKEN, "expected-text-missing")
    assert check(obs, link(expect_text="Deep Seek")) == (Verdict.OK, "ok")


# --- adapters ---------------------------------------------------------------


def test_adapter_verdict_wins() -> None:
    obs = Observation(
        url="https://github.com/a/b",
        status_code=200,
        body=page(title="Page not found"),
        headers=HTML,
        adapter="github",
        adapter_verdict=Verdict.OK,
        adapter_reason="github-archived",
        adapter_detail="archived",
        archived=True,
    )
    result = classify(obs, link(obs.url))
    assert (result.verdict, result.reason, result.detail) == (
        Verdict.OK,
        "github-archived",
        "archived",
    )


def test_adapter_moved_suggests_final_url() -> None:
    obs = Observation(
        url="https://github.com/a/b",
        final_url="https://github.com/c/b",
        status_code=200,
        adapter="github",
        adapter_verdict=Verdict.MOVED,
        adapter_reason="github-repo-renamed",
    )
    assert classify(obs, link(obs.url)).suggested_url == "https://github.com/c/b"


# --- invariants -------------------------------------------------------------

ALL_OBSERVATIONS = [ob(None, error=kind, body=b"") for kind, _, _ in ERROR_CASES] + [
    ob(status) for status, _, _ in STATUS_CASES
]


@pytest.mark.parametrize("obs", ALL_OBSERVATIONS)
def test_every_reason_is_registered_with_its_verdict(obs: Observation) -> None:
    result = classify(obs, link())
    assert REASONS[result.reason][0] is result.verdict
    assert result.detail


def test_docs_list_every_reason_with_its_verdict() -> None:
    doc = (ROOT / "docs" / "verdicts.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([a-z0-9-]+)` \| `([a-z]+)` \|", doc, re.MULTILINE))
    assert {r: v.value for r, (v, _) in REASONS.items()} == rows


def test_every_reason_literal_in_the_code_is_registered() -> None:
    sources = [Path(classify_module.__file__)]
    sources += sorted((ROOT / "src" / "linkwatch" / "adapters").glob("*.py"))
    literals: set[str] = set()
    for path in sources:
        text = path.read_text(encoding="utf-8")
        literals |= set(re.findall(r'reason="([a-z0-9-]+)"', text))
        literals |= set(re.findall(r'_result\(\s*"([a-z0-9-]+)"', text))
    literals |= {reason for reason, _ in classify_module.ERROR_REASONS.values()}
    literals |= {reason for reason, _ in bilibili.CODE_REASONS.values()}
    assert len(literals) > 30
    assert literals <= set(REASONS)


# --- should_retry -----------------------------------------------------------

RETRY_CASES = [
    pytest.param(ob(None, error="timeout"), True, id="timeout"),
    pytest.param(ob(None, error="connect-reset"), True, id="reset"),
    pytest.param(ob(None, error="connect-refused"), True, id="refused"),
    pytest.param(ob(None, error="dns-temporary"), True, id="dns-temporary"),
    pytest.param(ob(None, error="protocol-error"), True, id="protocol-error"),
    pytest.param(ob(None, error="dns-nxdomain"), False, id="nxdomain"),
    pytest.param(ob(None, error="tls-verify"), False, id="tls"),
    pytest.param(ob(None, error="redirect-loop"), False, id="loop"),
    pytest.param(ob(None, error="ssrf-blocked"), False, id="ssrf"),
    pytest.param(ob(None, error="invalid-url"), False, id="invalid-url"),
    pytest.param(ob(408), True, id="408"),
    pytest.param(ob(425), True, id="425"),
    pytest.param(ob(429), True, id="429"),
    pytest.param(ob(500), True, id="500"),
    pytest.param(ob(502), True, id="502"),
    pytest.param(ob(503), True, id="503"),
    pytest.param(ob(504), True, id="504"),
    pytest.param(ob(503, body=CF_CHALLENGE), False, id="503-challenge"),
    pytest.param(ob(429, body=CF_CHALLENGE), False, id="429-challenge"),
    pytest.param(ob(403), False, id="403"),
    pytest.param(ob(404), False, id="404"),
    pytest.param(ob(501), False, id="501"),
    pytest.param(ob(200), False, id="200"),
    pytest.param(ob(200, error="body-too-large"), False, id="body-too-large"),
    pytest.param(
        Observation(url=URL, status_code=503, adapter_verdict=Verdict.OK), False, id="adapter"
    ),
]


@pytest.mark.parametrize(("obs", "expected"), RETRY_CASES)
def test_should_retry(obs: Observation, expected: bool) -> None:
    assert should_retry(obs) is expected


# --- retry_after_seconds ----------------------------------------------------

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)

RETRY_AFTER_CASES = [
    pytest.param({"Retry-After": "5"}, 5.0, id="seconds"),
    pytest.param({"retry-after": " 7 "}, 7.0, id="lowercase-and-spaces"),
    pytest.param({"Retry-After": "0"}, 0.0, id="zero"),
    pytest.param({"Retry-After": "-3"}, 0.0, id="negative"),
    pytest.param({"Retry-After": "3600"}, 30.0, id="capped"),
    pytest.param({"Retry-After": "Wed, 01 Jan 2025 12:00:10 GMT"}, 10.0, id="imf-fixdate"),
    pytest.param({"Retry-After": "Wednesday, 01-Jan-25 12:00:20 GMT"}, 20.0, id="rfc850"),
    pytest.param({"Retry-After": "Wed Jan  1 12:00:15 2025"}, 15.0, id="asctime"),
    pytest.param({"Retry-After": "Wed, 01 Jan 2025 11:00:00 GMT"}, 0.0, id="past-date"),
    pytest.param({"Retry-After": "Thu, 02 Jan 2025 12:00:00 GMT"}, 30.0, id="far-date-capped"),
    pytest.param({"Retry-After": "9" * 5000}, 30.0, id="more-digits-than-int-accepts"),
    pytest.param({"Retry-After": "-" + "9" * 5000}, 0.0, id="negative-and-endless"),
    pytest.param({"Retry-After": "Wed, 01 Jan 99999999999 12:00:10 GMT"}, None, id="year-overflow"),
    pytest.param({"Retry-After": "soon"}, None, id="garbage"),
    pytest.param({"Retry-After": "1.5"}, None, id="fraction-is-not-delay-seconds"),
    pytest.param({"Retry-After": ""}, None, id="empty"),
    pytest.param({}, None, id="absent"),
]


@pytest.mark.parametrize(("headers", "expected"), RETRY_AFTER_CASES)
def test_retry_after_seconds(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after_seconds(headers, NOW, 30.0) == expected


def test_retry_after_with_naive_now_is_utc() -> None:
    naive = NOW.replace(tzinfo=None)
    assert retry_after_seconds({"Retry-After": "Wed, 01 Jan 2025 12:00:10 GMT"}, naive, 60) == 10


def test_retry_after_with_other_timezone_now() -> None:
    plus8 = NOW.astimezone(timezone(timedelta(hours=8)))
    assert retry_after_seconds({"Retry-After": "Wed, 01 Jan 2025 12:00:10 GMT"}, plus8, 60) == 10


# --- is_network_failure -----------------------------------------------------

NETWORK_CASES = [
    pytest.param(ob(None, error="dns-nxdomain"), True, id="nxdomain"),
    pytest.param(ob(None, error="dns-temporary"), True, id="dns-temporary"),
    pytest.param(ob(None, error="connect-refused"), True, id="refused"),
    pytest.param(ob(None, error="connect-unreachable"), True, id="unreachable"),
    pytest.param(ob(None, error="connect-timeout"), True, id="connect-timeout"),
    pytest.param(ob(None, error="timeout", error_detail="connect timed out"), True, id="t-conn"),
    pytest.param(ob(None, error="timeout", error_detail="read timed out"), False, id="t-read"),
    pytest.param(ob(None, error="read-timeout"), False, id="read-timeout"),
    pytest.param(ob(None, error="tls-verify"), False, id="tls"),
    pytest.param(ob(None, error="connect-reset"), False, id="reset"),
    pytest.param(ob(404), False, id="http-answer"),
    pytest.param(ob(200), False, id="ok"),
]


@pytest.mark.parametrize(("obs", "expected"), NETWORK_CASES)
def test_is_network_failure(obs: Observation, expected: bool) -> None:
    assert is_network_failure(obs) is expected


# --- helpers ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "site"),
    [
        ("docs.github.com", "github.com"),
        ("github.com", "github.com"),
        ("a.b.example.co.uk", "example.co.uk"),
        ("www.example.com.cn", "example.com.cn"),
        ("localhost", "localhost"),
    ],
)
def test_registrable_domain(host: str, site: str) -> None:
    assert registrable_domain(host) == site


# --- robustness -------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    status=st.one_of(st.none(), st.integers(min_value=0, max_value=1000)),
    body=st.one_of(
        st.binary(max_size=400),
        st.text(max_size=200).map(lambda t: page(title=t, h1=t, body=t)),
    ),
    ctype=st.sampled_from(["", "text/html", "text/html; charset=bogus", "application/json"]),
    final=st.sampled_from(
        [URL, "https://example.org/", "https://login.example.org/x", "::bad", "http://[bad"]
    ),
    permanent=st.booleans(),
)
def test_classify_never_raises_and_always_registers(
    status: int | None, body: bytes, ctype: str, final: str, permanent: bool
) -> None:
    obs = ob(
        status,
        url=FRAG_URL,
        final=final,
        hops=((FRAG_URL, 301 if permanent else 302),),
        body=body,
        headers={"content-type": ctype} if ctype else {},
    )
    result = classify(obs, link(FRAG_URL, expect_text="x"))
    assert REASONS[result.reason][0] is result.verdict


# --- a body shared with content (one parse per check) -----------------------


@pytest.mark.parametrize(("url", "extra", "reason"), FRAGMENT_CASES)
def test_fragment_through_a_shared_body(url: str, extra: str, reason: str) -> None:
    obs = ob(200, url=url, body=page(body=FILLER + extra))
    assert classify(obs, link(url), shared=SharedBody(obs.body)).reason == reason


def test_soft_404_title_through_a_shared_body() -> None:
    obs = ob(200, body=page(title="Page not found"))
    assert classify(obs, link(), shared=SharedBody(obs.body)).reason == "soft-404-title"


def test_a_shared_memo_of_another_body_is_ignored() -> None:
    obs = ob(200, body=page(title="A guide"))
    shared = SharedBody(page(title="Page not found"))
    assert classify(obs, link(), shared=shared).reason == "ok"


@settings(max_examples=100, deadline=None)
@given(
    text=st.text(max_size=200),
    ctype=st.sampled_from(["", "text/html", "text/html; charset=gbk", "text/plain"]),
)
def test_sharing_the_body_never_changes_the_verdict(text: str, ctype: str) -> None:
    obs = ob(200, url=FRAG_URL, body=page(title=text, h1=text, body=text), headers={})
    if ctype:
        obs = replace(obs, headers={"content-type": ctype})
    lnk = link(FRAG_URL, expect_text="x")
    assert classify(obs, lnk, shared=SharedBody(obs.body)) == classify(obs, lnk)


_SEGMENT_WORDS = st.sampled_from(
    ["404", "error", "not found", "page", "oops", "sorry", "找不到", "页面", "見つかりません",
     "nicht gefunden", "fehler", "ошибка", "non trovata", " ", "-", "the", "错误", "video"]
)  # fmt: skip


@given(st.lists(_SEGMENT_WORDS, max_size=6).map("".join))
def test_one_segment_pattern_matches_exactly_what_the_list_matches(text: str) -> None:
    combined = classify_module._ANY_SOFT_404_SEGMENT.fullmatch(text) is not None
    assert combined == any(p.fullmatch(text) for p in classify_module.SOFT_404_SEGMENTS)
