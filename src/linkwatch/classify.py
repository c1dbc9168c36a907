"""Turn the raw facts of one fetch into exactly one verdict (design.md §2).

Everything here is pure: an ``Observation`` (what the fetch layer saw) and the
catalog ``Link`` go in, a ``Classification`` comes out.  No network, no
clock, no database — so every rule is pinned by a table in
``tests/test_classify.py`` and documented in ``docs/verdicts.md``.

Two principles steer the rules.  A false alarm costs the curator's trust, so
a signal only turns into ``broken`` when it is specific (a ``<title>`` that
*is* "Page not found", not one that mentions it).  And a server that refuses
robots is not a dead link, so bot walls are ``blocked``, which does not count
against a link's health.

The marker tables are module-level constants so that a new language, parking
provider or bot wall is a one-line change.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import cached_property
from urllib.parse import SplitResult, unquote, urlsplit

from selectolax.lexbor import LexborHTMLParser

from linkwatch.htmlpage import (
    ANY_TAG,
    COMMENT,
    SharedBody,
    block_tag_pattern,
    decode_text,
    parse_html,
    text_codec,
)
from linkwatch.models import Classification, Link, Observation, Verdict

# ---------------------------------------------------------------------------
# Reason codes.  Every reason classify or an adapter can emit is listed here
# with its verdict and what the curator should do; docs/verdicts.md mirrors
# this table and a test keeps the two in step.
# ---------------------------------------------------------------------------

REASONS: Mapping[str, tuple[Verdict, str]] = {
    # ok
    "ok": (Verdict.OK, "Nothing."),
    "ok-redirected": (
        Verdict.OK,
        "Nothing: a temporary redirect (302/303/307) is the site's business.",
    ),
    "accepted-status": (Verdict.OK, "Nothing: the catalog entry accepts this status."),
    "not-modified": (Verdict.OK, "Nothing: the page is unchanged since the last run (304)."),
    "fragment-unverified": (
        Verdict.OK,
        "Nothing usually; open the link once to confirm the #fragment still exists.",
    ),
    "expected-text-unverified": (
        Verdict.OK,
        "Nothing usually; the expected text may sit beyond the part of the page we read.",
    ),
    "github-ok": (Verdict.OK, "Nothing."),
    "github-archived": (
        Verdict.OK,
        "Consider whether a read-only (archived) repository is still the best link.",
    ),
    "youtube-ok": (Verdict.OK, "Nothing."),
    "bilibili-ok": (Verdict.OK, "Nothing."),
    # moved
    "moved-permanently": (
        Verdict.MOVED,
        "Replace the catalog URL with the suggested one (a permanent 301/308 redirect).",
    ),
    "moved-canonical": (
        Verdict.MOVED,
        "Optional tidy-up: the new URL differs only by https, a trailing slash or www.",
    ),
    "github-repo-renamed": (
        Verdict.MOVED,
        "Replace the catalog URL: the repository was renamed or transferred.",
    ),
    # broken
    "http-404": (Verdict.BROKEN, "Find the page's new address or remove the link."),
    "http-410": (Verdict.BROKEN, "The site says the page is gone for good: remove or replace."),
    "http-4xx": (Verdict.BROKEN, "Open the link; the server rejects the request itself."),
    "http-5xx": (
        Verdict.BROKEN,
        "The server kept failing after retries; listed once it rots, then replace the link.",
    ),
    "redirect-to-404": (
        Verdict.BROKEN,
        "The link redirects to a missing page: find the new address or remove it.",
    ),
    "redirect-to-home": (
        Verdict.BROKEN,
        "The page was removed and the site sends readers to its home page: find a replacement.",
    ),
    "redirect-loop": (Verdict.BROKEN, "The site's redirects loop; report it or replace the link."),
    "too-many-redirects": (
        Verdict.BROKEN,
        "The redirect chain is too long to follow; check it by hand.",
    ),
    "redirect-without-location": (
        Verdict.BROKEN,
        "The server answers with a redirect that goes nowhere; check it by hand.",
    ),
    "dns-nxdomain": (
        Verdict.BROKEN,
        "The domain name no longer exists: replace the link.",
    ),
    "invalid-url": (Verdict.BROKEN, "Fix the URL in the catalog."),
    "ssrf-blocked": (
        Verdict.BROKEN,
        "The link now redirects to a private network address: it no longer points at a "
        "public resource; replace it.",
    ),
    "soft-404-title": (
        Verdict.BROKEN,
        "The page says 'not found' in its title: find the new address or remove it.",
    ),
    "soft-404-heading": (
        Verdict.BROKEN,
        "The page says 'not found' in its main heading: find the new address or remove it.",
    ),
    "soft-404-probe": (
        Verdict.BROKEN,
        "The site serves this same page for a made-up address: the real page is gone.",
    ),
    "video-unavailable": (
        Verdict.BROKEN,
        "The video was removed, made private or never existed: find another copy.",
    ),
    "video-under-review": (
        Verdict.BROKEN,
        "The video is hidden while under review; if it stays hidden, find another copy.",
    ),
    "video-private": (
        Verdict.BROKEN,
        "Only the uploader can see the video now: find another copy.",
    ),
    "parked-domain": (
        Verdict.BROKEN,
        "The domain expired and is parked or for sale: replace the link.",
    ),
    "fragment-missing": (
        Verdict.BROKEN,
        "The page exists but the #section is gone: point at the new section or drop it.",
    ),
    "expected-text-missing": (
        Verdict.BROKEN,
        "The page no longer contains the catalog's expect_text: check the content.",
    ),
    "github-repo-missing": (
        Verdict.BROKEN,
        "The repository was deleted or made private: find a fork or replacement.",
    ),
    # blocked
    "auth-required": (Verdict.BLOCKED, "Check by hand while signed in, or accept the status."),
    "login-required": (
        Verdict.BLOCKED,
        "The site redirects robots to a login page; check by hand.",
    ),
    "http-403": (Verdict.BLOCKED, "The server refuses our client; check by hand."),
    "bot-challenge": (
        Verdict.BLOCKED,
        "A bot wall (Cloudflare, captcha …) stands in front; check by hand.",
    ),
    "rate-limited": (
        Verdict.BLOCKED,
        "The server kept rate-limiting (429); lower per-host concurrency or check later.",
    ),
    "bot-999": (Verdict.BLOCKED, "The site (typically LinkedIn) refuses robots; check by hand."),
    "bilibili-restricted": (
        Verdict.BLOCKED,
        "bilibili restricts this video (members or region only); check by hand.",
    ),
    # error
    "timeout": (Verdict.ERROR, "Usually transient; if it persists, the site may be down."),
    "checker-offline": (
        Verdict.ERROR,
        "Nothing: the checker itself was offline, so this link was not judged (set by the "
        "pipeline for the network failures of an inconclusive run).",
    ),
    "local-resources": (
        Verdict.ERROR,
        "Nothing: this machine ran out of open files or socket memory, so the link was not "
        "judged and the run is inconclusive; raise the open-file limit (ulimit -n) or lower "
        "concurrency.",
    ),
    "retry-later": (
        Verdict.ERROR,
        "Usually maintenance: nothing tonight; if it lasts for days the link rots like any "
        "failure.",
    ),
    "connect-refused": (Verdict.ERROR, "Nothing listens on the server; if it persists, replace."),
    "connect-reset": (Verdict.ERROR, "The connection was cut; usually transient."),
    "connect-unreachable": (
        Verdict.ERROR,
        "The network path to the server is down; check your own connection first.",
    ),
    "dns-temporary": (
        Verdict.ERROR,
        "The name could not be resolved right now; check your own DNS first.",
    ),
    "tls-verify": (
        Verdict.ERROR,
        "The site's certificate is not trusted (wrong name or unknown issuer): tell the owner "
        "or replace the link.",
    ),
    "tls-expired": (
        Verdict.ERROR,
        "The site's certificate has expired: tell the owner or replace the link.",
    ),
    "tls-handshake": (
        Verdict.ERROR,
        "The TLS handshake failed (old protocol or cipher): check by hand.",
    ),
    "private-address": (
        Verdict.ERROR,
        "The link points at a private or loopback address: use --allow-private to check it.",
    ),
    "protocol-error": (Verdict.ERROR, "The server spoke broken HTTP; usually transient."),
    "http-408": (Verdict.ERROR, "The server timed out reading our request; usually transient."),
    "unexpected-status": (Verdict.ERROR, "The server answered with a nonsense status; check."),
    "no-response": (Verdict.ERROR, "The fetch produced no answer; report this as a bug."),
    "network-error": (Verdict.ERROR, "The connection failed; see the detail, usually transient."),
}


def reason_verdict(reason: str) -> Verdict:
    """The verdict a reason code implies (KeyError for an unknown code, on purpose)."""
    return REASONS[reason][0]


def _result(reason: str, detail: str, suggested_url: str | None = None) -> Classification:
    return Classification(reason_verdict(reason), reason, detail, suggested_url)


# ---------------------------------------------------------------------------
# Transport errors (no HTTP answer).  The fetch layer reports a short kind.
# ---------------------------------------------------------------------------

ERROR_REASONS: Mapping[str, tuple[str, str]] = {
    "timeout": ("timeout", "The server did not answer in time"),
    "connect-timeout": ("timeout", "Connecting to the server timed out"),
    "read-timeout": ("timeout", "The server stopped sending before the answer was complete"),
    "connect-refused": ("connect-refused", "The server refused the connection"),
    "connect-reset": ("connect-reset", "The server reset the connection"),
    "connect-unreachable": ("connect-unreachable", "The server's network is unreachable"),
    "network-unreachable": ("connect-unreachable", "The network is unreachable"),
    "local-resources": ("local-resources", "This machine ran out of open files or socket memory"),
    # Not sent: the host had asked us to slow down (fetch._HostGate.back_off).
    "rate-limited": ("rate-limited", "The host is rate-limiting our requests"),
    # A 5xx with a Retry-After longer than the link had left (fetch.Checker._unwaited).
    "retry-later": ("retry-later", "The server asked us to come back later"),
    "dns-nxdomain": ("dns-nxdomain", "The domain name does not exist (DNS NXDOMAIN)"),
    "dns-temporary": ("dns-temporary", "The domain name could not be resolved right now"),
    "tls-verify": ("tls-verify", "The TLS certificate could not be verified"),
    "tls-expired": ("tls-expired", "The TLS certificate has expired"),
    "tls-handshake": ("tls-handshake", "The TLS handshake failed"),
    "redirect-loop": ("redirect-loop", "The redirects go round in a loop"),
    "too-many-redirects": ("too-many-redirects", "The redirect chain is too long"),
    "redirect-without-location": (
        "redirect-without-location",
        "The server answered with a redirect but no Location",
    ),
    # A redirect from a public host into private, loopback or link-local
    # space: refused (server-side request forgery guard) and judged broken,
    # because the link no longer leads to a public resource.
    "ssrf-blocked": ("ssrf-blocked", "A redirect pointed at a private network address"),
    "private-address": ("private-address", "The URL points at a private or loopback address"),
    "invalid-url": ("invalid-url", "The URL is not a valid http(s) URL"),
    "unsupported-scheme": ("invalid-url", "The URL's scheme is not http or https"),
    "protocol-error": ("protocol-error", "The server broke the HTTP protocol"),
}

#: Errors that say nothing about the link — only that a request failed
#: halfway and may well succeed on the next try.
RETRYABLE_ERRORS: frozenset[str] = frozenset(
    {
        "timeout",
        "connect-timeout",
        "read-timeout",
        "connect-reset",
        # Refused is usually final, but a server mid-restart refuses for a
        # second: one more try is cheap and the fetch layer caps attempts.
        "connect-refused",
        "dns-temporary",
        "protocol-error",
        "network-error",
        # Sockets of other requests close meanwhile.
        "local-resources",
    }
)

#: RFC 9110 §15: statuses that describe the server's momentary state rather
#: than the resource (plus 425 Too Early, RFC 8470).
RETRYABLE_STATUSES: frozenset[int] = frozenset({408, 425, 429, 500, 502, 503, 504})

#: No HTTP answer because the *network* failed, not the site: when most links
#: of a run end like this the checker itself is offline (design.md §3).
NETWORK_FAILURE_ERRORS: frozenset[str] = frozenset(
    {
        "dns-nxdomain",
        "dns-temporary",
        "connect-refused",
        "connect-unreachable",
        "network-unreachable",
        "connect-timeout",
        # No request left this machine: it says nothing about the link either.
        "local-resources",
    }
)

# Kinds the fetch layer may put in ``error`` next to a real HTTP answer;
# they are notes, not failures (we read a bounded prefix of every body).
_NON_FATAL_ERRORS: frozenset[str] = frozenset({"body-too-large", "decode-error"})

PERMANENT_REDIRECTS: frozenset[int] = frozenset({301, 308})
#: What a followed redirect stub (``Hop.meta_refresh``) counts as in a chain:
#: permanent, like the 301 the static site that wrote it could not send.
META_REFRESH_STATUS = 301
TEMPORARY_REDIRECTS: frozenset[int] = frozenset({302, 303, 307})

# ---------------------------------------------------------------------------
# Soft 404: a "not found" page served with 200.  Matched against the
# <title> and the first <h1> only — body text mentions "not found" far too
# often to be a signal.
# ---------------------------------------------------------------------------

#: Phrases that, anywhere in a title or heading, say the page is missing.
SOFT_404_PHRASES: tuple[str, ...] = (
    # English
    "page not found",
    "page cannot be found",
    "page could not be found",
    "page can't be found",
    "page can’t be found",
    "page doesn't exist",
    "page doesn’t exist",
    "page does not exist",
    "page isn't available",
    "page isn’t available",
    "page is not available",
    "page you requested could not be found",
    "page you were looking for",
    "page you are looking for",
    # Chinese
    "页面不存在",
    "页面未找到",
    "页面找不到",
    "网页不存在",
    "网页未找到",
    "您访问的页面不存在",
    "你访问的页面不存在",
    "内容不存在",
    "文章不存在",
    "视频不存在",
    "视频不见了",
    "啊叻？视频不见了？",
    "视频去哪了",
    "頁面不存在",
    "頁面未找到",
    "没有找到页面",
    "页面没有找到",
    "找不到页面",
    "找不到网页",
    "找不到頁面",
    "找不到網頁",
    "找不到这个页面",
    "找不到這個頁面",
    # Japanese
    "ページが見つかりません",
    "お探しのページは見つかりませんでした",
    "ページが存在しません",
    "ページは存在しません",
    # Korean
    "페이지를 찾을 수 없습니다",
    "요청하신 페이지를 찾을 수 없습니다",
    "페이지가 존재하지 않습니다",
    "찾을 수 없는 페이지",
    "페이지를 찾을 수 없음",
    # German
    "seite nicht gefunden",
    "seite wurde nicht gefunden",
    "seite existiert nicht",
    "seite konnte nicht gefunden werden",
    "seite gibt es nicht",
    "seite gibt es leider nicht",
    # French
    "page introuvable",
    "page non trouvée",
    "page non trouvee",
    "cette page n'existe pas",
    "cette page n’existe pas",
    "page inexistante",
    "la page que vous recherchez n'existe pas",
    "la page que vous recherchez n’existe pas",
    # Spanish
    "página no encontrada",
    "pagina no encontrada",
    "no se encontró la página",
    "la página no existe",
    "la página que buscas no existe",
    # Portuguese
    "página não encontrada",
    "pagina nao encontrada",
    "página não existe",
    # Russian
    "страница не найдена",
    "страница не существует",
    # Italian
    "pagina non trovata",
    "la pagina non esiste",
    "pagina non esistente",
)

#: Regexes that must match a whole title *segment* (titles are split on
#: "|", "｜", "·", "–", "—", "»", " - ", ": ", "：" …, see ``_SEGMENT_SPLIT``),
#: so "404" or "Not Found" alone counts but "Fixing 404 errors in nginx" does not.
SOFT_404_SEGMENTS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"(?:error\s*)?404(?:\s*(?:error|not found|page))*",
        r"(?:oops\W*)?(?:sorry\W*)?(?:(?:page|file|resource|video|repository|post|article) )?"
        r"not found",
        r"404\s*(?:错误|錯誤)|(?:ошибка|fehler|erreur|error) 404",
        r"找不到(?:该|此|您要的|你要的|您访问的|你访问的)?(?:页面|网页|内容|文章|视频|资源|文件)",
        r"見つかりません(?:でした)?",
        r"찾을 수 없(?:습니다|음)",
        r"nicht gefunden",
        r"introuvable",
        r"no encontrad[ao]",
        r"não encontrad[ao]",
        r"не найдено",
        r"non trovat[ao]",
    )
)

# All of them in one pattern: a title's segment is matched once, not twelve times.
_ANY_SOFT_404_SEGMENT = re.compile(
    "|".join(f"(?:{p.pattern})" for p in SOFT_404_SEGMENTS), re.IGNORECASE
)
# CJK scripts and full-width forms: Chinese sites separate a title from the
# site's name with "_" ("视频去哪了呢？_哔哩哔哩_bilibili"), where in Latin
# text an underscore is part of a word.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef"
# Japanese and Chinese sites also use the full-width bar "｜" or "丨" and an
# unspaced "-" ("页面不存在-站点名", "404-页面不存在-某某网"); a colon followed
# by a space parts a site's name from the message ("Page not found: Example").
_SEGMENT_SPLIT = re.compile(rf"\s+[-–—|·:»/]\s+|[|·–—»｜丨]|：|(?<=[{_CJK}])[-_]|[-_](?=[{_CJK}])")
# On a nearly empty page a title's clauses count too: "Oh dear, page not
# found, please try the search", "Sorry: page not found".  Not on a full
# page, where "Error 404: what it means" and "Not Found: A Novel" name
# articles.
_CLAUSE_SPLIT = re.compile(rf"{_SEGMENT_SPLIT.pattern}|:(?=\s)|[,;.!?，。！？；、]\s*")
# An unspaced hyphen between Latin words is usually part of a word
# ("Wi-Fi", "404-errors"): it parts segments only where the text before or
# after it is itself a not-found message of several words ("Page not found-Site").
_LATIN_HYPHEN = re.compile(r"(?<=[^\W_])-(?=[^\W_])")
_STRIP_PUNCT = " \t\r\n!！?？.。,，;；:()（）[]【】\"'“”‘’…~"
_HAS_CJK = re.compile(f"[{_CJK}]")
_HAS_LATIN = re.compile(r"[a-z]", re.IGNORECASE)

# A phrase says the page is missing only when the rest of its segment is
# small talk around it ("Sorry, the page you were looking for doesn't exist
# (404)"); a segment that also names something else is a page *about* the
# phrase ("How to Fix the 'Page Not Found' Error in WordPress", "Vue Router
# 处理页面不存在的情况", "Custom page you are looking for component").
# With typographic apostrophes made plain, once: titles are matched the same way.
_PHRASES_LONGEST_FIRST = tuple(
    sorted((p.replace("’", "'") for p in SOFT_404_PHRASES), key=len, reverse=True)
)
# Any of them, in one pass over a lower-cased title.
_ANY_SOFT_404_PHRASE = re.compile("|".join(map(re.escape, _PHRASES_LONGEST_FIRST)))
_SOFT_404_SMALL_TALK: frozenset[str] = frozenset(
    {
        "a", "an", "the", "this", "that", "it", "it's", "its", "we", "we're", "we've", "you",
        "you're", "your", "i", "i'm", "is", "are", "was", "were", "be", "been", "has", "have",
        "had", "does", "doesn't", "do", "don't", "did", "didn't", "not", "no", "longer",
        "anymore", "exist", "exists", "existed", "found", "find", "couldn't", "could", "can't",
        "cannot", "isn't", "wasn't", "available", "removed", "deleted", "moved", "gone",
        "missing", "may", "might", "seem", "seems", "to", "looks", "like", "page", "file",
        "resource", "requested", "looking", "for", "or", "and", "here", "there", "nothing",
        "anything",
        "sorry", "oops", "ooops", "whoops", "oh", "uh", "hmm", "error", "404", "410", "http",
        "leider", "die", "diese", "fehler", "ups", "hoppla", "angeforderte", "gesuchte",
        "désolé", "oups", "erreur", "cette", "demandée", "solicitada",
        "la", "le", "lo", "sentimos", "esta", "desculpe", "erro", "spiacenti", "questa", "errore",
        "извините", "ошибка", "эта", "упс", "ой",
    }
)  # fmt: skip
#: The same for scripts without spaces between words, removed as substrings.
_SOFT_404_SMALL_TALK_CJK: tuple[str, ...] = (
    "非常抱歉", "很抱歉", "抱歉", "对不起", "對不起", "哎呀", "糟糕", "啊叻", "错误", "錯誤",
    "您", "你", "的", "了", "呢", "啊", "哦", "呀", "吧", "该", "此", "所", "要", "访问", "訪問",
    "或已被删除", "或已删除", "已被删除", "已删除", "被删除", "或已被移除", "已被移除",
    "或已被移动", "已被移动", "或已被移動", "已被移動", "或",
    "这个", "這個", "我们", "我們", "喔不",
    "申し訳ございません", "申し訳ありません", "すみません", "エラー", "お探しの", "指定された",
    "アクセスしようとした", "でした", "죄송합니다", "오류", "요청하신",
)  # fmt: skip
#: CJK characters that may be left over beside a phrase once the small talk
#: is gone (a sentence-final particle, "啦", "ね"); a longer rest is a topic
#: ("处理页面不存在的情况", handling the not-found case).
_SOFT_404_CJK_SLACK = 2
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")

# ---------------------------------------------------------------------------
# Parked and for-sale domains.
# ---------------------------------------------------------------------------

# A parked page is a thin page whose one message is the sale: what counts
# is where a marker sits, not that it occurs.  Articles about domain
# parking, blog posts that link a marketplace and Chinese pages about 域名出售
# platforms mention the same words.

#: The page speaking of its own domain: believed in the title or the visible
#: text of a short page (under ``SHORT_PAGE_CHARS`` visible characters).
PARKED_STATEMENTS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"\bthis domain (?:name )?is for sale\b",
        r"\bthis domain may be for sale\b",
        r"\bdomain may be for sale\b",
        r"\bbuy this domain\b",
        r"\bparked free\b",
        r"\bis parked for free\b",
        r"\bthis domain is parked\b",
        r"(?:此|该|該|本)域名(?:正在|可以?)?出售",
        r"域名正在出售",
    )
)

#: Mere mentions of parking or of a marketplace: believed only on a nearly
#: empty page (under ``NEARLY_EMPTY_CHARS``), whose one message they then are.
PARKED_MENTIONS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"\bsedoparking\.com\b",
        r"\bsedo\.com/search/details\b",
        r"\bparkingcrew\.net\b",
        r"\bbodis\.com\b",
        r"\bdan\.com\b",
        r"\bafternic\.com\b",
        r"\bhugedomains\.com\b",
        r"\bundeveloped\.com\b",
        r"\bdomain parking\b",
        r"\bparklogic\b",
        r"域名出售",
    )
)

PARKED_MARKERS: tuple[re.Pattern[str], ...] = PARKED_STATEMENTS + PARKED_MENTIONS

#: Landing sites of domain marketplaces: a redirect there means the link's
#: domain is up for sale.
PARKED_HOSTS: frozenset[str] = frozenset(
    {
        "sedo.com",
        "dan.com",
        "afternic.com",
        "hugedomains.com",
        "bodis.com",
        "parkingcrew.net",
        "undeveloped.com",
        "buydomains.com",
    }
)

#: Hosts whose scripts and frames only a parking page loads: a page that
#: embeds one is parked however much text the parking service fills it with.
PARKING_SERVICE_HOSTS: frozenset[str] = PARKED_HOSTS | {"sedoparking.com", "parklogic.com"}

#: Visible characters below which a page may be a parking notice.
SHORT_PAGE_CHARS = 2000

# A start tag and its attributes, scanned in linear time: the attribute run
# stops at the next "<" (where the next tag's scan starts), so the runs of
# all tags together cover the page at most once.  A lazy ``[^>]*?`` per tag,
# then a second one after "refresh", rescanned the rest of the page for each
# unclosed ``<meta`` or ``<script`` (``<meta refresh `` × 1000 took 34 s).
_START_TAG = re.compile(
    r"<(script|iframe|frame|embed|object|meta|link|img|a)\b([^<>]*)", re.IGNORECASE
)
_ATTR_URL_HOST = r"""\s*=\s*["']?(?:https?:)?//([a-z0-9.-]+)"""
_SRC_HOST = re.compile(rf"\b(?:src|data){_ATTR_URL_HOST}", re.IGNORECASE)
_REFRESH_URL_HOST = re.compile(rf"\burl{_ATTR_URL_HOST}", re.IGNORECASE)
_HREF_HOST = re.compile(rf"\bhref{_ATTR_URL_HOST}", re.IGNORECASE)
_REFRESH = re.compile(r"\brefresh\b", re.IGNORECASE)
_STYLESHEET = re.compile(r"\bstylesheet\b", re.IGNORECASE)

#: What a tag does with the URL it names: the page pulls it in (a script,
#: frame, embed, object, stylesheet or ``<meta>`` refresh), shows it (an
#: image) or merely links it (``<a href>``).
_LOADS, _SHOWS, _LINKS = "loads", "shows", "links"


def _tag_hosts(text: str) -> Iterator[tuple[str, str]]:
    """(``_LOADS``/``_SHOWS``/``_LINKS``, host) for each absolute URL in the page's tags."""
    for tag in _START_TAG.finditer(text):
        name, attrs = tag.group(1).lower(), tag.group(2)
        if name == "a":
            found, use = _HREF_HOST.search(attrs), _LINKS
        elif name == "link":
            found = _HREF_HOST.search(attrs) if _STYLESHEET.search(attrs) else None
            use = _LOADS
        elif name == "meta":
            found = _REFRESH_URL_HOST.search(attrs) if _REFRESH.search(attrs) else None
            use = _LOADS
        else:
            found, use = _SRC_HOST.search(attrs), _SHOWS if name == "img" else _LOADS
        if found is not None:
            yield use, found.group(1).lower()


# ---------------------------------------------------------------------------
# Bot walls.  "Strong" markers only ever appear on challenge pages and are
# trusted on any status, on a 2xx page when they sit where a challenge puts
# them (its title, or a nearly empty page), since a README or an article may
# quote them; "weak" markers (a captcha widget, "Access Denied") are trusted
# only on the statuses bot walls use.
# ---------------------------------------------------------------------------

BOT_CHALLENGE_STATUSES: frozenset[int] = frozenset({401, 403, 429, 503})
#: Where a weak *header* identifies a wall: refusals only.  A CDN's
#: ``server: cloudflare`` rides on every answer, its origin's 503s and its
#: rate limits too, and those are transient trouble to retry, not a wall.
BOT_HEADER_WEAK_STATUSES: frozenset[int] = frozenset({401, 403})

BOT_STRONG_MARKERS: tuple[str, ...] = (
    "<title>just a moment...</title>",
    "<title>just a moment…</title>",
    "cf-browser-verification",
    "cf_chl_opt",
    "cf-challenge",
    "attention required! | cloudflare",
    "<title>ddos-guard</title>",
    "check.ddos-guard.net",
    "px-captcha",
    "captcha-delivery.com",
    "please enable js and disable any ad blocker",
    "incapsula incident id",
    "_incapsula_resource",
    "awswaf",
    "sucuri website firewall",
    "verifying you are human",
    "checking your browser before accessing",
)

BOT_WEAK_MARKERS: tuple[str, ...] = (
    "cf_chl",
    "/cdn-cgi/challenge-platform/",
    "g-recaptcha",
    "h-captcha",
    "hcaptcha.com",
    "captcha",
    "ddos-guard",
    "perimeterx",
    "access denied",
    "errors.edgesuite.net",
    "are you a robot",
    "unusual traffic",
)

#: (header, substring) pairs, names lower-case, set only on challenge answers.
BOT_HEADER_STRONG: tuple[tuple[str, str], ...] = (
    ("cf-mitigated", "challenge"),
    ("x-amzn-waf-action", "captcha"),
    ("x-amzn-waf-action", "challenge"),
)

#: Headers that protected sites send on every answer, so they only identify
#: the wall when the status already says "refused".
BOT_HEADER_WEAK: tuple[tuple[str, str], ...] = (
    ("x-datadome", ""),
    ("server", "ddos-guard"),
    ("server", "cloudflare"),
    ("server", "akamaighost"),
)

# ---------------------------------------------------------------------------
# Login pages and home pages reached through redirects.
# ---------------------------------------------------------------------------

LOGIN_HOST_LABELS: frozenset[str] = frozenset(
    {"login", "signin", "accounts", "account", "auth", "sso", "passport", "idp"}
)
#: The last path segment of a login endpoint ("/users/sign_in", "/login.php").
LOGIN_PATH_SEGMENT = re.compile(
    r"(?:log-?in|log_in|logon|sign-?in|sign_in|authwall|servicelogin)(?:\.\w{2,5})?",
    re.IGNORECASE,
)
#: Last segments that name login endpoints and documentation pages alike
#: ("/docs/guides/auth", "/docs/hub/oauth"): a login page only when the
#: address also says where to return after signing in, or is on another host.
LOGIN_AMBIGUOUS_SEGMENT = re.compile(r"(?:sso|auth|oauth2?|authorize|cas|saml2?)", re.IGNORECASE)
#: Query parameters (compared lower-case) by which a login page knows where to
#: send the user back, or which only a sign-in request carries: OAuth/OIDC's
#: ``client_id``/``state`` (Auth0's ``/u/login/identifier?state=``), SAML's
#: ``SAMLRequest``/``RelayState``, WS-Federation's ``wtrealm``.
LOGIN_RETURN_PARAMS: frozenset[str] = frozenset(
    {
        "next", "return", "return_to", "returnto", "returnurl", "return_url", "redirect",
        "redirect_uri", "redirect_url", "redirect_to", "redirecturl", "redirect_after_login",
        "continue", "service", "callback", "came_from", "goto", "dest", "destination",
        "state", "client_id", "samlrequest", "relaystate", "wtrealm",
    }
)  # fmt: skip

_LOCALE_ROOT = re.compile(r"/([a-z]{2})(?:[-_][a-z0-9]{2,4})?/?", re.IGNORECASE)
#: ISO 639-1 language codes, the first part of a locale root (``/en/``,
#: ``/zh-cn/``).  Any two letters would make ``/ai/`` or ``/go/`` a home
#: page; the few codes that are far more often a topic in a URL (``/ml/``
#: machine learning, ``/io/``, ``/os/``, ``/ts/`` TypeScript) are left out.
_ISO_639_1 = """
    aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs
    cu cv cy da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha
    he hi ho hr ht hu hy hz ia id ie ig ii ik is it iu ja jv ka kg ki kj kk kl km kn ko
    kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk mn mr ms mt my na nb nd ne
    ng nl nn no nr nv ny oc oj om or pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si
    sk sl sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr tt tw ty ug uk ur
    uz ve vi vo wa wo xh yi yo za zh zu
"""
LANGUAGE_CODES: frozenset[str] = frozenset(_ISO_639_1.split())
_INDEX_PAGES = frozenset({"index.html", "index.htm", "index.php", "default.aspx", "index"})

#: Second-level labels under which registrations happen one level deeper
#: (example.co.uk, example.com.cn) — enough for "same site" checks without
#: shipping the Public Suffix List.
_SECOND_LEVEL = frozenset({"co", "com", "net", "org", "gov", "edu", "ac", "ne", "or", "go"})

# ---------------------------------------------------------------------------
# Host-specific "gone" pages served with 200.
# ---------------------------------------------------------------------------

YOUTUBE_HOSTS: frozenset[str] = frozenset(
    {"youtube.com", "www.youtube.com", "m.youtube.com", "youtu.be", "music.youtube.com"}
)
#: A player response's reason for a video that is gone (with a non-OK status).
YOUTUBE_REASONS: tuple[str, ...] = (
    "Video unavailable",
    "This video isn't available anymore",
    "This video isn’t available anymore",
    "This video has been removed",
    "This video is private",
)
#: The same in a page without a player response.
YOUTUBE_UNAVAILABLE_MARKERS: tuple[str, ...] = (
    '"status":"ERROR","reason":"Video unavailable"',
    "This video isn't available anymore",
    "This video isn’t available anymore",
    "This video has been removed",
    "This video is private",
    '"status":"LOGIN_REQUIRED","reason":"This video is private"',
    "Video unavailable",
)

_HTML_TYPES = ("text/html", "application/xhtml+xml")

#: Visible characters below which a page is little more than one message.
#: Challenge, parking and error pages stay well under it (a Cloudflare
#: challenge shows ~250); an article, a README or a book page do not.
NEARLY_EMPTY_CHARS = 500


# ---------------------------------------------------------------------------
# The page, parsed lazily and at most once.
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Page:
    body: bytes
    content_type: str
    # The pipeline's memo of this body, so content can reuse the parse.
    shared: SharedBody | None = None

    @cached_property
    def is_html(self) -> bool:
        if self.content_type:
            return any(t in self.content_type for t in _HTML_TYPES)
        head = self.body[:512].lstrip().lower()
        return head.startswith((b"<!doctype html", b"<html", b"<head", b"<title"))

    @cached_property
    def text(self) -> str:
        charset = _charset(self.content_type, self.body)
        if self.shared is not None:
            return self.shared.decode(charset)
        return decode_text(self.body, charset)

    @cached_property
    def lower(self) -> str:
        return self.text.lower()

    @cached_property
    def tree(self) -> LexborHTMLParser:
        if self.shared is not None:
            return self.shared.tree(self.text)
        return parse_html(self.text)

    # ``tags`` rather than ``css_first``: a document's first CSS query sets up
    # lexbor's selector engine (~30 µs, more than parsing a small page), and
    # a plain tag name does not need it.

    @cached_property
    def title(self) -> str:
        nodes = self.tree.tags("title")
        return _squash(nodes[0].text()) if nodes else ""

    @cached_property
    def h1(self) -> str:
        nodes = self.tree.tags("h1")
        return _squash(nodes[0].text()) if nodes else ""

    @cached_property
    def _body_markup(self) -> str:
        """The body serialised without scripts, styles and comments."""
        body = self.tree.body
        if body is None:
            return ""
        for node in body.css("script, style, noscript, template"):
            node.decompose()
        return COMMENT.sub("", body.html or "")

    @cached_property
    def visible_text(self) -> str:
        """The body's text as a reader sees it, whitespace squashed.

        Block elements separate words and inline ones do not: lexbor's
        ``text(separator=" ")`` puts a space between *every* text node, so
        ``<strong>大语言</strong>模型``, ``<code>Llama</code>-2`` and
        ``Trans<wbr>former`` came apart.  Rendered from the serialised markup
        (as content does), which also costs no recursion on deep pages.
        """
        markup = self._body_markup
        return _squash(html.unescape(ANY_TAG.sub("", _BLOCK_TAG.sub(" ", markup))))

    @cached_property
    def spaced_text(self) -> str:
        """The body's text with a space at *every* tag, whitespace squashed.

        The other reading of inline markup: CSS may lay out adjacent inline
        elements apart (``<span>John</span><span>Smith</span>`` in a flex row,
        ``<a>Home</a><a>Docs</a>`` in a menu, ``foo<img>bar``), and which one
        a browser shows cannot be told from the HTML.
        """
        return _squash(html.unescape(ANY_TAG.sub(" ", self._body_markup)))

    @cached_property
    def nearly_empty(self) -> bool:
        """Little more than one message: a challenge, a parking or an error page."""
        return len(self.visible_text) < NEARLY_EMPTY_CHARS


#: Elements that begin a new line or box when rendered, so their edges part
#: words; every other element is inline and its text runs on.
_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "body", "br", "caption", "center",
        "dd", "details", "dialog", "div", "dl", "dt", "fieldset", "figcaption", "figure",
        "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr",
        "html", "legend", "li", "main", "menu", "nav", "ol", "optgroup", "option", "p",
        "pre", "section", "summary", "table", "tbody", "td", "tfoot", "th", "thead", "tr",
        "ul",
    }
)  # fmt: skip
_BLOCK_TAG = block_tag_pattern(_BLOCK_TAGS, ignore_case=True)

