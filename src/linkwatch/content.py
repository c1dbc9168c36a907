"""Pure content handling: a page's main text, its noise-free fingerprint, a diff.

The freshness signal of design.md §3 (``changed``) must only fire when the
part of a page a reader comes for has changed.  So the text is taken from the
page's main region (``<main>``/``<article>``, or the catalog's ``select``),
with navigation, boilerplate and hidden elements dropped, and the fingerprint
is taken after removing the things that differ on every request (timestamps,
tokens, counters).  A false "changed" costs the curator's attention; a page
whose text really changed must still be noticed, so every noise rule below is
narrow and says why it exists.

No I/O here: bytes in, strings out.
"""

from __future__ import annotations

import codecs
import difflib
import functools
import hashlib
import html
import re
import unicodedata
import zlib
from collections.abc import Iterable, Sequence
from email.message import Message

from selectolax.lexbor import LexborNode

from linkwatch.htmlpage import (
    ANY_TAG,
    COMMENT,
    SharedBody,
    block_tag_pattern,
    decode_text,
    parse_html,
    text_codec,
)

# Elements that never carry a page's main text.  ``template`` content is
# inert (HTML §4.12.3), ``noscript`` duplicates what scripts render, and
# nav/header/footer/aside are the site's chrome (HTML §4.3 sectioning
# semantics): menus, "related posts" sidebars that rotate per request.
# Form controls (button, select, textarea, datalist) hold what a user types
# or picks, not what the page says.  ``<form>`` itself is not here: see
# ``_drop_forms``.
_DROP_TAGS = (
    "script",
    "style",
    "noscript",
    "template",
    "svg",
    "nav",
    "header",
    "footer",
    "aside",
    "iframe",
    "canvas",
    "object",
    "embed",
    "button",
    "select",
    "textarea",
    "datalist",
)
# ARIA landmarks that mean the same chrome when sites use <div role=…>
# (WAI-ARIA 1.2 §5.3.4), plus elements hidden from every reader (HTML
# ``hidden`` attribute, ``aria-hidden="true"``).
_DROP_SELECTORS = (
    "[hidden]",
    '[aria-hidden="true"]',
    '[role="navigation"]',
    '[role="banner"]',
    '[role="contentinfo"]',
    '[role="complementary"]',
    '[role="search"]',
    '[role="dialog"]',
)
# Attribute selectors need lexbor's CSS engine, whose set-up costs more than
# parsing a small page; an attribute whose name is nowhere in the markup
# cannot match, so most pages skip it (tag names are found without CSS).
_DROP_ATTRS = ",".join(_DROP_SELECTORS)
_DROP_ATTR_NAMES = ("hidden", "role")  # every _DROP_SELECTORS attribute holds one
# Elements whose end is a line break in rendered text, so the diff can work
# line by line instead of on one giant line.
_BLOCK_TAGS = frozenset(
    {
        "address",
        "article",
        "blockquote",
        "br",
        "dd",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "li",
        "main",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "td",
        "th",
        "tr",
        "ul",
        "body",
        "html",
        "summary",
        "details",
    }
)
_TEXTUAL_TYPES = frozenset(
    {
        "application/json",
        "application/ld+json",
        "application/xml",
        "application/javascript",
        "application/x-ndjson",
        "application/rss+xml",
        "application/atom+xml",
        "application/toml",
        "application/yaml",
        "application/x-yaml",
    }
)
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# HTML §13.2.3.2: the encoding prescan looks at the first 1024 bytes; real
# pages sometimes put <meta charset> a little later, so allow more.
_PRESCAN_BYTES = 4096
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_DECOMPRESS_CAP = 16 * 1024 * 1024


def fingerprint_bytes(body: bytes) -> str:
    """Hash of a binary body (PDF, image…), where there is no text to clean."""
    return hashlib.sha256(body).hexdigest()


