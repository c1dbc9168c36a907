"""Tests for linkwatch.catalog: the catalog.toml contract (design.md §4) and its errors."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linkwatch.catalog import (
    SETTINGS_KEYS,
    balance_by_host,
    cron_problem,
    cron_values,
    filter_links,
    load_catalog,
    parse_catalog,
    render_catalog,
    render_settings,
    timezone_exists,
    url_problem,
)
from linkwatch.errors import CatalogError
from linkwatch.models import Link, Schedule, Settings

ROOT = Path(__file__).resolve().parents[1]

# A valid base: line 1 [settings], line 4 first [[link]], line 8 second [[link]].
BASE = """\
[settings]
rot_after_runs = 2

[[link]]
title = "D2L"
url = "https://zh.d2l.ai/"

[[link]]
title = "Courses"
url = "https://courses.d2l.ai/zh-v2/"
"""


def parse(text: str) -> object:
    return parse_catalog(text, "catalog.toml")


SCHEDULE = '\n[[schedule]]\nname = "n"\ncron = "0 * * * *"\n'
COURSES = "https://courses.d2l.ai/zh-v2/"

# (case, text, line, key, fragment of the message)
INVALID: list[tuple[str, str, int, str, str]] = [
    ("unknown link key", BASE + 'tittle = "x"\n', 11, "link.tittle", "did you mean 'title'?"),
    (
        "unknown settings key",
        BASE.replace("rot_after_runs", "rot_after_run"),
        2,
        "settings.rot_after_run",
        "did you mean 'rot_after_runs'?",
    ),
    ("unknown table", BASE + "\n[setting]\nx = 1\n", 12, "setting", "did you mean 'settings'?"),
    (
        "invalid URL scheme",
        BASE.replace(COURSES, "htp://c"),
        10,
        "link.url",
        "is not an http(s) URL",
    ),
    ("URL without host", BASE.replace(COURSES, "https:///x"), 10, "link.url", "no host"),
    (
        "duplicate URL",
        BASE.replace(COURSES, "https://ZH.d2l.ai/"),
        10,
        "link.url",
        "duplicate URL 'https://ZH.d2l.ai/' (first at line 4)",
    ),
    ("wrong type bool", BASE + 'must_read = "yes"\n', 11, "link.must_read", "got string 'yes'"),
    ("wrong type int", BASE.replace("= 2", '= "2"'), 2, "settings.rot_after_runs", "an integer"),
    ("wrong type tags", BASE + 'tags = "a"\n', 11, "link.tags", "expected an array of strings"),
    ("wrong type title", BASE.replace('"Courses"', "3"), 9, "link.title", "expected a string"),
    ("bad TOML", BASE + "must_read = \n", 11, "", "invalid TOML"),
    ("bad TOML string", BASE + 'note = "open\n', 11, "", "invalid TOML"),
    (
        "unknown parent",
        BASE + 'parent = "https://example.org/x"\n',
        11,
        "link.parent",
        "'https://example.org/x' is not a URL in this catalog",
    ),
    ("own parent", BASE + f'parent = "{COURSES}"\n', 11, "link.parent", "its own parent"),
    ("missing title", BASE.replace('title = "Courses"\n', ""), 8, "link.title", "missing"),
    ("missing url", BASE.replace('url = "https://zh.d2l.ai/"\n', ""), 4, "link.url", "missing"),
    ("unknown kind", BASE + 'kind = "vidoe"\n', 11, "link.kind", "did you mean 'video'?"),
    ("bad lang", BASE + 'lang = "中文"\n', 11, "link.lang", "not a language tag"),
    ("bad status", BASE + "accept = [999]\n", 11, "link.accept", "999 is not an HTTP status"),
    ("bad regex", BASE + 'ignore = ["("]\n', 11, "link.ignore", "not a valid regex"),
    ("zero max age", BASE + "max_age_days = 0\n", 11, "link.max_age_days", "greater than 0"),
    (
        "endless max age",
        BASE + "max_age_days = 1e12\n",
        11,
        "link.max_age_days",
        "must be at most 36500 (100 years), got 1e+12",
    ),
    (
        "endless rot hours",
        BASE.replace("rot_after_runs = 2", "rot_after_hours = 1e12"),
        2,
        "settings.rot_after_hours",
        "must be at most 876000 (100 years), got 1e+12",
    ),
    ("negative", BASE.replace("rot_after_runs = 2", "retries = -1"), 2, "settings.retries", "not"),
    (
        "bad settings timezone",
        BASE.replace("rot_after_runs = 2", 'timezone = "Mars/Base"'),
        2,
        "settings.timezone",
        "unknown time zone 'Mars/Base'",
    ),
    (
        "issue_mode typo",
        BASE.replace("rot_after_runs = 2", 'issue_mode = "sumary"'),
        2,
        "settings.issue_mode",
        "unknown mode 'sumary' (did you mean 'summary'?)",
    ),
    (
        "bad cron",
        BASE + SCHEDULE.replace("0 * * * *", "0 * * *"),
        14,
        "schedule.cron",
        "'0 * * *' must have 5 fields",
    ),
    ("cron range", BASE + SCHEDULE.replace("0 *", "61 *"), 14, "schedule.cron", "outside 0-59"),
    (
        "backwards cron range",
        BASE + SCHEDULE.replace("0 * * * *", "0 3 * * 5-1"),
        14,
        "schedule.cron",
        "day of week range '5-1' runs backwards",
    ),
    (
        "bad timezone",
        BASE + SCHEDULE + 'timezone = "Asia/Shanghai2"\n',
        15,
        "schedule.timezone",
        "unknown time zone 'Asia/Shanghai2'",
    ),
    (
        "unknown schedule key",
        BASE + SCHEDULE + "must_read = true\n",
        15,
        "schedule.must_read",
        "did you mean 'must_read_only'?",
    ),
    ("duplicate schedule", BASE + SCHEDULE * 2, 17, "schedule.name", "duplicate schedule name"),
    ("link not tables", 'link = "x"\n', 1, "link", "expected an array of [[link]] tables"),
]


@pytest.mark.parametrize(
    ("case", "text", "line", "key", "fragment"), INVALID, ids=[c[0] for c in INVALID]
)
def test_invalid_catalog_names_file_line_and_key(
    case: str, text: str, line: int, key: str, fragment: str
) -> None:
    with pytest.raises(CatalogError) as caught:
        parse(text)
    message = str(caught.value)
    prefix = f"catalog.toml:{line}: {key}: " if key else f"catalog.toml:{line}: "
    assert message.startswith(prefix), message
    assert fragment in message
    assert "\n" not in message


def test_error_carries_structured_fields() -> None:
    with pytest.raises(CatalogError) as caught:
        parse(BASE + 'tittle = "x"\n')
    assert (caught.value.path, caught.value.line, caught.value.key) == (
        "catalog.toml",
        11,
        "link.tittle",
    )
    assert "did you mean 'title'?" in caught.value.message


def test_duplicate_url_names_both_lines() -> None:
    text = BASE + '\n[[link]]\ntitle = "again"\n\nurl = "https://zh.d2l.ai/"\n'
    with pytest.raises(CatalogError) as caught:
        parse(text)
    assert str(caught.value).startswith("catalog.toml:15: link.url: duplicate URL")
    assert "(first at line 4)" in str(caught.value)


def test_header_lookalike_inside_multiline_string_does_not_shift_lines() -> None:
    text = (
        '[[link]]\ntitle = "a"\nurl = "https://a.example/"\nnote = """\n[[link]]\n"""\n'
        '\n[[link]]\ntitle = "b"\nurl = "https://b.example/"\nbogus = 1\n'
    )
    with pytest.raises(CatalogError) as caught:
        parse(text)
    assert str(caught.value).startswith("catalog.toml:11: link.bogus: unknown key")


def test_design_doc_minimal_catalog_is_complete() -> None:
    catalog = parse_catalog(
        '[settings]\nrot_after_runs = 2\n\n[[link]]\ntitle = "Dive into Deep Learning (zh)"\n'
        'url = "https://zh.d2l.ai/"\n',
        "catalog.toml",
    )
    assert catalog.settings == Settings(rot_after_runs=2)
    assert catalog.links == (
        Link(url="https://zh.d2l.ai/", title="Dive into Deep Learning (zh)", line=4),
    )


def test_settings_table_is_optional() -> None:
    catalog = parse_catalog('[[link]]\ntitle = "a"\nurl = "https://a.example/"\n', "c.toml")
    assert catalog.settings == Settings()


def test_every_settings_field_is_a_settings_key() -> None:
    custom = Settings(
        concurrency=7,
        rot_after_hours=12.5,
        user_agent="ua/1 (+https://a.example/)",
        canary="https://canary.example/",
        timezone="Asia/Shanghai",
        issue_mode="summary",
    )
    text = "\n".join(render_settings(custom, commented=False)) + "\n"
    assert parse_catalog(text, "c.toml").settings == custom
    assert set(SETTINGS_KEYS) == {f.name for f in dataclasses.fields(Settings)}


def test_integer_accepted_where_float_expected() -> None:
    settings = parse_catalog("[settings]\nrot_after_hours = 24\n", "c.toml").settings
    assert settings.rot_after_hours == 24.0
    assert isinstance(settings.rot_after_hours, float)


FULL_LINK = """\
[[link]]
title = "Course"
url = "https://learn.example/course"

