"""Pure history: single verdicts → a health per link, and whole-run judgements.

design.md §3: a link is ``rotten`` only after failing in N consecutive runs
spanning at least T hours, so one bad night never pages the curator; a run
where the checker itself was offline is ``inconclusive`` and moves nothing.
Every rule here is a plain function over the dataclasses of ``models`` with
an injected ``now``, so the lifecycle is tested by replaying runs.  The
state machine is documented as a table in docs/history.md.

Verdicts fall into three classes for health purposes:

* **ok** — ``ok`` and ``moved`` (a moved link still answers; the curator
  hears about it through the verdict, not through rot);
* **fail** — ``broken`` and ``error``;
* **blocked** — we could not tell; it neither advances nor resets anything.
"""

from __future__ import annotations

import dataclasses
import functools
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from itertools import pairwise
from typing import Any, assert_never
from urllib.parse import urlsplit

from linkwatch.models import FINGERPRINT_VERSION, CheckResult, Health, LinkState, Settings, Verdict

#: How many verdicts ``LinkState.recent`` keeps (sparklines show 30 nights).
RECENT_LEN = 30
#: Flaky detection looks at this many most recent conclusive verdicts …
FLAKY_WINDOW = 6
#: … and needs at least this many ok↔fail flips among them,
FLAKY_MIN_FLIPS = 3
#: with at least this many of each kind.
FLAKY_MIN_EACH = 2

_OK = frozenset({Verdict.OK, Verdict.MOVED})
_FAIL = frozenset({Verdict.BROKEN, Verdict.ERROR})

Differ = Callable[[str, str], str]


@functools.lru_cache(maxsize=1 << 16)  # a run asks twice per link (offline, outage checks)
def host_of(url: str) -> str:
    """Lower-cased host name of ``url`` (``""`` when it has none)."""
    return (urlsplit(url).hostname or "").lower()


def is_flaky(recent: Sequence[Verdict]) -> bool:
    """True when the last conclusive verdicts alternate between ok and fail.

    Of the last ``FLAKY_WINDOW`` verdicts that are not ``blocked``: at least
    ``FLAKY_MIN_EACH`` oks, as many failures, and ``FLAKY_MIN_FLIPS``
    changes between neighbours (ok fail ok fail: 3 flips).  A link that
    failed for a stretch and came back (ok ok fail fail ok) flips only twice:
    that is a recovery, not flakiness.
    """
    window = [v in _OK for v in recent if v is not Verdict.BLOCKED][-FLAKY_WINDOW:]
    oks = sum(window)
    fails = len(window) - oks
    flips = sum(1 for a, b in pairwise(window) if a != b)
    return oks >= FLAKY_MIN_EACH and fails >= FLAKY_MIN_EACH and flips >= FLAKY_MIN_FLIPS


def is_recovered_enough(state: LinkState, settings: Settings) -> bool:
    """True once a link has answered in ``recover_after_runs`` runs in a row.

    The GitHub issue closer asks this before closing a link's issue; it does
    not look at the label, because with ``recover_after_runs`` reached the
    label is already ``healthy``.
    """
    return (
        state.health in (Health.HEALTHY, Health.RECOVERED)
        and state.last_verdict in _OK
        and state.ok_streak >= settings.recover_after_runs
    )