@functools.lru_cache(maxsize=256)
def _media_type(content_type: str | None) -> tuple[str | None, str | None]:
    """``(media type, charset)`` parsed as RFC 9110 §8.3 describes.

    Cached: a run sees a handful of distinct values, and ``email``'s parser
    costs more than the rest of text extraction for a small page.
    """
    if not content_type:
        return None, None
    msg = Message()
    msg["content-type"] = content_type
    charset = msg.get_param("charset")
    return msg.get_content_type().lower(), charset if isinstance(charset, str) else None


def _decode(
    body: bytes, charset: str | None, *, html: bool, shared: SharedBody | None = None
) -> str:
    """Decode with BOM > header charset > ``<meta charset>`` > UTF-8 (HTML §13.2.3.1).

    ``errors="replace"`` because a page with one bad byte is still a page.
    """
    for bom, name in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le")):
        if body.startswith(bom):
            return body[len(bom) :].decode(name, errors="replace")
    if body.startswith(codecs.BOM_UTF16_BE):
        return body[2:].decode("utf-16-be", errors="replace")
    codec = text_codec(charset)
    if codec is None and html:
        match = _META_CHARSET.search(body[:_PRESCAN_BYTES])
        if match:
            codec = text_codec(match.group(1).decode("ascii", "replace"))
    if shared is not None:
        return shared.decode(codec or "utf-8")
    return decode_text(body, codec or "utf-8")


