"""Worker processes: streamed payloads, and failures that end the run instead of hanging it.

Jobs are module-level functions because ``spawn`` pickles them by name; the
child imports this module again.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import anyio
import pytest

from linkwatch.errors import LinkwatchError
from linkwatch.workers import run_workers


def _count(send: Callable[[object], None], task: object) -> None:
    assert isinstance(task, int)
    for i in range(task):
        send(i)


def _raise(send: Callable[[object], None], task: object) -> None:
    send("before")
    raise ValueError("bad part\nsecond line")


def _die(send: Callable[[object], None], task: object) -> None:
    os._exit(7)


def _run(
    job: Callable[[Callable[[object], None], object], None], tasks: list[object]
) -> dict[int, list[object]]:
    got: dict[int, list[object]] = {}

    def on_data(k: int, payload: object) -> None:
        got.setdefault(k, []).append(payload)

    anyio.run(run_workers, job, tasks, on_data)
    return got


def test_each_worker_streams_its_payloads_in_order() -> None:
    assert _run(_count, [3, 5]) == {0: [0, 1, 2], 1: [0, 1, 2, 3, 4]}


@pytest.mark.parametrize(
    ("job", "expected"),
    [
        (_raise, "worker 1 of 1 failed: ValueError: bad part"),
        (_die, "exited with code 7 before it finished"),
    ],
)
def test_a_failing_or_dying_worker_fails_the_run_in_one_line(
    job: Callable[[Callable[[object], None], object], None], expected: str
) -> None:
    with pytest.raises(LinkwatchError) as caught:
        _run(job, [1])
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)
