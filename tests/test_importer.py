"""Tests for linkwatch.importer: Markdown list → catalog links."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from linkwatch.catalog import load_catalog, parse_catalog, render_catalog
from linkwatch.importer import guess_kind, guess_lang, import_markdown
from linkwatch.models import Link

ROOT = Path(__file__).resolve().parents[1]
SEED_NAME = "000_2f058dddea0bb8bf.txt"
IN_REPO_SEED = ROOT / "tests" / "data" / "seed_llm_path.md"
SHARED_SEED = ROOT.parent / "shared" / "seeds" / SEED_NAME
URL_RE = re.compile(r"https?://[^\s)\]>\"]+")


def by_url(links: tuple[Link, ...]) -> dict[str, Link]:
    return {link.url: link for link in links}


def seed_body_urls(text: str) -> set[str]:
    """Every http(s) URL in the seed after its YAML front matter (which holds `source:`)."""
    body = text.split("\n---\n", 1)[1]
    return set(URL_RE.findall(body))


def assert_matches_shipped_catalog(seed: Path) -> None:
    text = seed.read_text(encoding="utf-8")
    imported = by_url(import_markdown(text, str(seed)).links)
    shipped = by_url(load_catalog(ROOT / "catalog.toml").links)
    assert set(imported) == set(shipped) == seed_body_urls(text)
    assert len(shipped) == 44
    assert {u: link.section for u, link in imported.items()} == {
        u: link.section for u, link in shipped.items()
    }
    assert {u for u, link in imported.items() if link.must_read} == {
        u for u, link in shipped.items() if link.must_read
    }


def test_in_repo_seed_copy_matches_shipped_catalog() -> None:
    assert_matches_shipped_catalog(IN_REPO_SEED)


def test_shared_seed_matches_shipped_catalog() -> None:
    if not SHARED_SEED.exists():
        pytest.skip(f"{SHARED_SEED} not present (the CI checkout puts shared/ beside the repo)")
    assert SHARED_SEED.read_bytes() == IN_REPO_SEED.read_bytes()
    assert_matches_shipped_catalog(SHARED_SEED)


def test_shipped_catalog_keeps_seed_order() -> None:
    text = IN_REPO_SEED.read_text(encoding="utf-8")
    order = list(dict.fromkeys(URL_RE.findall(text.split("\n---\n", 1)[1])))
    assert [link.url for link in load_catalog(ROOT / "catalog.toml").links] == order


def test_seed_sections_and_marks() -> None:
    links = by_url(import_markdown(IN_REPO_SEED.read_text(encoding="utf-8"), "seed.md").links)
    assert links["https://openrouter.ai/"].section == ("入门篇",)
    assert links["https://zh.d2l.ai/"].section == ("深入篇", "0x31 大模型技术基础方向")
    assert links["https://arxiv.org/abs/2407.12994"].section == ("深入篇", "0x36 大模型应用方向")
    assert sum(link.must_read for link in links.values()) == 18


def test_seed_front_matter_and_comments_are_not_links() -> None:
    result = import_markdown(IN_REPO_SEED.read_text(encoding="utf-8"), "seed.md")
    assert "https://github.com/ninehills/blog/issues/97" not in by_url(result.links)
    assert "seed.md:118: comment thread skipped from here on" in result.notes


def test_front_matter_skipped_after_a_byte_order_mark() -> None:
    text = IN_REPO_SEED.read_text(encoding="utf-8")
    plain = import_markdown(text, "seed.md")
    with_bom = import_markdown("\ufeff" + text, "seed.md")
    assert with_bom == plain
    assert len(with_bom.links) == 44


CHAPTERS = """\
## 0x10 入门篇

