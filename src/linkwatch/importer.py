"""Turn a Markdown link list into catalog links (``linkwatch import``).

The curated lists linkwatch watches start life as Markdown (the seed is a
GitHub issue clipped to a file).  The importer reads it with markdown-it-py
(CommonMark), whose block tokens carry source line ranges (``Token.map``),
so every link and every note can name ``path:line``.

What it understands, and why:

* Headings are sections.  A heading's path is its chain of enclosing
  headings.  The shallowest heading level is a *chapter*: its leading
  number (``0x10``, ``1.``, ``2.3``, ``IV.``) is dropped, because readers
  and the text itself name chapters by word ("入门篇"); deeper headings keep
  their numbers, which order them inside a chapter ("0x31 大模型技术基础方向").
* A list item owns the links of its own text.  Links in a nested item
  belong to the nearest enclosing item that has a link before them
  (``parent``); a second link in the same item ("[中文翻译](…)") belongs to
  the first.  A parent always comes earlier in the document, so no parent
  chain can loop.
* 【必看】 / "must read" / "must-read" in an item's own text marks its links
  must-read; an item without a link of its own (a heading-like item such
  as "State of GPT：… 【必看】") passes the mark to the links under it.
* A link whose text is the bare URL gets a title from its context and the
  label since the previous link: "State of GPT — 视频".
* YAML front matter (``---`` … ``---``) is metadata, not the list, and a
  clipped issue's comment thread ("**user** commented on 2023/9/13") is
  not the list either; both are skipped.
* A heading that is a link ("## [LangChain](…)") names its section and is
  a link in it; the ``<a href>`` of a raw HTML block (a README's centred
  ``<p align="center">`` row) are read with the HTML parser.
* Only absolute http(s) links are kept; relative links, ``#anchors``,
  ``mailto:`` and the like are reported in ``notes``.  A URL seen twice is
  kept once (first wins) with a note.

The importer never fails on odd Markdown: anything it cannot use becomes a
note.  Writing the catalog is :func:`linkwatch.catalog.render_catalog`'s job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.token import Token

from linkwatch.htmlpage import parse_html
from linkwatch.models import Link
from linkwatch.urls import url_key, url_problem

__all__ = ["ImportResult", "guess_kind", "guess_lang", "import_markdown"]


@dataclass(frozen=True)
class ImportResult:
    """The links found, in document order, and human notes about what was skipped."""

    links: tuple[Link, ...]
    notes: tuple[str, ...]


_MUST_READ = re.compile(r"【\s*必看\s*】|\bmust[\s-]read\b", re.IGNORECASE)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_CHAPTER_NUMBER = re.compile(
    r"^\s*(?:0x[0-9a-fA-F]+|\d+(?:\.\d+)+\.?|\d+\.|[IVXLCDM]+\.|第[一二三四五六七八九十百\d]+[章节篇部])"
    r"[\s:：.、-]+"
)
_COMMENT_MARK = re.compile(r"^\*\*[^*\n]+\*\* commented on \d{4}/\d{1,2}/\d{1,2}\s*$")
# A bare URL in text (GFM "autolinks (extension)"); stops at whitespace, '<',
# and full-width CJK punctuation, which never ends a real URL in these lists.
_BARE_URL = re.compile(r"https?://[^\s<>\u3000-\u303f\uff00-\uffef]+", re.IGNORECASE)
_TRAILING_PUNCT = ".,:;!?*_~'\""
_WORD = re.compile(r"\w")
# A sentence ends (at the end of the text): "。", "！", ". " and the like.
_SENTENCE_END = re.compile(r"[。！？；!?;.]\s*$")
_SEPARATORS = re.compile(r"[：:。，,;；（(]|\s[-—–]\s")


@dataclass(eq=False)
class _Item:
    """A list item, or a table row (``row``): what its links share — text, parent, marks."""

    line: int
    parent: _Item | None
    text: list[str] = field(default_factory=list)
    links: list[_Found] = field(default_factory=list)
    # A table row: its cells are its text (in order), and its first cell
    # names a bare URL in another ("| Beta | https://beta.example/ |").
    row: bool = False

    @property
    def own_text(self) -> str:
        return " ".join(self.text)


@dataclass(eq=False)
class _Found:
    url: str
    text: str
    line: int
    section: tuple[str, ...]
    item: _Item | None
    label: str
    after: str
    bare: bool
    context: str
    index: int = -1  # place among the usable links, in document order (set by _build)


def import_markdown(text: str, path: str) -> ImportResult:
    """Collect the http(s) links of a Markdown list, with sections, parents and marks."""
    notes: list[str] = []
    # A UTF-8 byte order mark (Windows editors write one) is no text: left in,
    # the first line is not "---" and the front matter is taken for the list.
    body = _blank_front_matter(text.removeprefix("\ufeff"))
    body, comments_at = _cut_comment_thread(body)
    if comments_at:
        notes.append(f"{path}:{comments_at}: comment thread skipped from here on")
    # Tables (GFM): awesome-lists and course pages put links in them, a row
    # per resource; parsed as paragraphs, a row's pipes and neighbours
    # became one link's text.
    tokens = MarkdownIt("commonmark").enable("table").parse(body)
    found = _walk(tokens, path, notes)
    return ImportResult(links=_build(found, path, notes), notes=tuple(notes))


def _blank_front_matter(text: str) -> str:
    """Blank out YAML front matter, keeping line numbers (Jekyll/Hugo convention)."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip("\r\n") != "---":
        return text
    for index in range(1, len(lines)):
        if lines[index].rstrip("\r\n") in ("---", "..."):
            blank = ["\n"] * (index + 1)
            return "".join(blank + lines[index + 1 :])
    return text