def normalise(text: str) -> str:
    """NFKC, one space between words, no blank lines.

    NFKC folds full-width and compatibility forms (``ＡＢＣ`` → ``ABC``),
    so a CJK site switching its punctuation width is not a content change.
    """
    text = unicodedata.normalize("NFKC", text).replace("\r\n", "\n").replace("\r", "\n")
    lines = (_squeezed(line) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


# What ``str.split()`` splits ASCII text on, besides the space and the line
# breaks ``normalise`` has already split on.
_ASCII_SPACING = "\t\x0b\x0c\x1c\x1d\x1e\x1f"


def _squeezed(line: str) -> str:
    """``" ".join(line.split())``, skipping the split when it would change nothing.

    Most lines of extracted text are already squeezed, and proving it takes
    a few substring scans (3 µs on 4 KiB) where splitting into words and
    joining them again takes 14 µs.
    """
    if (
        line.isascii()
        and "  " not in line
        and line[:1] != " "
        and line[-1:] != " "
        and not any(c in line for c in _ASCII_SPACING)
    ):
        return line
    return " ".join(line.split())


def _looks_binary(body: bytes) -> bool:
    return b"\x00" in body[:1024]


# WHATWG MIME Sniffing §7.1: the tags that identify an untyped body as HTML
# when followed by a space or ">".
_HTML_SNIFF = tuple(
    b"<" + tag
    for tag in (
        b"!doctype html",
        b"html",
        b"head",
        b"script",
        b"iframe",
        b"h1",
        b"div",
        b"font",
        b"table",
        b"a",
        b"style",
        b"title",
        b"b",
        b"body",
        b"br",
        b"p",
        b"!--",
    )
)


def _looks_html(body: bytes) -> bool:
    head = body[:512].lstrip(b" \t\n\r\x0c").lower()
    for prefix in _HTML_SNIFF:
        if head.startswith(prefix) and head[len(prefix) : len(prefix) + 1] in (b" ", b">"):
            return True
    return False


# Serialised markup of the chosen subtrees → text (see htmlpage).  The
# raw-text elements whose content lexbor would not escape (script, style,
# noscript, iframe…) are already gone (``_DROP_TAGS``).
_BLOCK_TAG = block_tag_pattern(_BLOCK_TAGS)


def _render(nodes: Iterable[LexborNode]) -> str:
    """Text of ``nodes`` with a line break at each block element's start and end.

    Done on the serialised markup with three C-level substitutions rather than
    a walk over every node in Python: 2× faster on a 60 KiB page, and no
    recursion, so hostile nesting depth costs nothing.
    """
    markup = COMMENT.sub("", "".join(node.html or "" for node in nodes))
    return html.unescape(ANY_TAG.sub("", _BLOCK_TAG.sub("\n", markup)))


def _html_text(html: str, select: str | None, shared: SharedBody | None) -> str:
    # The tree is changed below (chrome removed), so it is taken, not shared.
    tree = shared.take_tree(html) if shared is not None else parse_html(html)
    for name in _DROP_TAGS:
        for node in tree.tags(name):
            node.decompose()
    lowered = html.lower()
    has_role = "role" in lowered
    if has_role or any(name in lowered for name in _DROP_ATTR_NAMES):
        for node in tree.css(_DROP_ATTRS):
            node.decompose()
    if select:
        nodes = tree.css(select)
    else:
        nodes = (tree.css("main, [role=main]") if has_role else tree.tags("main")) or tree.tags(
            "article"
        )
        if not nodes:
            nodes = [tree.body] if tree.body is not None else []
    forms = tree.tags("form")  # a walk in C: cheaper than one scan of the markup
    if forms:
        _drop_forms(forms, nodes, tree.body)
    # A <main> nested in another selected node would be rendered twice.
    return _render(_outermost(nodes))


def _outermost(nodes: Sequence[LexborNode]) -> list[LexborNode]:
    """The ``nodes`` (in document order) that are not inside another of them.

    Each node climbs its ancestors only until one is a node of the list or
    already known to be inside one, so a page of thousands of nested
    ``<main>`` costs one step per node (comparing every pair cost minutes).
    """
    listed = {node.mem_id for node in nodes}
    inside: set[int] = set()
    kept: list[LexborNode] = []
    for node in nodes:
        parent = node.parent
        while parent is not None:
            if parent.mem_id in listed or parent.mem_id in inside:
                inside.add(node.mem_id)
                break
            parent = parent.parent
        else:
            kept.append(node)
    return kept


def _with_ancestors(nodes: Sequence[LexborNode]) -> set[int]:
    """The ids of ``nodes`` and of all their ancestors, each path climbed once."""
    seen: set[int] = set()
    for node in nodes:
        current: LexborNode | None = node
        while current is not None and current.mem_id not in seen:
            seen.add(current.mem_id)
            current = current.parent
    return seen


def _drop_forms(
    forms: Sequence[LexborNode], chosen: Sequence[LexborNode], body: LexborNode | None
) -> None:
    """Remove the forms that are chrome, keep the one that holds the page.

    Most forms are chrome: login, search and newsletter boxes, comment forms
    with a rotating anti-spam question.  But ASP.NET WebForms (and other
    server-side form frameworks) wrap the whole page in one ``<form>``;
    dropping it dropped the article, and the page's fingerprint fell back
    to its raw bytes, which change with every ``__VIEWSTATE``.  So a form
    stays when it contains the chosen region (``<main>``, an ``<article>``,
    the catalog's ``select``), or — when the page marks no region and the
    whole ``<body>`` is read — when it holds most of the body's text.  Its
    controls are gone already (``_DROP_TAGS``); a form's tokens live in
    attribute values, which are never text.
    """
    regions = [n for n in chosen if n != body]
    if regions:
        holding = _with_ancestors(regions)  # a form that is or holds a region is among them
        for form in forms:
            if form.mem_id not in holding:
                form.decompose()
        return
    # No region: the body is read.  HTML never nests forms (§13.2.6.4.7), so
    # at most one form can hold more than half of the body's text.
    body_size = _text_size(body) if body is not None and forms else 0
    for form in forms:
        if 2 * _text_size(form) <= body_size:
            form.decompose()


def _text_size(node: LexborNode) -> int:
    """How many non-space characters of text ``node`` holds (counted in C)."""
    return len("".join(node.text(deep=True).split()))


def extract_text(
    body: bytes,
    content_type: str | None,
    select: str | None = None,
    *,
    shared: SharedBody | None = None,
) -> str:
    """The main, human-readable text of a response body, normalised.

    HTML: chrome and hidden elements removed; ``<main>`` (or ARIA
    ``role=main``), else every ``<article>``, else ``<body>``.  ``select`` (the
    catalog's CSS selector) overrides that choice; if it matches nothing the
    result is ``""`` — the watched part of the page is gone, which is a change.
    Text types (plain, JSON, XML…) are decoded and normalised.  Anything
    else is binary and yields ``""``: hash it with :func:`fingerprint_bytes`.
    ``shared`` (the pipeline's memo of ``body``, see ``htmlpage``) lets the
    parse classify already made be reused; the text is the same either way.
    """
    if shared is not None and shared.body is not body and shared.body != body:
        shared = None
    kind = _kind(body, content_type)
    _, charset = _media_type(content_type)
    if kind == "html":
        html = _decode(body, charset, html=True, shared=shared)
        return normalise(_html_text(html, select, shared))
    if kind == "text":
        return normalise(_decode(body, charset, html=False))
    return ""


def is_binary(body: bytes, content_type: str | None) -> bool:
    """Whether :func:`extract_text` treats ``body`` as binary (PDF, image…).

    For HTML and text an empty :func:`extract_text` means the page holds no
    readable text (a JavaScript app shell, a ``select`` that matches
    nothing), which is not the same as a body that has no text form at all.
    """
    return _kind(body, content_type) == "binary"


def _kind(body: bytes, content_type: str | None) -> str:
    """``"html"``, ``"text"`` or ``"binary"``: how :func:`extract_text` reads ``body``."""
    media, _ = _media_type(content_type)
    if media in _HTML_TYPES or (media is None and _looks_html(body)):
        return "html"
    is_text = media is not None and (
        media.startswith("text/") or media in _TEXTUAL_TYPES or media.endswith(("+json", "+xml"))
    )
    if is_text or (media is None and not _looks_binary(body)):
        return "text"
    return "binary"


# --- noise -----------------------------------------------------------------

# Any change to extraction or to these rules that gives an unchanged page a
# new hash must raise ``models.FINGERPRINT_VERSION`` (see there).

_MONTHS = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_UNITS_EN = (
    r"(?:seconds?|secs?|minutes?|mins?|hours?|hrs?|days?|weeks?|wks?|months?|mos?|years?|yrs?)"
)
# Counter words.  English ones are whole words ("5 startups" holds no
# "stars"); Chinese has no spaces, so a label must not be the tail of a
# longer word ("重点关注 3 个方面" is "focus on 3 aspects", not 关注 = followers).
_COUNTER_WORDS_EN = (
    "views?", "likes?", "stars?", "forks?", "watching", "watchers?", "comments?", "downloads?",
    "plays?", "subscribers?", "followers?", "reads?", "reactions?", "shares?", "clones?",
)  # fmt: skip
_COUNTER_WORDS_ZH = (
    "播放[量数]?", "观看", "点赞数?", "收藏数?", "评论数?", "弹幕数?", "阅读[量数]?", "浏览[量数]?",
    "关注", "粉丝数?", "投币", "转发数?", "赞同?", "看过",
)  # fmt: skip
_COUNTER_EN = "(?:" + "|".join(_COUNTER_WORDS_EN) + ")"
_COUNTER_ZH = "(?:" + "|".join(_COUNTER_WORDS_ZH) + ")"
# Han ideographs (CJK Unified, Extension A, Compatibility): what may not
# precede a Chinese label.
_HAN = r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\uf9ff]"
# The first letters of the counter words (and of 次/人, "times"/"people",
# which may stand between a number and its word: "1234 次阅读", "5 人赞同"), as
# a lookahead in front of the alternation: Python's regex engine tries all
# the words at every position of a line (and again at every backtracking
# step of a number before them), and this one character test rejects
# almost all of them first.  It matches exactly the same text (it only
# restates a necessary condition); with the possessive number below, the
# counter rule on a short line went 13 -> 5 µs.
_COUNTER_FIRST = "".join(
    sorted({word[0] for word in (*_COUNTER_WORDS_EN, *_COUNTER_WORDS_ZH, "次", "人")})
)
_COUNTER_START = f"(?=[{_COUNTER_FIRST}])"
# Possessive (``*+``, Python 3.11): what follows a number never starts with a
# digit, comma, dot or space, so giving those back cannot make a match; without
# it every digit of "127.0.0.1" retried the counter words at each step back.
_NUMBER = r"\d[\d,.]*+\s*+(?:[kKmMbBwW]|万|亿|千)?\+?"
# Where a number may start: not inside one.  Without it, every digit of a
# long run like "1,1,1,…" started a number that the possessive class read to
# the run's end, and failed: quadratic (500 KB of it took minutes).  The
# match from the run's first digit covers the same text.
_NUMBER_START = r"(?<!\d)(?<!\d[,.])"
# A label's count: "Stars 120", "likes: 5", "阅读(1234)".
_COUNT = rf"(?:[(（]\s*{_NUMBER}\s*[)）]|[:：]?\s*{_NUMBER})"
# A lowercase English counter word before a bare number is a label only when
# the number ends the phrase ("… · stars 5"); followed by a word it is a verb
# and its object ("the loader reads 2 files").  Stated without relying on the
# possessive number, so giving digits back cannot make it hold.
_PHRASE_END = r"(?![\s\d,.]*[a-z])"