[[link]]
title = "Course — 中英双语字幕"
url = "https://mirror.example/video"
section = ["深入篇", "0x31 大模型技术基础方向"]
tags = ["karpathy", "intro"]
must_read = true
lang = "zh-en"
kind = "video"
parent = "https://learn.example/course"
note = "mirror with subtitles"
skip = true
accept = [403, 429]
expect_text = "Karpathy"
select = "main article"
ignore = ['\\d+ views', "Updated .*"]
max_age_days = 365
check_fragment = false
"""


def test_every_link_key_maps_to_link_fields() -> None:
    link = parse(FULL_LINK).links[1]  # type: ignore[attr-defined]
    assert link == Link(
        url="https://mirror.example/video",
        title="Course — 中英双语字幕",
        section=("深入篇", "0x31 大模型技术基础方向"),
        tags=frozenset({"karpathy", "intro"}),
        must_read=True,
        lang="zh-en",
        kind="video",
        parent="https://learn.example/course",
        note="mirror with subtitles",
        line=5,
        skip=True,
        accept=frozenset({403, 429}),
        expect_text="Karpathy",
        select="main article",
        ignore_patterns=(r"\d+ views", "Updated .*"),
        max_age_days=365.0,
        check_fragment=False,
    )


def test_section_string_is_a_one_element_path() -> None:
    text = '[[link]]\ntitle = "a"\nurl = "https://a.example/"\nsection = "入门篇"\n'
    assert parse_catalog(text, "c.toml").links[0].section == ("入门篇",)


def test_schedule_keys_map_to_schedule() -> None:
    text = (
        '[[schedule]]\nname = "must-read"\ncron = "0 * * * *"\ntimezone = "Asia/Shanghai"\n'
        'tags = ["video"]\nsections = ["入门篇"]\nmust_read_only = true\n'
    )
    assert parse_catalog(text, "c.toml").schedules == (
        Schedule(
            name="must-read",
            cron="0 * * * *",
            timezone="Asia/Shanghai",
            tags=frozenset({"video"}),
            sections=frozenset({"入门篇"}),
            must_read_only=True,
        ),
    )


def test_load_catalog_reports_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(CatalogError) as caught:
        load_catalog(missing)
    assert str(caught.value).startswith(f"{missing}: cannot read catalog")


def test_load_catalog_reports_invalid_utf8_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b'[[link]]\ntitle = "\xff"\n')
    with pytest.raises(CatalogError) as caught:
        load_catalog(bad)
    assert str(caught.value).startswith(f"{bad}:2: not valid UTF-8")


def test_shipped_catalog_loads() -> None:
    catalog = load_catalog(ROOT / "catalog.toml")
    assert len(catalog.links) == 44
    assert (catalog.settings.rot_after_runs, catalog.settings.rot_after_hours) == (3, 48.0)
    assert catalog.settings.recover_after_runs == 2
    assert {s.name for s in catalog.schedules} == {"must-read-hourly", "everything-nightly"}
    assert all(s.timezone == "Asia/Shanghai" for s in catalog.schedules)
    assert catalog.sections()[0] == ("入门篇",)


@pytest.mark.parametrize(
    ("cron", "ok"),
    [
        ("0 * * * *", True),
        ("*/15 9-17 * * mon-fri", True),
        ("30 3 1,15 jan-jun 0", True),
        ("0 * * *", False),
        ("0 * * * * *", False),
        ("60 * * * *", False),
        ("0 24 * * *", False),
        ("0 0 0 * *", False),
        ("*/0 * * * *", False),
        ("0 0 * foo *", False),
        ("0 3 * * 5-1", False),
        ("30-10 3 * * *", False),
        ("0 3 * * fri-mon", False),
        ("0 3 * dec-jan *", False),
        ("0 3 * * 5-7", True),
        ("0 3 1-1 * *", True),
        ("*/90 * * * *", True),
        ("0 3 * jan-dec/6 *", True),
        ("0 3 * * 7-7", True),
        ("0 3 * * 7-6", False),
    ],
)
def test_cron_problem(cron: str, ok: bool) -> None:
    assert (cron_problem(cron) is None) is ok


@pytest.mark.parametrize(
    ("cron", "values"),
    [
        ("* * * * *", (None, None, None, None, None)),
        ("*/90 */5 1-5/2 jan-dec/6 7-7", ((0,), (0, 5, 10, 15, 20), (1, 3, 5), (1, 7), (0,))),
        ("0 3 * * 5-7", ((0,), (3,), None, None, (0, 5, 6))),
        ("0 3 * * */3", ((0,), (3,), None, None, (0, 3, 6))),
        ("1/20 3 * * SAT,sun", ((1, 21, 41), (3,), None, None, (0, 6))),
    ],
)
def test_cron_values(cron: str, values: tuple[tuple[int, ...] | None, ...]) -> None:
    assert cron_values(cron) == values


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://zh.d2l.ai/", True),
        ("http://127.0.0.1:8080/x?y#z", True),
        ("htp://x", False),
        ("https://", False),
        ("mailto:a@b.c", False),
        ("/relative", False),
        ("https://a b/", False),
        ("http://[::1", False),
        ("http://a.example:99999/", False),
    ],
)
def test_url_problem(url: str, ok: bool) -> None:
    assert (url_problem(url) is None) is ok


def test_timezone_exists() -> None:
    assert timezone_exists("Asia/Shanghai")
    assert not timezone_exists("../etc/passwd")
    assert not timezone_exists("Mars/Base")


LINKS = (
    Link(url="https://a.example/", title="a", section=("入门篇",), must_read=True, kind="docs"),
    Link(
        url="https://b.example/", title="b", section=("深入篇", "0x31 基础"), tags=frozenset({"x"})
    ),
    Link(url="https://c.example/", title="c", section=("深入篇", "0x32 原理"), lang="zh"),
)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, "abc"),
        ({"sections": ["深入篇"]}, "bc"),
        ({"sections": ["0x31"]}, "b"),
        ({"sections": ["入门篇", "0x32"]}, "ac"),
        ({"sections": ["INPUT"]}, ""),
        ({"tags": ["x"]}, "b"),
        ({"tags": ["DOCS"]}, "a"),
        ({"tags": ["zh"]}, "c"),
        ({"tags": ["must-read"]}, "a"),
        ({"must_read": True}, "a"),
        ({"sections": ["深入篇"], "tags": ["zh"]}, "c"),
    ],
)
def test_filter_links(kwargs: dict[str, object], expected: str) -> None:
    chosen = filter_links(LINKS, **kwargs)  # type: ignore[arg-type]
    assert "".join(link.title for link in chosen) == expected


def test_render_catalog_round_trips_every_field() -> None:
    original = parse(FULL_LINK).links  # type: ignore[attr-defined]
    text = render_catalog(original)
    again = parse_catalog(text, "c.toml").links
    strip = [dataclasses.replace(link, line=0) for link in original]
    assert [dataclasses.replace(link, line=0) for link in again] == strip


def test_render_catalog_comments_sections_and_defaults() -> None:
    text = render_catalog(LINKS)
    assert "# ── 深入篇 › 0x31 基础 ──" in text
    assert "# rot_after_runs = 3" in text
    assert parse_catalog(text, "c.toml").settings == Settings()


def test_render_catalog_escapes_awkward_strings() -> None:
    link = Link(url="https://a.example/", title='quote " back \\ tab \t bell \x07 """', note="a\nb")
    again = parse_catalog(render_catalog([link]), "c.toml").links[0]
    assert (again.title, again.note) == (link.title, link.note)


