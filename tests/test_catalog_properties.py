"""Property tests: catalog parsing and Markdown import never fail with anything but CatalogError.

A curator's typo must end in one line naming the file and line, never in a
traceback; and whatever the importer finds must always make a valid catalog.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from typing import Any, get_type_hints

import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linkwatch.catalog import LINK_KEYS, SCHEDULE_KEYS, SETTINGS_KEYS, parse_catalog, render_catalog
from linkwatch.errors import CatalogError
from linkwatch.importer import import_markdown
from linkwatch.models import Settings

PROFILE = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

URLS = st.sampled_from(
    [
        "https://a.example/",
        "https://A.example/",
        "http://b.example/x?y=1#z",
        "htp://bad",
        "https://",
        "/relative",
        "",
    ]
)
GOOD_URLS = st.one_of(
    st.sampled_from(["https://a.example/", "http://b.example/x?y=1#z"]),
    st.integers(0, 10**6).map(lambda n: f"https://h{n}.example/p"),
)
TITLES = st.text(min_size=1, max_size=10).filter(str.strip)
SCALARS = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    URLS,
    st.sampled_from(["0 * * * *", "61 * * * *", "* * *", "Asia/Shanghai", "Mars/Base", "("]),
    st.dates(),
    st.datetimes(timezones=st.none() | st.just(dt.UTC)),
)
VALUES = st.one_of(
    SCALARS, st.lists(SCALARS, max_size=3), st.lists(st.integers(0, 700), max_size=3)
)


def tables(keys: tuple[str, ...]) -> st.SearchStrategy[dict[str, Any]]:
    key = st.one_of(*[st.sampled_from(keys)] * 4, st.text(min_size=1, max_size=8))
    return st.dictionaries(key, VALUES, max_size=6)


def typed_setting(hint: object) -> st.SearchStrategy[Any]:
    if hint is int:
        return st.integers(-1, 100)
    if hint is float:
        return st.floats(-1, 1e6) | st.integers(-1, 100)
    return TITLES


TYPED_SETTINGS = st.fixed_dictionaries(
    {},
    optional={
        **{name: typed_setting(hint) for name, hint in get_type_hints(Settings).items()},
        "timezone": st.sampled_from(["UTC", "Asia/Shanghai", "Nowhere/City"]),
        "canary": GOOD_URLS | URLS,
    },
)


TYPED_LINK = st.fixed_dictionaries(
    {
        "url": st.one_of(GOOD_URLS, GOOD_URLS, GOOD_URLS, URLS),
        "title": st.one_of(TITLES, TITLES, TITLES, st.just("")),
    },
    optional={
        "section": TITLES | st.lists(TITLES, max_size=3) | st.just([""]),
        "tags": st.lists(TITLES, max_size=3),
        "must_read": st.booleans(),
        "lang": st.sampled_from(["zh", "en", "zh-en", "中文", ""]),
        "kind": st.sampled_from(["video", "paper", "vidoe"]),
        "parent": URLS,
        "note": TITLES,
        "skip": st.booleans(),
        "accept": st.lists(st.integers(100, 599), max_size=3) | st.just([0]),
        "expect_text": TITLES,
        "select": TITLES,
        "ignore": st.lists(st.text(max_size=6), max_size=2) | st.just(["("]),
        "max_age_days": st.floats() | st.integers(),
        "check_fragment": st.booleans(),
    },
)


VALID_LINK = st.fixed_dictionaries(
    {"url": GOOD_URLS, "title": TITLES},
    optional={
        "section": TITLES | st.lists(TITLES, max_size=3),
        "tags": st.lists(TITLES, max_size=3),
        "must_read": st.booleans(),
        "lang": st.sampled_from(["zh", "en", "zh-en", "zh-Hans"]),
        "kind": st.sampled_from(["video", "paper", "book", "website"]),
        "note": TITLES,
        "skip": st.booleans(),
        "accept": st.lists(st.integers(100, 599), max_size=3),
        "expect_text": TITLES,
        "select": TITLES,
        "ignore": st.lists(st.sampled_from([r"\d+ views", "a|b", "x*"]), max_size=2),
        "max_age_days": st.floats(0.5, 1e6) | st.integers(1, 1000),
        "check_fragment": st.booleans(),
    },
)


def links() -> st.SearchStrategy[dict[str, Any]]:
    base = st.fixed_dictionaries({"url": URLS, "title": st.text(max_size=10)})
    loose = st.tuples(base, tables(LINK_KEYS)).map(lambda pair: {**pair[1], **pair[0]})
    return st.one_of(*[VALID_LINK] * 6, TYPED_LINK, loose)


DOCUMENTS = st.fixed_dictionaries(
    {},
    optional={
        "settings": TYPED_SETTINGS | TYPED_SETTINGS | tables(SETTINGS_KEYS),
        "link": st.lists(links(), max_size=4),
        "schedule": st.lists(tables(SCHEDULE_KEYS), max_size=2),
    },
).flatmap(
    lambda doc: st.one_of(
        st.just(doc),
        st.just(doc),
        st.just(doc),
        st.dictionaries(st.text(max_size=6), VALUES, max_size=1).map(
            lambda extra: {**extra, **doc}
        ),
    )
)


@PROFILE
@given(st.text(max_size=300))
def test_parse_catalog_on_any_text_raises_only_catalog_error(text: str) -> None:
    try:
        parse_catalog(text, "c.toml")
    except CatalogError as exc:
        assert str(exc).startswith("c.toml")
        assert "\n" not in str(exc)


@PROFILE
@given(DOCUMENTS)
def test_parse_catalog_on_toml_documents_raises_only_catalog_error(doc: dict[str, Any]) -> None:
    text = tomlkit.dumps(doc)
    try:
        catalog = parse_catalog(text, "c.toml")
    except CatalogError as exc:
        assert str(exc).startswith("c.toml")
        assert "\n" not in str(exc)
        return
    # Whatever was accepted renders back to an equivalent catalog.
    again = parse_catalog(render_catalog(catalog.links), "c.toml")
    assert [dataclasses.replace(x, line=0) for x in again.links] == [
        dataclasses.replace(x, line=0) for x in catalog.links
    ]


@PROFILE
@given(st.text(max_size=300))
def test_import_markdown_on_any_text_never_crashes(text: str) -> None:
    with contextlib.suppress(CatalogError):
        import_markdown(text, "x.md")


LINE = st.one_of(
    st.sampled_from(["", "---", "> quote", "体系化课程：", "**u** commented on 2023/9/13"]),
    st.builds(
        lambda level, title: "#" * level + " " + title,
        st.integers(1, 4),
        st.sampled_from(["0x10 入门篇", "0x31 方向", "2. Two", "plain", ""]),
    ),
    st.builds(
        lambda indent, text, label, url, mark: f"{indent}- {label}[{text}]({url}){mark}",
        st.sampled_from(["", "\t", "\t\t", "  ", "    "]),
        st.text(max_size=8) | st.just("https://a.example/"),
        st.sampled_from(["", "视频：", "中英双语字幕： ", "以及 "]),
        URLS | st.text(max_size=10),
        st.sampled_from(["", "【必看】", " must-read", "：说明"]),
    ),
    st.builds(
        lambda indent, text: f"{indent}- {text}",
        st.sampled_from(["", "\t"]),
        st.text(max_size=20) | st.just("https://bare.example/x，y"),
    ),
)


@PROFILE
@given(st.lists(LINE, max_size=12))
def test_imported_links_always_make_a_valid_catalog(lines: list[str]) -> None:
    result = import_markdown("\n".join(lines) + "\n", "x.md")
    catalog = parse_catalog(render_catalog(result.links), "c.toml")
    fields = [(x.url, x.title, x.section, x.must_read, x.parent) for x in result.links]
    assert [(x.url, x.title, x.section, x.must_read, x.parent) for x in catalog.links] == fields
    assert all(note.startswith("x.md") for note in result.notes)
