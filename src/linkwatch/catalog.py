"""Read, validate, filter and write ``catalog.toml``.

The format is a contract (design.md §4): links are ``[[link]]`` tables with
at least ``url`` and ``title``; ``[settings]`` and ``[[schedule]]`` are
optional.  Parsing uses :mod:`tomllib` (TOML 1.0.0).  ``tomllib`` returns
plain dicts without positions, so every semantic error is located by a
light scan of the text (:class:`_Layout`): the *n*-th ``[[link]]`` header in
the text is the *n*-th element of ``data["link"]`` because TOML appends
array-of-tables elements in document order (TOML 1.0.0, "Array of Tables").
A curator fixing a catalog by hand needs ``file:line: key: problem``, never
a traceback, so every problem is a :class:`~linkwatch.errors.CatalogError`.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import os
import re
import tomllib
import typing
import zlib
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from linkwatch.errors import CatalogError
from linkwatch.models import Catalog, Link, Schedule, Settings
from linkwatch.urls import url_key, url_problem

__all__ = [
    "KINDS",
    "LINK_KEYS",
    "SCHEDULE_KEYS",
    "SETTINGS_KEYS",
    "filter_links",
    "load_catalog",
    "parse_catalog",
    "render_catalog",
]

KINDS = frozenset(
    {
        "video",
        "course",
        "book",
        "repository",
        "paper",
        "article",
        "docs",
        "tool",
        "slides",
        "dataset",
        "website",
    }
)

SETTINGS_KEYS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Settings))
LINK_KEYS: tuple[str, ...] = (
    "url",
    "title",
    "section",
    "tags",
    "must_read",
    "lang",
    "kind",
    "parent",
    "note",
    "skip",
    "accept",
    "expect_text",
    "select",
    "ignore",
    "max_age_days",
    "check_fragment",
)
SCHEDULE_KEYS: tuple[str, ...] = (
    "name",
    "cron",
    "timezone",
    "tags",
    "sections",
    "must_read_only",
)
_TOP_KEYS: tuple[str, ...] = ("settings", "link", "schedule")

# Settings that must be > 0 and settings that must be >= 0.
_POSITIVE = frozenset(
    {
        "concurrency",
        "per_host",
        "connect_timeout",
        "read_timeout",
        "link_timeout",
        "max_body_bytes",
        "rot_after_runs",
        "recover_after_runs",
        "keep_runs",
    }
)
_NON_NEGATIVE = frozenset(
    {
        "min_interval_ms",
        "retries",
        "max_redirects",
        "retry_after_cap",
        "rot_after_hours",
        "outage_rot_hours",
        "max_new_issues",
    }
)
# Durations that become a ``timedelta``, which ends at 999,999,999 days: a
# "never" like 1e12 would pass a lower bound and crash every check.  A
# century is longer than any link list is kept.
MAX_AGE_DAYS = 36_500
_MAXIMUM: dict[str, float] = {  # hours
    "rot_after_hours": MAX_AGE_DAYS * 24,
    "outage_rot_hours": MAX_AGE_DAYS * 24,
}
_SETTINGS_TYPES: dict[str, Any] = typing.get_type_hints(Settings)

# BCP 47-shaped tags ("en", "zh", "zh-Hans") plus our "zh-en" for bilingual.
_LANG_RE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")
_TOML_ERROR_POS = re.compile(r"\s*\(at line (\d+), column \d+\)\s*$")
_TOML_ERROR_END = re.compile(r"\s*\(at end of document\)\s*$")

# Crontab fields (crontab(5)): name, lowest, highest, symbolic names.
_CRON_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    (
        "month",
        1,
        12,
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
    ),
    ("day of week", 0, 7, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")),
)
_CRON_ITEM = re.compile(r"^(\*|[0-9a-z]+(?:-[0-9a-z]+)?)(?:/([0-9]+))?$")


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class _Header:
    line: int
    name: str
    array: bool


_HEADER_RE = re.compile(r"^\s*(\[\[?)\s*([^\[\]]+?)\s*(\]\]?)\s*(?:#.*)?$")


@functools.lru_cache(maxsize=256)
def _key_pattern(key: str) -> re.Pattern[str]:
    return re.compile(r"^\s*(?:{k}|\"{k}\"|'{k}')\s*[=.]".format(k=re.escape(key)))


class _Layout:
    """Where table headers and keys sit in the text (1-based lines).

    A line scan, not a parser: it only runs on text tomllib has already
    accepted, and skips the bodies of multi-line strings so a line like
    ``[[link]]`` inside ``'''…'''`` is not taken for a header.
    """

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.headers: list[_Header] = []
        delim: str | None = None
        for number, raw in enumerate(self.lines, start=1):
            if delim is None:
                match = _HEADER_RE.match(raw)
                if match and (len(match.group(1)) == len(match.group(3))):
                    name = re.sub(r"\s+|[\"']", "", match.group(2))
                    self.headers.append(_Header(number, name, len(match.group(1)) == 2))
                    continue
            delim = _track_multiline(raw, delim)
        # Header by line, so locating a key is O(table), not O(catalog): a
        # 50,000-link catalog must load in linear time.
        self._index = {h.line: i for i, h in enumerate(self.headers)}

    def span(self, header: _Header | None) -> tuple[int, int]:
        """Lines [start, end) of the table opened by ``header`` (None: the root table)."""
        if header is None:
            return 1, self.headers[0].line if self.headers else len(self.lines) + 1
        following = self._index[header.line] + 1
        end = self.headers[following].line if following < len(self.headers) else len(self.lines) + 1
        return header.line, end

    def header_at(self, line: int) -> _Header | None:
        index = self._index.get(line)
        return None if index is None else self.headers[index]

    def find_key(self, span: tuple[int, int], key: str) -> int | None:
        pattern = _key_pattern(key)
        for number in range(span[0], min(span[1], len(self.lines) + 1)):
            if pattern.match(self.lines[number - 1]):
                return number
        return None

    def table_headers(self, name: str, *, array: bool) -> list[_Header]:
        return [h for h in self.headers if h.name == name and h.array == array]


def _track_multiline(line: str, delim: str | None) -> str | None:
    """Whether a multi-line string is still open after ``line`` (and with which quotes)."""
    pos = 0
    while True:
        if delim is None:
            starts = [(line.find(q, pos), q) for q in ('"""', "'''")]
            found = [(i, q) for i, q in starts if i >= 0]
            if not found:
                return None
            i, quote = min(found)
            # A '#' before the quotes makes them part of a comment.
            if "#" in line[pos:i] and not _inside_string(line[:i]):
                return None
            delim, pos = quote, i + 3
        else:
            i = line.find(delim, pos)
            if i < 0:
                return delim
            delim, pos = None, i + 3