def _cut_comment_thread(text: str) -> tuple[str, int | None]:
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if _COMMENT_MARK.match(line.strip()):
            return "".join(lines[:index]), index + 1
    return text, None


def _walk(tokens: list[Token], path: str, notes: list[str]) -> list[_Found]:
    found: list[_Found] = []
    headings: list[tuple[int, str]] = []
    levels = sorted({int(t.tag[1:]) for t in tokens if t.type == "heading_open"})
    chapter_level = levels[0] if levels else 0
    item: _Item | None = None
    pending_heading: int | None = None
    for token in tokens:
        if token.type == "heading_open":
            pending_heading = int(token.tag[1:])
        elif token.type == "list_item_open":
            item = _Item(line=_line(token), parent=item)
        elif token.type == "list_item_close" and item is not None:
            item = item.parent
        elif token.type == "tr_open":
            item = _Item(line=_line(token), parent=item, row=True)
        elif token.type == "tr_close" and item is not None:
            item = item.parent
        elif token.type == "inline" and pending_heading is not None:
            title = _plain(token)
            if pending_heading == chapter_level:
                title = _CHAPTER_NUMBER.sub("", title, count=1).strip() or title
            headings = [h for h in headings if h[0] < pending_heading]
            if title:
                headings.append((pending_heading, title))
            pending_heading = None
            # "## [LangChain](…)" names the section and is a link in it.
            found.extend(_links_in(token, tuple(h[1] for h in headings), item, path, notes))
        elif token.type == "inline":
            section = tuple(h[1] for h in headings)
            found.extend(_links_in(token, section, item, path, notes))
        elif token.type == "html_block":
            section = tuple(h[1] for h in headings)
            found.extend(_html_links(token, section, item, path, notes))
    return found


def _line(token: Token) -> int:
    return token.map[0] + 1 if token.map else 0


def _plain(token: Token) -> str:
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return " ".join("".join(parts).split())