_CHARSET = re.compile(rb"""charset\s*=\s*["']?([A-Za-z0-9._:-]+)""", re.IGNORECASE)


def _charset(content_type: str, body: bytes) -> str:
    """Header charset, else a ``<meta charset>`` in the first 2 KiB, else UTF-8 (WHATWG)."""
    for source in (content_type.encode("latin-1", "replace"), body[:2048]):
        match = _CHARSET.search(source)
        if match:
            # text_codec reads labels as browsers do (gb2312 as GB18030 …).
            codec = text_codec(match.group(1).decode("ascii"))
            if codec is not None:
                return codec
    return "utf-8"


def _squash(text: str) -> str:
    return " ".join(text.split())


def _header(headers: Mapping[str, str], name: str) -> str:
    """Case-insensitive header lookup (the fetch layer may hand a plain dict)."""
    value = headers.get(name)
    if value is not None:
        return value
    for key, val in headers.items():
        if key.lower() == name:
            return val
    return ""


# ---------------------------------------------------------------------------
# URL helpers.
# ---------------------------------------------------------------------------


def _split(url: str) -> SplitResult:
    """``urlsplit`` that never raises (a malformed URL has no parts)."""
    try:
        return urlsplit(url)
    except ValueError:
        return SplitResult("", "", "", "", "")


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower().rstrip(".")
    except ValueError:
        return ""


