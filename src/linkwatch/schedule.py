"""``linkwatch schedule``: run the pipeline on the catalog's ``[[schedule]]`` crons.

Built on APScheduler 3.x's ``AsyncIOScheduler`` (https://apscheduler.readthedocs.io/en/3.x/),
with the job options that make a long-running checker safe:

* ``max_instances=1`` — a run that outlasts its interval is never overlapped
  by the next one (the next fire is skipped and logged);
* one run at a time over all schedules — they share one state database, so a
  schedule that fires while another's run is going waits for it (logged),
  then runs.  ``max_instances=1`` counts the waiting run, so at most one
  waits per schedule and a backlog cannot build up;
* ``coalesce=True`` — after a pause (laptop asleep, host overloaded) missed
  fires collapse into one run instead of a burst;
* ``misfire_grace_time`` — a fire that is late by at most this much still runs;
* a wake-up every ``wake_seconds`` (30) to look at the wall clock: APScheduler
  waits for its next fire with ``loop.call_later``, on asyncio's clock,
  which is ``CLOCK_MONOTONIC`` on Linux and stops while the machine is
  suspended.  Without it, a laptop that slept an hour in the evening woke
  its 03:00 run at 04:00, more than the grace late, and skipped it.

Stopping (SIGTERM from systemd, Docker or Kubernetes, or Ctrl-C) is clean:
no new run starts, the current run gets a grace period to finish and is then
cancelled.  Cancelling loses nothing, because the pipeline writes a run's
history in a single transaction.  Exit is then normal (status 0).  A second
signal during the grace period cancels the run at once; the stop is still
clean, and ``run_schedules`` then raises ``KeyboardInterrupt``, which the CLI
reports as an interruption (status 130).

Differences from crontab(5) handled or documented here:

* APScheduler 3.x numbers weekdays from Monday = 0, crontab from Sunday = 0
  (APScheduler issue #286), and its parser reads other crontab syntax its own
  way (``jan-dec/6`` loses its step, ``*/90`` is refused).  So
  :func:`build_trigger` reads the expression with the catalog's validator,
  :func:`linkwatch.catalog.cron_values`, and hands APScheduler plain lists of
  values, weekdays by name: ``0 3 * * 0`` means Sunday as it does in cron,
  and ``validate`` and the scheduler cannot disagree.
* The night the clocks go back, a time in the repeated hour fires once, at
  its first occurrence (cron does so for fixed times; for ``*`` in the hour
  or minute it fires again by the new time: here the repeated hour is
  quiet).  A time the clocks skip fires shifted by the gap (``30 2 * * *``
  at 03:30 that day).  See :class:`CrontabTrigger`.
* When both day-of-month and day-of-week are restricted, cron fires when
  *either* matches; APScheduler requires *both*.  Avoid combining them.

``@every <n>s`` (also ``ms``, ``m``, ``h``) is an extension for tests and
advanced use: a fixed interval instead of a cron expression.
"""

from __future__ import annotations

import asyncio
import logging
import re
import signal
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from types import FrameType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import anyio
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobEvent,
)
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from linkwatch.catalog import cron_values
from linkwatch.errors import CatalogError, LinkwatchError
from linkwatch.models import Schedule

_Handler = Callable[[int, FrameType | None], object] | int | signal.Handlers | None

DEFAULT_GRACE_SECONDS = 60.0
DEFAULT_MISFIRE_GRACE_SECONDS = 300
DEFAULT_WAKE_SECONDS = 30.0