def _parse_when(value: str | None) -> datetime | None:
    """An HTTP-date (RFC 9110 §5.6.7) or ISO 8601 instant, as aware UTC."""
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def aware(when: datetime) -> datetime:
    """Naive datetimes are taken as UTC, so every time compared or printed carries a zone."""
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _content_changes(base: LinkState, result: CheckResult, now: datetime) -> dict[str, Any]:
    """The content fields of ``base`` that this result replaces.

    Content is only taken from answering results (ok/moved) that carry a
    hash: a soft-404 page or an error body is not the page's content, and a
    304 (RFC 9110 §15.4.5) means "what you have is current", so the old hash
    and validators stay.  First sight is never a change; ``last_changed`` then
    starts at the server's own Last-Modified or the repository's last push
    when known (so a page untouched since 2019 is stale on first sight),
    else at ``now``.  A new 200 replaces the validators even with none, as
    validators of an older representation would make the next conditional
    request wrong (RFC 9110 §13.1).  A full body's size is remembered, so a
    later 304 can count what it saved.  A hash made by older fingerprint rules
    (``models.FINGERPRINT_VERSION``) is replaced without calling it a change:
    the rules changed, not the page.
    """
    changes: dict[str, Any] = {}
    if result.bytes_received and not result.not_modified:
        changes["body_bytes"] = result.bytes_received
    if result.not_modified or result.verdict not in _OK or result.content_hash is None:
        return changes
    if base.content_hash is not None:
        changed = base.content_hash != result.content_hash
        if base.fingerprint_version != FINGERPRINT_VERSION:
            changed = False
        last_changed = now if changed else (base.last_changed or now)
    else:
        evidence = [
            w for w in (_parse_when(result.last_modified), _parse_when(result.pushed_at)) if w
        ]
        last_changed = min(max(evidence), now) if evidence else now
    changes.update(
        content_hash=result.content_hash,
        text=result.text if result.text is not None else base.text,
        last_changed=last_changed,
        etag=result.etag,
        last_modified=result.last_modified,
        fingerprint_version=FINGERPRINT_VERSION,
    )
    return changes


def content_changed(prev: LinkState | None, new: LinkState) -> bool:
    """``changed`` of design.md §3: a known hash was replaced by another made the same way."""
    return (
        prev is not None
        and prev.content_hash is not None
        and new.content_hash != prev.content_hash
        and new.fingerprint_version == prev.fingerprint_version
    )


def _trailing_failures(recent: Sequence[Verdict]) -> int:
    """Failed runs at the end of ``recent``; ``blocked`` ones advance nothing and are skipped."""
    count = 0
    for verdict in reversed(recent):
        if verdict is Verdict.BROKEN or verdict is Verdict.ERROR:
            count += 1
        elif verdict is not Verdict.BLOCKED:
            break
    return count


#: A nightly job's start drifts by minutes: three runs a day apart may span
#: 47 h 59 min.  The rot span is met within this share of it, at most an hour.
ROT_SPAN_SLACK = 0.05


def _health_after_fail(
    recent: Sequence[Verdict],
    fail_streak: int,
    first_failure_at: datetime,
    settings: Settings,
    now: datetime,
) -> Health:
    span = now - first_failure_at
    hours = settings.rot_after_hours
    needed = timedelta(hours=hours - min(1.0, hours * ROT_SPAN_SLACK))
    if fail_streak >= settings.rot_after_runs and span >= needed:
        return Health.ROTTEN
    if is_flaky(recent):
        return Health.FLAKY
    return Health.FAILING


