"""Tests for linkwatch.htmlpage: one decode and one parse per body, never a stale one."""

from __future__ import annotations

import pytest

from linkwatch.htmlpage import (
    HOSTILE_PREFIX,
    MAX_DEPTH,
    SharedBody,
    max_depth,
    parse_html,
    text_codec,
)

BODY = "<html><head><title>Café</title></head><body><h1>x</h1></body></html>".encode()


def test_decode_is_memoised_per_codec_alias() -> None:
    shared = SharedBody(BODY)
    assert shared.decode("utf-8") is shared.decode("UTF8")


def test_decode_replaces_bad_bytes() -> None:
    assert SharedBody(b"a\xffb").decode("utf-8") == "a\ufffdb"


def test_same_text_shares_one_tree() -> None:
    shared = SharedBody(BODY)
    text = shared.decode("utf-8")
    assert shared.tree(text) is shared.tree(text)


def test_other_text_gets_its_own_tree() -> None:
    shared = SharedBody(BODY)
    first = shared.tree(shared.decode("utf-8"))
    latin = shared.decode("latin-1")
    second = shared.tree(latin)
    assert second is not first
    title = second.css_first("title")
    assert title is not None
    assert title.text() == "CafÃ©"


def test_taken_tree_is_not_handed_out_again() -> None:
    shared = SharedBody(BODY)
    text = shared.decode("utf-8")
    taken = shared.take_tree(text)
    for node in taken.css("h1"):
        node.decompose()
    fresh = shared.tree(text)
    assert fresh is not taken
    assert fresh.css_first("h1") is not None


def test_hostile_nesting_is_parsed_from_a_prefix_in_bounded_time() -> None:
    # 100,000 nested <div>s: lexbor alone needs ~9 s (quadratic in depth).
    deep = "<html><body>" + "<div>" * 100_000 + "deep" + "</div>" * 100_000 + "</body></html>"
    assert max_depth(deep) > MAX_DEPTH
    tree = parse_html(deep)
    assert tree.body is not None
    assert len(tree.html or "") < 2 * HOSTILE_PREFIX + 100_000  # the prefix, closed by the parser


def test_ordinary_pages_are_parsed_whole() -> None:
    rows = "".join(f"<p>row {i}<br>next<img src=x></p>" for i in range(3_000))
    page = f"<html><body><main>{rows}<h2 id=end>end</h2></main></body></html>"
    assert page.count("<") > MAX_DEPTH  # many tags, but shallow: void elements do not nest
    assert max_depth(page) < 10
    assert parse_html(page).css_first("#end") is not None


@pytest.mark.parametrize(
    ("label", "codec"),
    [
        # WHATWG Encoding §4.2: the GBK labels are read with the GB18030 decoder
        *((label, "gb18030") for label in ("gb2312", "GBK", "x-gbk", "chinese", "csgb2312")),
        ("iso-ir-58", "gb18030"),
        # and the Latin-1 and ASCII labels as windows-1252
        *((label, "cp1252") for label in ("iso-8859-1", "latin1", "us-ascii", "ascii", "l1")),
        ("Shift_JIS", "cp932"),
        ("euc-kr", "cp949"),
        ("big5", "big5hkscs"),
        ("utf-8", "utf-8"),
        ("windows-1252", "cp1252"),
        ("zlib", None),  # not a text encoding: ignored, as browsers do
    ],
)
def test_charset_labels_mean_what_they_mean_to_browsers(label: str, codec: str | None) -> None:
    assert text_codec(label) == codec
