"""``linkwatch schedule``: triggers, no overlapping runs, clean stop (event and SIGTERM)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.triggers.interval import IntervalTrigger

from linkwatch.catalog import cron_problem
from linkwatch.errors import CatalogError
from linkwatch.models import Schedule
from linkwatch.schedule import CrontabTrigger, build_trigger, run_schedules

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("0", "sun"),
        ("7", "sun"),
        ("7-7", "sun"),
        ("1-5", "mon,tue,wed,thu,fri"),
        ("5-7", "sun,fri,sat"),
        ("0-7", "sun,mon,tue,wed,thu,fri,sat"),
        ("*/2", "sun,tue,thu,sat"),
        ("sat,sun", "sun,sat"),
        ("MON-WED", "mon,tue,wed"),
        ("1/3", "mon,thu"),
    ],
)
def test_weekdays_are_crontabs_sunday_zero(field: str, expected: str) -> None:
    trigger = build_trigger(Schedule("w", f"0 3 * * {field}"))
    assert isinstance(trigger, CrontabTrigger)
    assert str(trigger.wall.fields[4]) == expected  # day_of_week


def _fires(
    cron: str,
    count: int,
    zone: str = "UTC",
    now: datetime = datetime(2025, 11, 14, 12, 0, tzinfo=UTC),  # a Friday
) -> list[datetime]:
    """The next ``count`` fire times, as the scheduler asks for them (a fake clock)."""
    trigger = build_trigger(Schedule("x", cron, timezone=zone))
    fires: list[datetime] = []
    previous = None
    for _ in range(count):
        fire = trigger.get_next_fire_time(previous, now)
        assert fire is not None
        fires.append(fire)
        previous, now = fire, fire + timedelta(seconds=5)  # the run took 5 s
    return fires


def _utc(fires: list[datetime]) -> list[str]:
    return [f.astimezone(UTC).strftime("%m-%d %H:%MZ") for f in fires]


def test_a_fixed_time_runs_once_the_night_clocks_go_back() -> None:
    """01:30 happens twice in New York on 2025-11-02; cron runs once, APScheduler ran twice."""
    fires = _fires("30 1 * * *", 3, "America/New_York", datetime(2025, 11, 1, 12, tzinfo=UTC))
    assert _utc(fires) == ["11-02 05:30Z", "11-03 06:30Z", "11-04 06:30Z"]


def test_the_repeated_hour_fires_no_wall_time_twice() -> None:
    """APScheduler went 02:00+02, 02:30+02, 02:00+01, 02:30+02 (back in time) in Berlin."""
    fires = _fires("*/30 * * * *", 4, "Europe/Berlin", datetime(2025, 10, 25, 23, 50, tzinfo=UTC))
    assert [f.isoformat() for f in fires] == [
        "2025-10-26T02:00:00+02:00",
        "2025-10-26T02:30:00+02:00",
        "2025-10-26T03:00:00+01:00",
        "2025-10-26T03:30:00+01:00",
    ]


def test_started_in_the_repeated_hour_the_second_occurrence_is_next() -> None:
    fires = _fires("30 1 * * *", 1, "America/New_York", datetime(2025, 11, 2, 6, 10, tzinfo=UTC))
    assert [f.isoformat() for f in fires] == ["2025-11-02T01:30:00-05:00"]


def test_a_time_the_clocks_skip_runs_once_shifted_by_the_gap() -> None:
    fires = _fires("30 2 * * *", 3, "America/New_York", datetime(2025, 3, 8, 12, tzinfo=UTC))
    assert [f.isoformat() for f in fires] == [
        "2025-03-09T03:30:00-04:00",
        "2025-03-10T02:30:00-04:00",
        "2025-03-11T02:30:00-04:00",
    ]


def test_steps_on_named_months_are_kept() -> None:
    """APScheduler drops the step of ``jan-dec/6`` and fired every day."""
    fires = _fires("0 3 1 jan-dec/6 *", 3)
    assert [f.strftime("%m-%d") for f in fires] == ["01-01", "07-01", "01-01"]
    assert [f.month for f in _fires("0 3 * jan-jun/2 *", 40)] == [1] * 31 + [3] * 9


def test_a_step_beyond_the_range_means_the_first_value() -> None:
    """``*/90`` passed validate and APScheduler refused it; cron reads minute 0."""
    assert [f.strftime("%H:%M") for f in _fires("*/90 * * * *", 2)] == ["12:00", "13:00"]


def test_seven_to_seven_is_sunday_only() -> None:
    assert {f.strftime("%A") for f in _fires("0 3 * * 7-7", 3)} == {"Sunday"}


@pytest.mark.parametrize(
    "cron",
    [
        "*/90 * * * *",
        "0 3 * jan-dec/6 *",
        "0 3 * * 7-7",
        "1-5/10 * * * *",
        "0 3 * * 7/2",
        "0 0 31 2 *",
        "0 3 * * fri-sun",
        "0 3 * 13 *",
        "0 3 * * */8",
        "0 3 * jan-dec/13 *",
    ],
)
def test_validate_and_the_scheduler_agree(cron: str) -> None:
    """One rule set: the scheduler refuses exactly what ``validate`` refuses."""
    problem = cron_problem(cron)
    try:
        build_trigger(Schedule("x", cron))
    except ValueError as exc:
        assert str(exc) == problem
    else:
        assert problem is None


def test_sunday_cron_fires_on_sunday() -> None:
    trigger = build_trigger(Schedule("weekly", "0 3 * * 0", timezone="Asia/Shanghai"))
    friday = datetime(2025, 11, 14, 12, 0, tzinfo=UTC)
    fire = trigger.get_next_fire_time(None, friday)
    assert fire.strftime("%A %H:%M %Z") == "Sunday 03:00 CST"


def test_every_is_an_interval() -> None:
    trigger = build_trigger(Schedule("fast", "@every 1.5s"))
    assert isinstance(trigger, IntervalTrigger)
    assert trigger.interval == timedelta(seconds=1.5)


@pytest.mark.parametrize(
    ("cron", "zone"),
    [
        ("0 3 * *", "UTC"),
        ("61 3 * * *", "UTC"),
        ("0 3 * * 8", "UTC"),
        ("0 3 * * x", "UTC"),
        ("0 3 * * 5-1", "UTC"),
        ("0 3 * * */0", "UTC"),
        ("0 3 * * 1--2", "UTC"),
        ("@every 0s", "UTC"),
        ("@every soon", "UTC"),
        ("0 3 * * *", "Mars/Olympus_Mons"),
    ],
)
def test_build_trigger_rejects_bad_input(cron: str, zone: str) -> None:
    with pytest.raises(ValueError):
        build_trigger(Schedule("bad", cron, timezone=zone))


def test_bad_schedule_is_a_catalog_error() -> None:
    with pytest.raises(CatalogError, match=r"catalog\.toml: schedule\.nightly: "):
        asyncio.run(run_schedules([Schedule("nightly", "nope")], _noop))


def test_a_catalog_error_in_a_run_is_one_line_and_the_schedule_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = 0

    async def main() -> None:
        stop = asyncio.Event()

        async def job(schedule: Schedule) -> None:
            nonlocal calls
            calls += 1
            if calls == 2:
                stop.set()
            raise CatalogError(
                "catalog.toml", 10, "unknown key (did you mean 'title'?)", "link.tittle"
            )

        await asyncio.wait_for(
            run_schedules([Schedule("fast", "@every 0.1s")], job, stop=stop), timeout=10
        )

    with caplog.at_level(logging.INFO, logger="linkwatch.schedule"):
        asyncio.run(main())
    assert calls == 2
    failed = [r for r in caplog.records if "run failed" in r.getMessage()]
    line = "catalog.toml:10: link.tittle: unknown key (did you mean 'title'?)"
    assert [r.getMessage() for r in failed] == [f"schedule fast: run failed: {line}"] * 2
    assert all(r.exc_info is None for r in failed)


async def _noop(schedule: Schedule) -> None:
    return None


def test_runs_repeatedly_and_logs_next_run(caplog: pytest.LogCaptureFixture) -> None:
    runs: list[str] = []

    async def main() -> None:
        stop = asyncio.Event()

        async def job(schedule: Schedule) -> None:
            runs.append(schedule.name)
            if len(runs) == 2:
                stop.set()

        await asyncio.wait_for(
            run_schedules([Schedule("fast", "@every 0.2s")], job, stop=stop), timeout=10
        )

    with caplog.at_level(logging.INFO, logger="linkwatch.schedule"):
        asyncio.run(main())
    assert runs == ["fast", "fast"]
    assert "schedule fast: next run at 20" in caplog.text
    assert "scheduler stopped" in caplog.text


def test_a_slow_run_is_never_overlapped(caplog: pytest.LogCaptureFixture) -> None:
    active = 0
    most = 0
    finished = 0

    async def main() -> None:
        stop = asyncio.Event()

        async def job(schedule: Schedule) -> None:
            nonlocal active, most, finished
            active += 1
            most = max(most, active)
            await asyncio.sleep(0.45)
            active -= 1
            finished += 1
            if finished == 2:
                stop.set()

        await asyncio.wait_for(
            run_schedules([Schedule("slow", "@every 0.1s")], job, stop=stop), timeout=10
        )

    with caplog.at_level(logging.INFO, logger="linkwatch.schedule"):
        asyncio.run(main())
    assert finished == 2
    assert most == 1
    assert "previous run still going, skipped" in caplog.text


def test_a_run_is_on_time_after_the_machine_slept_before_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Suspend stops asyncio's clock (CLOCK_MONOTONIC): a pending wait must not run late.

    The loop's clock is made to lag 1.5 s behind, as if the machine had
    slept 1.5 s while the scheduler waited for a fire 2 s ahead.  The fire
    is due at 2 s of wall time, when the machine is awake; APScheduler's
    call_later alone came at 3.5 s and skipped it as late beyond the grace.
    """
    ran: list[float] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        lag = 0.0
        real_time = loop.time
        loop.time = lambda: real_time() - lag  # type: ignore[method-assign]
        start = time.monotonic()

        async def job(schedule: Schedule) -> None:
            ran.append(time.monotonic() - start)

        stop = asyncio.Event()
        task = asyncio.create_task(
            run_schedules(
                [Schedule("nightly", "@every 2s")],
                job,
                stop=stop,
                misfire_grace_seconds=1,
                wake_seconds=0.1,
            )
        )
        await asyncio.sleep(0.3)
        lag = 1.5  # the machine slept here
        while time.monotonic() - start < 2.8:
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, timeout=10)

    with caplog.at_level(logging.INFO, logger="linkwatch.schedule"):
        asyncio.run(main())
    assert len(ran) == 1, ran
    assert 1.9 < ran[0] < 2.5, ran
    assert "missed its time" not in caplog.text