def _inside_string(prefix: str) -> bool:
    return prefix.count('"') % 2 == 1 or prefix.count("'") % 2 == 1


# --------------------------------------------------------------------------- loading


def load_catalog(path: str | os.PathLike[str]) -> Catalog:
    """Read and validate a catalog file; every failure is a :class:`CatalogError`."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as handle:
            raw = handle.read()
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CatalogError(name, line, "not valid UTF-8 (TOML files must be UTF-8)") from None
    except OSError as exc:
        raise CatalogError(name, None, f"cannot read catalog: {exc.strerror or exc}") from None
    return parse_catalog(text, name)


def parse_catalog(text: str, path: str) -> Catalog:
    """Parse and validate catalog text; ``path`` is only used in messages and ``Catalog.path``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        line: int | None = None
        if match := _TOML_ERROR_POS.search(message):
            line = int(match.group(1))
            message = message[: match.start()]
        elif match := _TOML_ERROR_END.search(message):
            line = max(1, len(text.splitlines()))
            message = message[: match.start()]
        raise CatalogError(path, line, f"invalid TOML: {message}") from None
    except RecursionError:
        raise CatalogError(path, None, "invalid TOML: nested too deeply") from None
    return _Validator(text, path).catalog(data)


class _Validator:
    def __init__(self, text: str, path: str) -> None:
        self.path = path
        self.layout = _Layout(text)

    # -- locating --------------------------------------------------------------

    def _root_key_line(self, key: str) -> int | None:
        return self.layout.find_key(self.layout.span(None), key)

    def _table_line(self, name: str) -> int | None:
        headers = self.layout.table_headers(name, array=False)
        if headers:
            return headers[0].line
        return self._root_key_line(name)

    def _array_lines(self, name: str, count: int) -> list[int | None]:
        headers = self.layout.table_headers(name, array=True)
        if len(headers) == count:
            return [h.line for h in headers]
        fallback = self._root_key_line(name)
        return [fallback] * count

    def _key_line(self, table_line: int | None, key: str) -> int | None:
        if table_line is None:
            return None
        header = self.layout.header_at(table_line)
        if header is None:  # an inline table or dotted keys: the best we know
            return table_line
        return self.layout.find_key(self.layout.span(header), key) or table_line

    def fail(self, line: int | None, key: str, message: str) -> CatalogError:
        return CatalogError(self.path, line, message, key)

    # -- the whole document ----------------------------------------------------

    def catalog(self, data: Mapping[str, Any]) -> Catalog:
        for key in data:
            if key not in _TOP_KEYS:
                line = (
                    self._root_key_line(key)
                    or self._table_line(key)
                    or _first_header(self.layout, key)
                )
                raise self.fail(line, _show_key(key), _unknown(key, _TOP_KEYS, "top-level table"))
        settings = self.settings(data.get("settings", {}))
        links = self.links(data.get("link", []))
        schedules = self.schedules(data.get("schedule", []))
        return Catalog(path=self.path, settings=settings, links=links, schedules=schedules)

    # -- [settings] ------------------------------------------------------------

    def settings(self, table: object) -> Settings:
        line = self._table_line("settings")
        if not isinstance(table, dict):
            raise self.fail(line, "settings", f"expected a table, got {_describe(table)}")
        values: dict[str, Any] = {}
        for key, value in table.items():
            key_line = self._key_line(line, key)
            name = f"settings.{_show_key(key)}"
            if key not in SETTINGS_KEYS:
                raise self.fail(key_line, name, _unknown(key, SETTINGS_KEYS))
            values[key] = self._setting(key, value, key_line, name)
        return Settings(**values)

    def _setting(self, key: str, value: object, line: int | None, name: str) -> object:
        hint = _SETTINGS_TYPES[key]
        result: object
        if hint is bool:
            if not isinstance(value, bool):
                raise self.fail(line, name, f"expected true or false, got {_describe(value)}")
            return value
        if hint is int:
            result = self._int(value, line, name)
        elif hint is float:
            result = self._number(value, line, name)
        else:  # str, or str | None (an absent optional is simply not written)
            result = self._string(value, line, name)
        if isinstance(result, int | float) and not isinstance(result, bool):
            if key in _POSITIVE and result <= 0:
                raise self.fail(line, name, f"must be greater than 0, got {result}")
            if key in _NON_NEGATIVE and result < 0:
                raise self.fail(line, name, f"must not be negative, got {result}")
            if key in _MAXIMUM and result > _MAXIMUM[key]:
                limit = f"{_MAXIMUM[key]:g} (100 years)"
                raise self.fail(line, name, f"must be at most {limit}, got {result:g}")
        if key == "timezone":
            self._timezone(str(result), line, name)
        if key == "canary":
            self._url(str(result), line, name)
        if key == "user_agent" and not str(result).strip():
            raise self.fail(line, name, "must not be empty")
        if key == "issue_mode" and result not in ISSUE_MODES:
            # A typo ("sumary") would quietly mean per-link issues: one per link.
            raise self.fail(line, name, _unknown(str(result), ISSUE_MODES, "mode", quote=True))
        return result

    # -- [[link]] --------------------------------------------------------------

    def links(self, array: object) -> tuple[Link, ...]:
        if not isinstance(array, list) or not all(isinstance(t, dict) for t in array):
            raise self.fail(
                self._root_key_line("link") or _first_header(self.layout, "link"),
                "link",
                "expected an array of [[link]] tables",
            )
        lines = self._array_lines("link", len(array))
        links = [self.link(table, line) for table, line in zip(array, lines, strict=True)]
        keys = [url_key(link.url) for link in links]
        self._check_unique(links, keys)
        self._check_parents(links, keys)
        return tuple(links)

    def link(self, table: Mapping[str, Any], line: int | None) -> Link:
        """One ``[[link]]`` table, validated.

        Finding the line of each key costs a scan of the table's lines, so it
        is only done once a link is known to be invalid: then the same checks
        run again with lines, and fail the same way, now with the key's line.
        """
        try:
            return self._link(table, line, locate=False)
        except CatalogError:
            return self._link(table, line, locate=True)

    def _link(self, table: Mapping[str, Any], line: int | None, *, locate: bool) -> Link:
        for key in table:
            if key not in LINK_KEYS:
                raise self.fail(
                    self._key_line(line, key), f"link.{_show_key(key)}", _unknown(key, LINK_KEYS)
                )
        for required in ("url", "title"):
            if required not in table:
                raise self.fail(
                    line, f"link.{required}", "missing (every [[link]] needs url and title)"
                )

        def at(key: str) -> int | None:
            return self._key_line(line, key) if locate else line

        def opt_str(key: str) -> str | None:
            if key not in table:
                return None
            return self._string(table[key], at(key), f"link.{key}", allow_empty=False)

        url = self._string(table["url"], at("url"), "link.url")
        self._url(url, at("url"), "link.url")
        title = self._string(table["title"], at("title"), "link.title", allow_empty=False)
        section = self._section(table.get("section", ()), at("section"))
        tags = frozenset(self._str_list(table.get("tags", []), at("tags"), "link.tags"))
        lang = opt_str("lang")
        if lang is not None and not _LANG_RE.match(lang):
            raise self.fail(at("lang"), "link.lang", f"{lang!r} is not a language tag like 'en'")
        kind = opt_str("kind")
        if kind is not None and kind not in KINDS:
            raise self.fail(
                at("kind"), "link.kind", _unknown(kind, sorted(KINDS), "kind", quote=True)
            )
        parent = opt_str("parent")
        if parent is not None:
            self._url(parent, at("parent"), "link.parent")
        accept = frozenset(self._statuses(table.get("accept", []), at("accept")))
        ignore = tuple(self._str_list(table.get("ignore", []), at("ignore"), "link.ignore"))
        for pattern in ignore:
            try:
                re.compile(pattern)
            except (re.error, OverflowError, RecursionError) as exc:
                raise self.fail(
                    at("ignore"), "link.ignore", f"{pattern!r} is not a valid regex: {exc}"
                ) from None
        max_age: float | None = None
        if "max_age_days" in table:
            max_age = self._number(table["max_age_days"], at("max_age_days"), "link.max_age_days")
            if max_age <= 0:
                raise self.fail(at("max_age_days"), "link.max_age_days", "must be greater than 0")
            if max_age > MAX_AGE_DAYS:
                raise self.fail(
                    at("max_age_days"),
                    "link.max_age_days",
                    f"must be at most {MAX_AGE_DAYS} (100 years), got {max_age:g}",
                )
        return Link(
            url=url,
            title=title,
            section=section,
            tags=tags,
            must_read=self._bool(table, "must_read", False, at),
            lang=lang,
            kind=kind,
            parent=parent,
            note=opt_str("note"),
            line=line or 0,
            skip=self._bool(table, "skip", False, at),
            accept=accept,
            expect_text=opt_str("expect_text"),
            select=opt_str("select"),
            ignore_patterns=ignore,
            max_age_days=max_age,
            check_fragment=self._bool(table, "check_fragment", True, at),
        )

    def _check_unique(self, links: Sequence[Link], keys: Sequence[str]) -> None:
        first: dict[str, Link] = {}
        for link, key in zip(links, keys, strict=True):
            if key in first:
                where = first[key].line
                raise self.fail(
                    self._key_line(link.line, "url"),
                    "link.url",
                    f"duplicate URL {link.url!r} (first at line {where})",
                )
            first[key] = link

    def _check_parents(self, links: Sequence[Link], keys: Sequence[str]) -> None:
        by_key = dict(zip(keys, links, strict=True))
        key_of = {link.url: key for link, key in zip(links, keys, strict=True)}
        children = [(link, key) for link, key in zip(links, keys, strict=True) if link.parent]
        for link, key in children:
            assert link.parent is not None
            line = self._key_line(link.line, "parent")
            if url_key(link.parent) == key:
                raise self.fail(line, "link.parent", "a link cannot be its own parent")
            if url_key(link.parent) not in by_key:
                raise self.fail(
                    line, "link.parent", f"{link.parent!r} is not a URL in this catalog"
                )
        for link, key in children:
            seen = {key}
            current = link
            while current.parent is not None:
                current = by_key[url_key(current.parent)]
                if key_of[current.url] in seen:
                    raise self.fail(
                        self._key_line(link.line, "parent"),
                        "link.parent",
                        f"parent chain of {link.url!r} loops back to itself",
                    )
                seen.add(key_of[current.url])

    # -- [[schedule]] ----------------------------------------------------------

    def schedules(self, array: object) -> tuple[Schedule, ...]:
        if not isinstance(array, list) or not all(isinstance(t, dict) for t in array):
            raise self.fail(
                self._root_key_line("schedule") or _first_header(self.layout, "schedule"),
                "schedule",
                "expected an array of [[schedule]] tables",
            )
        lines = self._array_lines("schedule", len(array))
        result: list[Schedule] = []
        names: set[str] = set()
        for table, line in zip(array, lines, strict=True):
            schedule = self.schedule(table, line)
            if schedule.name in names:
                raise self.fail(
                    self._key_line(line, "name"),
                    "schedule.name",
                    f"duplicate schedule name {schedule.name!r}",
                )
            names.add(schedule.name)
            result.append(schedule)
        return tuple(result)

    def schedule(self, table: Mapping[str, Any], line: int | None) -> Schedule:
        def at(key: str) -> int | None:
            return self._key_line(line, key)

        for key in table:
            if key not in SCHEDULE_KEYS:
                raise self.fail(at(key), f"schedule.{_show_key(key)}", _unknown(key, SCHEDULE_KEYS))
        for required in ("name", "cron"):
            if required not in table:
                raise self.fail(
                    line, f"schedule.{required}", "missing (every [[schedule]] needs name and cron)"
                )
        name = self._string(table["name"], at("name"), "schedule.name", allow_empty=False)
        cron = self._string(table["cron"], at("cron"), "schedule.cron")
        if problem := cron_problem(cron):
            raise self.fail(at("cron"), "schedule.cron", problem)
        timezone = "UTC"
        if "timezone" in table:
            timezone = self._string(table["timezone"], at("timezone"), "schedule.timezone")
            self._timezone(timezone, at("timezone"), "schedule.timezone")
        return Schedule(
            name=name,
            cron=cron,
            timezone=timezone,
            tags=frozenset(self._str_list(table.get("tags", []), at("tags"), "schedule.tags")),
            sections=frozenset(
                self._str_list(table.get("sections", []), at("sections"), "schedule.sections")
            ),
            must_read_only=self._bool(table, "must_read_only", False, at, "schedule"),
        )

    # -- value checks ----------------------------------------------------------

    def _string(
        self, value: object, line: int | None, name: str, *, allow_empty: bool = True
    ) -> str:
        if not isinstance(value, str):
            raise self.fail(line, name, f"expected a string, got {_describe(value)}")
        if not allow_empty and not value.strip():
            raise self.fail(line, name, "must not be empty")
        return value

    def _int(self, value: object, line: int | None, name: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(line, name, f"expected an integer, got {_describe(value)}")
        return value

    def _number(self, value: object, line: int | None, name: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(line, name, f"expected a number, got {_describe(value)}")
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise self.fail(line, name, f"expected a finite number, got {value}")
        return number

    def _bool(
        self,
        table: Mapping[str, Any],
        key: str,
        default: bool,
        at: typing.Callable[[str], int | None],
        prefix: str = "link",
    ) -> bool:
        value = table.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(
                at(key), f"{prefix}.{key}", f"expected true or false, got {_describe(value)}"
            )
        return value

    def _str_list(self, value: object, line: int | None, name: str) -> list[str]:
        if not isinstance(value, list):
            raise self.fail(line, name, f"expected an array of strings, got {_describe(value)}")
        for item in value:
            if not isinstance(item, str) or not item.strip():
                raise self.fail(
                    line, name, f"expected an array of non-empty strings, found {_describe(item)}"
                )
        return list(value)

    def _section(self, value: object, line: int | None) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value] if value.strip() else []
        elif isinstance(value, tuple):
            value = list(value)
        return tuple(self._str_list(value, line, "link.section"))

    def _statuses(self, value: object, line: int | None) -> list[int]:
        if not isinstance(value, list):
            raise self.fail(
                line, "link.accept", f"expected an array of status codes, got {_describe(value)}"
            )
        for item in value:
            if isinstance(item, bool) or not isinstance(item, int) or not 100 <= item <= 599:
                raise self.fail(
                    line, "link.accept", f"{_describe(item)} is not an HTTP status code (100-599)"
                )
        return list(value)

    def _url(self, url: str, line: int | None, name: str) -> None:
        if problem := url_problem(url):
            raise self.fail(line, name, f"{url!r} is not an http(s) URL ({problem})")

    def _timezone(self, name_: str, line: int | None, key: str) -> None:
        if not timezone_exists(name_):
            raise self.fail(line, key, f"unknown time zone {name_!r} (use an IANA name)")


def _first_header(layout: _Layout, name: str) -> int | None:
    for header in layout.headers:
        if header.name == name or header.name.startswith(name + "."):
            return header.line
    return None


#: ``[settings] issue_mode``: an issue per rotten link, or one summary issue.
ISSUE_MODES = ("per-link", "summary")

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _show_key(key: str) -> str:
    """A key as TOML would spell it: bare when it can be, quoted otherwise (one line always)."""
    return key if _BARE_KEY.fullmatch(key) else toml_string(key)


def _unknown(key: str, known: Iterable[str], what: str = "key", *, quote: bool = False) -> str:
    choices = list(known)
    close = difflib.get_close_matches(key, choices, n=1)
    head = f"unknown {what} {key!r}" if quote else f"unknown {what}"
    if close:
        return f"{head} (did you mean {close[0]!r}?)"
    return f"{head} (expected one of: {', '.join(choices)})"


def _describe(value: object) -> str:
    names = {
        bool: "boolean",
        int: "integer",
        float: "float",
        str: "string",
        list: "array",
        dict: "table",
    }
    kind = names.get(type(value), type(value).__name__)
    shown = repr(value)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    if isinstance(value, list | dict):
        return kind
    return f"{kind} {shown}"


# --------------------------------------------------------------------------- public helpers


def cron_problem(cron: str) -> str | None:
    """What is wrong with a 5-field crontab expression (crontab(5)), or None."""
    try:
        cron_values(cron)
    except ValueError as exc:
        return str(exc)
    return None


def cron_values(cron: str) -> tuple[tuple[int, ...] | None, ...]:
    """The values each of the five crontab(5) fields of ``cron`` allows; None for ``*``.

    The one reading of a cron expression: ``validate`` refuses what this
    refuses, and ``linkwatch schedule`` hands APScheduler these values as
    plain lists, never crontab syntax, which APScheduler 3.x reads its own
    way (it drops the step of ``jan-dec/6``, refuses ``*/90`` that cron reads
    as minute 0, and numbers weekdays from Monday).  Day of week is crontab's:
    0 and 7 are Sunday, given as 0.  Raises ``ValueError`` with a one-line
    reason.
    """
    fields = cron.split()
    if len(fields) != 5:
        raise ValueError(
            f"{cron!r} must have 5 fields (minute hour day-of-month month day-of-week), "
            f"got {len(fields)}"
        )
    result: list[tuple[int, ...] | None] = []
    for text, field in zip(fields, _CRON_FIELDS, strict=True):
        what, low, high, _ = field
        if text == "*":
            result.append(None)
            continue
        weekday = what == "day of week"
        values: set[int] = set()
        for item in text.lower().split(","):
            match = _CRON_ITEM.match(item)
            if not match:
                raise ValueError(f"{cron!r}: bad {what} field {text!r}")
            span, step_text = match.groups()
            step = int(step_text) if step_text else 1
            if step == 0:
                raise ValueError(f"{cron!r}: step 0 in {what} field {text!r}")
            # 7 is another name for Sunday, not an eighth day: "*" and "1/2"
            # end on Saturday, only a range written up to 7 reaches it.
            top = high - 1 if weekday else high
            if span == "*":
                first, last = low, top
            else:
                bounds = [_cron_number(cron, bound, field) for bound in span.split("-")]
                first = bounds[0]
                last = bounds[-1] if len(bounds) > 1 else (max(first, top) if step_text else first)
                # Cron refuses "5-1" (crontab(5) has no wrap-around); so do we.
                if last < first:
                    raise ValueError(f"{cron!r}: {what} range {span!r} runs backwards")
            values.update(value % 7 if weekday else value for value in range(first, last + 1, step))
        result.append(tuple(sorted(values)))
    return tuple(result)


def _cron_number(cron: str, bound: str, field: tuple[str, int, int, tuple[str, ...]]) -> int:
    what, low, high, names = field
    if bound in names:
        return low + names.index(bound)  # jan = 1, sun = 0
    if not bound.isdigit() or not low <= int(bound) <= high:
        raise ValueError(f"{cron!r}: {what} value {bound!r} is outside {low}-{high}")
    return int(bound)


def timezone_exists(name: str) -> bool:
    """True when ``name`` is an IANA zone the system (or tzdata) knows."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def filter_links(
    links: Iterable[Link],
    *,
    sections: Iterable[str] = (),
    tags: Iterable[str] = (),
    must_read: bool = False,
) -> tuple[Link, ...]:
    """The links matching every given filter (each filter matches any of its values).

    A section value matches when it is a case-insensitive substring of any
    element of the link's section path ("深入篇" or "0x31").  A tag value
    matches the link's tags, its kind, its lang, or ``must-read``.
    """
    wanted_sections = [s.casefold() for s in sections if s.strip()]
    wanted_tags = {t.casefold() for t in tags if t.strip()}
    chosen: list[Link] = []
    for link in links:
        if must_read and not link.must_read:
            continue
        if wanted_sections and not any(
            want in part.casefold() for want in wanted_sections for part in link.section
        ):
            continue
        if wanted_tags and not (wanted_tags & _link_labels(link)):
            continue
        chosen.append(link)
    return tuple(chosen)


def split_by_host(links: Iterable[Link], parts: int) -> list[tuple[Link, ...]]:
    """``links`` in ``parts`` groups (catalog order kept), every host in exactly one.

    Politeness limits are per host, so a host must never be checked from two
    places at once: ``check --shard K/N`` (one CI job per group) splits with
    this rule (``check --jobs N`` with :func:`balance_by_host`).
    The key is the CRC-32 of the host name: stable across runs, machines and
    Python versions (``hash()`` is salted per process).
    """
    groups: list[list[Link]] = [[] for _ in range(max(1, parts))]
    for link in links:
        host = urlsplit(link.url).hostname or ""
        groups[zlib.crc32(host.encode()) % len(groups)].append(link)
    return [tuple(group) for group in groups]


def balance_by_host(links: Iterable[Link], parts: int) -> list[tuple[Link, ...]]:
    """``links`` in ``parts`` groups of about equal size, every host in exactly one.

    For ``check --jobs``: unlike :func:`split_by_host` (a hash, so that shards
    on different machines agree without talking), the groups are balanced:
    the largest hosts first, each to the smallest group so far (greedy;
    within one host's link count of even).  Catalog order is kept inside
    each group.
    """
    items = list(links)
    by_host: dict[str, list[int]] = {}
    for i, link in enumerate(items):
        by_host.setdefault(urlsplit(link.url).hostname or "", []).append(i)
    groups: list[list[int]] = [[] for _ in range(max(1, parts))]
    for members in sorted(by_host.values(), key=len, reverse=True):
        min(groups, key=len).extend(members)
    return [tuple(items[i] for i in sorted(group)) for group in groups]


def _link_labels(link: Link) -> set[str]:
    labels = {t.casefold() for t in link.tags}
    if link.kind:
        labels.add(link.kind.casefold())
    if link.lang:
        labels.add(link.lang.casefold())
    if link.must_read:
        labels.add("must-read")
    return labels


# --------------------------------------------------------------------------- writing


def toml_string(value: str) -> str:
    """A TOML basic string (TOML 1.0.0 "String"): escape quotes, backslashes, controls."""
    out = ['"']
    for char in value:
        code = ord(char)
        if char == '"':
            out.append('\\"')
        elif char == "\\":
            out.append("\\\\")
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04x}")
        elif 0xD800 <= code <= 0xDFFF:  # lone surrogates cannot be encoded in UTF-8
            out.append("\\ufffd")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else "0.0"
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list | tuple | frozenset | set):
        items = sorted(value) if isinstance(value, frozenset | set) else list(value)
        return "[" + ", ".join(_toml_value(v) for v in items) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


_SETTINGS_HELP: dict[str, str] = {
    "concurrency": "links checked at once",
    "per_host": "requests at once to one host",
    "min_interval_ms": "pause between requests to one host",
    "connect_timeout": "seconds",
    "read_timeout": "seconds between bytes",
    "link_timeout": "seconds for a whole link, retries included",
    "retries": "extra attempts for transient failures (5xx, 429, resets)",
    "max_redirects": "hops before a chain counts as broken",
    "max_body_bytes": "body prefix read for soft-404 and freshness checks",
    "retry_after_cap": "longest Retry-After we wait, seconds",
    "user_agent": "say who you are and how to reach you",
    "rot_after_runs": "failed runs in a row before a link is rotten",
    "rot_after_hours": "... spanning at least this many hours",
    "outage_rot_hours": "a whole-host outage counts once, until it lasts this many hours",
    "recover_after_runs": "ok runs in a row before a rotten link is healthy again",
    "keep_runs": "runs of history kept per link",
    "max_new_issues": "GitHub issues opened per run at most",
    "issue_mode": "how GitHub issues are opened",
    "canary": "a URL that must answer, or the run is inconclusive",
    "timezone": "zone of report times and of the default 03:00 schedule",
    "soft404_probe": "ask each host for a random path: does it serve soft 404s?",
}


def render_settings(settings: Settings | None, *, commented: bool) -> list[str]:
    """The ``[settings]`` block: explicit values, or the defaults as comments."""
    shown = settings or Settings()
    lines = ["[settings]"]
    for field in dataclasses.fields(Settings):
        value = getattr(shown, field.name)
        if value is None:
            entry = f"# {field.name} = ..."
        elif commented:
            entry = f"# {field.name} = {_toml_value(value)}"
        else:
            entry = f"{field.name} = {_toml_value(value)}"
        help_text = _SETTINGS_HELP.get(field.name)
        lines.append(f"{entry:<40}  # {help_text}" if help_text else entry)
    return lines


def render_link(link: Link) -> list[str]:
    """One ``[[link]]`` table with only the keys that differ from the defaults."""
    lines = ["[[link]]", f"title = {toml_string(link.title)}", f"url = {toml_string(link.url)}"]
    optional: list[tuple[str, object, object]] = [
        ("section", list(link.section), []),
        ("must_read", link.must_read, False),
        ("lang", link.lang, None),
        ("kind", link.kind, None),
        ("parent", link.parent, None),
        ("tags", sorted(link.tags), []),
        ("note", link.note, None),
        ("skip", link.skip, False),
        ("accept", sorted(link.accept), []),
        ("expect_text", link.expect_text, None),
        ("select", link.select, None),
        ("ignore", list(link.ignore_patterns), []),
        ("max_age_days", link.max_age_days, None),
        ("check_fragment", link.check_fragment, True),
    ]
    for key, value, default in optional:
        if value != default:
            lines.append(f"{key} = {_toml_value(value)}")
    return lines


def render_schedule(schedule: Schedule) -> list[str]:
    lines = [
        "[[schedule]]",
        f"name = {toml_string(schedule.name)}",
        f"cron = {toml_string(schedule.cron)}",
        f"timezone = {toml_string(schedule.timezone)}",
    ]
    if schedule.tags:
        lines.append(f"tags = {_toml_value(schedule.tags)}")
    if schedule.sections:
        lines.append(f"sections = {_toml_value(schedule.sections)}")
    if schedule.must_read_only:
        lines.append("must_read_only = true")
    return lines


def render_catalog(
    links: Sequence[Link],
    settings_comment: bool = True,
    *,
    settings: Settings | None = None,
    schedules: Sequence[Schedule] = (),
    header: str | None = None,
) -> str:
    """A new ``catalog.toml`` for ``links``, commented for the curator who edits it next.

    With ``settings`` the ``[settings]`` table holds those values; otherwise,
    when ``settings_comment`` is true, it lists the defaults as comments so
    the knobs are discoverable.  Each section gets a comment line before its
    first link.  The result always parses back with :func:`parse_catalog`.
    """
    out: list[str] = []
    if header:
        out.extend(f"# {_one_line(line)}".rstrip() for line in header.splitlines())
        out.append("")
    if settings is not None or settings_comment:
        out.extend(render_settings(settings, commented=settings is None))
        out.append("")
    for schedule in schedules:
        out.extend(render_schedule(schedule))
        out.append("")
    current: tuple[str, ...] | None = None
    for link in links:
        if link.section != current:
            current = link.section
            label = " › ".join(_one_line(s) for s in link.section) or "(no section)"
            out.append(f"# ── {label} ──")
            out.append("")
        out.extend(render_link(link))
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def _one_line(text: str) -> str:
    """Text safe inside a TOML comment: one line, no control characters (TOML 1.0.0 "Comment")."""
    cleaned = "".join(
        " " if ord(c) < 0x20 or ord(c) == 0x7F or 0xD800 <= ord(c) <= 0xDFFF else c for c in text
    )
    return " ".join(cleaned.split())
