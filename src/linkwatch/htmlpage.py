"""One response body, decoded and parsed at most once per check.

classify (title, first ``<h1>``, ids for fragments) and content (the main
text for the fingerprint) both need the DOM of the same body, and they are
siblings in the layer contract, so neither may hand the other its tree.
Parsing a page is the single largest cost of a check after the text
rendering, so the pipeline builds one :class:`SharedBody` per observation
and passes it to both; each still works on its own when given none.

Sharing is keyed by the decoded text, not by the bytes: the two modules pick
a charset by slightly different rules (content honours a BOM), and a tree is
only reused when both decoded the body to the very same string — otherwise
the second caller simply parses again, so sharing can never change what
either of them sees.  Both read a charset label through :func:`text_codec`,
so they agree on what it means.
"""

from __future__ import annotations

import codecs
import functools
import re
from collections.abc import Iterable
from itertools import accumulate

from selectolax.lexbor import LexborHTMLParser

# Codecs Python knows that no browser would use to read a page: they raise
# on ``errors="replace"`` (idna, undefined), or turn escapes in the page into
# characters (unicode_escape), or were never a web charset (utf-7, punycode).
_NOT_WEB_CHARSETS = frozenset(
    {"idna", "punycode", "undefined", "unicode_escape", "raw_unicode_escape", "utf-7"}
)


# WHATWG Encoding Standard §4.2: browsers read these encodings as a superset
# (GB2312 and GBK pages as GB18030, Latin-1 and ASCII as windows-1252, …),
# and servers label pages by the subset while writing the superset's
# characters: read strictly, "朱镕基" in a GB2312-labelled page came out as
# "朱�F基".  Keyed by Python's codec name, so every alias of a label agrees.
_WEB_SUPERSET = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "iso8859-1": "cp1252",
    "ascii": "cp1252",
    "iso8859-9": "cp1254",
    "iso8859-11": "cp874",
    "tis-620": "cp874",
    "euc_kr": "cp949",
    "shift_jis": "cp932",
    "big5": "big5hkscs",
}
# WHATWG labels of those encodings that Python's codec registry does not know.
_WHATWG_ONLY_LABELS = {
    "csgb2312": "gb18030",
    "gb_2312": "gb18030",
    "gb_2312-80": "gb18030",
    "x-gbk": "gb18030",
    "iso88591": "cp1252",
    "x-cp1252": "cp1252",
    "windows-874": "cp874",
    "dos-874": "cp874",
    "x-sjis": "cp932",
    "windows-31j": "cp932",
    "big5-hkscs": "big5hkscs",
    "x-x-big5": "big5hkscs",
    "cn-big5": "big5hkscs",
}


@functools.lru_cache(maxsize=128)
def text_codec(label: str | None) -> str | None:
    """Python's codec for a charset label a server sent, or None when it is not usable.

    The label comes from a header or a ``<meta>`` the server wrote, so it can
    name anything Python's codec registry holds — binary transforms
    (``zlib``, ``base64``), codecs that raise whatever the error handler
    (``undefined``), or that only do strict errors (``idna``).  Decoding a
    body with one of those would crash the check; a browser would ignore
    such a label and fall back to its default, and so do we (None).  A label
    of an encoding browsers read as a superset gives the superset
    (``_WEB_SUPERSET``).
    """
    if not label:
        return None
    name = label.strip().strip("\"'")
    try:
        info = codecs.lookup(_WHATWG_ONLY_LABELS.get(name.lower(), name))
    except (LookupError, ValueError):  # ValueError: a NUL in the label
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_WEB_CHARSETS:
        return None
    codec = _WEB_SUPERSET.get(info.name, info.name)
    try:
        b"\xff\xfe<p>\x80</p>".decode(codec, errors="replace")
    except (UnicodeError, ValueError, TypeError):
        return None
    return codec


#: Deeper than this is hostile: Chromium's own parser stops nesting at 512.
MAX_DEPTH = 4096
#: What is parsed of a hostile page: at most ~13,000 tags, a fraction of a second.
HOSTILE_PREFIX = 65_536
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)")
# Elements that never contain anything (HTML §13.1.2), so never add depth.
_VOID = frozenset(
    {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    }
)