# Each rule: (why it is noise, pattern).  Order matters only for overlap:
# longer constructs (ISO timestamps) go before their parts (clock times).
# A full date shape needs no word boundary before it: inline elements are
# joined without a space ("<span>更新时间</span><span>2024-03-05</span>" reads
# "更新时间2024-03-05"), and Chinese puts none between words.
BUILTIN_NOISE: tuple[tuple[str, str], ...] = (
    (
        "Copyright lines carry the current year and roll over every 1 January.",
        r"(?i:©|\(c\)|copyright)\s*(?:(?:19|20)\d{2}\s*(?:[-–—~]\s*(?:19|20)\d{2})?)?",
    ),
    (
        "ISO 8601 / RFC 3339 timestamps: server render times, 'generated at' stamps.",
        r"(?<!\d)\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?",
    ),
    (
        "Slashed and CJK dates (2024/03/05, 2024年3月5日) are the same render stamps.",
        r"(?<!\d)\d{4}/\d{1,2}/\d{1,2}(?!\d)|\d{4}\s*年\s*\d{1,2}\s*月(?:\s*\d{1,2}\s*日)?",
    ),
    (
        "Spelled-out dates ('Updated March 5, 2024', '5 Mar 2024').",
        rf"(?i:\b{_MONTHS}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}\b"
        rf"|\b\d{{1,2}}\s+{_MONTHS}\s+\d{{4}}\b)",
    ),
    (
        "Clock times (12:34, 12:34:56 PM, 下午3:05, 发布于12:30) tick on every request; "
        "not after a Latin letter or digit, where '12:30' is part of something else.",
        r"(?:(?:上午|下午)\s*|(?<![A-Za-z\d_]))\d{1,2}:\d{2}(?::\d{2})?"
        r"(?:\s*[AaPp]\.?[Mm]\.?)?(?![A-Za-z\d_])",
    ),
    (
        "Relative times ('3 minutes ago', '3h ago', 'a few seconds ago', 'just now', "
        "'yesterday') move by themselves.",
        rf"(?i:\b(?:(?:an?|one|(?:a\s+)?few|several)\s+{_UNITS_EN}"
        rf"|\d+\s*(?:{_UNITS_EN}|[smhdwy]))\s+ago\b|\bjust now\b|\byesterday\b|\btoday\b)",
    ),
    (
        "Chinese relative times (3 分钟前, 1个小时前, 3小時前, 刚刚, 昨天), simplified and "
        "traditional, as bilibili, zhihu and Taiwanese sites print them, and Japanese 'N日前' "
        "and 'N時間前'; not 'N日前' followed by a Han verb, Chinese for 'before the Nth'.",
        r"\d+\s*日前(?![\u3400-\u9fff])"  # Japanese "3日前", not Chinese "15日前提交"
        r"|\d+\s*(?:秒钟?|秒鐘|分钟|分鐘|分|个?小时|個?小時|時間|个?钟头|個?鐘頭|天|周|週"
        r"|[个個]?星期|[个個]?月|年)前|刚刚|剛剛|昨天|前天|今天",
    ),
    (
        "UUIDs: request ids and nonces.",
        r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b",
    ),
    (
        "Long hex runs (≥ 16): CSRF tokens, cache-busting hashes, commit ids of a build.",
        r"\b[0-9a-fA-F]{16,}\b",
    ),
    (
        "Base64-like tokens (≥ 16, mixing digits, upper and lower case): nonces, session "
        "and CSRF tokens.  Random text scatters lone lower-case letters between capitals "
        "and digits ('aB3dE5'); names keep theirs in words ('AutoModelForSeq2SeqLM', "
        "'Llama-2-7b-chat-hf'), so a token needs two lone ones, or base64 padding.",
        r"(?<![A-Za-z0-9+/_-])(?=[A-Za-z0-9+/_-]*\d)(?=[A-Za-z0-9+/_-]*[a-z])"
        r"(?=[A-Za-z0-9+/_-]*[A-Z])(?=(?:[A-Za-z0-9+/_-]*?[A-Z0-9][a-z](?=[A-Z0-9])){2}"
        r"|[A-Za-z0-9+/_-]*=(?![\w+/-]))[A-Za-z0-9+/_-]{16,}={0,2}",
    ),
    (
        "Counters ('1.2k views', '12,345 次播放', '播放量 3.4万', 'Star 12.3k', '阅读(1234)'): "
        "they grow while the content stays the same.",
        rf"(?i:{_NUMBER_START}{_NUMBER}\s*{_COUNTER_START}(?:{_COUNTER_EN}(?![a-z])|[次人]?{_COUNTER_ZH})"
        rf"|{_COUNTER_START}(?:(?<![a-z])(?:(?-i:(?=[A-Z])){_COUNTER_EN}(?![a-z])\s*{_COUNT}"
        rf"|{_COUNTER_EN}(?![a-z])\s*(?:[(（]\s*{_NUMBER}\s*[)）]|[:：]\s*{_NUMBER}"
        rf"|{_NUMBER}{_PHRASE_END}))"
        rf"|(?<!{_HAN}){_COUNTER_ZH}\s*{_COUNT}))",
    ),
)


