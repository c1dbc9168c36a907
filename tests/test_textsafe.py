from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linkwatch import textsafe
from linkwatch.textsafe import neutralize, plain_title


@pytest.mark.parametrize(
    ("raw", "forbidden"),
    [
        ("ping @octocat now", r"@octocat"),
        ("[click](https://evil.example/x)", r"(?<!\\)\]"),
        ("![img](https://evil.example/p.png)", r"(?<!\\)!"),
        ("<img src=x onerror=alert(1)>", r"(?<!\\)<"),
        ("see https://evil.example/", r"https://"),
        ("see www.evil.example", r"www\.evil"),
        ("line one\n# heading", r"\n"),
        ("`code`", r"(?<!\\)`"),
        ("bidi \u202eevil", "\u202e"),
        # GitHub autolinks these although no word boundary precedes the URL.
        ("Docs_https://evil.example/login", r"(?<!\u200b)://"),
        ("2https://evil.example/y", r"(?<!\u200b)://"),
        ("_ftp://evil.example", r"(?<!\u200b)://"),
        ("1www.evil.example/x", r"(?i)www\."),
        ("_WWW.evil.example", r"(?i)www\."),
        ("mail a@-evil.example", r"@(?!\u200d)"),
        ("fixed in GH-12", r"GH-1"),
    ],
)
def test_neutralize_removes_markdown_triggers(raw: str, forbidden: str) -> None:
    assert re.search(forbidden, neutralize(raw)) is None


def test_mention_keeps_name_readable_but_inert() -> None:
    assert neutralize("hi @octocat") == "hi @\u200doctocat"


def test_url_is_defanged_without_changing_what_a_reader_sees() -> None:
    assert neutralize("https://a.example/") == "https\u200b://a.example/"


# Text that runs into a URL: word characters, Markdown punctuation and the
# triggers themselves, so a prefix can never shield a scheme or ``www.``.
_AROUND = st.lists(st.sampled_from([*"aZ9_é~*(-.:/ @#w", "www.", "://"])).map("".join)


@given(_AROUND, st.sampled_from(["https://", "http://", "ftp://", "www.", "WwW."]), _AROUND)
def test_no_autolink_trigger_survives_whatever_surrounds_it(
    before: str, trigger: str, after: str
) -> None:
    out = neutralize(before + trigger + after, limit=10_000)
    assert re.search(r"(?i)www\.|(?<!\u200b)://", out) is None


def test_neutralize_truncates_long_text() -> None:
    out = neutralize("x" * 1000, limit=10)
    assert out == "x" * 9 + "…"


def test_neutralize_empty() -> None:
    assert neutralize(None) == ""


def test_plain_title_is_one_line_without_mentions() -> None:
    assert plain_title("Hello\n@team  world") == "Hello @\u200dteam world"


def test_cross_references_keep_their_text_but_not_their_link() -> None:
    assert neutralize("see #12 and GH-34") == "see \\#\u200d12 and GH-\u200d34"
    assert plain_title("Fix GH-34") == "Fix GH-\u200d34"


def test_unsafe_url_characters_are_whitespace_link_syntax_and_controls() -> None:
    """The regex is exactly "str.isspace, <>\"`|\\, C0 controls, DEL" over all of Unicode."""
    text = "".join(map(chr, range(0x110000)))
    matched = set(textsafe._UNSAFE_URL_CHAR.findall(text))
    expected = {c for c in text if c.isspace() or c in '<>"`|\\' or ord(c) < 0x20 or ord(c) == 0x7F}
    assert matched == expected
