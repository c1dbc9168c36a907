"""Tests for linkwatch.htmlpage: one decode and one parse per body, never a stale one."""

from __future__ import annotations

from linkwatch.htmlpage import SharedBody

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