- [A](https://a.example/)

## 0x30 深入篇

### 0x31 大模型技术基础方向

- [B](https://b.example/)

## 2. Second

- [C](https://c.example/)
"""


def test_chapter_numbers_dropped_subsection_numbers_kept() -> None:
    sections = [link.section for link in import_markdown(CHAPTERS, "x.md").links]
    assert sections == [("入门篇",), ("深入篇", "0x31 大模型技术基础方向"), ("Second",)]


@pytest.mark.parametrize(
    ("heading", "section"),
    [
        ("0x10 入门篇", "入门篇"),
        ("2. Tools", "Tools"),
        ("2.3 Tools", "Tools"),
        ("IV. Tools", "Tools"),
        ("第三章 工具", "工具"),
        ("2024 roadmap", "2024 roadmap"),
        ("Mix. things", "Mix. things"),
        ("0x10", "0x10"),
    ],
)
def test_chapter_number_forms(heading: str, section: str) -> None:
    (link,) = import_markdown(f"## {heading}\n\n- [A](https://a.example/)\n", "x.md").links
    assert link.section == (section,)


@pytest.mark.parametrize(
    ("item", "must_read"),
    [
        ("- [A](https://a.example/)【必看】", True),
        ("- [A](https://a.example/)：很好 【 必看 】", True),
        ("- [A](https://a.example/) (must read)", True),
        ("- [A](https://a.example/) MUST-READ", True),
        ("- [A](https://a.example/) mustread", False),
        ("- [A](https://a.example/) 必看", False),
        ("- [A](https://a.example/)\n\t- child says 【必看】", False),
    ],
)
def test_must_read_marker_in_own_text(item: str, must_read: bool) -> None:
    (link,) = import_markdown(item + "\n", "x.md").links
    assert link.must_read is must_read


def test_linkless_item_hands_mark_to_children() -> None:
    text = (
        "- State of GPT：Andrej Karpathy 做的演示。 【必看】\n"
        "\t- 视频： [https://v.example/watch](https://v.example/watch)\n"
        "\t- PPT： [https://k.example/s.pdf](https://k.example/s.pdf)\n"
    )
    links = import_markdown(text, "x.md").links
    assert [(link.title, link.must_read, link.parent) for link in links] == [
        ("State of GPT — 视频", True, None),
        ("State of GPT — PPT", True, None),
    ]


@pytest.mark.parametrize(
    "line",
    [
        "视频： https://v.example/watch PPT： https://k.example/s.pdf",
        "视频： [https://v.example/watch](https://v.example/watch)"
        " PPT： [https://k.example/s.pdf](https://k.example/s.pdf)",
    ],
)
def test_bare_url_label_is_the_text_since_the_previous_link(line: str) -> None:
    text = f"- State of GPT：演示【必看】\n\t- {line}\n"
    links = import_markdown(text, "x.md").links
    assert [link.title for link in links] == ["State of GPT — 视频", "State of GPT — PPT"]


def test_bare_url_label_drops_the_bracket_around_the_url() -> None:
    text = "- Repo https://github.com/a/b (mirror: https://gitee.com/a/b)\n"
    links = import_markdown(text, "x.md").links
    assert [link.title for link in links] == ["Repo", "mirror"]


def test_linked_item_does_not_hand_mark_to_children() -> None:
    text = "- [Q](https://q.example/) 【必看】\n\t- 以及 [API](https://q.example/api)\n"
    links = by_url(import_markdown(text, "x.md").links)
    assert links["https://q.example/api"].must_read is False


def test_nested_link_gets_parent_item_first_link() -> None:
    text = (
        "- [Course](https://learn.example/c)\n"
        "\t- 中英双语字幕： [https://gh.example/sub](https://gh.example/sub)\n"
        "\t- [Deeper](https://learn.example/d)\n"
        "\t\t- 中文字幕： [https://bili.example/v](https://bili.example/v)\n"
    )
    links = by_url(import_markdown(text, "x.md").links)
    assert links["https://gh.example/sub"].parent == "https://learn.example/c"
    assert links["https://gh.example/sub"].title == "Course — 中英双语字幕"
    assert links["https://gh.example/sub"].lang == "zh-en"
    assert links["https://learn.example/d"].parent == "https://learn.example/c"
    assert links["https://bili.example/v"].parent == "https://learn.example/d"
    assert links["https://bili.example/v"].title == "Deeper — 中文字幕"
    assert links["https://bili.example/v"].lang == "zh"


def test_second_link_in_item_belongs_to_first() -> None:
    text = "- [Playbook](https://p.example/)：经验。[中文翻译](https://p.example/zh)。\n"
    first, second = import_markdown(text, "x.md").links
    assert (first.parent, second.parent) == (None, "https://p.example/")
    assert first.note == "经验。"  # the link after the full stop is its own, not the note's
    assert second.note is None


@pytest.mark.parametrize(
    ("item", "note"),
    [
        (
            "[D2L](https://d.example/)：配合[视频](https://v.example/)，很好。【必看】",
            "配合视频，很好。",
        ),
        ("[Corpus](https://c.example/)：很科学。[工具 FlagData](https://f.example/)", "很科学。"),
        ("[A](https://a.example/): good. [B](https://b.example/) too.", "good."),
    ],
)
def test_note_keeps_links_inside_its_sentence_only(item: str, note: str) -> None:
    first, _ = import_markdown(f"- {item}\n", "x.md").links
    assert first.note == note


LOOSE_ITEM_REPEAT = """\
- intro

  - [A](https://a.example/)
    - [B](https://b.example/)

  see also [B again](https://b.example/)
"""


def test_parent_is_an_earlier_link_so_no_chain_loops() -> None:
    # The loose item's only link follows its nested list and repeats B: taking
    # it as A's parent made A → B → A, a catalog that did not load.
    links = import_markdown(LOOSE_ITEM_REPEAT, "x.md").links
    assert [(link.url, link.parent) for link in links] == [
        ("https://a.example/", None),
        ("https://b.example/", "https://a.example/"),
    ]
    parse_catalog(render_catalog(links), "catalog.toml")


def test_parent_skips_an_enclosing_item_whose_link_comes_later() -> None:
    text = (
        "- [Top](https://top.example/)\n"
        "  - intro\n\n"
        "    - [A](https://a.example/)\n\n"
        "    see [C](https://c.example/)\n"
    )
    links = by_url(import_markdown(text, "x.md").links)
    assert links["https://a.example/"].parent == "https://top.example/"
    assert links["https://c.example/"].parent == "https://top.example/"


def test_cli_import_refuses_to_write_a_catalog_that_does_not_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import linkwatch.importer
    from linkwatch.cli import main
    from linkwatch.importer import ImportResult

    looping = (
        Link(url="https://a.example/", title="A", parent="https://b.example/"),
        Link(url="https://b.example/", title="B", parent="https://a.example/"),
    )
    monkeypatch.setattr(
        linkwatch.importer, "import_markdown", lambda text, path: ImportResult(looping, ())
    )
    source = tmp_path / "list.md"
    source.write_text("- x\n", encoding="utf-8")
    out = tmp_path / "catalog.toml"
    assert main(["import", str(source), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{source}: not imported: the generated catalog would not load: link.parent:" in err
    assert not out.exists()


def test_blockquote_link_is_a_link_named_after_its_host() -> None:
    text = "## 0x10 入门篇\n\n> 推荐注册 [https://www.openrouter.ai/](https://www.openrouter.ai/)\n"
    (link,) = import_markdown(text, "x.md").links
    assert (link.title, link.section, link.line) == ("openrouter.ai", ("入门篇",), 3)


def test_a_table_row_is_an_item_its_first_cell_names_bare_urls() -> None:
    """GFM tables: each row's links, titled by the link text or else the row's first cell."""
    text = (
        "## Tools\n\n"
        "| Name | Link | Notes |\n|---|---|---|\n"
        "| Alpha | [Alpha docs](https://alpha.example/docs) | must-read |\n"
        "| Beta | https://beta.example.com/ | bare |\n"
        "| Gamma | <https://gamma.example/> | |\n"
        "| https://delta.example/ | a bare URL first | |\n"
    )
    links = import_markdown(text, "x.md").links
    assert [(link.title, link.url, link.must_read, link.line) for link in links] == [
        ("Alpha docs", "https://alpha.example/docs", True, 5),
        ("Beta", "https://beta.example.com/", False, 6),
        ("Gamma", "https://gamma.example/", False, 7),
        ("delta.example", "https://delta.example/", False, 8),
    ]
    assert all(link.section == ("Tools",) and link.parent is None for link in links)


def test_bare_url_in_text_is_a_link() -> None:
    text = "- Site：https://bare.example/path，很好。\n"
    (link,) = import_markdown(text, "x.md").links
    assert link.url == "https://bare.example/path"


@pytest.mark.parametrize(
    ("markdown", "note"),
    [
        ("- [rel](docs/a.md)\n", "x.md:1: 'docs/a.md' skipped (relative link)"),
        ("\n- [anchor](#top)\n", "x.md:2: '#top' skipped (in-page anchor)"),
        ("- [mail](mailto:a@b.example)\n", "x.md:1: 'mailto:a@b.example' skipped (mailto: link"),
        ("- [ftp](ftp://f.example/x)\n", "x.md:1: 'ftp://f.example/x' skipped (ftp: link"),
    ],
)
def test_unusable_links_are_skipped_with_a_note(markdown: str, note: str) -> None:
    result = import_markdown(markdown, "x.md")
    assert result.links == ()
    assert any(n.startswith(note) for n in result.notes), result.notes


def test_repeated_url_merged_first_wins_with_note() -> None:
    text = "- [First](https://a.example/)\n- [Second](https://A.example/)\n"
    result = import_markdown(text, "x.md")
    assert [link.title for link in result.links] == ["First"]
    assert result.notes == ("x.md:2: https://A.example/ repeats line 1; merged (first wins)",)


def test_heading_that_is_a_link_is_a_section_and_a_link() -> None:
    text = "## [LangChain](https://github.com/langchain-ai/langchain)\n\n- [Docs](https://d.example/)\n"
    links = import_markdown(text, "x.md").links
    assert [(link.url, link.title, link.section, link.line) for link in links] == [
        ("https://github.com/langchain-ai/langchain", "LangChain", ("LangChain",), 1),
        ("https://d.example/", "Docs", ("LangChain",), 3),
    ]


HTML_BLOCK = """\
# Tools

<p align="center">
<img src="https://example.org/logo.png">
<a href="https://example.org/html-block">Site</a>
<a href="https://example.org/logo"><img alt="Logo" src="https://example.org/l.svg"></a>
<a href="docs/a.md">relative</a>
</p>

<!-- <a href="https://example.org/commented-out">old</a> -->
"""


def test_links_in_an_html_block_are_links() -> None:
    result = import_markdown(HTML_BLOCK, "x.md")
    assert [(link.url, link.title, link.section, link.line) for link in result.links] == [
        ("https://example.org/html-block", "Site", ("Tools",), 5),
        ("https://example.org/logo", "Logo", ("Tools",), 6),
    ]
    assert result.notes == (
        "x.md:4: image https://example.org/logo.png skipped",
        "x.md:6: image https://example.org/l.svg skipped",
        "x.md:7: 'docs/a.md' skipped (relative link)",
    )


def test_link_lines_count_soft_breaks() -> None:
    text = "Intro\ntext [A](https://a.example/)\nmore [B](https://b.example/)\n"
    assert [link.line for link in import_markdown(text, "x.md").links] == [2, 3]


def test_imported_seed_renders_to_a_valid_catalog() -> None:
    links = import_markdown(IN_REPO_SEED.read_text(encoding="utf-8"), "seed.md").links
    catalog = parse_catalog(render_catalog(links), "catalog.toml")
    assert [(x.url, x.title, x.parent) for x in catalog.links] == [
        (x.url, x.title, x.parent) for x in links
    ]


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("https://www.youtube.com/watch?v=x", "video"),
        ("https://b23.tv/vF2vS6t", "video"),
        ("https://www.bilibili.com/video/BV1/", "video"),
        ("https://github.com/openai/openai-cookbook", "repository"),
        ("https://arxiv.org/pdf/2407.21059", "paper"),
        ("https://karpathy.ai/stateofgpt.pdf", "paper"),
        ("https://learn.deeplearning.ai/langchain/lesson/1/introduction", "course"),
        ("https://platform.openai.com/docs/quickstart", "docs"),
        ("https://yaofu.notion.site/6dafe", "article"),
        ("https://huggingface.co/spaces/nanotron/ultrascale-playbook", "article"),
        ("https://data.baai.ac.cn/details/x", "dataset"),
        ("https://dify.ai/", "website"),
    ],
)
def test_guess_kind(url: str, kind: str) -> None:
    assert guess_kind(url) == kind


def test_guess_kind_pdf_titled_ppt_is_slides() -> None:
    assert guess_kind("https://karpathy.ai/stateofgpt.pdf", "State of GPT — PPT") == "slides"


@pytest.mark.parametrize(
    ("text", "url", "lang"),
    [
        ("OpenAI Quickstart", "https://platform.openai.com/docs", "en"),
        ("《动手学深度学习》", "https://zh.d2l.ai/", "zh"),
        ("Course — 中英双语字幕", "https://b23.tv/x", "zh-en"),
        ("Course — 中文字幕", "https://www.bilibili.com/video/x", "zh"),
        ("FlagData", "https://github.com/FlagOpen/FlagData/blob/main/README_zh.md", "zh"),
        ("Zhihu clone", "https://zhihu.example/", "en"),
    ],
)
def test_guess_lang(text: str, url: str, lang: str) -> None:
    assert guess_lang(text, url) == lang


def test_urls_in_code_are_not_links() -> None:
    # GFM links no URL inside code; an API endpoint in a code span is an
    # example (it would answer 404 or 405 and raise a false alarm), as is
    # one in a code block.
    text = (
        "## Tools\n\n"
        "- [SDK](https://sdk.example/) call `curl https://api.example/v1/chat` to try\n"
        "- `https://code.example/x` and https://bare.example/y\n\n"
        "```\nhttps://fenced.example/z\n```\n"
    )
    result = import_markdown(text, "list.md")
    assert [link.url for link in result.links] == ["https://sdk.example/", "https://bare.example/y"]
    assert result.links[0].note == "call curl https://api.example/v1/chat to try"
