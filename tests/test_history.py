"""Tests for linkwatch.history: the health lifecycle replayed over many runs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from linkwatch.catalog import MAX_AGE_DAYS
from linkwatch.history import (
    apply_run,
    detect_inconclusive,
    host_incidents,
    is_flaky,
    is_recovered_enough,
    next_state,
)
from linkwatch.models import (
    FINGERPRINT_VERSION,
    CheckResult,
    Health,
    Link,
    LinkState,
    Settings,
    Verdict,
)

T0 = datetime(2024, 3, 1, 3, 0, tzinfo=UTC)
SETTINGS = Settings(rot_after_runs=3, rot_after_hours=48, recover_after_runs=2)
URL = "https://example.org/page"

ok, moved, broken, error, blocked = (
    Verdict.OK,
    Verdict.MOVED,
    Verdict.BROKEN,
    Verdict.ERROR,
    Verdict.BLOCKED,
)


def res(
    verdict: Verdict,
    url: str = URL,
    *,
    at: datetime = T0,
    link: Link | None = None,
    **kw: Any,
) -> CheckResult:
    fields: dict[str, Any] = {"reason": "r", "detail": "d", **kw}
    return CheckResult(
        link=link or Link(url=url, title="t"),
        verdict=verdict,
        checked_at=at,
        **fields,
    )


def replay(
    verdicts: Sequence[Verdict], hours_apart: float = 24, settings: Settings = SETTINGS
) -> list[LinkState]:
    """Run ``verdicts`` through next_state, one run every ``hours_apart`` hours."""
    state: LinkState | None = None
    states = []
    for i, verdict in enumerate(verdicts):
        now = T0 + timedelta(hours=hours_apart * i)
        state = next_state(state, res(verdict, at=now), settings, now)
        states.append(state)
    return states


@pytest.mark.parametrize(
    ("runs", "hours_apart", "expected"),
    [
        (3, 24, Health.ROTTEN),  # 3 runs spanning 48 h: both thresholds met
        (3, 23, Health.FAILING),  # 3 runs but only 46 h
        (2, 72, Health.FAILING),  # 72 h but only 2 runs
        (10, 1, Health.FAILING),  # many runs within 9 h (hourly schedule)
        (49, 1, Health.ROTTEN),  # hourly, 48 h reached at run 49
        (1, 0, Health.FAILING),
    ],
)
def test_rot_needs_both_runs_and_hours(runs: int, hours_apart: float, expected: Health) -> None:
    assert replay([broken] * runs, hours_apart)[-1].health is expected


def test_error_counts_like_broken_toward_rot() -> None:
    assert replay([error, broken, error])[-1].health is Health.ROTTEN


def test_rot_span_starts_at_first_failure_of_the_streak() -> None:
    # An earlier streak broken by an ok must not count toward the new one.
    states = replay([broken, broken, ok, broken, broken], hours_apart=24)
    assert states[-1].fail_streak == 2
    assert states[-1].first_failure_at == T0 + timedelta(hours=72)
    assert states[-1].health is Health.FAILING


def test_recovery_then_healthy() -> None:
    states = replay([broken, broken, broken, ok, ok, ok])
    assert [s.health for s in states[2:]] == [
        Health.ROTTEN,
        Health.RECOVERED,
        Health.HEALTHY,
        Health.HEALTHY,
    ]


def test_recovered_enough_after_recover_after_runs_oks() -> None:
    states = replay([broken, broken, broken, ok, ok])
    assert [is_recovered_enough(s, SETTINGS) for s in states[2:]] == [False, False, True]


def test_recover_after_one_run_goes_straight_to_healthy() -> None:
    settings = Settings(rot_after_runs=1, rot_after_hours=0, recover_after_runs=1)
    states = replay([broken, ok], settings=settings)
    assert [s.health for s in states] == [Health.ROTTEN, Health.HEALTHY]
    assert is_recovered_enough(states[-1], settings)


def test_the_longest_durations_the_catalog_allows_never_overflow() -> None:
    """The loader's ceilings (a century) must be ones the lifecycle can compute with."""
    settings = Settings(rot_after_runs=1, rot_after_hours=MAX_AGE_DAYS * 24)
    assert [s.health for s in replay([broken, broken], settings=settings)] == [
        Health.FAILING,
        Health.FAILING,
    ]
    link = Link(url=URL, title="t", max_age_days=MAX_AGE_DAYS)
    old = res(ok, link=link, content_hash="a", pushed_at="1990-01-01T00:00:00Z")
    assert step(None, old).stale is False