def _links_in(
    token: Token, section: tuple[str, ...], item: _Item | None, path: str, notes: list[str]
) -> list[_Found]:
    """The links of one inline token (a paragraph or a tight list item's text)."""
    result: list[_Found] = []
    line = _line(token)
    before: list[str] = []  # plain text so far (link texts included), for the context
    # Plain text since the previous link: a bare URL's label.  Counting from
    # the start of the line made "视频： URL1 PPT： URL2" label URL2 with URL1.
    since: list[str] = []
    link_href: str | None = None
    link_text: list[str] = []
    link_line = line
    children = token.children or []
    for child in children:
        if child.type in ("softbreak", "hardbreak"):
            line += 1
            before.append(" ")
            since.append(" ")
        elif child.type == "link_open":
            link_href = str(child.attrs.get("href", ""))
            link_text = []
            link_line = line
        elif child.type == "link_close" and link_href is not None:
            label = "".join(since)
            since = []
            shown = " ".join("".join(link_text).split())
            result.append(
                _Found(
                    url=link_href,
                    text=shown,
                    line=link_line,
                    section=section,
                    item=item,
                    label=label,
                    after="",
                    bare=_same_url(shown, link_href),
                    context="",
                )
            )
            before.append(shown)
            link_href = None
        elif child.type in ("text", "code_inline"):
            if link_href is not None:
                link_text.append(child.content)
            elif child.type == "code_inline":
                # Code is not a link: GFM autolinks no URL in a code span, and
                # `curl https://api…/v1/…` is an example, not a page to watch
                # (code blocks are skipped for the same reason).
                before.append(child.content)
                since.append(child.content)
            else:
                start = 0
                for at, bare in _bare_urls(child.content):
                    label = "".join(since) + child.content[start:at]
                    since, start = [], at + len(bare)
                    result.append(
                        _Found(
                            url=bare,
                            text=bare,
                            line=line,
                            section=section,
                            item=item,
                            label=label,
                            after="",
                            bare=True,
                            context="",
                        )
                    )
                before.append(child.content)
                since.append(child.content[start:])
        elif child.type == "image":
            notes.append(f"{path}:{line}: image {child.attrs.get('src', '')!s} skipped")
        elif child.type == "html_inline" and "href" in child.content.lower():
            notes.append(f"{path}:{line}: inline HTML link skipped (write it as Markdown)")
    full = " ".join("".join(before).split())
    for index, found in enumerate(result):
        found.context = full
        found.after = _after(_following(result, index, "".join(since)))
    if item is not None:
        item.text.append(full)
    return result


def _html_links(
    token: Token, section: tuple[str, ...], item: _Item | None, path: str, notes: list[str]
) -> list[_Found]:
    """The ``<a href>`` links of a raw HTML block, which CommonMark passes through unparsed.

    READMEs centre a row of links or logos in ``<p align="center">``; those
    are links of the list like any other, so the HTML parser reads them
    (``<img>`` are skipped with a note, as Markdown images are).  A link's
    line is found by its URL in the block, else the block's first line.
    """
    content = token.content
    first = _line(token)
    result: list[_Found] = []
    at = 0
    for node in parse_html(content).css("a[href], img[src]"):
        attribute = "href" if node.tag == "a" else "src"
        url = (node.attributes.get(attribute) or "").strip()
        where = content.find(url, at) if url else -1
        if where >= 0:
            at = where + len(url)
        line = first + content.count("\n", 0, at)
        if node.tag != "a":
            notes.append(f"{path}:{line}: image {url} skipped")
            continue
        shown = " ".join(node.text(deep=True).split())
        if not shown and (image := node.css_first("img[alt]")) is not None:
            shown = " ".join((image.attributes.get("alt") or "").split())
        result.append(
            _Found(
                url=url,
                text=shown,
                line=line,
                section=section,
                item=item,
                label="",
                after="",
                bare=_same_url(shown, url),
                context=shown,
            )
        )
    return result


