"""One response body, decoded and parsed at most once per check.

classify (title, first ``<h1>``, ids for fragments) and content (the main
text for the fingerprint) both need the DOM of the same body, and they are
siblings in the layer contract, so neither may hand the other its tree.
Parsing a page is the single largest cost of a check after the text
rendering, so the pipeline builds one :class:`SharedBody` per observation
and passes it to both; each still works on its own when given none.

Sharing is keyed by the decoded text, not by the bytes: the two modules pick
a charset by slightly different rules (content honours a BOM, classify maps
GB2312 to GB18030), and a tree is only reused when both decoded the body to
the very same string — otherwise the second caller simply parses again, so
sharing can never change what either of them sees.
"""

from __future__ import annotations

import codecs

from selectolax.lexbor import LexborHTMLParser


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
            text = self._texts[key] = self._body.decode(key, errors="replace")
        return text

    def tree(self, text: str) -> LexborHTMLParser:
        """The parse of ``text``, shared with the next caller of the same text."""
        if self._tree is None or self._tree_text is None or not _same(self._tree_text, text):
            self._tree = LexborHTMLParser(text)
            self._tree_text = text
        return self._tree

    def take_tree(self, text: str) -> LexborHTMLParser:
        """The parse of ``text`` for the caller to change at will; not shared afterwards."""
        tree = self.tree(text)
        self._tree = None
        self._tree_text = None
        return tree


def _same(a: str, b: str) -> bool:
    # Identity first: both callers usually hold the string decode() returned.
    return a is b or a == b