@functools.lru_cache(maxsize=256)
def _compile(patterns: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns))


# What each rule's match must start with, as a lookahead put in front of it
# (after the rule's own leading boundary, which is cheaper to fail).  Python's
# regex engine tries every rule at every position of a line; a rule whose
# first character cannot be there now fails on one class test instead of
# walking into its groups and lookarounds, and the whole alternation is
# skipped at spaces and punctuation that start no rule.  Each guard only
# restates what its rule requires, in the rule's own case mode, so the
# matches are exactly those of the plain rules (a hypothesis test checks).
# Measured on a 4 KiB line of prose with dates and counters: 975 -> 770 µs.
_GUARDS: tuple[tuple[str, str], ...] = (
    ("", "(?i:(?=[©(c]))"),  # copyright
    ("", r"(?=\d)"),  # ISO timestamps
    ("", r"(?=\d)"),  # slashed and CJK dates
    ("", r"(?i:(?=[\djfmasond]))"),  # spelled-out dates: a month or a day number
    ("", r"(?=[上下\d])"),  # clock times
    ("", r"(?i:(?=[\dajofsyt]))"),  # relative: number, a/an/one/few/several, just, yesterday, today
    ("", r"(?=[\d刚剛昨前今])"),  # Chinese relative times
    ("", ""),  # UUIDs: \b and a hex class are already cheap
    (r"\b", r"(?=[0-9a-fA-F]{16})"),  # long hex runs
    ("(?<![A-Za-z0-9+/_-])", "(?=[A-Za-z0-9+/_-]{16})"),  # tokens: most words are shorter
    ("", rf"(?i:(?=[\d{_COUNTER_FIRST}]))"),  # counters: a number or a counter word
)
# Every rule starts with a word character or one of these.
_ANY_START = r"(?=[\w©(+/\-])"