def test_schedules_take_turns_on_the_shared_state(caplog: pytest.LogCaptureFixture) -> None:
    """Two schedules firing together (nightly and hourly at 03:00) must not run at once."""
    active = 0
    most = 0
    done: list[str] = []

    async def main() -> None:
        stop = asyncio.Event()

        async def job(schedule: Schedule) -> None:
            nonlocal active, most
            active += 1
            most = max(most, active)
            await asyncio.sleep(0.3)
            active -= 1
            done.append(schedule.name)
            if {"nightly", "hourly"} <= set(done):
                stop.set()

        schedules = [Schedule("nightly", "@every 0.1s"), Schedule("hourly", "@every 0.1s")]
        await asyncio.wait_for(run_schedules(schedules, job, stop=stop), timeout=10)

    with caplog.at_level(logging.INFO, logger="linkwatch.schedule"):
        asyncio.run(main())
    assert most == 1
    assert {"nightly", "hourly"} <= set(done)
    assert "another run is going, waiting for it" in caplog.text


def test_a_waiting_run_does_not_start_after_stop(caplog: pytest.LogCaptureFixture) -> None:
    started: list[str] = []

    async def main() -> None:
        stop = asyncio.Event()

        async def job(schedule: Schedule) -> None:
            started.append(schedule.name)
            await asyncio.sleep(0.4)  # the other schedule fires meanwhile and waits
            stop.set()

        schedules = [Schedule("a", "@every 0.1s"), Schedule("b", "@every 0.1s")]
        await asyncio.wait_for(run_schedules(schedules, job, stop=stop), timeout=10)

    with caplog.at_level(logging.INFO, logger="linkwatch.schedule"):
        asyncio.run(main())
    assert len(started) == 1
    assert "stopping, run not started" in caplog.text


