"""Make text from the web safe to paste into GitHub Markdown.

A page title, an error detail or a redirect target comes from a server we do
not control.  Pasted raw into an issue it could ping people (``@org/team``),
smuggle in a link or a tracking image (``![x](https://evil/)``), or inject
HTML.  GitHub Flavored Markdown lets a backslash escape any ASCII
punctuation (GFM spec §2.4), so escaping the characters that start inline
constructs and autolinks, and breaking the ``://`` and ``www.`` triggers of
the autolink extension (GFM spec §6.9), leaves plain inert text.

Layer 1 and pure: both the issue writer and the report renderer may use it.
"""

from __future__ import annotations

import re
import unicodedata

# Characters that open an inline construct, a block, an entity or HTML in GFM.
_ESCAPE = re.compile(r"([\\`*_\[\]()!<>#|~&{}])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_WS = re.compile(r"\s+")
_MENTION = re.compile(r"@(?=\S)")
_SCHEME = re.compile(r"://")
_WWW = re.compile(r"(?i)\bwww\.")
ELLIPSIS = "…"


def _strip_invisible(text: str) -> str:
    """Drop control and format characters (bidi overrides, zero-width joiners)."""
    text = _CONTROL.sub("", text)
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


def truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)] + ELLIPSIS


def neutralize(text: str | None, *, limit: int = 500) -> str:
    """One line of inert Markdown: no mentions, links, images or HTML.

    ``@`` gets a zero-width joiner after it so GitHub does not notify anyone;
    ``://`` becomes a visible ``[:]//`` and ``www.`` becomes ``www[.]`` so the
    autolinker finds no URL; every other Markdown trigger is backslash-escaped.
    Newlines collapse to spaces so the text cannot start a heading or a list.
    """
    if not text:
        return ""
    flat = _WS.sub(" ", _strip_invisible(text)).strip()
    flat = truncate(flat, limit)
    flat = _ESCAPE.sub(r"\\\1", flat)
    flat = _SCHEME.sub(r"\\[:\\]//", flat)
    flat = _WWW.sub(lambda m: m.group(0)[:3] + r"\[.\]", flat)
    return _MENTION.sub("@\u200d", flat)


def plain_title(text: str | None, *, limit: int = 200) -> str:
    """A one-line issue title: titles are not rendered as Markdown, but mentions still notify."""
    if not text:
        return ""
    flat = _WS.sub(" ", _strip_invisible(text)).strip()
    return _MENTION.sub("@\u200d", truncate(flat, limit))