def next_state(
    prev: LinkState | None,
    result: CheckResult,
    settings: Settings,
    now: datetime,
    *,
    incident: bool = False,
) -> LinkState:
    """The link's state after ``result`` (one step of the machine in docs/history.md).

    ``incident``: the link's host is in a whole-host outage this run
    (:func:`host_incidents`).  Its failure then starts a fail streak if there
    was none but never extends one, so a long outage of one big host does
    not rot every link on it; health is ``failing`` (or stays ``rotten``).
    Once the streak is ``outage_rot_hours`` old, the host is gone, not down
    (an expired domain answers NXDOMAIN for every link, for good): the
    streak becomes the run of failures it stood for and rots as usual.
    """
    now = aware(now)
    base = prev or LinkState(url=result.link.url)
    verdict = result.verdict
    recent = (*base.recent, verdict)[-RECENT_LEN:]
    # One copy of the state at the end: each ``replace`` of this slotted
    # dataclass costs a few µs, and a run steps every link.
    changes = _content_changes(base, result, now)
    changes.update(recent=recent, last_verdict=verdict)
    if verdict is Verdict.BLOCKED:
        pass
    elif verdict is Verdict.OK or verdict is Verdict.MOVED:
        ok_streak = base.ok_streak + 1
        if is_flaky(recent):
            health = Health.FLAKY
        elif base.health is Health.HEALTHY or ok_streak >= settings.recover_after_runs:
            health = Health.HEALTHY
        else:
            health = Health.RECOVERED
        changes.update(
            health=health,
            ok_streak=ok_streak,
            fail_streak=0,
            first_failure_at=None,
            last_ok_at=now,
        )
    elif verdict is Verdict.BROKEN or verdict is Verdict.ERROR:
        first = base.first_failure_at if base.fail_streak > 0 else None
        first_failure_at = aware(first) if first else now
        if incident and now - first_failure_at < timedelta(hours=settings.outage_rot_hours):
            fail_streak = max(base.fail_streak, 1)
            health = Health.ROTTEN if base.health is Health.ROTTEN else Health.FAILING
        elif incident:
            fail_streak = max(base.fail_streak + 1, _trailing_failures(recent))
            health = _health_after_fail(recent, fail_streak, first_failure_at, settings, now)
        else:
            fail_streak = base.fail_streak + 1
            health = _health_after_fail(recent, fail_streak, first_failure_at, settings, now)
        changes.update(
            health=health,
            fail_streak=fail_streak,
            ok_streak=0,
            first_failure_at=first_failure_at,
        )
    else:
        assert_never(verdict)
    return dataclasses.replace(base, **changes)


def is_stale(result: CheckResult, state: LinkState, now: datetime) -> bool:
    """True when the link has an age limit and its content is older than that.

    Age is measured from the most recent evidence of a change: our own
    observation (``last_changed``), the server's Last-Modified (RFC 9110
    §8.8.2) or, for GitHub repositories, the last push.
    """
    max_age = result.link.max_age_days
    if max_age is None:
        return False
    evidence = [
        w
        for w in (
            aware(state.last_changed) if state.last_changed else None,
            _parse_when(state.last_modified),
            _parse_when(result.pushed_at),
        )
        if w
    ]
    if not evidence:
        return False
    return aware(now) - max(evidence) > timedelta(days=max_age)


def apply_run(
    prev_states: Mapping[str, LinkState],
    results: Sequence[CheckResult],
    settings: Settings,
    now: datetime,
    *,
    inconclusive: bool,
    incident_hosts: Collection[str] = (),
    differ: Differ | None = None,
) -> tuple[tuple[CheckResult, ...], dict[str, LinkState]]:
    """Fold one run into history.

    Returns the results with ``health``, ``changed``, ``last_changed``,
    ``diff`` and ``stale`` filled, and the new states of the links checked in
    this run (links not in the run keep their state and are not returned).
    ``differ(old_text, new_text)`` makes the ``diff`` of a changed page; the
    pipeline passes ``content.diff_summary`` (history and content are
    siblings and may not import each other).

    An inconclusive run moves nothing: no health, streak, content or
    validator changes; results only report the health the link already had.
    A URL listed twice in one run is one link: it is stepped once.
    """
    now = aware(now)
    hosts = {h.lower() for h in incident_hosts}
    new_states: dict[str, LinkState] = {}
    out: list[CheckResult] = []
    for result in results:
        url = result.link.url
        prev = prev_states.get(url)
        if inconclusive:
            health = prev.health if prev else Health.HEALTHY
            out.append(
                dataclasses.replace(
                    result,
                    health=health,
                    changed=False,
                    last_changed=prev.last_changed if prev else None,
                    stale=is_stale(result, prev, now) if prev else False,
                )
            )
            if prev is not None:
                new_states[url] = prev
            continue
        if url not in new_states:
            incident = bool(hosts) and host_of(url) in hosts
            new_states[url] = next_state(prev, result, settings, now, incident=incident)
        state = new_states[url]
        changed = content_changed(prev, state)
        diff = None
        if changed and differ is not None and prev and prev.text and result.text is not None:
            diff = differ(prev.text, result.text)
        out.append(
            dataclasses.replace(
                result,
                health=state.health,
                changed=changed,
                last_changed=state.last_changed,
                diff=diff,
                stale=is_stale(result, state, now),
                # A 304 carries no body: the content is the one we already hold.
                content_hash=state.content_hash if result.not_modified else result.content_hash,
            )
        )
    return tuple(out), new_states


