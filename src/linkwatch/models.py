"""The shared vocabulary of linkwatch: plain frozen dataclasses and closed enums.

Every layer speaks in these types, and nothing here does I/O, so the pure
modules (classify, content, history, the issue plan) can be tested with
tables of values.  ``Verdict`` and ``Health`` are contracts (design.md §2,
§3): their string values appear in the JSON output that scripts read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

EMPTY_HEADERS: Mapping[str, str] = MappingProxyType({})


class Verdict(StrEnum):
    """What one check of one link found (design.md §2)."""

    OK = "ok"
    MOVED = "moved"
    BROKEN = "broken"
    BLOCKED = "blocked"
    ERROR = "error"


class Health(StrEnum):
    """What a link's history says about it (design.md §3)."""

    HEALTHY = "healthy"
    FAILING = "failing"
    ROTTEN = "rotten"
    FLAKY = "flaky"
    RECOVERED = "recovered"


@dataclass(frozen=True, slots=True)
class Settings:
    """Run-wide defaults from the catalog's ``[settings]`` table.

    Defaults suit a nightly job over a few dozen links: three failed runs
    spanning two days before a link is called rotten, polite per-host limits.
    """

    concurrency: int = 64
    per_host: int = 4
    min_interval_ms: int = 0
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    link_timeout: float = 30.0
    retries: int = 3
    max_redirects: int = 10
    max_body_bytes: int = 1_048_576
    retry_after_cap: float = 30.0
    user_agent: str = "linkwatch/0.1 (+https://github.com/linkwatch/linkwatch)"
    rot_after_runs: int = 3
    rot_after_hours: float = 48.0
    # A whole-host outage counts once (docs/history.md), but not for ever:
    # after this long, the host is gone and its links rot like any other.
    outage_rot_hours: float = 168.0
    recover_after_runs: int = 2
    keep_runs: int = 60
    max_new_issues: int = 10
    issue_mode: str = "per-link"
    canary: str | None = None
    timezone: str = "UTC"
    # One request per host per run to a random path: does the host answer 200
    # for pages that cannot exist (a soft-404 host)?
    soft404_probe: bool = True


@dataclass(frozen=True, slots=True)
class Link:
    """One catalog entry; ``line`` is where its ``[[link]]`` header sits."""

    url: str
    title: str
    section: tuple[str, ...] = ()
    tags: frozenset[str] = frozenset()
    must_read: bool = False
    lang: str | None = None
    kind: str | None = None
    parent: str | None = None
    note: str | None = None
    line: int = 0
    skip: bool = False
    accept: frozenset[int] = frozenset()
    expect_text: str | None = None
    select: str | None = None
    ignore_patterns: tuple[str, ...] = ()
    max_age_days: float | None = None
    check_fragment: bool = True

    @property
    def section_label(self) -> str:
        """The section path as one human string, e.g. ``深入篇 › 0x31 …``."""
        return " › ".join(self.section)


@dataclass(frozen=True, slots=True)
class Schedule:
    """A cron schedule from ``[[schedule]]`` (used by ``linkwatch schedule``)."""

    name: str
    cron: str
    timezone: str = "UTC"
    tags: frozenset[str] = frozenset()
    sections: frozenset[str] = frozenset()
    must_read_only: bool = False


@dataclass(frozen=True, slots=True)
class Catalog:
    """A loaded and validated ``catalog.toml``."""

    path: str
    settings: Settings
    links: tuple[Link, ...]
    schedules: tuple[Schedule, ...] = ()

    def sections(self) -> list[tuple[str, ...]]:
        """Section paths in catalog order (first appearance wins)."""
        seen: dict[tuple[str, ...], None] = {}
        for link in self.links:
            seen.setdefault(link.section, None)
        return list(seen)


@dataclass(frozen=True, slots=True)
class Hop:
    """One redirect step: the URL that answered and the status it answered with.

    ``meta_refresh`` marks a step that was no HTTP redirect but a small HTML
    page answering 200 whose ``<meta http-equiv="refresh">`` sends the reader
    on at once (the stub a static site leaves where a page moved): browsers
    follow it, and search engines take it for a permanent redirect.
    """

    url: str
    status: int
    meta_refresh: bool = False

    @property
    def label(self) -> str:
        """What the hop answered, for a reader: its status, or "meta refresh" for a stub.

        A redirect stub answers 200, which beside a redirect chain would read
        as "this page is fine".
        """
        return "meta refresh" if self.meta_refresh else str(self.status)

    def as_dict(self) -> dict[str, object]:
        """``{url, status}`` (design.md §4), plus ``"meta_refresh": true`` on a stub's hop only.

        Only then: every other hop is written exactly as before, so scripts,
        stored history and files that knew no stubs see no change.
        """
        if self.meta_refresh:
            return {"url": self.url, "status": self.status, "meta_refresh": True}
        return {"url": self.url, "status": self.status}