def test_stop_cancels_a_run_after_the_grace_period(caplog: pytest.LogCaptureFixture) -> None:
    outcome: list[str] = []

    async def main() -> None:
        stop = asyncio.Event()

        async def job(schedule: Schedule) -> None:
            stop.set()
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                outcome.append("cancelled")
                raise

        await asyncio.wait_for(
            run_schedules([Schedule("hang", "@every 0.1s")], job, stop=stop, grace_seconds=0.2),
            timeout=10,
        )

    with caplog.at_level(logging.INFO, logger="linkwatch.schedule"):
        asyncio.run(main())
    assert outcome == ["cancelled"]
    assert "grace period over, cancelling 1 run(s)" in caplog.text


def test_stop_lets_a_run_finish_within_the_grace_period() -> None:
    outcome: list[str] = []

    async def main() -> None:
        stop = asyncio.Event()

        async def job(schedule: Schedule) -> None:
            stop.set()
            await asyncio.sleep(0.3)
            outcome.append("finished")

        await asyncio.wait_for(
            run_schedules([Schedule("short", "@every 0.1s")], job, stop=stop, grace_seconds=5),
            timeout=10,
        )

    asyncio.run(main())
    assert outcome == ["finished"]


SIGTERM_SCRIPT = textwrap.dedent(
    """
    import asyncio, logging, sys
    from linkwatch.models import Schedule
    from linkwatch.schedule import run_schedules

    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")

    async def job(schedule):
        print("job running", flush=True)
        await asyncio.sleep(0.5)

    asyncio.run(run_schedules([Schedule("tick", "@every 0.2s")], job))
    print("exited cleanly", flush=True)
    """
)