def parse_html(text: str) -> LexborHTMLParser:
    """Parse ``text``, refusing to spend quadratic time on hostile nesting.

    Tree construction is quadratic in nesting depth (the HTML spec's "has an
    element in scope" walks the stack of open elements at every end tag):
    with lexbor, 100,000 nested ``<div>``s take 9 s and a 1 MiB body of them
    over half a minute.  Only a page with more tags than ``MAX_DEPTH`` can be
    that deep, so most pages pay one ``str.count``; a deeper page is parsed
    from its first ``HOSTILE_PREFIX`` characters only.
    """
    if text.count("<") > MAX_DEPTH and max_depth(text) > MAX_DEPTH:
        text = text[:HOSTILE_PREFIX]
    return LexborHTMLParser(text)


def max_depth(text: str) -> int:
    """An upper bound of the element nesting depth (unclosed elements count as open)."""
    steps = (
        0 if name.lower() in _VOID else (-1 if slash else 1) for slash, name in _TAG.findall(text)
    )
    return max(accumulate(steps), default=0)


class SharedBody:
    """Memo of one body's decodings and its HTML tree.

    The tree from :meth:`tree` is for reading; its one permitted change is
    removing ``script``/``style``/``noscript``/``template`` elements (classify's
    visible text does that), which content removes anyway.  :meth:`take_tree`
    hands the tree over for any change: whoever asks afterwards gets a fresh
    parse.  The pipeline therefore classifies first and extracts text second.
    """

    __slots__ = ("_body", "_texts", "_tree", "_tree_text")

    def __init__(self, body: bytes) -> None:
        self._body = body
        self._texts: dict[str, str] = {}
        self._tree: LexborHTMLParser | None = None
        self._tree_text: str | None = None

    @property
    def body(self) -> bytes:
        return self._body

    def decode(self, encoding: str) -> str:
        """``body.decode(encoding, errors="replace")``, computed once per codec.

        ``LookupError`` for an unknown encoding, as ``bytes.decode`` raises.
        """
        key = codecs.lookup(encoding).name
        text = self._texts.get(key)
        if text is None:
            text = self._texts[key] = decode_text(self._body, key)
        return text

    def tree(self, text: str) -> LexborHTMLParser:
        """The parse of ``text``, shared with the next caller of the same text."""
        if self._tree is None or self._tree_text is None or not _same(self._tree_text, text):
            self._tree = parse_html(text)
            self._tree_text = text
        return self._tree

    def take_tree(self, text: str) -> LexborHTMLParser:
        """The parse of ``text`` for the caller to change at will; not shared afterwards."""
        tree = self.tree(text)
        self._tree = None
        self._tree_text = None
        return tree


def decode_text(body: bytes, codec: str) -> str:
    """``body.decode(codec, errors="replace")``, or as UTF-8 if that codec still fails.

    :func:`text_codec` screens labels; this is the last guard for a codec
    that fails only on some bytes, so that no page can crash a check.
    """
    try:
        return body.decode(codec, errors="replace")
    except (UnicodeError, ValueError, TypeError):
        return body.decode("utf-8", errors="replace")


def _same(a: str, b: str) -> bool:
    # Identity first: both callers usually hold the string decode() returned.
    return a is b or a == b


# --- serialised markup → text ----------------------------------------------
# classify (a page's visible text) and content (the main text) both read text
# off lexbor's serialisation with C-level substitutions rather than a walk
# over every node in Python.  Lexbor writes tag names in lower case, quotes
# attribute values, and escapes ``<``/``>`` in text but not inside attribute
# values, hence the quote-aware attribute run.

#: The attribute part of a tag, quotes and all (a ">" inside quotes does not end it).
TAG_ATTRS = r"[^>\"']*(?:(?:\"[^\"]*\"|'[^']*')[^>\"']*)*"
COMMENT = re.compile(r"<!--.*?-->", re.S)
ANY_TAG = re.compile(rf"</?[a-zA-Z][^\s/>]*{TAG_ATTRS}>|<![^>]*>")


def block_tag_pattern(names: Iterable[str], *, ignore_case: bool = False) -> re.Pattern[str]:
    """The opening or closing tag of any of ``names``, attributes and all."""
    alternation = "|".join(sorted(names, key=len, reverse=True))
    return re.compile(rf"</?(?:{alternation})\b{TAG_ATTRS}>", re.IGNORECASE if ignore_case else 0)