@dataclass(frozen=True, slots=True)
class Validators:
    """What we remember from the last 200 to make a conditional request (RFC 9110 §13)."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class Observation:
    """The raw facts of fetching one link, before any judgement.

    ``error`` is set when no HTTP answer was obtained: a short machine kind
    such as ``timeout``, ``connect-refused``, ``dns-nxdomain``,
    ``tls-verify``, ``too-many-redirects``, ``redirect-loop``,
    ``ssrf-blocked``.  ``body`` is a bounded prefix of the final response
    (decompressed), never the whole of an unbounded stream.
    """

    url: str
    final_url: str | None = None
    status_code: int | None = None
    method: str = "GET"
    hops: tuple[Hop, ...] = ()
    headers: Mapping[str, str] = field(default_factory=lambda: EMPTY_HEADERS)
    body: bytes = b""
    body_truncated: bool = False
    error: str | None = None
    error_detail: str = ""
    attempts: int = 1
    elapsed_ms: int = 0
    bytes_received: int = 0
    not_modified: bool = False
    # Facts from a host adapter (GitHub API, YouTube oEmbed, bilibili).
    adapter: str | None = None
    adapter_verdict: Verdict | None = None
    adapter_reason: str | None = None
    adapter_detail: str = ""
    archived: bool | None = None
    pushed_at: str | None = None
    # Set by the fetch layer when a random-path probe on the same host
    # answered 200 with the same page (a host that serves soft 404s).
    soft404_probe_match: bool = False


@dataclass(frozen=True, slots=True)
class Classification:
    """A verdict with its machine reason and the sentence a human reads."""

    verdict: Verdict
    reason: str
    detail: str
    suggested_url: str | None = None


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One link's result in one run: the JSON ``results[]`` row of design.md §4."""

    link: Link
    verdict: Verdict
    reason: str
    detail: str
    checked_at: datetime
    status_code: int | None = None
    final_url: str | None = None
    redirects: tuple[Hop, ...] = ()
    attempts: int = 1
    elapsed_ms: int = 0
    suggested_url: str | None = None
    health: Health = Health.HEALTHY
    changed: bool = False
    content_hash: str | None = None
    text: str | None = None
    diff: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    last_changed: datetime | None = None
    stale: bool = False
    archived: bool | None = None
    pushed_at: str | None = None
    bytes_received: int = 0
    not_modified: bool = False
    network_error: bool = False

    @property
    def failed(self) -> bool:
        """True when the verdict counts against the link (blocked does not)."""
        return self.verdict in (Verdict.BROKEN, Verdict.ERROR)


#: The edition of the fingerprint rules (content.py) that made a stored hash.
#: Raise it with any change to text extraction or noise rules that gives an
#: unchanged page a new hash: history then adopts each link's new hash at its
#: next check without calling it a change (history._content_changes), instead
#: of reporting every link "changed" the night linkwatch is upgraded.
#: 2 (2026-11-29): forms that hold the page, textless pages as empty text,
#: WHATWG charsets, the rewritten token, counter and relative-time rules
#: (Japanese "3日前"/"5時間前" included).
#: 3 (2026-11-29): redirect stubs are followed, so a stub link's content and
#: validators are its target's (``Store.validators`` sends none of an older
#: edition: a stub answered 304 to its own ETag and was never read again);
#: Chinese "…数" counters (点赞数, 收藏数) are noise; "404 找不到页面" is a
#: soft-404 title (a page judged ok under edition 2 is read again).
FINGERPRINT_VERSION = 3


@dataclass(frozen=True, slots=True)
class LinkState:
    """What history remembers of one link between runs."""

    url: str
    health: Health = Health.HEALTHY
    last_verdict: Verdict | None = None
    fail_streak: int = 0
    ok_streak: int = 0
    first_failure_at: datetime | None = None
    last_ok_at: datetime | None = None
    recent: tuple[Verdict, ...] = ()
    content_hash: str | None = None
    text: str | None = None
    last_changed: datetime | None = None
    etag: str | None = None
    last_modified: str | None = None
    # Size of the last full body, so a later 304 can count the bytes it saved.
    body_bytes: int = 0
    # Which fingerprint rules made ``content_hash`` (content.FINGERPRINT_VERSION);
    # 1 for states recorded before the rules were numbered.
    fingerprint_version: int = 1


@dataclass(frozen=True, slots=True)
class RunSummary:
    """A whole run: the ``run`` object of design.md §4 plus its results."""

    started: datetime
    finished: datetime
    catalog: str
    results: tuple[CheckResult, ...]
    inconclusive: bool = False
    inconclusive_reason: str = ""
    incidents: tuple[str, ...] = ()
    run_id: int | None = None
    bytes_received: int = 0
    bytes_saved: int = 0
    # A per-link summary (``Store.latest_summary(per_link=True)``) is
    # inconclusive when any contributing run was; these are the links whose
    # latest check came from a conclusive run all the same, so ``issues sync``
    # can still act on them.  Empty elsewhere: an inconclusive run covers all.
    conclusive_urls: frozenset[str] = frozenset()

    def judged(self, result: CheckResult) -> bool:
        """Whether ``result`` says something about its link (see ``conclusive_urls``)."""
        return not self.inconclusive or result.link.url in self.conclusive_urls

    @property
    def partly_inconclusive(self) -> bool:
        """A per-link view in which some links' latest check was conclusive and some not."""
        return self.inconclusive and bool(self.conclusive_urls)

    def counts(self) -> dict[str, int]:
        """Results per verdict, every verdict present (zero where none)."""
        counts = {v.value: 0 for v in Verdict}
        for result in self.results:
            counts[result.verdict.value] += 1
        return counts