def test_render_catalog_with_explicit_settings_and_schedules() -> None:
    settings = Settings(rot_after_runs=5, timezone="Asia/Shanghai")
    schedule = Schedule(name="n", cron="0 3 * * *", timezone="Asia/Shanghai")
    text = render_catalog(LINKS, settings=settings, schedules=[schedule], header="hello\nworld")
    catalog = parse_catalog(text, "c.toml")
    assert text.startswith("# hello\n# world\n")
    assert (catalog.settings, catalog.schedules) == (settings, (schedule,))


def test_docs_examples_are_valid_catalogs() -> None:
    docs = (ROOT / "docs" / "catalog.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```toml\n(.*?)```", docs, flags=re.DOTALL)
    assert len(blocks) == 4
    parent = '[[link]]\ntitle = "p"\nurl = "https://www.youtube.com/watch?v=7xTGNNLPyMI"\n\n'
    for block in blocks:
        text = parent + block if "parent =" in block else block
        parse_catalog(text, "docs/catalog.md")


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://a.example/x", None),
        ("http://a.example:8080/", None),
        ("", "empty link"),
        ("#top", "in-page anchor"),
        ("docs/a.md", "relative link"),
        ("mailto:a@b.example", "mailto: link, not http(s)"),
        ("https:///x", "no host"),
        ("https://a.example/a b", "contains whitespace or control characters"),
        ("http://a.example:port/", "unparsable: Port could not be cast to integer value as 'port'"),
    ],
)
def test_url_problem_is_shared_by_loader_and_importer(url: str, problem: str | None) -> None:
    from linkwatch.urls import url_problem

    assert url_problem(url) == problem