def _bare_urls(text: str) -> list[tuple[int, str]]:
    """The bare URLs in ``text``, each with where it starts."""
    urls = []
    for match in _BARE_URL.finditer(text):
        url = match.group(0)
        while url and (
            url[-1] in _TRAILING_PUNCT or (url[-1] == ")" and url.count("(") < url.count(")"))
        ):
            url = url[:-1]
        if len(url) > len("https://"):
            urls.append((match.start(), url))
    return urls


def _following(result: list[_Found], index: int, tail: str) -> str:
    """The text after ``result[index]``: to the end, or to a later link that starts a sentence.

    A link inside a sentence is part of its wording ("配合[B站李沐的视频](…)，
    是…"), but one after a full stop ("…说明。[中文翻译](…)") is a link of
    its own, imported with its own title: its text is no part of this note.
    """
    parts: list[str] = []
    for later in result[index + 1 :]:
        parts.append(later.label)
        if _SENTENCE_END.search("".join(parts)):
            return "".join(parts)
        parts.append(later.text)
    parts.append(tail)
    return "".join(parts)


def _after(text: str) -> str:
    """The text that follows a link, as its note: no must-read mark, no leading separator."""
    rest = _MUST_READ.sub("", text)
    return " ".join(rest.strip().lstrip("：:，,-—– ").split())


def _same_url(text: str, href: str) -> bool:
    if not text:
        return False
    return text.rstrip("/") == href.rstrip("/") or bool(_BARE_URL.fullmatch(text))


def _build(found: list[_Found], path: str, notes: list[str]) -> tuple[Link, ...]:
    """Turn raw finds into links: filter schemes, merge repeats, attach parents."""
    usable: list[_Found] = []
    for entry in found:
        problem = url_problem(entry.url)
        if problem:
            notes.append(f"{path}:{entry.line}: {entry.url!r} skipped ({problem})")
            continue
        entry.index = len(usable)
        usable.append(entry)
        if entry.item is not None:
            entry.item.links.append(entry)
    first_line: dict[str, int] = {}
    links: list[Link] = []
    for entry in usable:
        key = url_key(entry.url)
        if key in first_line:
            notes.append(
                f"{path}:{entry.line}: {entry.url} repeats line {first_line[key]};"
                " merged (first wins)"
            )
            continue
        first_line[key] = entry.line
        links.append(_link(entry))
    return tuple(links)


def _link(entry: _Found) -> Link:
    parent = _parent_url(entry)
    title, lang = _title_and_lang(entry)
    first_in_item = entry.item is None or entry.item.links[0] is entry
    note = entry.after if first_in_item and not entry.bare and _WORD.search(entry.after) else None
    return Link(
        url=entry.url,
        title=title,
        section=entry.section,
        must_read=_must_read(entry),
        lang=lang,
        kind=guess_kind(entry.url, title),
        parent=parent,
        note=note,
        line=entry.line,
    )


def _parent_url(entry: _Found) -> str | None:
    """The first link of the nearest enclosing item that has one *before* this link.

    Only an earlier link qualifies.  In a loose item the item's first link
    can follow its nested list ("- intro / nested [A] / see also [B]"), and
    taking it made a loop whenever that later link was a repeat of a nested
    one (A under B, B under A), so the catalog did not load.  With every
    parent earlier in the document than its child (a repeat's URL is kept
    at its first, still earlier, place), no parent chain can loop.
    """
    scope = entry.item
    while scope is not None:
        if scope.links and scope.links[0].index < entry.index:
            return scope.links[0].url
        scope = scope.parent
    return None


def _must_read(entry: _Found) -> bool:
    if entry.item is None:
        return bool(_MUST_READ.search(entry.context))
    item = entry.item
    while True:
        if _MUST_READ.search(item.own_text):
            return True
        # Only a link-less item (a heading in list form) hands its mark down.
        if item.parent is None or item.parent.links:
            return False
        item = item.parent