def _signalled(
    tmp_path: Path, source: str, signal_after: Callable[[str], bool], last: str
) -> tuple[int, list[str]]:
    """Run ``source`` as a script; SIGTERM it after each line ``signal_after`` picks,
    until the line starting with ``last``.  Returns its exit status and output lines."""
    script = tmp_path / "sched.py"
    script.write_text(source)
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line.rstrip("\n"))
        if signal_after(line):
            proc.send_signal(signal.SIGTERM)
            if line.startswith(last):
                break
    rest, _ = proc.communicate(timeout=20)
    seen += rest.splitlines()
    return proc.returncode, seen


def test_sigterm_stops_cleanly_with_status_zero(tmp_path: Path) -> None:
    def after(line: str) -> bool:
        return line.startswith("job running")

    returncode, seen = _signalled(tmp_path, SIGTERM_SCRIPT, after, last="job running")
    assert returncode == 0, seen
    assert "received SIGTERM, stopping" in seen
    assert "schedule tick: run finished" in seen
    assert seen[-2:] == ["scheduler stopped", "exited cleanly"]


SIGTERM_TWICE_SCRIPT = textwrap.dedent(
    """
    import asyncio, logging, signal, sys
    import anyio
    from linkwatch.cli import _terminate
    from linkwatch.models import Schedule
    from linkwatch.schedule import run_schedules

    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")

    async def job(schedule):
        print("job running", flush=True)
        await asyncio.sleep(60)

    signal.signal(signal.SIGTERM, _terminate)  # as linkwatch.cli.main does
    try:
        anyio.run(lambda: run_schedules([Schedule("tick", "@every 0.2s")], job, grace_seconds=60))
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(130)
    """
)


def test_second_sigterm_cuts_the_grace_period_short(tmp_path: Path) -> None:
    """A second SIGTERM while draining cancels the run and exits 130, not killed (143)."""

    def after(line: str) -> bool:
        return line.startswith(("job running", "waiting up to"))

    returncode, seen = _signalled(tmp_path, SIGTERM_TWICE_SCRIPT, after, last="waiting up to")
    assert returncode == 130, seen
    assert "received SIGTERM again, cancelling the running check(s) now" in seen
    assert "schedule tick: run cancelled" in seen
    assert seen[-2:] == ["scheduler stopped", "interrupted"]


def test_the_callers_signal_handlers_are_restored() -> None:
    def mine(signum: int, frame: object) -> None:
        raise AssertionError("not expected")

    async def main() -> None:
        stop = asyncio.Event()

        async def job(schedule: Schedule) -> None:
            stop.set()

        await asyncio.wait_for(
            run_schedules([Schedule("once", "@every 0.1s")], job, stop=stop), timeout=10
        )

    previous = signal.signal(signal.SIGTERM, mine)
    try:
        asyncio.run(main())
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, previous)