def detect_inconclusive(
    results: Sequence[CheckResult], *, canary_url: str | None = None, threshold: float = 0.8
) -> tuple[bool, str]:
    """Was the checker itself offline?  ``(inconclusive, reason)``.

    design.md §7: offline, every link fails, and a nightly job that trusts
    that opens an issue per link.  Judged per distinct host (a catalog with
    30 GitHub links and one bilibili link is two hosts, not 31 votes): a host
    "failed at the network level" when every one of its results has
    ``network_error`` (no HTTP answer at all).  Inconclusive when:

    * the named canary was checked and got no HTTP answer; or
    * at least 2 hosts were checked and ``threshold`` of them failed; or
    * one host was checked, it failed, and no canary answered — with a
      single host "it is down" and "we are offline" look the same, and
      calling a run inconclusive costs one night while a false rot costs trust;
    * any link could not be checked because this machine ran out of open
      files or socket memory (``local-resources``): whatever else the run
      saw, the runner was not fit to judge.
    """
    starved = sum(1 for result in results if result.reason == "local-resources")
    if starved:
        return True, (
            f"this machine ran out of open files or socket memory: {starved} "
            f"link{'s' if starved != 1 else ''} could not be checked "
            "(raise the open-file limit, ulimit -n, or lower concurrency)"
        )
    if canary_url is not None:
        for result in results:
            if result.link.url == canary_url and result.network_error:
                detail = f": {result.detail}" if result.detail else ""
                return True, f"the canary {canary_url} got no answer at the network level{detail}"
    by_host: dict[str, list[bool]] = defaultdict(list)
    canary_answered = False
    for result in results:
        if canary_url is not None and result.link.url == canary_url:
            canary_answered = True
            continue
        by_host[host_of(result.link.url)].append(result.network_error)
    total = len(by_host)
    failed = sum(1 for errors in by_host.values() if all(errors))
    reason = (
        f"the network is unreachable: {failed} of {total} host{'s' if total != 1 else ''} "
        "failed at the network level"
    )
    if total >= 2 and failed / total >= threshold:
        return True, reason
    if total == 1 and failed == 1 and not canary_answered:
        return True, reason
    return False, ""


def _failure_class(result: CheckResult) -> str | None:
    if result.network_error:
        return "network"
    if result.failed and result.status_code is not None and 500 <= result.status_code <= 599:
        return "5xx"
    return None


def host_incidents(results: Sequence[CheckResult], min_links: int = 3) -> list[str]:
    """Hosts in a whole-host outage: every link (≥ ``min_links``) failed alike.

    "Alike" means all with a 5xx or all at the network level, the signature
    of a host being down (all github.com links 503) rather than of links
    being removed (those answer 404 one by one).  Only an outage when the
    rest of the run is fine: at least one other host, and at least half of
    the other hosts had an answering link — otherwise the run itself is in
    question (see :func:`detect_inconclusive`).  Sorted host names.
    """
    by_host: dict[str, list[CheckResult]] = defaultdict(list)
    for result in results:
        by_host[host_of(result.link.url)].append(result)
    down: list[str] = []
    for host, rows in by_host.items():
        classes = {_failure_class(r) for r in rows}
        if len(rows) >= min_links and len(classes) == 1 and None not in classes:
            down.append(host)
    others = [h for h in by_host if h not in down]
    healthy_others = sum(1 for h in others if any(not r.failed for r in by_host[h]))
    if not others or healthy_others * 2 < len(others):
        return []
    return sorted(down)