def test_moved_counts_as_answering() -> None:
    states = replay([broken, broken, moved])
    assert states[-1].fail_streak == 0
    assert states[-1].health is Health.RECOVERED


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        ([ok, broken, ok, broken], True),
        ([broken, ok, broken, ok, broken, ok], True),
        ([ok, blocked, broken, blocked, ok, broken], True),  # blocked is skipped
        ([ok, ok, broken, broken, ok], False),  # failed once for a while: 2 flips
        ([ok, broken, ok], False),  # one failure only
        ([ok, broken, ok, broken, ok, ok, ok, ok, ok], False),  # settled since
        ([], False),
    ],
)
def test_is_flaky(verdicts: list[Verdict], expected: bool) -> None:
    assert is_flaky(verdicts) is expected


def test_alternating_link_is_flaky() -> None:
    states = replay([ok, broken, ok, broken, ok])
    assert [s.health for s in states] == [
        Health.HEALTHY,
        Health.FAILING,
        Health.RECOVERED,
        Health.FLAKY,
        Health.FLAKY,
    ]


def test_rot_wins_over_flaky() -> None:
    states = replay([ok, broken, ok, broken, broken, broken])
    assert states[-1].health is Health.ROTTEN


def test_blocked_never_rots() -> None:
    states = replay([blocked] * 30)
    assert {s.health for s in states} == {Health.HEALTHY}
    assert states[-1].fail_streak == 0


def test_blocked_neither_advances_nor_resets_the_streak() -> None:
    states = replay([broken, broken, blocked])
    assert states[-1].fail_streak == 2
    assert states[-1].health is Health.FAILING
    assert states[-1].last_verdict is blocked
    assert states[-1].first_failure_at == T0


def test_blocked_between_failures_does_not_interrupt_rot() -> None:
    assert replay([broken, blocked, broken, broken])[-1].health is Health.ROTTEN


def test_recent_keeps_the_last_thirty_verdicts() -> None:
    states = replay([broken] + [ok] * 30, hours_apart=1)
    assert states[-1].recent == (ok,) * 30


def test_inconclusive_run_leaves_every_state_unchanged() -> None:
    urls = [f"https://h{i}.example/x" for i in range(4)]
    prev = {
        urls[0]: LinkState(url=urls[0], health=Health.FAILING, fail_streak=2, first_failure_at=T0),
        urls[1]: LinkState(url=urls[1], health=Health.HEALTHY, ok_streak=5),
        urls[2]: LinkState(url=urls[2], health=Health.RECOVERED, ok_streak=1),
    }
    now = T0 + timedelta(days=10)
    results = [res(error, u, at=now, network_error=True) for u in urls]
    out, states = apply_run(prev, results, SETTINGS, now, inconclusive=True)
    assert states == prev
    assert [r.health for r in out] == [
        Health.FAILING,
        Health.HEALTHY,
        Health.RECOVERED,
        Health.HEALTHY,
    ]


def test_one_host_outage_counts_once() -> None:
    gh = "https://github.com/a/b"
    state: LinkState | None = None
    for day in range(6):
        now = T0 + timedelta(days=day)
        result = res(error, gh, at=now, status_code=503)
        _, states = apply_run(
            {gh: state} if state else {},
            [result],
            SETTINGS,
            now,
            inconclusive=False,
            incident_hosts=["github.com"],
        )
        state = states[gh]
        assert state.fail_streak == 1
        assert state.health is Health.FAILING
    assert state is not None
    assert state.first_failure_at == T0


def test_an_outage_that_lasts_a_week_is_a_host_gone_and_its_links_rot() -> None:
    """An expired domain answers NXDOMAIN for every link of its host, for good: counted
    once for ever, a catalog's biggest dead host was never reported."""
    gh = "https://gone.example/a"
    state: LinkState | None = None
    healths = []
    for day in range(9):
        now = T0 + timedelta(days=day)
        _, states = apply_run(
            {gh: state} if state else {},
            [res(error, gh, at=now, network_error=True)],
            SETTINGS,
            now,
            inconclusive=False,
            incident_hosts=["gone.example"],
        )
        state = states[gh]
        healths.append(state.health)
    assert healths[:7] == [Health.FAILING] * 7  # an outage of up to a week counts once
    assert healths[7:] == [Health.ROTTEN, Health.ROTTEN]  # 168 h after the first failure
    assert state is not None and state.fail_streak == 9


def test_nightly_runs_that_start_a_minute_early_still_rot_on_the_third_night() -> None:
    """Three runs 'a day apart' span 47 h 58 min when the third starts two minutes early."""
    assert replay([broken] * 3, hours_apart=24 - 1 / 60)[-1].health is Health.ROTTEN


