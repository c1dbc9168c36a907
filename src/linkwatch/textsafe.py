"""Make text from the web safe to show in GitHub Markdown: one home for the rules.

A page title, an error detail or a redirect target comes from a server we do
not control.  Pasted raw into an issue or a job summary it could ping people
(``@org/team``), cross-reference issues (``#123``), smuggle in a link or a
tracking image (``![x](https://evil/)``), or inject HTML.  GitHub renders
issue bodies and ``$GITHUB_STEP_SUMMARY`` with mentions, references,
autolinks, images and a subset of raw HTML (GFM spec; GitHub docs "Basic
writing and formatting syntax"), so every remote string goes through
:func:`neutralize_md` (prose) or :func:`md_code` (verbatim) first.

Layer 1 and pure: the Markdown report and the issue writer both use it.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

ZWJ = "\u200d"
ZWSP = "\u200b"

# Bidirectional overrides and isolates can reorder what a reader sees
# (CVE-2021-42574, "Trojan Source"); they never belong in a link title.
_BIDI_CHARS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_BIDI = dict.fromkeys(map(ord, _BIDI_CHARS))
_ANY_BIDI = re.compile(f"[{_BIDI_CHARS}]")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
# No ``\b`` before either: GitHub autolinks ``_https://x``, ``1www.x`` and
# ``Docs_https://x`` too, where a word boundary finds nothing to break.
_SCHEME = re.compile(r"(?=://)")
_WWW = re.compile(r"(?i)(www)(?=\.)")
# ``GH-123`` is GitHub's other spelling of ``#123`` ("Autolinked references
# and URLs", GitHub docs).  Every ``@`` is broken, not just one before a word
# character: ``a@-evil.com`` is an email autolink.
_REF = re.compile(r"(@|(?:#|(?i:gh)-)(?=\w))")
# Inline constructs: backslash-escaped wherever they appear (GFM §2.4: any
# ASCII punctuation may be escaped).  ``$`` starts GitHub math.
_INLINE_SPECIALS = re.compile(r"([\\`*_\[\]|!#~$])")
# Block constructs only matter at the start of a line.
_LEADING_BLOCK = re.compile(r"^([-+=]|\d+(?=[.)]))")
ELLIPSIS = "…"


def truncate(text: str, limit: int) -> str:
    """At most ``limit`` characters, an ellipsis marking the cut."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)] + ELLIPSIS


def strip_bidi(text: str) -> str:
    """``text`` without bidirectional overrides, embeddings and isolates (Trojan Source).

    Searched for first: the HTML report passes every value through here,
    and ``translate`` copies the string (1.2 µs for a URL, against 0.3 µs
    for a search that almost always finds nothing).
    """
    return text.translate(_BIDI) if _ANY_BIDI.search(text) else text


def one_line(text: str) -> str:
    """Control and bidi characters out, whitespace runs (newlines too) folded to one space."""
    cleaned = "".join(" " if unicodedata.category(c) == "Cc" else c for c in strip_bidi(text))
    return " ".join(cleaned.split())


def neutralize_md(text: str) -> str:
    """Make untrusted text inert in GitHub Markdown, on a single line.

    * control characters, bidi overrides and line breaks go (a newline would
      end a table row);
    * image and link syntax is reduced to its text: ``[a](u)`` → ``a``,
      ``![x](u)`` → ``x``; stray brackets are escaped anyway;
    * ``&``, ``<`` and ``>`` become entities, so no HTML tag survives and an
      entity such as ``&#64;`` cannot smuggle a character back in;
    * ``@name`` becomes ``@\\u200dname`` (so does any other ``@``), ``#123``
      ``#\\u200d123`` and ``GH-123`` ``GH-\\u200d123`` (no mention, no email
      link, no cross-reference);
    * every ``://`` becomes ``\\u200b://`` and every ``www.`` ``www\\u200b.``,
      whatever precedes them (GitHub's extended autolinks need the literal
      forms);
    * Markdown specials (``\\ ` * _ [ ] | ! # ~ $``) are backslash-escaped, and
      a leading ``-``, ``+``, ``>``, ``=`` or ``1.`` cannot start a block.
    """
    cleaned = one_line(text)
    cleaned = _IMAGE.sub(r"\1", cleaned)
    cleaned = _LINK.sub(r"\1", cleaned)
    cleaned = cleaned.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    cleaned = _INLINE_SPECIALS.sub(r"\\\1", cleaned)
    cleaned = _REF.sub(lambda m: m.group(1) + ZWJ, cleaned)
    cleaned = _SCHEME.sub(ZWSP, cleaned)
    cleaned = _WWW.sub(r"\1" + ZWSP, cleaned)
    return _LEADING_BLOCK.sub(_escape_leading, cleaned)


def _escape_leading(match: re.Match[str]) -> str:
    """``-`` becomes ``\\-``; ``12.`` becomes ``12\\.`` (a backslash before a digit is literal)."""
    token = match.group(1)
    if token.isdigit():
        return token + "\\"
    return "\\" + token


def md_code(text: str, *, table: bool = True) -> str:
    """An inline code span that holds any text and, with ``table``, stays inside a table cell.

    The fence is one backtick longer than the longest run inside (CommonMark
    §6.1).  In a table ``|`` is escaped because GFM splits table cells before
    it parses code spans (GFM §4.10); anywhere else a code span shows the
    backslash literally, so ``table=False`` leaves ``|`` alone.
    """
    flat = one_line(text)
    if table:
        flat = flat.replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", flat)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") or not flat else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def md_url(url: str, *, table: bool = True) -> str:
    """A URL we chose to print: an autolink when it is a plain http(s) URL, else code."""
    safe = safe_http_url(url)
    return f"<{safe}>" if safe else md_code(url, table=table)


# Whitespace (``\s`` is ``str.isspace``), the characters that end or escape a
# Markdown/HTML link, and C0 controls and DEL.
_UNSAFE_URL_CHAR = re.compile(r'[\s<>"`|\\\x00-\x1f\x7f]')


def safe_http_url(url: str | None) -> str | None:
    """The URL if it is a plain absolute http(s) URL that is safe to put in a link.

    Anything else (``javascript:``, ``data:``, relative, with whitespace,
    quotes, angle brackets or control characters) is shown as text only.
    """
    if not url:
        return None
    if _UNSAFE_URL_CHAR.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


def neutralize(text: str | None, *, limit: int = 500) -> str:
    """:func:`neutralize_md` of at most ``limit`` characters of ``text`` (None → "")."""
    return neutralize_md(truncate(one_line(text), limit)) if text else ""


def code(text: str | None, *, limit: int = 300) -> str:
    """:func:`md_code` of at most ``limit`` characters: verbatim, inert, one line.

    For issue bodies, which hold no table: ``|`` is shown as it is.
    """
    return md_code(truncate(one_line(text or ""), limit), table=False)


def plain_title(text: str | None, *, limit: int = 200) -> str:
    """A one-line issue title: titles are not rendered as Markdown, but mentions still notify."""
    if not text:
        return ""
    return _REF.sub(lambda m: m.group(1) + ZWJ, truncate(one_line(text), limit))