def _title_and_lang(entry: _Found) -> tuple[str, str]:
    if not entry.bare and entry.text:
        text = _MUST_READ.sub("", entry.text).strip() or entry.text
        return text, guess_lang(text, entry.url)
    if entry.item is None:  # a bare URL in running text: its host is the best name
        return _host(entry.url), guess_lang("", entry.url)
    label = _MUST_READ.sub("", entry.label)
    label = " ".join(label.split()).strip().rstrip("：:，,-—–(（ ").strip()
    if label[:1] in "(（" and not any(c in label for c in ")）"):
        # "Repo URL1 (mirror: URL2)": the bracket opened before URL2 wraps it.
        label = label[1:].strip()
    base = _context_name(entry)
    marked = _lang_marker(label)
    if base and label:
        return f"{base} — {label}", marked or guess_lang(base, entry.url)
    if base or label:
        name = base or label
        return name, marked or guess_lang(name, entry.url)
    host = _host(entry.url)
    return host, guess_lang("", entry.url)


def _context_name(entry: _Found) -> str:
    """The name of what a bare URL belongs to: the enclosing item's link text or first phrase."""
    item = entry.item
    if item is None:
        return ""
    if item.row:
        first = item.text[0] if item.text else ""
        return "" if _BARE_URL.search(first) else _MUST_READ.sub("", first).strip()
    ancestor = item.parent
    if ancestor is None:
        return ""
    if ancestor.links and not ancestor.links[0].bare:
        return _MUST_READ.sub("", ancestor.links[0].text).strip()
    phrase = _SEPARATORS.split(_MUST_READ.sub("", ancestor.own_text), maxsplit=1)[0]
    return " ".join(phrase.split())


def _lang_marker(label: str) -> str | None:
    if "双语" in label or "bilingual" in label.lower():
        return "zh-en"
    if "中文" in label or "Chinese" in label:
        return "zh"
    return None


def guess_lang(text: str, url: str = "") -> str:
    """A best guess at a resource's language: ``zh``, ``en`` or ``zh-en`` (bilingual).

    Labels win ("中英双语字幕" → zh-en, "中文字幕"/"中文翻译" → zh); then a
    ``zh`` marker in the URL (``zh.d2l.ai``, ``README_zh.md``, ``-zh-cn``);
    then CJK characters in the title.  Curators fix the rest by hand.
    """
    marked = _lang_marker(text)
    if marked:
        return marked
    if re.search(r"(?:^|[./_-])zh(?:[./_-]|$)", url.lower().split("://", 1)[-1]):
        return "zh"
    return "zh" if _CJK.search(text) else "en"


def guess_kind(url: str, title: str = "") -> str:
    """A best guess at what a URL points to, from its host and path."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "website"
    host = (parts.hostname or "").lower()
    path = parts.path.lower()

    def on(*domains: str) -> bool:
        return any(host == d or host.endswith("." + d) for d in domains)

    if on("youtube.com", "youtu.be", "bilibili.com", "b23.tv", "vimeo.com"):
        return "video"
    if on("arxiv.org", "openreview.net", "aclanthology.org"):
        return "paper"
    if path.endswith(".pdf"):
        return "slides" if "slide" in path or "ppt" in title.lower() else "paper"
    if on("github.com", "gitlab.com", "gitee.com"):
        return "repository"
    if on("learn.deeplearning.ai", "coursera.org", "edx.org") or host.startswith("courses."):
        return "course"
    if host.startswith(("docs.", "python.")) or "/docs" in path:
        return "docs"
    if on("notion.site", "medium.com", "substack.com") or on("huggingface.co"):
        return "article"
    if "/posts/" in path or "/writing/" in path or "/blog" in path or "/p/" in path:
        return "article"
    if host.startswith("data.") or "dataset" in path:
        return "dataset"
    if path in ("", "/"):
        return "website"
    return "article"


def _host(url: str) -> str:
    try:
        host = urlsplit(url).hostname or url
    except ValueError:
        return url
    return host.removeprefix("www.")