def _guarded(boundary: str, guard: str, rule: str) -> str:
    if boundary:
        if not rule.startswith(boundary):
            raise AssertionError(f"rule does not start with {boundary!r}: {rule!r}")
        return boundary + guard + rule[len(boundary) :]
    return guard + rule


# The rules that can start right after an ASCII letter, digit or "_": every
# other rule begins with ``\b`` (false between two word characters) or a
# lookbehind that refuses letters.  Inside a word, which is most positions of
# prose, only these are tried.
_MID_WORD_RULES = frozenset({0, 1, 2, 4, 6, 10})  # ©, dates, 下午 clocks, 分钟前, counters


def _alternation(indices: Iterable[int]) -> str:
    guarded = [
        _guarded(*_GUARDS[i], BUILTIN_NOISE[i][1]) for i in indices
    ]  # rule order kept: the first rule that matches at a position wins
    return "(?:" + "|".join(f"(?:{rule})" for rule in guarded) + ")"


# Case-insensitive per rule (``(?i:…)``), not globally: the token rule relies
# on telling upper from lower case.
_BUILTIN = re.compile(
    _ANY_START
    + "(?:(?<=[A-Za-z0-9_])"
    + _alternation(sorted(_MID_WORD_RULES))
    + "|(?<![A-Za-z0-9_])"
    + _alternation(range(len(BUILTIN_NOISE)))
    + ")"
)