def registrable_domain(host: str) -> str:
    """Approximate eTLD+1 (``docs.github.com`` → ``github.com``, ``a.b.co.uk`` → ``b.co.uk``)."""
    labels = host.lower().rstrip(".").split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def _is_home_path(path: str) -> bool:
    if path in ("", "/"):
        return True
    if _is_locale_root(path):
        return True
    segments = [s for s in path.split("/") if s]
    if segments and segments[-1].lower() in _INDEX_PAGES:
        rest = "/" + "/".join(segments[:-1])
        return rest == "/" or _is_locale_root(rest)
    return False


def _is_locale_root(path: str) -> bool:
    match = _LOCALE_ROOT.fullmatch(path)
    return match is not None and match.group(1).lower() in LANGUAGE_CODES


def _section_moved_to_subdomain(start: SplitResult, final: SplitResult) -> bool:
    """``example.com/docs`` → ``docs.example.com/``: a section became its own site.

    The link named that section's root, so the new host's home page *is* the
    page, moved; a deep page sent there (``/docs/guide``) was lost all the same.
    """
    segments = [s for s in start.path.split("/") if s]
    if segments and segments[-1].lower() in _INDEX_PAGES:
        segments.pop()
    start_host = (start.hostname or "").lower()
    final_host = (final.hostname or "").lower()
    if len(segments) != 1 or final_host == start_host:
        return False
    label = final_host.removeprefix("www.").split(".")[0]
    return label == segments[0].lower() and final_host != registrable_domain(final_host)