def test_split_by_host_keeps_each_host_whole_and_the_shard_rule_stable() -> None:
    import zlib

    from linkwatch.catalog import split_by_host

    links = [Link(url=f"https://h{i % 7}.example/p{i}", title=str(i)) for i in range(40)]
    groups = split_by_host(links, 3)
    assert sorted((link for g in groups for link in g), key=links.index) == links
    for k, group in enumerate(groups):
        assert list(group) == [link for link in links if link in group]  # catalog order
        for link in group:  # the rule --shard has always used, so old shard jobs still agree
            assert zlib.crc32((link.url.split("/")[2]).encode()) % 3 == k
    assert sum(1 for g in groups if g) > 1


@given(
    st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=30),
    st.integers(min_value=1, max_value=4),
)
def test_balance_by_host_keeps_hosts_whole_and_groups_within_one_host_of_even(
    sizes: list[int], parts: int
) -> None:
    # Interleaved like a real catalog: host h has sizes[h] links.
    links = [
        Link(url=f"https://h{h}.example/p{n}", title="t")
        for n in range(max(sizes))
        for h, size in enumerate(sizes)
        if n < size
    ]
    groups = balance_by_host(links, parts)
    assert len(groups) == parts
    assert sorted((link for g in groups for link in g), key=links.index) == links
    owner = {}
    for k, group in enumerate(groups):
        assert list(group) == sorted(group, key=links.index)  # catalog order
        for link in group:
            assert owner.setdefault(link.url.split("/")[2], k) == k  # a host in one group
    # Greedy largest-first: no group exceeds the even share by more than the biggest host.
    assert max(len(g) for g in groups) <= len(links) / parts + max(sizes)