# Every built-in rule needs a digit, except these words; a line with neither
# cannot hold noise.  (A 16-letter run of only a–f is left alone: no such word.)
_DIGIT = re.compile(r"\d")
_DIGITLESS_NOISE = ("©", "(c)", "copyright", "just now", "yesterday", "today", " ago",
                    "刚刚", "剛剛", "昨天", "前天", "今天")  # fmt: skip


def _strip_builtin(text: str) -> str:
    """The built-in rules, applied only to the lines that can hold noise.

    One big alternation costs ~0.1 ms per KiB at every position; most lines
    of prose hold no digit and none of the few digitless noise words, and
    skipping them cuts the cost of a fingerprint several times over.
    """
    return "\n".join(
        _BUILTIN.sub(" ", line) if _may_hold_noise(line) else line for line in text.split("\n")
    )


def _may_hold_noise(line: str) -> bool:
    # ``\d`` looks up every character's Unicode category (18 µs on 4 KiB of
    # prose); on ASCII text it means 0-9, and ten substring scans take 0.5 µs.
    if line.isascii():
        if any(digit in line for digit in "0123456789"):
            return True
    elif _DIGIT.search(line):
        return True
    lowered = line.lower()
    return any(word in lowered for word in _DIGITLESS_NOISE)


def _strip_builtin_normalised(text: str) -> str:
    """``normalise(_strip_builtin(text))`` for ``text`` that :func:`normalise` made.

    Only a line the rules changed can need squashing again; the others are
    kept as they are, which spares a second pass over the whole text.  The
    result is the same: a substitution puts a space where the noise was, and
    a space (a starter that composes with nothing) cannot make NFKC text
    un-normalised.  A test checks the equality on arbitrary text.
    """
    lines = []
    for line in text.split("\n"):
        kept = line
        if _may_hold_noise(line):
            stripped = _BUILTIN.sub(" ", line)
            if stripped != line:
                kept = " ".join(stripped.split())
        if kept:
            lines.append(kept)
    return "\n".join(lines)


