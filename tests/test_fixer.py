from __future__ import annotations

import tomllib

import pytest

from linkwatch.errors import CatalogError
from linkwatch.fixer import fix_catalog, fix_markdown, safe_moves, unified_diff

CATALOG = """\
# My reading list — keep it tidy
[settings]
rot_after_runs = 2   # nightly, so two days

[[link]]
title = "Old home"          # the classic
url = "https://old.example/docs"   # moved in 2024?
# a comment between keys
tags = ["intro"]

[[link]]
title = "Mirror"
url = 'https://mirror.example/docs'
parent = "https://old.example/docs"   # mirror of the classic

[[link]]
title = "Untouched"
url = "https://old.example/docs/deeper"
"""

MOVES = {"https://old.example/docs": "https://new.example/docs/"}


def test_only_the_moved_url_and_its_parents_change() -> None:
    new = fix_catalog(CATALOG, MOVES)
    old_lines, new_lines = CATALOG.splitlines(), new.splitlines()
    changed = [(a, b) for a, b in zip(old_lines, new_lines, strict=True) if a != b]
    assert changed == [
        (
            'url = "https://old.example/docs"   # moved in 2024?',
            'url = "https://new.example/docs/"   # moved in 2024?',
        ),
        (
            'parent = "https://old.example/docs"   # mirror of the classic',
            'parent = "https://new.example/docs/"   # mirror of the classic',
        ),
    ]
    data = tomllib.loads(new)
    assert data["link"][2]["url"] == "https://old.example/docs/deeper"


@pytest.mark.parametrize(
    ("urls", "moves", "applied", "held"),
    [
        # a move onto a URL that stays is held back; the scheme and host case do not matter
        (["http://a/1", "http://b/"], {"http://a/1": "HTTP://B/"}, {}, {"http://a/1": "HTTP://B/"}),
        # two moves onto one new URL: the first link takes it
        (
            ["http://a/1", "http://a/2"],
            {"http://a/1": "http://c/", "http://a/2": "http://c/"},
            {"http://a/1": "http://c/"},
            {"http://a/2": "http://c/"},
        ),
        # a chain: b moves away, so a may take its URL
        (
            ["http://a/", "http://b/"],
            {"http://a/": "http://b/", "http://b/": "http://c/"},
            {"http://a/": "http://b/", "http://b/": "http://c/"},
            {},
        ),
        # ... unless b's own move is held back, which then holds a's back too
        (
            ["http://a/", "http://b/", "http://c/"],
            {"http://a/": "http://b/", "http://b/": "http://c/"},
            {},
            {"http://a/": "http://b/", "http://b/": "http://c/"},
        ),
        # moves of URLs the catalog does not have are no business of it
        (["http://a/"], {"http://x/": "http://a/"}, {}, {}),
    ],
)
def test_safe_moves_never_give_two_links_one_url(
    urls: list[str], moves: dict[str, str], applied: dict[str, str], held: dict[str, str]
) -> None:
    assert safe_moves(urls, moves) == (applied, held)


def test_every_comment_is_kept() -> None:
    new = fix_catalog(CATALOG, MOVES)
    comments = [line.split("#", 1)[1] for line in CATALOG.splitlines() if "#" in line]
    assert all(comment in new for comment in comments)


def test_literal_string_quoting_is_kept() -> None:
    new = fix_catalog(CATALOG, {"https://mirror.example/docs": "https://mirror.example/v2"})
    assert "url = 'https://mirror.example/v2'" in new


def test_nothing_to_move_returns_text_unchanged() -> None:
    assert fix_catalog(CATALOG, {"https://absent.example/": "https://x.example/"}) is CATALOG
    assert fix_catalog(CATALOG, {}) is CATALOG


def test_invalid_toml_is_a_catalog_error() -> None:
    with pytest.raises(CatalogError, match=r"catalog\.toml"):
        fix_catalog("[[link]\nurl = ", MOVES)


def test_diff_shows_the_change() -> None:
    new = fix_catalog(CATALOG, MOVES)
    diff = unified_diff(CATALOG, new, "catalog.toml")
    assert diff.startswith("--- a/catalog.toml\n+++ b/catalog.toml\n")
    assert '-url = "https://old.example/docs"   # moved in 2024?\n' in diff
    assert '+url = "https://new.example/docs/"   # moved in 2024?\n' in diff
    assert unified_diff(CATALOG, CATALOG, "catalog.toml") == ""


OLD = "https://old.example/docs"
NEW = "https://new.example/docs/"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (f"[Docs]({OLD})", f"[Docs]({NEW})"),
        (f'[Docs]({OLD} "Title")', f'[Docs]({NEW} "Title")'),
        (f"<{OLD}>", f"<{NEW}>"),
        (f"See {OLD}.", f"See {NEW}."),
        (f"[docs]: {OLD}", f"[docs]: {NEW}"),
        (f"- {OLD}\n- other", f"- {NEW}\n- other"),
        (f"[Deeper]({OLD}/deeper)", f"[Deeper]({OLD}/deeper)"),
        (f"[Q]({OLD}?x=1)", f"[Q]({OLD}?x=1)"),
        (f"<{OLD}.html>", f"<{OLD}.html>"),
        (f"[P](https://proxy.example/?u={OLD})", f"[P](https://proxy.example/?u={OLD})"),
    ],
)
def test_fix_markdown_exact_matches_only(source: str, expected: str) -> None:
    assert fix_markdown(source, {OLD: NEW}) == expected


def test_fix_markdown_applies_chained_moves_once() -> None:
    moves = {"https://a.example/": "https://b.example/", "https://b.example/": "https://c.example/"}
    assert fix_markdown("<https://a.example/> <https://b.example/>", moves) == (
        "<https://b.example/> <https://c.example/>"
    )


def test_fix_markdown_finds_urls_as_the_source_writes_them() -> None:
    # ``linkwatch import`` keeps a link destination as markdown-it resolves
    # it (non-ASCII percent-encoded, entities decoded); the Markdown still
    # spells it the curator's way, and gets the new URL in that style.
    source = (
        "- [文档](https://x.example/文档) and <https://x.example/文档>\n"
        "- [Query](https://q.example/s?a=1&amp;b=2)\n"
        "- [Other](https://x.example/文档/more)\n"
    )
    moves = {
        "https://x.example/%E6%96%87%E6%A1%A3": "https://y.example/%E6%96%B0",
        "https://q.example/s?a=1&b=2": "https://q.example/t?a=1&b=2",
    }
    assert fix_markdown(source, moves) == (
        "- [文档](https://y.example/新) and <https://y.example/新>\n"
        "- [Query](https://q.example/t?a=1&amp;b=2)\n"
        "- [Other](https://x.example/文档/more)\n"
    )


def test_fix_markdown_spellings_never_match_another_url() -> None:
    # %2F is not "/": only escapes of non-ASCII characters are read as characters.
    moves = {"https://x.example/a%2Fb/%E6%96%87": "https://y.example/"}
    assert fix_markdown("[x](https://x.example/a/b/文)", moves) == "[x](https://x.example/a/b/文)"
    assert fix_markdown("[x](https://x.example/a%2Fb/文)", moves) == "[x](https://y.example/)"