def test_incident_after_real_failures_does_not_extend_streak() -> None:
    prev = replay([broken, broken])[-1]
    now = T0 + timedelta(days=5)
    state = next_state(prev, res(broken, at=now, status_code=503), SETTINGS, now, incident=True)
    assert state.fail_streak == 2
    assert state.health is Health.FAILING


def test_apply_run_fills_health_on_results() -> None:
    prev = {URL: replay([broken, broken])[-1]}
    now = T0 + timedelta(hours=48)
    out, states = apply_run(prev, [res(broken, at=now)], SETTINGS, now, inconclusive=False)
    assert out[0].health is Health.ROTTEN
    assert states[URL].health is Health.ROTTEN


def test_duplicate_url_in_one_run_steps_once() -> None:
    now = T0
    out, states = apply_run(
        {}, [res(broken, at=now), res(broken, at=now)], SETTINGS, now, inconclusive=False
    )
    assert states[URL].fail_streak == 1
    assert len(out) == 2


# --- content and freshness -------------------------------------------------


def step(prev: LinkState | None, result: CheckResult, now: datetime = T0) -> CheckResult:
    out, _ = apply_run(
        {URL: prev} if prev else {},
        [result],
        SETTINGS,
        now,
        inconclusive=False,
        differ=lambda a, b: f"{a}->{b}",
    )
    return out[0]


def state_after(prev: LinkState | None, result: CheckResult, now: datetime = T0) -> LinkState:
    return next_state(prev, result, SETTINGS, now)


def test_first_sight_is_not_a_change() -> None:
    assert step(None, res(ok, content_hash="a", text="A")).changed is False


def test_new_hash_is_a_change_with_diff() -> None:
    prev = state_after(None, res(ok, content_hash="a", text="A"))
    later = T0 + timedelta(days=1)
    out = step(prev, res(ok, at=later, content_hash="b", text="B"), later)
    assert out.changed is True
    assert out.diff == "A->B"
    assert out.last_changed == later


def test_same_hash_is_no_change_and_keeps_last_changed() -> None:
    prev = state_after(None, res(ok, content_hash="a", text="A"))
    later = T0 + timedelta(days=1)
    out = step(prev, res(ok, at=later, content_hash="a", text="A"), later)
    assert (out.changed, out.diff, out.last_changed) == (False, None, T0)


def test_a_hash_from_older_fingerprint_rules_is_adopted_without_a_change() -> None:
    """Upgrading linkwatch changes how pages are fingerprinted, not the pages."""
    first = state_after(None, res(ok, content_hash="a", text="A"))
    assert first.fingerprint_version == FINGERPRINT_VERSION
    legacy = replace(first, fingerprint_version=FINGERPRINT_VERSION - 1)
    night2, night3 = T0 + timedelta(days=1), T0 + timedelta(days=2)
    out = step(legacy, res(ok, at=night2, content_hash="a2", text="A"), night2)
    assert (out.changed, out.diff, out.last_changed) == (False, None, T0)
    adopted = state_after(legacy, res(ok, at=night2, content_hash="a2", text="A"), night2)
    assert (adopted.content_hash, adopted.fingerprint_version) == ("a2", FINGERPRINT_VERSION)
    again = step(adopted, res(ok, at=night3, content_hash="b", text="B"), night3)
    assert (again.changed, again.last_changed) == (True, night3)  # a real change is one again


def test_not_modified_keeps_hash_and_validators() -> None:
    prev = state_after(None, res(ok, content_hash="a", text="A", etag='"v1"', last_modified="x"))
    state = state_after(prev, res(ok, not_modified=True, status_code=304))
    assert (state.content_hash, state.text, state.etag, state.last_modified) == (
        "a",
        "A",
        '"v1"',
        "x",
    )


def test_failed_result_does_not_replace_content() -> None:
    prev = state_after(None, res(ok, content_hash="a", text="A", etag='"v1"'))
    state = state_after(prev, res(broken, content_hash="soft404", text="Not found"))
    assert (state.content_hash, state.etag) == ("a", '"v1"')


def test_new_200_without_validators_drops_old_ones() -> None:
    prev = state_after(None, res(ok, content_hash="a", etag='"v1"'))
    assert state_after(prev, res(ok, content_hash="b")).etag is None


@pytest.mark.parametrize(
    ("kw", "age_days", "expected"),
    [
        ({}, 10, False),  # first seen now: not stale
        ({"last_modified": "Tue, 01 Jan 2019 00:00:00 GMT"}, 365, True),
        ({"last_modified": "Fri, 01 Mar 2024 00:00:00 GMT"}, 365, False),
        ({"pushed_at": "2020-01-01T00:00:00Z"}, 365, True),
        ({"pushed_at": "2024-02-20T00:00:00Z"}, 365, False),
    ],
)
def test_stale(kw: dict[str, Any], age_days: float, expected: bool) -> None:
    link = Link(url=URL, title="t", max_age_days=age_days)
    assert step(None, res(ok, link=link, content_hash="a", **kw)).stale is expected