def strip_noise(text: str, ignore_patterns: Sequence[str] = (), *, normalised: bool = False) -> str:
    """``text`` without the user's ignore regexes and the built-in noise.

    ``normalised``: ``text`` is :func:`normalise`'s output (as
    :func:`extract_text` returns it), which allows a faster path with the
    same result.  Raises ``ValueError`` naming the pattern when a user regex
    is invalid (the catalog loader should have caught it first).
    """
    if normalised and not ignore_patterns:
        return _strip_builtin_normalised(text)
    for pattern in ignore_patterns:
        try:
            compiled = _compile((pattern,))
        except re.error as exc:
            raise ValueError(f"invalid ignore pattern {pattern!r}: {exc}") from exc
        text = compiled.sub(" ", text)
    return normalise(_strip_builtin(text))


def fingerprint(text: str, ignore_patterns: Sequence[str] = (), *, normalised: bool = False) -> str:
    """sha256 (hex) of the text with noise removed; equal text → equal hash.

    ``normalised`` as in :func:`strip_noise`.
    """
    stripped = strip_noise(text, ignore_patterns, normalised=normalised)
    return hashlib.sha256(stripped.encode("utf-8")).hexdigest()


# --- diff ------------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)|(?<=[。！？；])")
_MAX_DIFF_LINE = 200


def _units(text: str) -> list[str]:
    """Lines, split further into sentences so one edit shows as one diff line."""
    out: list[str] = []
    for line in text.splitlines():
        out.extend(s.strip() for s in _SENTENCE_END.split(line) if s.strip())
    return out


def _clip(line: str) -> str:
    return line if len(line) <= _MAX_DIFF_LINE else line[: _MAX_DIFF_LINE - 1] + "…"


def diff_summary(old: str, new: str, max_lines: int = 20) -> str:
    """A bounded unified diff (no context, no file headers) of two texts.

    ``-``/``+`` lines per changed sentence, each clipped; beyond ``max_lines``
    a final line says how many were left out.  Empty when nothing differs.
    """
    lines = [
        _clip(line)
        for line in difflib.unified_diff(_units(old), _units(new), n=0, lineterm="")
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    if len(lines) > max_lines:
        rest = len(lines) - max_lines
        lines = [*lines[:max_lines], f"… {rest} more changed line{'s' if rest != 1 else ''}"]
    return "\n".join(lines)


# --- storage ---------------------------------------------------------------


def compress_text(text: str, max_bytes: int = 64_000) -> bytes:
    """zlib-compressed UTF-8 of ``text``, truncated to ``max_bytes`` first.

    The stored text only feeds the next run's diff, so its head is enough and
    the database stays bounded whatever a page holds.
    """
    raw = text.encode("utf-8")
    if len(raw) > max_bytes:
        raw = raw[:max_bytes].decode("utf-8", errors="ignore").encode("utf-8")
    # Level 1: on 18 KB of prose 4x faster than level 6 for an 11% larger
    # blob; every new page of a run pays this, the database barely notices.
    return zlib.compress(raw, 1)


def decompress_text(blob: bytes) -> str:
    """Inverse of :func:`compress_text`; ``ValueError`` on a damaged blob.

    Output is capped so a hostile or corrupt blob cannot expand without end.
    """
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(blob, _DECOMPRESS_CAP)
    except zlib.error as exc:
        raise ValueError(f"damaged compressed text: {exc}") from exc
    return raw.decode("utf-8", errors="replace")