def _is_login_url(url: str, came_from: str | None = None) -> bool:
    """Does ``url`` (reached from ``came_from``, if given) look like a login page?

    A login host (``accounts.``, ``login.`` …) always; otherwise the path
    must *end* in a login endpoint (``/login``, ``/users/sign_in``).  With a
    return-to or sign-in query (``?next=``, ``?state=``) or on another host
    than the link's, a path ending in ``/auth``, ``/oauth``, ``/sso`` or
    holding a login step further up (``/u/login/identifier``) counts too;
    without, those are as likely documentation pages about logging in
    (``/docs/guides/auth``).
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    if host.split(".")[0] in LOGIN_HOST_LABELS:
        return True
    if host == "passport.bilibili.com":
        return True
    segments = [seg for seg in parts.path.split("/") if seg]
    if not segments:
        return False
    if LOGIN_PATH_SEGMENT.fullmatch(segments[-1]):
        return True
    params = {name.lower() for name, _, _ in (p.partition("=") for p in parts.query.split("&"))}
    elsewhere = came_from is not None and _host(came_from) not in ("", host)
    if not (params & LOGIN_RETURN_PARAMS or elsewhere):
        return False
    # With that corroboration, a login step deeper in the path counts too
    # (``/u/login/identifier``), and the words that also name docs pages.
    return LOGIN_AMBIGUOUS_SEGMENT.fullmatch(segments[-1]) is not None or any(
        LOGIN_PATH_SEGMENT.fullmatch(seg) for seg in segments
    )


def _without_fragment(url: str) -> str:
    return url.split("#", 1)[0]


def _canonical_difference(old: str, new: str) -> str | None:
    """Describe a cosmetic difference (https, trailing slash, www, case), else None."""
    try:
        a, b = urlsplit(old), urlsplit(new)
    except ValueError:
        return None
    changes: list[str] = []
    host_a = (a.hostname or "").lower()
    host_b = (b.hostname or "").lower()
    if a.scheme.lower() != b.scheme.lower():
        if (a.scheme.lower(), b.scheme.lower()) != ("http", "https"):
            return None
        changes.append("http → https")
    if host_a != host_b:
        if host_a.removeprefix("www.") != host_b.removeprefix("www."):
            return None
        changes.append("www. added" if host_b.startswith("www.") else "www. removed")
    if a.path != b.path:
        if a.path.rstrip("/") != b.path.rstrip("/"):
            return None
        changes.append("trailing slash " + ("added" if b.path.endswith("/") else "removed"))
    if a.query != b.query:
        return None
    return ", ".join(changes) if changes else "only letter case or port"


# ---------------------------------------------------------------------------
# Marker detectors (public so fetch/tests may reuse them).
# ---------------------------------------------------------------------------


def bot_challenge_marker(
    status: int | None, headers: Mapping[str, str], body: bytes, content_type: str = ""
) -> str | None:
    """Return the marker that identifies a bot wall, or None.

    Strong markers and headers count on any status (Cloudflare serves some
    challenges with 200); weak markers such as a captcha widget only on the
    statuses bot walls use, since ordinary pages embed reCAPTCHA in forms.
    """
    return _bot_marker(status, headers, _Page(body, content_type))


def _bot_marker(status: int | None, headers: Mapping[str, str], page: _Page) -> str | None:
    refused = status in BOT_CHALLENGE_STATUSES
    weak_headers = BOT_HEADER_WEAK if status in BOT_HEADER_WEAK_STATUSES else ()
    for name, needle in BOT_HEADER_STRONG + weak_headers:
        value = _header(headers, name)
        if value and needle in value.lower():
            return f"{name}: {value}"
    lower = page.lower if page.body else ""
    for marker in BOT_STRONG_MARKERS + (BOT_WEAK_MARKERS if refused else ()):
        if marker in lower and (
            status is None or not 200 <= status < 300 or _where_walls_put(marker, page)
        ):
            return marker
    return None


def _where_walls_put(marker: str, page: _Page) -> bool:
    """Is ``marker`` on a 2xx page where a challenge page carries it?

    A challenge names itself in its title or is nearly empty (a script,
    a widget, a sentence or two).  An ordinary page may quote the very same
    words: a README showing ``window._cf_chl_opt`` in a code block, an
    article about "verifying you are human".
    """
    return marker.startswith("<title>") or marker in page.title.lower() or page.nearly_empty


def soft_404_phrase(text: str) -> str | None:
    """The "not found" phrase of a title or heading that says only that, or None.

    "Says only that" means a segment that is (nearly) nothing but the phrase,
    and at most one other segment, which is then the site's name ("Page not
    found · GitHub").  More segments make the phrase the name of a page in
    a section of a site ("404 Not Found - HTTP | MDN", "Not Found - A Novel
    | Goodreads"): classify believes that only of a nearly empty page.
    """
    match = _soft_404_match(text)
    return match[0] if match is not None and match[1] <= 1 else None


def _soft_404_match(text: str, *, bare: bool = False) -> tuple[str, int] | None:
    """(the not-found phrase, how many other segments name something), or None.

    ``bare``: the page is nearly empty, so clauses count as segments and a
    few CJK characters beside the phrase are let pass (``_SOFT_404_CJK_SLACK``);
    on a full page "解决页面不存在-CSDN博客" ("solving page-not-found") is an article.
    """
    lower = text.lower().strip()
    if not lower:
        return None
    phrase: str | None = None
    others: list[str] = []
    slack = _SOFT_404_CJK_SLACK if bare else 0
    for segment in (_CLAUSE_SPLIT if bare else _SEGMENT_SPLIT).split(lower):
        for piece in _split_latin_hyphen(segment.strip(_STRIP_PUNCT)):
            cleaned = piece.strip(_STRIP_PUNCT)
            if not cleaned:
                continue
            found = _segment_not_found(cleaned, slack)
            if found is None:
                others.append(cleaned)
            elif phrase is None:
                phrase = found
    if phrase is None:
        return None
    names = len(others)
    if names == 2 and _one_name_in_two_scripts(*others):
        names = 1
    if names == 1 and _ANY_SOFT_404_SEGMENT.fullmatch(phrase) and _reads_like_a_headline(others[0]):
        # A bare "404" or "Not Found" beside a headline is the headline's
        # kicker ("404 : chemins qui ne mènent nulle part"), not beside a
        # site's name: believed of a nearly empty page only, as with more segments.
        names = 2
    return phrase, names


def _reads_like_a_headline(segment: str) -> bool:
    """Four words or more (eight CJK characters): longer than a site's name usually is."""
    return len(segment.split()) >= 4 or len(_HAS_CJK.findall(segment)) >= 8


def _split_latin_hyphen(segment: str) -> list[str]:
    """``segment`` cut at an unspaced hyphen next to a not-found message, else whole.

    "page not found-site" is the message and a site's name run together;
    "wi-fi page not found" or "404-errors" are words with a hyphen in them.
    The message must be several words, so a bare "404-…" does not count.
    Only the first and the last hyphen are tried, where a site's name
    would be joined on: trying every one made a title of many hyphens
    quadratic.
    """
    if "-" not in segment or _segment_not_found(segment) is not None:
        return [segment]
    hyphens = [m.start() for m in _LATIN_HYPHEN.finditer(segment)]
    for cut in {hyphens[0], hyphens[-1]} if hyphens else ():
        head, tail = segment[:cut], segment[cut + 1 :]
        for part in (head, tail):
            if " " in part.strip() and _segment_not_found(part.strip(_STRIP_PUNCT)):
                return [head, tail]
    return [segment]


def _segment_not_found(segment: str, slack: int = 0) -> str | None:
    """The phrase if ``segment`` says "not found" and nothing else, else None.

    Nothing else: the segment is one of the short not-found forms
    (``SOFT_404_SEGMENTS``), or a phrase with only the small talk of such
    messages around it ("Hmm, the page you were looking for doesn't seem to
    exist anymore", "お探しのページが見つかりませんでした", "您访问的页面不存在或
    已被删除"), plus at most ``slack`` other CJK characters.
    Not a bare share of the letters: one Latin noun beside the phrase makes
    it the name of something ("Page not found handler", "Custom page you are
    looking for component"), however short that noun is.
    """
    if _ANY_SOFT_404_SEGMENT.fullmatch(segment):
        return segment
    rest = segment.replace("’", "'")
    if not _ANY_SOFT_404_PHRASE.search(rest):
        return None  # the common case, in one pass
    found: str | None = None
    for phrase in _PHRASES_LONGEST_FIRST:
        if phrase in rest:
            found = found or phrase
            rest = rest.replace(phrase, " ")
    if found is None:
        return None
    for word in _SOFT_404_SMALL_TALK_CJK:
        rest = rest.replace(word, " ")
    leftover = [word for word in _WORD.findall(rest) if word not in _SOFT_404_SMALL_TALK]
    if all(_HAS_CJK.fullmatch(ch) for word in leftover for ch in word) and (
        sum(map(len, leftover)) <= slack
    ):
        return found
    return None


def _one_name_in_two_scripts(a: str, b: str) -> bool:
    """A site named twice, in CJK and in Latin letters ("哔哩哔哩_bilibili")."""

    def cjk_only(x: str) -> bool:
        return bool(_HAS_CJK.search(x)) and not _HAS_LATIN.search(x)

    def latin_only(x: str) -> bool:
        return bool(_HAS_LATIN.search(x)) and not _HAS_CJK.search(x)

    return (cjk_only(a) and latin_only(b)) or (latin_only(a) and cjk_only(b))


# Every parked marker and host contains one of these; a page with none skips the rest.
_PARKED_HINTS = ("domain", "park", "sedo", "bodis", "dan.com", "afternic", "undeveloped", "域名")


def parked_marker(text: str, lowered: str | None = None) -> str | None:
    """The parked-domain phrase ``text`` holds, or None (``lowered``: its ``lower()``, if known).

    Any phrase, anywhere: for text already known to be a parking page's
    message.  classify itself asks :func:`_parked_evidence`, which looks at
    where a marker sits.
    """
    if lowered is None:
        lowered = text.lower()
    if not any(hint in lowered for hint in _PARKED_HINTS):
        return None
    for pattern in PARKED_MARKERS:
        match = pattern.search(text)
        if match:
            return match.group(0)
    return None


#: The page's own name said to be for sale: "this domain", "此域名", or the
#: page's host itself ("example.com is for sale", "The domain example.com
#: may be for sale"), filled in per page.
_OWN_DOMAIN_FOR_SALE = (
    r"(?<![\w.-])(?:this\s+domain|(?:the\s+domain\s+(?:name\s+)?)?(?:{names}))"
    r"(?:\s+name)?\s+(?:is|may\s+be)\s+(?:now\s+)?"
    r"(?:for\s+sale|available\s+for\s+(?:sale|purchase))\b"
    r"|(?:此|该|該|本)域名(?:正在|可以?)?出售"
)
# Every parked marker, marketplace host and for-sale statement holds one of these.
_PARKED_EVIDENCE_HINTS = (*_PARKED_HINTS, "sale", "purchase", "出售")


_SOME_DOMAIN_FOR_SALE = re.compile(
    _OWN_DOMAIN_FOR_SALE.format(names=r"[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)+"), re.IGNORECASE
)


def _own_domain_for_sale(text: str, host: str, *, opening: bool = False) -> str | None:
    """The words in ``text`` that say the page's own domain is for sale, or None.

    ``opening``: only when they open ``text`` (a lander's title *is* the
    statement, "example.com is for sale | HugeDomains"; an article's title
    tells of it, "Why example.org is for sale: our story").
    """
    bare = host.removeprefix("www.")
    names = "|".join(re.escape(name) for name in {bare, registrable_domain(bare)} if name)
    pattern = _OWN_DOMAIN_FOR_SALE.format(names=names or "this domain")
    if opening:
        found = re.match(rf"\W*(?:{pattern})", text, re.I)
        return found.group(0).strip() if found else None
    found = re.search(pattern, text, re.I)
    return found.group(0) if found else None


def _parked_evidence(page: _Page, host: str = "") -> str | None:
    """What shows ``page`` (served by ``host``) to be a parking or for-sale page, or None.

    On any page: a parking service's or marketplace's script, frame,
    stylesheet or refresh, since a page built of the marketplace's parts is
    its lander; and a title or first heading saying the page's own domain is
    for sale ("example.com is for sale", "This domain is for sale"), since a
    page names itself there, however long the sales talk below.  On a short
    page: a marketplace's image, and a statement ("This domain is for sale",
    "buy this domain") in the title or text.  A title or heading saying some
    other domain is for sale counts on any page that links a marketplace.  A
    mere mention (a marketplace's name or link, "domain parking") only when
    the page is nearly empty.  So an article about parking, news of a domain
    sale, or a post that links dan.com, is not mistaken for a parked domain.
    """
    if not any(hint in page.lower for hint in _PARKED_EVIDENCE_HINTS):
        return None
    hosts = list(_tag_hosts(page.text))
    for use, used in hosts:
        if use == _LOADS and registrable_domain(used) in PARKING_SERVICE_HOSTS:
            return used
    links_market = any(
        use == _LINKS and registrable_domain(used) in PARKED_HOSTS for use, used in hosts
    )
    for heading in (page.title, page.h1):
        said_here = _own_domain_for_sale(heading, host, opening=True)
        if said_here is None and links_market:
            # Some domain for sale, and a marketplace to buy it at: the
            # lander of a domain reached under another name.
            found = _SOME_DOMAIN_FOR_SALE.search(heading)
            said_here = found.group(0) if found else None
        if said_here is not None:
            return said_here
    visible = page.visible_text
    if len(visible) >= SHORT_PAGE_CHARS:
        return None
    for use, used in hosts:
        if use == _SHOWS and registrable_domain(used) in PARKING_SERVICE_HOSTS:
            return used
    said = f"{page.title} {visible}"
    own = _own_domain_for_sale(said, host)
    if own is not None:
        return own
    for pattern in PARKED_STATEMENTS:
        match = pattern.search(said)
        if match:
            return match.group(0)
    if not page.nearly_empty:
        return None
    for pattern in PARKED_MENTIONS:
        match = pattern.search(said)
        if match:
            return match.group(0)
    for use, used in hosts:
        if use == _LINKS and registrable_domain(used) in PARKED_HOSTS:
            return used
    return None


_PLAYABILITY = re.compile(r'"playabilityStatus"\s*:\s*\{')
_TITLE_OR_META = re.compile(r"<title\b|<meta\b[^<>]*>", re.IGNORECASE)
_TITLE_END = re.compile(r"</title\s*>", re.IGNORECASE)
_JSON = json.JSONDecoder()


def youtube_unavailable(text: str) -> str | None:
    """What a YouTube watch page says of a video that is gone, or None.

    The player response's ``playabilityStatus`` decides when the page has
    one: ``ERROR`` is gone, and so is another non-``OK`` status whose reason
    is one of YouTube's "unavailable" messages (``LOGIN_REQUIRED`` for a
    private video, but not an age check).  The video's own title or
    description may say "Video unavailable" (a how-to about the error), so
    the words elsewhere count only on a page without a player response, and
    never in its ``<title>`` or ``<meta>`` tags.
    """
    found = _PLAYABILITY.search(text)
    if found is not None:
        try:
            status, _ = _JSON.raw_decode(text, found.end() - 1)
        except ValueError:
            status = None
        if isinstance(status, dict):
            reason = status.get("reason")
            reason = reason if isinstance(reason, str) else ""
            code = status.get("status")
            if code == "ERROR":
                return reason or "the video cannot be played (ERROR)"
            if code != "OK" and any(m in reason for m in YOUTUBE_REASONS):
                return reason
            return None
    rest = _without_title_and_meta(text)
    for marker in YOUTUBE_UNAVAILABLE_MARKERS:
        if marker in rest:
            return marker.strip('"')
    return None


def _without_title_and_meta(text: str) -> str:
    """``text`` with its ``<title>…</title>`` and ``<meta>`` tags blanked out.

    A scan rather than one ``<title\\b.*?</title>`` substitution, which
    rescans the rest of the page for each unclosed ``<title`` (quadratic:
    ``<title `` × 40,000 took half a minute).
    """
    parts: list[str] = []
    pos = 0
    titles_close = True
    while (tag := _TITLE_OR_META.search(text, pos)) is not None:
        parts.append(text[pos : tag.start()])
        pos = tag.end()
        if tag.group(0)[1:].lower().startswith("title"):
            close = _TITLE_END.search(text, pos) if titles_close else None
            if close is None:
                titles_close = False  # no later <title> closes either
                parts.append(tag.group(0))
                continue
            pos = close.end()
        parts.append(" ")
    parts.append(text[pos:])
    return "".join(parts)


def is_bot_challenge(obs: Observation) -> bool:
    return bot_challenge_marker(obs.status_code, obs.headers, obs.body, _ctype(obs)) is not None


def _ctype(obs: Observation) -> str:
    return _header(obs.headers, "content-type").lower()


# ---------------------------------------------------------------------------
# Redirect stubs: a moved page's 200 answer that sends the reader on with a
# <meta http-equiv="refresh"> (jekyll-redirect-from, Hugo aliases, many docs
# sites).  The fetch layer follows one like a redirect hop (docs/verdicts.md).
# ---------------------------------------------------------------------------

#: The largest body (decoded) that may be a redirect stub.  The stubs that
#: static site generators write are a few hundred bytes (jekyll-redirect-from's
#: ~600, a Hugo alias ~400) and stay well under this even with analytics
#: scripts added; a page larger than this has content of its own, and a
#: refresh on it (a news page reloading) is not a move.  The bound also keeps
#: the cost off every real page: they fail this length test before any look.
STUB_MAX_BYTES = 8192
#: The longest refresh delay (seconds) that counts as "sends the reader on at
#: once".  Stubs say 0 (some 1–3, to show "Redirecting…"); a page that
#: reloads itself or moves on after a minute is read where it is.  Search
#: engines, too, take only an instant refresh for a permanent redirect.
STUB_MAX_DELAY = 5
_ASCII_SPACE = " \t\n\f\r"
_DIGITS = "0123456789"


def parse_refresh(content: str) -> tuple[int, str] | None:
    """The delay and URL of a ``<meta http-equiv="refresh">`` content, or None if invalid.

    The HTML Standard's "shared declarative refresh steps" (§4.2.5.3):
    seconds as digits (a fraction ignored), then ``;`` or ``,`` or space,
    then the URL, optionally after ``url=`` (any case, spaces around ``=``)
    and in single or double quotes (cut at the closing quote).  The URL is
    ``""`` when there is none: the page refreshes itself.  Where the standard
    would also drop a partial ``url`` prefix (``0; u/x`` → ``/x``) the URL is
    taken whole, as Chromium does.  A delay too long to matter is given as
    ``10**6`` rather than parsed (a hostile run of digits must cost nothing).
    """
    rest = content.lstrip(_ASCII_SPACE)
    digits = len(rest) - len(rest.lstrip(_DIGITS))
    if not digits and not rest.startswith("."):
        return None
    delay = int(rest[:digits]) if 0 < digits <= 6 else (10**6 if digits else 0)
    rest = rest[digits:].lstrip(_DIGITS + ".")
    if not rest:
        return delay, ""
    if rest[0] not in ";," + _ASCII_SPACE:
        return None
    rest = rest.lstrip(_ASCII_SPACE)
    if rest[:1] in (";", ","):
        rest = rest[1:].lstrip(_ASCII_SPACE)
    if rest[:3].lower() == "url":
        after = rest[3:].lstrip(_ASCII_SPACE)
        if after.startswith("="):
            rest = after[1:].lstrip(_ASCII_SPACE)
    if rest[:1] in ("'", '"'):
        rest = rest[1:].partition(rest[0])[0]
    # The URL parser trims C0 controls and spaces around a URL (URL Standard §4.4).
    return delay, rest.strip(_ASCII_SPACE + "\x00\x0b")


def refresh_target(body: bytes, content_type: str) -> str | None:
    """Where a redirect stub sends the reader (the ``url`` as written), or None.

    A stub is small HTML (``STUB_MAX_BYTES``) whose ``<head>`` holds a
    ``<meta http-equiv="refresh">`` with a delay of at most
    ``STUB_MAX_DELAY`` seconds and a URL.  Only the first valid refresh
    counts, as in a browser (HTML §4.2.5.3: a document refreshes once).  A
    refresh inside ``<noscript>`` is not the page's own (a browser with
    scripts ignores it) and one in the body is not a stub's.  The caller
    resolves the URL against the page's and decides whether it leads
    elsewhere; a refresh without one reloads the page and is None here.

    Cheap by design, since every small HTML page comes through here: the
    size and a substring test turn away almost everything before the body is
    decoded or parsed.
    """
    if len(body) > STUB_MAX_BYTES or "html" not in content_type.lower():
        return None
    if b"refresh" not in body.lower():
        return None
    head = parse_html(decode_text(body, _charset(content_type, body))).head
    if head is None:
        return None
    for node in head.iter():
        if node.tag != "meta":
            continue
        attrs = node.attributes
        if (attrs.get("http-equiv") or "").lower() != "refresh":
            continue
        parsed = parse_refresh(attrs.get("content") or "")
        if parsed is None:
            continue  # invalid: a browser ignores it and reads the next
        delay, url = parsed
        return url if url and delay <= STUB_MAX_DELAY else None
    return None


# ---------------------------------------------------------------------------
# Retry policy.
# ---------------------------------------------------------------------------


def should_retry(obs: Observation) -> bool:
    """True when a fresh attempt may well give a different answer.

    Transient transport failures and the statuses RFC 9110 reserves for the
    server's momentary state are retried; a bot challenge is not (asking
    again only digs deeper into the wall), nor is anything an adapter or a
    definite answer (404, NXDOMAIN, a bad certificate) already settled.
    """
    if obs.adapter_verdict is not None:
        return False
    if obs.error is not None and obs.error not in _NON_FATAL_ERRORS:
        return obs.error in RETRYABLE_ERRORS
    if obs.status_code is None:
        return False
    if obs.status_code not in RETRYABLE_STATUSES:
        return False
    return not is_bot_challenge(obs)


_DELAY_SECONDS = re.compile(r"-?\d+")


def retry_after_seconds(headers: Mapping[str, str], now: datetime, cap: float) -> float | None:
    """Seconds to wait according to ``Retry-After`` (RFC 9110 §10.2.3), capped.

    Both forms are accepted: ``delay-seconds`` and an HTTP-date (any of the
    three formats RFC 9110 §5.6.7 obliges recipients to parse, which
    ``email.utils.parsedate_to_datetime`` covers).  A date in the past or a
    negative delay means "now" (0).  Anything unparsable is None, so the
    caller falls back to its own backoff.  A naive ``now`` is taken as UTC.
    """
    raw = _header(headers, "retry-after").strip()
    if not raw:
        return None
    if _DELAY_SECONDS.fullmatch(raw):
        # float, not int: int() refuses more than 4,300 digits (CVE-2020-10735),
        # and a server may send that many; float makes them inf, then the cap.
        seconds = float(raw)
    else:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        ref = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
        seconds = (when - ref).total_seconds()
    return min(max(seconds, 0.0), cap)


def is_network_failure(obs: Observation) -> bool:
    """True when no HTTP answer came because the network failed below HTTP.

    Used to tell "this site is down" from "the checker is offline": when
    most links of a run fail like this the run is inconclusive
    (design.md §3).  A plain ``timeout`` counts only when the fetch layer
    says it happened while connecting; a read timeout means a server was
    reached.
    """
    if obs.status_code is not None or obs.error is None:
        return False
    return is_network_failure_kind(obs.error, obs.error_detail)


def is_network_failure_kind(error: str, detail: str) -> bool:
    """:func:`is_network_failure` for a failure that has no observation yet."""
    if error in NETWORK_FAILURE_ERRORS:
        return True
    return error == "timeout" and detail.lower().startswith("connect")


# ---------------------------------------------------------------------------
# classify
# ---------------------------------------------------------------------------


def classify(obs: Observation, link: Link, *, shared: SharedBody | None = None) -> Classification:
    """Exactly one verdict for one fetch (design.md §2; docs/verdicts.md).

    ``shared`` is the pipeline's memo of ``obs.body`` (see ``htmlpage``):
    given one, the page is decoded and parsed through it so that content
    extraction can reuse the tree; the verdict is the same either way.

    Order matters and runs from the most to the least specific fact: an
    adapter's API answer, then transport failures, then bot walls and
    login redirects (which disguise every other signal), then the status
    code, then what the page itself says, and only then the redirect chain
    (moved vs ok).
    """
    if obs.adapter_verdict is not None:
        reason = obs.adapter_reason or obs.adapter_verdict.value
        suggested = obs.final_url if obs.adapter_verdict is Verdict.MOVED else None
        return Classification(obs.adapter_verdict, reason, obs.adapter_detail or reason, suggested)
    if obs.error is not None and not (obs.error in _NON_FATAL_ERRORS and obs.status_code):
        return _classify_error(obs)
    status = obs.status_code
    if status is None:
        return _result("no-response", "The fetch produced neither an answer nor an error.")

    final_url = obs.final_url or obs.url
    redirects = _redirect_statuses(obs)
    if shared is not None and shared.body is not obs.body and shared.body != obs.body:
        shared = None  # a memo of some other body must not answer for this one
    page = _Page(obs.body, _ctype(obs), shared)

    marker = _bot_marker(status, obs.headers, page)
    if marker is not None:
        return _result("bot-challenge", f"HTTP {status} with a bot wall ({marker}).")

    if redirects and _is_login_url(final_url, obs.url) and not _is_login_url(obs.url):
        return _result("login-required", f"Redirected to a login page: {final_url}")

    if status in link.accept and not 200 <= status < 300:
        return _result("accepted-status", f"HTTP {status}, accepted by the catalog entry.")

    if not 200 <= status < 300:
        return _classify_status(obs, status, redirects, final_url)

    return _classify_page(obs, link, page, redirects, final_url)


def _redirect_statuses(obs: Observation) -> tuple[int, ...]:
    """The status of each redirect hop; a followed redirect stub counts as a 301.

    A stub's instant meta refresh is the static site's way of saying "moved
    permanently" (it cannot send a 301), and search engines read it so.
    """
    return tuple(
        META_REFRESH_STATUS if h.meta_refresh else h.status
        for h in obs.hops
        if h.meta_refresh or 300 <= h.status < 400
    )


def _classify_error(obs: Observation) -> Classification:
    kind = obs.error or ""
    reason, sentence = ERROR_REASONS.get(kind, ("network-error", f"The request failed ({kind})"))
    detail = f"{sentence}: {obs.error_detail}." if obs.error_detail else f"{sentence}."
    if reason in ("ssrf-blocked",) and obs.final_url:
        detail = f"{sentence} ({obs.final_url}); refused to follow it."
    return _result(reason, detail)


def _classify_status(
    obs: Observation, status: int, redirects: tuple[int, ...], final_url: str
) -> Classification:
    via = f" after redirects to {final_url}" if redirects else ""
    if status == 304 and obs.not_modified:
        # The page is unchanged, but a permanent redirect in front of it still
        # means the catalog should be updated, tonight as last night.
        moved = _redirect_verdict(obs, redirects, final_url) if redirects else None
        if moved is not None and moved.verdict is Verdict.MOVED:
            return moved
        return _result("not-modified", "Unchanged since the last check (HTTP 304).")
    if status in (401, 407):
        return _result("auth-required", f"HTTP {status}: the server asks for credentials{via}.")
    if status == 403:
        return _result("http-403", f"HTTP 403: the server refuses our client{via}.")
    if status == 429:
        return _result("rate-limited", f"HTTP 429: still rate-limited after retries{via}.")
    if status == 999:
        return _result("bot-999", "HTTP 999: the site refuses automated clients.")
    if status in (404, 410):
        if redirects:
            return _result("redirect-to-404", f"Redirects to {final_url}, which answers {status}.")
        return _result(
            f"http-{status}", f"HTTP {status}: " + ("not found." if status == 404 else "gone.")
        )
    if status == 408:
        return _result("http-408", "HTTP 408: the server timed out waiting for our request.")
    if 300 <= status < 400:
        if status == 304:
            return _result("unexpected-status", "HTTP 304 to a request that was not conditional.")
        return _result("redirect-without-location", f"HTTP {status} without a usable Location.")
    if 400 <= status < 500:
        return _result("http-4xx", f"HTTP {status}: the server rejects the request{via}.")
    if 500 <= status < 600:
        attempts = f" after {obs.attempts} attempts" if obs.attempts > 1 else ""
        return _result("http-5xx", f"HTTP {status}: server error{attempts}{via}.")
    return _result("unexpected-status", f"The server answered with status {status}.")


def _classify_page(
    obs: Observation,
    link: Link,
    page: _Page,
    redirects: tuple[int, ...],
    final_url: str,
) -> Classification:
    status = obs.status_code
    start_host, final_host = _host(obs.url), _host(final_url)

    if redirects:
        start_path = _split(obs.url).path
        final_path = _split(final_url).path
        same_site = registrable_domain(start_host) == registrable_domain(final_host)
        if (
            same_site
            and not _is_home_path(start_path)
            and _is_home_path(final_path)
            and not _has_query_identity(obs.url, final_url)
            and not _section_moved_to_subdomain(_split(obs.url), _split(final_url))
        ):
            return _result(
                "redirect-to-home",
                f"The deep link now redirects to the site's home page ({final_url}).",
            )
        if registrable_domain(final_host) in PARKED_HOSTS and registrable_domain(
            start_host
        ) != registrable_domain(final_host):
            return _result("parked-domain", f"Redirects to a domain marketplace ({final_host}).")

    if page.is_html or not page.content_type:
        marker = _parked_evidence(page, final_host) if page.body else None
        if marker is not None:
            return _result("parked-domain", f"The domain is parked or for sale ('{marker}').")

    if final_host in YOUTUBE_HOSTS and page.body:
        said = youtube_unavailable(page.text)
        if said is not None:
            return _result("video-unavailable", f"YouTube says: {said}.")

    if page.is_html and page.body:
        # On a nearly empty page the message is all there is, so a clause that
        # says only "not found" is enough ("Sorry: page not found, try the
        # search"); not on a script-rendered shell, whose article text only a
        # browser fills in.
        def bare() -> bool:  # asked last: the page's visible text costs a render
            return page.nearly_empty and not _looks_script_rendered(page)

        def says_it(text: str) -> bool:  # cheap first: most titles hold no phrase at all
            if not _ANY_SOFT_404_PHRASE.search(text.lower().replace("’", "'")):
                return False
            return bare() and _soft_404_match(text, bare=True) is not None

        title = _soft_404_match(page.title)
        if (title is not None and (title[1] <= 1 or page.nearly_empty)) or says_it(page.title):
            return _result(
                "soft-404-title",
                f"HTTP {status}, but the page title says '{page.title}'.",
            )
        # A title that names a not-found phrase among other segments makes the
        # page an article of that name, and its first heading repeats the name
        # ("404 Not Found" on MDN's page about the status): no evidence then.
        heading = _soft_404_match(page.h1) if title is None else None
        if (heading is not None and (heading[1] <= 1 or page.nearly_empty)) or (
            title is None and says_it(page.h1)
        ):
            return _result(
                "soft-404-heading",
                f"HTTP {status}, but the page heading says '{page.h1}'.",
            )

    if obs.soft404_probe_match:
        return _result(
            "soft-404-probe",
            "The site answers a made-up address on the same host with this same page.",
        )

    gap = _body_gap(obs)
    if link.expect_text:
        found = _contains_text(page, link.expect_text)
        if not found:
            if gap is not None:
                return _result(
                    "expected-text-unverified",
                    f"'{link.expect_text}' is not in what we read of the page ({gap}).",
                )
            return _result(
                "expected-text-missing", f"The page no longer contains '{link.expect_text}'."
            )

    fragment = _fragment_to_check(link, obs.url, final_host)
    if fragment is not None and (page.is_html or gap is not None) and not obs.not_modified:
        verdict = _check_fragment(page, fragment, gap)
        if verdict is not None:
            return verdict

    result = _redirect_verdict(obs, redirects, final_url)
    if obs.error == "decode-error":
        note = f" The body could not be decoded ({obs.error_detail or 'unknown encoding'})."
        result = Classification(
            result.verdict, result.reason, result.detail + note, result.suggested_url
        )
    return result


def _body_gap(obs: Observation) -> str | None:
    """Why the body we judge is not the whole page, or None when it is.

    Content checks (fragment, expect_text) cannot prove absence from a
    partial body, so they report "unverified" instead of a false alarm.
    """
    if obs.body_truncated:
        return "the page is larger than the body limit"
    if obs.error == "decode-error":
        return f"the body could not be decoded: {obs.error_detail or 'unknown encoding'}"
    if obs.method.upper() == "HEAD":
        return "only the headers were fetched (HEAD)"
    return None


def _has_query_identity(start: str, final: str) -> bool:
    """A home page that keeps the start URL's query still names the resource (``/?p=12``)."""
    start_query = _split(start).query
    return bool(start_query) and start_query == _split(final).query


def _contains_text(page: _Page, needle: str) -> bool:
    """Case- and whitespace-insensitive, on raw HTML and on visible text (entities decoded).

    The visible text is read both ways inline markup may render — run
    together (``<strong>大语言</strong>模型``) and spaced apart
    (``<span>John</span><span>Smith</span>``) — and either one will do: a
    false "missing" costs more than a missed edit.
    """
    wanted = _squash(needle).casefold()
    if wanted in _squash(page.text).casefold():
        return True
    if not page.is_html:
        return False
    return wanted in page.visible_text.casefold() or wanted in page.spaced_text.casefold()


_GITHUB_LINE_ANCHOR = re.compile(r"L\d+(?:C\d+)?(?:-L\d+(?:C\d+)?)?")


def _fragment_to_check(link: Link, url: str, host: str) -> str | None:
    """The fragment to look for, or None when there is none we can check.

    Skipped: empty fragments, SPA routes (``#/…``, ``#!…``), text fragments
    (``#:~:text=``, WICG Scroll-to-Text, never an element id) and GitHub
    line anchors (``#L10-L20``, resolved by script).
    """
    if not link.check_fragment or "#" not in url:
        return None
    raw = url.split("#", 1)[1]
    if not raw or raw.startswith(("/", "!", ":~:")) or raw in ("top",):
        return None
    if host.endswith("github.com") and _GITHUB_LINE_ANCHOR.fullmatch(raw):
        return None
    return raw


def _check_fragment(page: _Page, fragment: str, gap: str | None) -> Classification | None:
    """Look for ``id=`` or ``<a name=>`` equal to the fragment (HTML §7.4.6.4).

    Ids match case-sensitively, both as written and percent-decoded; GitHub
    prefixes rendered Markdown ids with ``user-content-``.
    """
    decoded = unquote(fragment)
    wanted = {fragment, decoded, "user-content-" + fragment, "user-content-" + decoded}
    for node in page.tree.css("[id], a[name]"):
        attrs = node.attributes
        if attrs.get("id") in wanted or attrs.get("name") in wanted:
            return None
    if gap is not None:
        return _result(
            "fragment-unverified", f"#{decoded} is not in what we read of the page ({gap})."
        )
    if _looks_script_rendered(page):
        return _result(
            "fragment-unverified",
            f"#{decoded} is not in the HTML, but the page is rendered by JavaScript, "
            "so its anchors only exist in a browser.",
        )
    return _result("fragment-missing", f"The page has no element with id or name '{decoded}'.")


def _looks_script_rendered(page: _Page) -> bool:
    """An HTML shell with scripts and hardly any text is a client-rendered app."""
    return "<script" in page.lower and len(page.visible_text) < 300


def _redirect_verdict(
    obs: Observation, redirects: tuple[int, ...], final_url: str
) -> Classification:
    status = obs.status_code
    if not redirects:
        return _result("ok", f"HTTP {status}.")
    if not all(code in PERMANENT_REDIRECTS for code in redirects):
        return _result("ok-redirected", f"HTTP {status} after a temporary redirect to {final_url}.")
    start, final = _without_fragment(obs.url), _without_fragment(final_url)
    if start == final:
        return _result("ok-redirected", f"HTTP {status}; the redirects lead back to the same URL.")
    # The fetch layer carries the link's #fragment to the final URL (or a
    # hop brought its own): either way the suggestion keeps it.
    suggested = final_url if "#" in final_url else final
    if "#" in obs.url and "#" not in final_url:
        suggested = final + "#" + obs.url.split("#", 1)[1]
    # Say so when a stub page did it: the curator opening the old URL sees a
    # page, not a redirect, and may wonder why it is called moved.
    how = " by a meta refresh page" if any(h.meta_refresh for h in obs.hops) else ""
    cosmetic = _canonical_difference(start, final)
    if cosmetic is not None:
        return _result(
            "moved-canonical",
            f"Permanently redirected{how} to {suggested} ({cosmetic}); updating is optional.",
            suggested,
        )
    return _result("moved-permanently", f"Permanently redirected{how} to {suggested}.", suggested)


def reasons_for(verdict: Verdict) -> Iterable[str]:
    return (r for r, (v, _) in REASONS.items() if v is verdict)
