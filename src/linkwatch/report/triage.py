"""What needs a human, and the small facts every renderer shares.

The curator's trust is the product (design.md §1): a report that cries wolf
is ignored.  So the "needs a human" list holds only what a person can act on
today, and nothing that history has not yet confirmed:

* **rotten** — health says the link failed in enough consecutive runs over
  enough hours (design.md §3), and it still does not answer ``ok``.  A rotten
  link that answers ``ok`` again is on its way to ``recovered``: nothing to do.
* **broken** — newly failing *and* the verdict is ``broken`` (404, 410,
  soft 404, parked domain…).  Those answers are definitive, so waiting for rot
  only delays the fix.  A newly failing ``error`` (timeout, reset) is *not*
  listed: it is usually transient and becomes ``rotten`` if it persists.
  Nor is a 5xx that outlasted the run's retries (``http-5xx``): its verdict
  is ``broken`` (design.md §2), but a server down for maintenance all night
  says nothing about the page, so it too waits for rot (:data:`WAITS_FOR_ROT`),
  as does a bilibili video under review.
* **moved** — a permanent redirect (RFC 9110 §15.4.2, §15.4.9): the catalog
  should point at the new URL, which we suggest.
* **blocked** — a bot wall or login page: we cannot tell whether the link
  works, so a human has to look.  Listed apart, after the rest, because it
  is a request to check by hand rather than a known defect.

An inconclusive run (the checker itself was offline) needs no human for any
link: its verdicts say nothing about the links, so the list is empty.  A
per-link view over several runs (``linkwatch merge``, ``report``) is
inconclusive when one of them was; then only the links whose latest check
came from a conclusive run are triaged (``RunSummary.judged``), so one
offline shard does not hide what the others found.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from linkwatch.history import aware
from linkwatch.models import CheckResult, Health, RunSummary, Verdict

MAX_SPARK = 30

#: ``broken`` reasons that tell of a passing state, not of the link: listed
#: once they rot, not the first night (a 503 all night is one bad night; a
#: bilibili video under review, 62004 稿件审核中, is back when the review ends,
#: as after every edit its uploader makes).
WAITS_FOR_ROT = frozenset({"http-5xx", "video-under-review"})


@dataclass(frozen=True)
class Triage:
    """The needs-a-human groups, each in catalog order."""

    rotten: tuple[CheckResult, ...] = ()
    broken: tuple[CheckResult, ...] = ()
    moved: tuple[CheckResult, ...] = ()
    blocked: tuple[CheckResult, ...] = ()

    @property
    def actionable(self) -> tuple[CheckResult, ...]:
        """Known defects (rotten, newly broken, moved): what issues and exit code 1 are for."""
        return self.rotten + self.broken + self.moved

    @property
    def all(self) -> tuple[CheckResult, ...]:
        return self.actionable + self.blocked

    def group_counts(self) -> dict[str, int]:
        return {
            "rotten": len(self.rotten),
            "broken": len(self.broken),
            "moved": len(self.moved),
            "blocked": len(self.blocked),
        }


def triage(summary: RunSummary) -> Triage:
    if summary.inconclusive and not summary.conclusive_urls:
        return Triage()
    rotten: list[CheckResult] = []
    broken: list[CheckResult] = []
    moved: list[CheckResult] = []
    blocked: list[CheckResult] = []
    for result in summary.results:
        if result.link.skip or not summary.judged(result):
            continue
        if result.health is Health.ROTTEN and result.verdict is not Verdict.OK:
            rotten.append(result)
        elif (
            result.verdict is Verdict.BROKEN
            and result.health is Health.FAILING
            and result.reason not in WAITS_FOR_ROT
        ):
            broken.append(result)
        elif result.verdict is Verdict.MOVED:
            moved.append(result)
        elif result.verdict is Verdict.BLOCKED:
            blocked.append(result)
    return Triage(tuple(rotten), tuple(broken), tuple(moved), tuple(blocked))


def needs_human(summary: RunSummary) -> list[CheckResult]:
    """Rotten, newly broken, moved, then blocked links (see the module docstring).

    Use ``triage(summary).actionable`` when blocked links must not count,
    e.g. for the exit code or for opening issues.
    """
    return list(triage(summary).all)


def section_order(
    summary: RunSummary, sections: Sequence[tuple[str, ...]] | None
) -> list[tuple[str, ...]]:
    """Catalog order when given, then any section only the results know, in order seen."""
    seen: dict[tuple[str, ...], None] = dict.fromkeys(sections or ())
    for result in summary.results:
        seen.setdefault(result.link.section, None)
    return list(seen)


def by_section(
    results: Sequence[CheckResult], order: Sequence[tuple[str, ...]]
) -> list[tuple[tuple[str, ...], list[CheckResult]]]:
    groups: dict[tuple[str, ...], list[CheckResult]] = {s: [] for s in order}
    for result in results:
        groups.setdefault(result.link.section, []).append(result)
    return [(s, rows) for s, rows in groups.items() if rows]


def iso(moment: datetime | None, zone: str | None = None) -> str | None:
    """``moment`` as ISO 8601 to the second, in ``zone`` (an IANA name; UTC when None)."""
    return None if moment is None else local(moment, zone).isoformat(timespec="seconds")


def local(moment: datetime, zone: str | None) -> datetime:
    """``moment`` in the catalog's ``timezone``: a curator reads their own clock.

    History and the JSON report keep UTC (scripts compare them); only the
    words people read move.  The catalog loader has checked the name.
    """
    return aware(moment).astimezone(ZoneInfo(zone)) if zone else aware(moment)


def duration_text(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def ok_count(summary: RunSummary) -> int:
    return sum(1 for r in summary.results if r.verdict is Verdict.OK)
