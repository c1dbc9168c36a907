"""Run one function in N worker processes and stream what they send back to the parent.

Why ``spawn``: ``fork()`` copies only the calling thread, so a lock held at
that moment by any other thread (a test web, anyio's worker threads, a
progress bar's refresher) stays locked for ever in the child.  ``spawn``
starts a fresh interpreter and costs one import of linkwatch per worker
(~0.2 s, in parallel), which is small against a run it is worth splitting.

How a run ends, and why it never hangs:

- A worker sends ``(data, payload)`` messages, then ``(done, None)``.  An
  exception in it becomes one ``(failed, "Type: text")`` message.
- A worker that dies (OOM killer, SIGKILL) closes its end of the pipe; the
  parent sees end-of-file before ``done`` and fails the whole run with one
  line (:class:`~linkwatch.errors.LinkwatchError`), stopping the others.
- Workers ignore SIGINT: a Ctrl-C on a terminal reaches the whole process
  group, and the parent alone decides (it terminates the workers and
  reports the interruption, not a "dead worker").  When the parent is
  cancelled or fails, it terminates every worker before it returns.
- A worker whose parent dies (SIGKILL) sees end-of-file on its pipe in a
  watchdog thread and exits at once, so no orphan keeps crawling.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

import anyio

from linkwatch.errors import LinkwatchError

Send = Callable[[object], None]
#: The worker's body: ``job(send, task)``; a module-level function (pickled by name).
Job = Callable[[Send, Any], None]

_DATA, _DONE, _FAILED = "data", "done", "failed"


def tune_gc() -> None:
    """Make Python's cycle collector cheap for a batch run; call once, after imports.

    A run allocates millions of short-lived objects while thousands of
    long-lived ones (modules, the catalog, results) sit in the old
    generations; the default thresholds (700, 10, 10) rescan those again and
    again.  ``freeze`` moves everything alive now (mostly imported modules)
    out of the collector's sight for good, and the higher thresholds collect
    less often.  Reference counting still frees almost everything at once;
    only cycles wait longer.  Measured on the 5,000-link benchmark: 9% less
    CPU, the same peak memory (benchmarks/README.md).
    """
    gc.freeze()
    gc.set_threshold(10_000, 20, 100)


#: Enough sockets for any sane concurrency and one idle connection per host
#: of a large catalog, without taking a hard limit of millions at its word.
OPEN_FILES_WANTED = 65_536


def raise_open_file_limit(wanted: int = OPEN_FILES_WANTED) -> int | None:
    """Raise this process's soft open-file limit toward its hard limit; the soft limit after.

    Each host's idle keep-alive connection is a file descriptor, and the
    common soft limit of 1,024 is far below what a catalog of a few
    thousand hosts keeps open (the hard limit is usually much higher, and
    raising the soft one needs no privilege; Go's runtime does the same at
    start-up).  The crawler stays within whatever limit remains
    (``fetch.socket_budget``); a higher one only saves reconnects.  Worker
    processes inherit it.
    """
    try:
        import resource  # POSIX only

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        if soft != resource.RLIM_INFINITY and soft < target:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        # No resource module (Windows), or a limit the kernel refuses (macOS
        # caps below an unlimited hard limit): keep what there is.
        return None


# mallopt(3) parameter numbers (glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def tune_malloc() -> bool:
    """Let glibc keep freed C heap for reuse; call once, early.  True if applied.

    Every page parse (lexbor's tree), every stored text's compression (zlib's
    ~270 KiB of state) and every read allocates and frees a few hundred KiB.
    By default glibc maps blocks above a sliding threshold with mmap and
    trims the heap whenever 128 KiB is free at its top, so the same memory
    went back to the kernel and was faulted in again all run long (5,000
    links: ~45,000 page faults, ~18,000 ``brk`` calls).  Blocks up to 4 MiB
    from the heap, trimmed only past 64 MiB free: ~12,000 faults and about
    0.2 s less CPU (7 % of that run; at 50,000 links the same saving is
    lost in the noise) for the same peak memory (+1.4 MB).  Other C
    libraries (musl, macOS) are left as they are.
    """
    try:
        if not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"):
            return False
        libc = ctypes.CDLL("libc.so.6")
        return bool(
            libc.mallopt(_M_MMAP_THRESHOLD, 4 << 20) and libc.mallopt(_M_TRIM_THRESHOLD, 64 << 20)
        )
    except (OSError, ValueError, AttributeError):
        return False


def _exit_with_parent(conn: Connection) -> None:
    """The parent never writes to the pipe, so ``recv`` returns only when it is gone."""
    with contextlib.suppress(EOFError, OSError):
        conn.recv()
    os._exit(1)


def _child(job: Job, conn: Connection, task: object) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tune_gc()
    tune_malloc()
    threading.Thread(target=_exit_with_parent, args=(conn,), daemon=True).start()

    def send(payload: object) -> None:
        conn.send((_DATA, payload))

    try:
        job(send, task)
    except BaseException as exc:  # one line to the parent; a traceback here would be noise
        with contextlib.suppress(OSError):
            first = (str(exc).splitlines() or [""])[0]
            conn.send((_FAILED, f"{type(exc).__name__}: {first}"))
        os._exit(1)
    conn.send((_DONE, None))


def _how_it_ended(proc: BaseProcess) -> str:
    proc.join(timeout=1.0)
    code = proc.exitcode
    if code is None:
        return "closed its pipe"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


async def run_workers(
    job: Job, tasks: Sequence[object], on_data: Callable[[int, Any], None]
) -> None:
    """Run ``job(send, tasks[k])`` in one spawned process per task; ``on_data(k, payload)``.

    ``on_data`` runs in the parent's event loop, in the order each worker
    sent its payloads.  Returns when every worker has finished; raises
    ``LinkwatchError`` (one line) as soon as one fails or dies.
    """
    ctx = multiprocessing.get_context("spawn")
    started: list[tuple[BaseProcess, Connection]] = []
    failures: list[str] = []
    finished = False
    try:
        for k, task in enumerate(tasks):
            parent_end, child_end = ctx.Pipe()
            proc = ctx.Process(
                target=_child,
                args=(job, child_end, task),
                name=f"linkwatch-worker-{k + 1}",
                daemon=True,
            )
            proc.start()
            child_end.close()  # so the worker's death is end-of-file here
            started.append((proc, parent_end))

        async with anyio.create_task_group() as group:

            async def drain(k: int, proc: BaseProcess, conn: Connection) -> None:
                while True:
                    await anyio.wait_readable(conn)
                    while conn.poll():
                        try:
                            kind, payload = conn.recv()
                        except (EOFError, OSError):
                            what = _how_it_ended(proc)
                            failures.append(
                                f"worker {k + 1} of {len(started)} (pid {proc.pid}) {what} "
                                "before it finished"
                            )
                            group.cancel_scope.cancel()
                            return
                        if kind == _DATA:
                            on_data(k, payload)
                        elif kind == _DONE:
                            return
                        else:
                            failures.append(f"worker {k + 1} of {len(started)} failed: {payload}")
                            group.cancel_scope.cancel()
                            return

            for k, (worker, conn) in enumerate(started):
                group.start_soon(drain, k, worker, conn)
        finished = not failures
    finally:
        _stop(started, graceful=finished)
    if failures:
        raise LinkwatchError(failures[0])


def _stop(started: Sequence[tuple[BaseProcess, Connection]], *, graceful: bool) -> None:
    """Reap every worker; unless they all finished, terminate them first (no orphans)."""
    if not graceful:
        for proc, _ in started:
            if proc.is_alive():
                proc.terminate()
    for proc, conn in started:
        proc.join(timeout=5.0 if graceful else 2.0)
        if proc.is_alive():
            proc.kill()
            proc.join()
        conn.close()