def test_unchanged_content_goes_stale_with_time() -> None:
    link = Link(url=URL, title="t", max_age_days=30)
    prev = state_after(None, res(ok, link=link, content_hash="a"))
    later = T0 + timedelta(days=31)
    assert step(prev, res(ok, link=link, at=later, content_hash="a"), later).stale is True


def test_no_max_age_is_never_stale() -> None:
    assert step(None, res(ok, content_hash="a", pushed_at="2001-01-01T00:00:00Z")).stale is False


# --- inconclusive runs and incidents ---------------------------------------


def many(hosts: int, failed: int, per_host: int = 2) -> list[CheckResult]:
    out = []
    for h in range(hosts):
        for i in range(per_host):
            bad = h < failed
            out.append(res(error if bad else ok, f"https://h{h}.example/{i}", network_error=bad))
    return out


@pytest.mark.parametrize(
    ("hosts", "failed", "expected"),
    [
        (21, 21, True),
        (10, 8, True),
        (10, 7, False),
        (2, 2, True),
        (2, 1, False),
        (1, 1, True),
        (1, 0, False),
        (0, 0, False),
    ],
)
def test_detect_inconclusive_by_host_share(hosts: int, failed: int, expected: bool) -> None:
    assert detect_inconclusive(many(hosts, failed))[0] is expected


def test_inconclusive_reason_counts_hosts() -> None:
    assert detect_inconclusive(many(21, 21))[1] == (
        "the network is unreachable: 21 of 21 hosts failed at the network level"
    )


def test_one_link_this_machine_could_not_check_makes_the_run_inconclusive() -> None:
    """Out of open files, the runner was not fit to judge, however many hosts answered."""
    starved = res(error, "https://z.example/1", network_error=True, reason="local-resources")
    inconclusive, reason = detect_inconclusive([*many(10, 0), starved])
    assert inconclusive
    assert reason.startswith("this machine ran out of open files or socket memory: 1 link ")


def test_one_answering_link_makes_its_host_answer() -> None:
    results = [
        res(error, "https://a.example/1", network_error=True),
        res(ok, "https://a.example/2"),
        res(error, "https://b.example/1", network_error=True),
    ]
    assert detect_inconclusive(results)[0] is False


def test_failed_canary_makes_run_inconclusive() -> None:
    canary = "https://canary.example/"
    results = [*many(5, 0), res(error, canary, network_error=True, detail="connect refused")]
    inconclusive, reason = detect_inconclusive(results, canary_url=canary)
    assert inconclusive
    assert canary in reason


def test_answering_canary_settles_a_one_host_catalog() -> None:
    canary = "https://canary.example/"
    results = [*many(1, 1), res(ok, canary)]
    assert detect_inconclusive(results, canary_url=canary)[0] is False


def outage(host: str, n: int, **kw: Any) -> list[CheckResult]:
    return [res(error, f"https://{host}/{i}", **kw) for i in range(n)]


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        (outage("github.com", 3, status_code=503) + many(3, 0), ["github.com"]),
        (outage("github.com", 3, network_error=True) + many(3, 0), ["github.com"]),
        (outage("github.com", 2, status_code=503) + many(3, 0), []),  # too few links
        (outage("github.com", 3, status_code=404) + many(3, 0), []),  # removals, not outage
        (  # mixed failure classes
            outage("github.com", 2, status_code=503)
            + outage("github.com", 1, network_error=True)
            + many(3, 0),
            [],
        ),
        (outage("github.com", 3, status_code=503), []),  # no other host to compare
        (outage("github.com", 3, status_code=503) + many(3, 3), []),  # everything down
    ],
)
def test_host_incidents(results: list[CheckResult], expected: list[str]) -> None:
    assert host_incidents(results) == expected


def test_full_body_size_is_remembered_and_a_304_keeps_it() -> None:
    """The size a later 304 saves: from the last full answer, whatever its verdict."""
    first = next_state(None, res(ok, bytes_received=4096, content_hash="h"), SETTINGS, T0)
    later = T0 + timedelta(days=1)
    not_modified = res(ok, at=later, bytes_received=0, not_modified=True)
    second = next_state(first, not_modified, SETTINGS, later)
    blocked_page = res(blocked, at=later, bytes_received=900)
    third = next_state(second, blocked_page, SETTINGS, later)
    assert (first.body_bytes, second.body_bytes, third.body_bytes) == (4096, 4096, 900)