_EVERY = re.compile(r"^@every\s+(\d+(?:\.\d+)?)\s*(ms|s|m|h)$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def build_trigger(schedule: Schedule) -> BaseTrigger:
    """The APScheduler trigger for ``schedule.cron`` in ``schedule.timezone``.

    Raises ``ValueError`` with a one-line reason for a bad expression or zone.
    """
    try:
        zone = ZoneInfo(schedule.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {schedule.timezone!r}") from exc
    expr = schedule.cron.strip()
    every = _EVERY.match(expr)
    if every:
        seconds = float(every.group(1)) * _UNIT_SECONDS[every.group(2)]
        if seconds <= 0:
            raise ValueError(f"{expr!r}: the interval must be positive")
        return IntervalTrigger(seconds=seconds, timezone=zone)
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(
            f"{expr!r} must have 5 fields (minute hour day-of-month month day-of-week)"
            " or be '@every <n>s'"
        )
    # APScheduler gets plain value lists: it reads some crontab syntax its own way.
    minute, hour, day, month, weekday = (
        "*" if allowed is None else ",".join(map(str, allowed)) for allowed in cron_values(expr)
    )
    if weekday != "*":  # by name: APScheduler 3.x numbers weekdays from Monday
        weekday = ",".join(_CRON_DAYS[int(number)] for number in weekday.split(","))
    wall = CronTrigger(
        minute=minute, hour=hour, day=day, month=month, day_of_week=weekday, timezone=UTC
    )
    return CrontabTrigger(wall, zone)


class CrontabTrigger(BaseTrigger):  # type: ignore[misc]  # APScheduler is untyped
    """A cron schedule read on the local wall clock: each matching local time fires once.

    APScheduler 3.x's ``CronTrigger`` steps through aware datetimes, and the
    night the clocks go back it fires a fixed time twice (``30 1 * * *`` in
    New York at 01:30 EDT and again at 01:30 EST), which cron does not do.
    So ``wall``, a ``CronTrigger`` in UTC (a clock without DST, standing for
    the local wall clock), finds the matching wall times, and each is placed
    in ``zone`` afterwards: an ambiguous one at its first occurrence still
    ahead, one the clocks skip (spring forward) shifted by the gap, as
    PEP 495 places it.  Fire times always move forward in wall time, so the
    repeated hour fires nothing it already fired.
    """

    def __init__(self, wall: CronTrigger, zone: ZoneInfo) -> None:
        self.wall = wall
        self.zone = zone

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        if previous_fire_time is not None:
            # Strictly after the previous fire, on the wall clock and in time.
            start = self._local(previous_fire_time) + timedelta(microseconds=1)
            earliest = previous_fire_time.astimezone(UTC) + timedelta(microseconds=1)
        else:
            start = self._local(now)
            earliest = now.astimezone(UTC)
        wall: datetime | None = self.wall.get_next_fire_time(None, start.replace(tzinfo=UTC))
        while wall is not None:
            local = wall.replace(tzinfo=None)
            for fold in (0, 1):
                moment = local.replace(tzinfo=self.zone, fold=fold)
                if fold and self._local(moment) != local:
                    break  # skipped by the clocks: fold=1 would place it before the gap
                # In UTC: aware datetimes with the same tzinfo compare ignoring fold.
                if moment.astimezone(UTC) >= earliest:
                    return moment.astimezone(UTC).astimezone(self.zone)
            wall = self.wall.get_next_fire_time(wall, wall)
        return None

    def _local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone).replace(tzinfo=None)

    def __str__(self) -> str:
        return f"{self.wall} {self.zone.key}"


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else "never"


async def run_schedules(
    schedules: Sequence[Schedule],
    job: Callable[[Schedule], Awaitable[object]],
    *,
    stop: anyio.Event | asyncio.Event | None = None,
    logger: logging.Logger | None = None,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
    misfire_grace_seconds: int = DEFAULT_MISFIRE_GRACE_SECONDS,
    catalog_path: str = "catalog.toml",
    wake_seconds: float = DEFAULT_WAKE_SECONDS,
) -> None:
    """Run ``job(schedule)`` on every schedule's trigger until ``stop`` is set or a signal comes.

    A failing run is logged and the schedule keeps going: one bad night must
    not end the service.  A :class:`LinkwatchError` (catalog, state or
    report) is logged in one line naming the file; anything else, a bug,
    with its traceback.  Returns after a clean shutdown.
    """
    log = logger or logging.getLogger("linkwatch.schedule")
    if not schedules:
        log.warning("no [[schedule]] in the catalog: nothing to run")
        return
    triggers: list[tuple[Schedule, BaseTrigger]] = []
    for schedule in schedules:
        try:
            triggers.append((schedule, build_trigger(schedule)))
        except ValueError as exc:
            raise CatalogError(
                catalog_path, None, str(exc), key=f"schedule.{schedule.name}"
            ) from exc

    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    running: set[asyncio.Task[object]] = set()

    # All schedules write one state database, and a run reads the history it
    # extends: two runs at once would each add their step to the same old
    # history, and one step would be lost.  So runs take turns.
    turn = asyncio.Lock()

    async def run(schedule: Schedule) -> None:
        task = asyncio.current_task()
        assert task is not None
        running.add(task)
        try:
            if turn.locked():
                log.info("schedule %s: another run is going, waiting for it", schedule.name)
            async with turn:
                if stopping.is_set():
                    log.info("schedule %s: stopping, run not started", schedule.name)
                    return
                await run_one(schedule)
        finally:
            running.discard(task)

    async def run_one(schedule: Schedule) -> None:
        log.info("schedule %s: run started", schedule.name)
        try:
            await job(schedule)
        except asyncio.CancelledError:
            log.warning("schedule %s: run cancelled", schedule.name)
            raise
        except LinkwatchError as exc:
            # The user's to fix (a catalog edited into an error, a full disk):
            # one line naming the file, as the CLI prints it; no traceback.
            log.error("schedule %s: run failed: %s", schedule.name, exc)
        except Exception:
            log.exception("schedule %s: run failed", schedule.name)
        else:
            log.info("schedule %s: run finished", schedule.name)

    scheduler = AsyncIOScheduler(event_loop=loop)
    names = {schedule.name: schedule for schedule, _ in triggers}

    def on_event(event: JobEvent) -> None:
        found = scheduler.get_job(event.job_id)
        upcoming = _when(found.next_run_time if found else None)
        if event.code == EVENT_JOB_MAX_INSTANCES:
            log.warning("schedule %s: previous run still going, skipped this one", event.job_id)
        elif event.code == EVENT_JOB_MISSED:
            log.warning("schedule %s: missed its time (late beyond the grace)", event.job_id)
        log.info("schedule %s: next run at %s", event.job_id, upcoming)

    scheduler.add_listener(
        on_event, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES
    )
    for schedule, trigger in triggers:
        scheduler.add_job(
            run,
            trigger,
            args=[schedule],
            id=schedule.name,
            name=schedule.name,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=misfire_grace_seconds,
        )

    hurry = asyncio.Event()

    def on_signal(signum: signal.Signals) -> None:
        if not stopping.is_set():
            log.info("received %s, stopping", signum.name)
            stopping.set()
        else:
            log.warning("received %s again, cancelling the running check(s) now", signum.name)
            hurry.set()

    # Ours until the drain is over: a second signal then cuts the grace short
    # instead of meeting the default action (death by SIGTERM, exit 143).
    handled: list[tuple[signal.Signals, _Handler]] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(signum)
        try:
            loop.add_signal_handler(signum, on_signal, signum)
            handled.append((signum, previous))
        except (NotImplementedError, RuntimeError, ValueError):
            log.debug("cannot handle %s here (not the main thread?)", signum.name)

    async def forward_stop() -> None:
        if stop is not None:
            await stop.wait()
            stopping.set()

    async def watch_the_wall_clock() -> None:
        # Time asleep (suspend) does not count on the loop's clock: a pending
        # call_later would fire that much late.  APScheduler compares due
        # times with datetime.now(), so a wake-up finds what is due.
        while True:
            await asyncio.sleep(wake_seconds)
            scheduler.wakeup()

    forwarder = asyncio.create_task(forward_stop())
    scheduler.start()
    watcher = asyncio.create_task(watch_the_wall_clock())
    for name in names:
        found = scheduler.get_job(name)
        log.info("schedule %s: next run at %s", name, _when(found.next_run_time if found else None))
    try:
        await stopping.wait()
    finally:
        scheduler.pause()
        forwarder.cancel()
        watcher.cancel()
        await _drain(running, grace_seconds, hurry, log)
        for signum, previous in handled:
            loop.remove_signal_handler(signum)
            # remove_signal_handler leaves SIG_DFL, not the caller's handler.
            if previous is not None:
                signal.signal(signum, previous)
        scheduler.shutdown(wait=False)
        # AsyncIOScheduler.shutdown is delivered through call_soon_threadsafe: let it run.
        await asyncio.sleep(0)
        log.info("scheduler stopped")
    if hurry.is_set():
        # Stopped, cleanly, but not as asked the first time: report it the
        # way the CLI reports Ctrl-C (exit 130, history left as it was).
        raise KeyboardInterrupt


async def _drain(
    running: set[asyncio.Task[object]], grace: float, hurry: asyncio.Event, log: logging.Logger
) -> None:
    if not running:
        return
    log.info("waiting up to %.0f s for %d running check(s) to finish", grace, len(running))
    finished = asyncio.ensure_future(asyncio.wait(set(running)))
    hurried = asyncio.ensure_future(hurry.wait())
    await asyncio.wait({finished, hurried}, timeout=grace, return_when=asyncio.FIRST_COMPLETED)
    finished.cancel()
    hurried.cancel()
    pending = {task for task in running if not task.done()}
    if pending:
        if not hurry.is_set():
            log.warning("grace period over, cancelling %d run(s)", len(pending))
        for task in pending:
            task.cancel()
        await asyncio.wait(pending)
