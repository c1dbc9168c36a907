"""``linkwatch fix``: rewrite moved URLs in place, keeping the curator's file as it was.

A catalog is a hand-kept file full of comments and alignment; a fix that
re-serialises it would bury one changed URL in a diff of noise.  tomlkit
keeps the document's trivia (comments, whitespace, quoting), so only the
``url`` values of ``[[link]]`` tables — and ``parent`` values pointing at a
moved URL — change.  Pure text in, text out: the CLI shows the diff and
writes the file.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import unquote

import tomlkit
from markdown_it.common.normalize_url import normalizeLink
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, String, StringType, Table

from linkwatch.errors import CatalogError
from linkwatch.urls import url_key


def _replacement(old: String, new: str) -> String:
    """A string item for ``new`` that keeps ``old``'s quoting and trailing comment."""
    literal = old.type is StringType.SLL and "'" not in new and "\n" not in new
    item = tomlkit.string(new, literal=literal)
    item.trivia.indent = old.trivia.indent
    item.trivia.comment_ws = old.trivia.comment_ws
    item.trivia.comment = old.trivia.comment
    item.trivia.trail = old.trivia.trail
    return item


def safe_moves(
    urls: Sequence[str], moves: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """Split ``moves`` into those a catalog of ``urls`` can take and those it cannot.

    A link often moves to a page the catalog already lists (the curator
    added the new address, maybe as a child of the old one).  Rewriting it
    would leave two links with one URL, and turn that child's ``parent``
    into itself: a catalog that no longer loads.  Which entry to keep is the
    curator's call, so such a move is held back for them, not applied.  URLs
    are compared as the loader compares them (:func:`url_key`).  Returns
    ``(applied, held)``, both old URL → new URL.
    """
    applied = {url: moves[url] for url in urls if url in moves}
    held: dict[str, str] = {}
    while True:
        owners: dict[str, list[str]] = {}
        for url in urls:
            owners.setdefault(url_key(applied.get(url, url)), []).append(url)
        dropped = False
        for group in owners.values():
            if len(group) < 2:
                continue
            # A link that stays where it is keeps its URL; otherwise the first mover does.
            keep = next((url for url in group if url not in applied), group[0])
            for url in group:
                if url != keep and url in applied:
                    held[url] = applied.pop(url)
                    dropped = True
        # Held-back moves put old (distinct) URLs back, which may free or
        # clash with another target: repeat until nothing changes.
        if not dropped:
            return applied, held


def fix_catalog(text: str, moves: Mapping[str, str], *, path: str = "catalog.toml") -> str:
    """Apply ``moves`` (old URL → new URL) to the ``[[link]]`` tables of a catalog.

    Only exact matches change; everything else, comments included, is left
    byte for byte.  Returns ``text`` itself when nothing moved.
    """
    if not moves:
        return text
    try:
        doc = tomlkit.parse(text)
    except TOMLKitError as exc:
        raise CatalogError(path, getattr(exc, "line", None), f"not valid TOML: {exc}") from exc
    links = doc.get("link")
    if not isinstance(links, AoT):
        return text
    changed = False
    for table in links:
        if not isinstance(table, Table):
            continue
        for key in ("url", "parent"):
            value = table.get(key)
            if isinstance(value, String) and str(value) in moves:
                table[key] = _replacement(value, moves[str(value)])
                changed = True
    return tomlkit.dumps(doc) if changed else text


def unified_diff(old: str, new: str, path: str) -> str:
    """A ``diff -u`` style patch (``a/`` and ``b/`` prefixes, as git shows it)."""
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"a/{path}",
            tofile=f"b/{path}",
        )
    )


def fix_markdown(text: str, moves: Mapping[str, str]) -> str:
    """Replace moved URLs in a Markdown source, exact matches only.

    Covers inline links ``[x](url)`` and ``[x](url "title")``, reference
    definitions ``[x]: url``, autolinks ``<url>`` and bare URLs (GFM's
    extended autolinks).  A URL that merely starts with a moved one (a
    longer path, a query) is a different link and is left alone.

    A catalog made by ``linkwatch import`` holds a link's URL as the
    Markdown parser resolved it: non-ASCII percent-encoded and ``&amp;``
    decoded (``[文档](https://x/文档)`` is ``https://x/%E6%96%87%E6%A1%A3``).
    Each such URL is also looked for as it would be written in the source
    (:func:`_spellings`), and its replacement written in the same style.
    """
    if not moves:
        return text
    replacements: dict[str, str] = {}
    for old, new in moves.items():
        for spelling, style in _spellings(old):
            replacements.setdefault(spelling, style(new))
    # One pass over the text, so a chain of moves (a → b, b → c) is not applied twice.
    choices = "|".join(re.escape(old) for old in sorted(replacements, key=len, reverse=True))
    pattern = re.compile(
        r"(?<![\w/.:%~+=?&#@-])(" + choices + r")(?=$|[\s)>\"'\]]|[.,;:!?](?:\s|$))",
        re.MULTILINE,
    )
    return pattern.sub(lambda match: replacements[match.group(1)], text)


# A run of percent-escapes of non-ASCII bytes: the UTF-8 of characters a
# Markdown source usually writes as they are (CJK paths, accented words).
_NON_ASCII_ESCAPES = re.compile(r"(?:%[89a-fA-F][0-9a-fA-F])+")


def _unescape_non_ascii(url: str) -> str:
    def decode(match: re.Match[str]) -> str:
        try:
            return unquote(match.group(0), errors="strict")
        except UnicodeDecodeError:
            return match.group(0)

    return _NON_ASCII_ESCAPES.sub(decode, url)


def _same(url: str) -> str:
    return url


def _spellings(url: str) -> list[tuple[str, Callable[[str], str]]]:
    """The ways a Markdown source may write ``url``, each with how to write a new URL alike.

    markdown-it resolves a link destination with ``normalizeLink``
    (percent-encoding non-ASCII characters) after decoding entities, so
    ``https://x/文档`` and ``?a=1&amp;b=2`` in the source are
    ``https://x/%E6%96%87%E6%A1%A3`` and ``?a=1&b=2`` in the catalog.  A
    spelling is offered only when the parser turns it back into exactly
    ``url``, so no other URL can match.
    """
    decoded = _unescape_non_ascii(url)
    forms: list[tuple[str, Callable[[str], str]]] = [(url, _same)]
    if decoded != url and normalizeLink(decoded) == url:
        forms.append((decoded, _readable))
    for spelling, style in list(forms):
        if "&" in spelling:
            forms.append((spelling.replace("&", "&amp;"), _amp(style)))
    return forms


def _readable(url: str) -> str:
    decoded = _unescape_non_ascii(url)
    return decoded if normalizeLink(decoded) == url else url


def _amp(style: Callable[[str], str]) -> Callable[[str], str]:
    return lambda url: style(url).replace("&", "&amp;")
