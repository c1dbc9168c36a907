"""The command line: parse flags, call the pipeline, write files, choose the exit code.

This is the only module that writes report files or prints to the
terminal.  Every ``LinkwatchError`` becomes one line on stderr and exit
code 2, never a traceback.  Exit codes are a contract (design.md §4):

  0  nothing needs a human
  1  links need a human (rotten, newly broken, moved)
  2  usage, catalog, state or report-folder error
  3  the run was inconclusive (the checker itself looked offline)
  130 interrupted (Ctrl-C or SIGTERM); history and reports untouched
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import stat
import sys
import tempfile
import traceback
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import TextIO

import anyio

from linkwatch import __version__
from linkwatch.catalog import (
    filter_links,
    load_catalog,
    parse_catalog,
    render_catalog,
    split_by_host,
)
from linkwatch.errors import CatalogError, LinkwatchError, ReportError
from linkwatch.models import Catalog, CheckResult, Link, RunSummary, Schedule, Verdict
from linkwatch.pipeline import RunOptions, run_once
from linkwatch.report import needs_human, render, stream, triage
from linkwatch.store import Store
from linkwatch.urls import url_key
from linkwatch.workers import raise_open_file_limit, tune_gc, tune_malloc

EXIT_OK = 0
EXIT_NEEDS_HUMAN = 1
EXIT_USAGE = 2
EXIT_INCONCLUSIVE = 3
EXIT_INTERNAL = 4
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = """exit codes:
  0    nothing needs a human
  1    links need a human (rotten, newly broken, or moved)
  2    usage, catalog, state or report-folder error
  3    run inconclusive: the checker itself looked offline; history unchanged
  4    internal error (a bug in linkwatch; the traceback is on stderr)
  130  interrupted (Ctrl-C or SIGTERM); history and reports untouched
"""

REPORT_FILES = {
    "html": "index.html",
    "md": "report.md",
    "json": "results.json",
    "badge": "badge.json",
}

log = logging.getLogger("linkwatch")


# ---------------------------------------------------------------- files


def write_atomic(path: Path, text: str | Iterable[str]) -> None:
    """Write ``text`` (or its pieces) so readers see the old file or the new one, never half.

    A temporary file in the same folder is fsynced and then renamed over the
    target (rename is atomic within one filesystem on POSIX).  The file gets
    the mode it had, or a new file's usual mode (0666 less the umask), not
    the private 0600 of a temporary file: reports are served by web servers
    and Pages, and ``fix`` must not change who can read a catalog.  A
    symlink is written through (its target is replaced, the link kept): a
    catalog kept elsewhere and linked in must get the fix, not be shadowed.
    """
    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if hasattr(os, "fchmod"):  # POSIX (Windows has no modes to keep)
            os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.writelines((text,) if isinstance(text, str) else text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process umask (POSIX can only read it by setting it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def ensure_writable_dir(folder: Path) -> None:
    """Fail before the run, not after it, when the report folder cannot be written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".linkwatch-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ReportError(f"{folder}: cannot write reports: {exc.strerror or exc}") from exc


def write_reports(
    folder: Path,
    summary: RunSummary,
    catalog: Catalog,
    history: dict[str, list[Verdict]],
) -> list[Path]:
    """Render every report and write them atomically; returns the paths written."""
    sections = catalog.sections()
    written = []
    try:
        # One report at a time, streamed: memory stays flat however long the catalog.
        for fmt, name in REPORT_FILES.items():
            path = folder / name
            chunks = stream(
                summary, fmt, history=history, sections=sections, zone=catalog.settings.timezone
            )
            write_atomic(path, chunks)
            written.append(path)
    except OSError as exc:
        raise ReportError(f"{folder}: cannot write reports: {exc.strerror or exc}") from exc
    return written


# ---------------------------------------------------------------- output


def print_summary(summary: RunSummary, *, verbose: bool, stream: TextIO) -> None:
    """A short table of problems, then the counts; ``--verbose`` lists every link."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(file=stream, highlight=False)
    rows: Sequence[CheckResult] = summary.results if verbose else needs_human(summary)
    if rows:
        table = Table(title=None if verbose else "Needs a human", show_lines=False)
        for column in ("verdict", "health", "reason", "title", "url"):
            table.add_column(column, overflow="fold")
        for r in rows:
            url = r.link.url
            if r.suggested_url:
                url = f"{url}\n→ {r.suggested_url}"
            table.add_row(
                Text(r.verdict.value),
                Text(r.health.value),
                Text(r.reason),
                Text(r.link.title),
                Text(url),
            )
        console.print(table)
    counts = summary.counts()
    line = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    elapsed = (summary.finished - summary.started).total_seconds()
    if summary.inconclusive:
        unjudged = sum(1 for r in summary.results if r.reason == "checker-offline")
        line = f"{unjudged} not judged (unreachable from here)" + (
            f", {len(summary.results) - unjudged} answered"
            if unjudged < len(summary.results)
            else ""
        )
    console.print(
        Text(f"{len(summary.results)} links checked in {elapsed:.1f}s: {line or 'nothing'}")
    )
    if summary.incidents:
        console.print(Text("host incidents (not counted as rot): " + ", ".join(summary.incidents)))
    if summary.bytes_saved:
        console.print(Text(f"conditional requests saved {summary.bytes_saved:,} bytes"))
    if summary.inconclusive:
        console.print(
            Text(f"run inconclusive: {summary.inconclusive_reason}; history unchanged", "bold")
        )


def exit_code_for(summary: RunSummary) -> int:
    """Inconclusive beats "all good": its failures say nothing about the links.

    In a per-link view that is only partly inconclusive (``merge``), links a
    conclusive run found wanting still need a human, so they win.  Blocked
    links are shown in the report but do not set exit code 1: a permanent
    bot wall would otherwise fail every nightly run.
    """
    if triage(summary).actionable:
        return EXIT_NEEDS_HUMAN
    return EXIT_INCONCLUSIVE if summary.inconclusive else EXIT_OK


# ---------------------------------------------------------------- commands


def _select_links(catalog: Catalog, args: argparse.Namespace) -> tuple[Link, ...]:
    links = filter_links(
        catalog.links,
        sections=tuple(args.section or ()),
        tags=tuple(args.tag or ()),
        must_read=bool(args.must_read),
    )
    if getattr(args, "shard", None):
        links = shard_links(links, args.shard)
    return links


def parse_shard(value: str) -> tuple[int, int]:
    """``K/N`` with 1 ≤ K ≤ N, for ``--shard``."""
    try:
        k_text, n_text = value.split("/", 1)
        k, n = int(k_text), int(n_text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard wants K/N, e.g. 1/4, not {value!r}") from None
    if not 1 <= k <= n:
        raise argparse.ArgumentTypeError(f"--shard {value}: K must be between 1 and N")
    return k, n


def parse_jobs(value: str) -> int:
    """A positive process count, for ``--jobs``."""
    try:
        jobs = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--jobs wants a number, not {value!r}") from None
    if jobs < 1:
        raise argparse.ArgumentTypeError(f"--jobs {value}: at least 1")
    return jobs


def shard_links(links: Sequence[Link], shard: tuple[int, int]) -> tuple[Link, ...]:
    """Split by host, so every host's links land in one shard and politeness holds."""
    k, n = shard
    return split_by_host(links, n)[k - 1]


def _progress(
    enabled: bool, total: int
) -> tuple[AbstractContextManager[object], Callable[[CheckResult], None]]:
    """A rich progress bar on a terminal; nothing when output is piped."""
    if not enabled:
        return nullcontext(), lambda _result: None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("checking"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        transient=True,
        console=None,
    )
    task = progress.add_task("", total=total)

    def advance(result: CheckResult) -> None:
        progress.update(task, advance=1, description=result.link.url[:60])

    return progress, advance


def _run_options(args: argparse.Namespace) -> RunOptions:
    """The options ``check`` and ``schedule`` share.

    One place reads ``GITHUB_TOKEN`` with ``GITHUB_API_URL``: a command that
    read only the token would send a GitHub Enterprise token to api.github.com.
    """
    return RunOptions(
        allow_private=args.allow_private,
        use_adapters=not args.no_adapters,
        concurrency=args.concurrency,
        github_token=os.environ.get("GITHUB_TOKEN") or None,
        github_api_url=os.environ.get("GITHUB_API_URL") or "https://api.github.com",
    )


def cmd_check(args: argparse.Namespace) -> int:
    catalog = load_catalog(args.catalog)
    links = _select_links(catalog, args)
    filters = [f"--section {v}" for v in args.section or ()] + [
        f"--tag {v}" for v in args.tag or ()
    ]
    filters += ["--must-read"] * bool(args.must_read)
    if catalog.links and not links and filters:
        print(f"linkwatch: no link of {catalog.path} matches {' '.join(filters)}", file=sys.stderr)
        return EXIT_USAGE
    reports = Path(args.reports) if args.reports else None
    if reports is not None and not args.no_reports:
        ensure_writable_dir(reports)
    if args.output:
        output = Path(args.output).resolve()
        if output.is_dir():  # found now, not by the write after a long run
            raise ReportError(f"{args.output}: is a folder; --output wants a file name")
        ensure_writable_dir(output.parent)
    options = replace(
        _run_options(args),
        conditional=not args.no_conditional,
        soft404_probe=False if args.no_soft404_probe else None,
        jobs=args.jobs,
    )
    # The bar draws on stdout: with stdout piped (``--format json | jq``) it
    # must stay off, or it leaves a blank line before the output.
    show_progress = sys.stdout.isatty() and sys.stderr.isatty() and not args.quiet
    with Store.open(args.state) as store:
        bar, advance = _progress(show_progress, len(links))
        with bar:
            summary = _run_quietly(
                lambda: run_once(catalog, store, links=links, options=options, on_result=advance)
            )
        history = store.verdict_history([r.link.url for r in summary.results])
        store.compact(catalog.settings.keep_runs)
    if reports is not None and not args.no_reports:
        write_reports(reports, summary, catalog, history)
    if args.output:
        fmt = args.format if args.format != "text" else "json"
        zone = catalog.settings.timezone
        write_atomic(Path(args.output), stream(summary, fmt, history=history, zone=zone))
    elif args.format != "text":
        sys.stdout.write(
            render(summary, args.format, history=history, zone=catalog.settings.timezone)
        )
    if args.format == "text" or args.output:
        if not args.quiet:
            print_summary(summary, verbose=args.verbose, stream=sys.stdout)
        elif summary.inconclusive:
            print(f"run inconclusive: {summary.inconclusive_reason}", file=sys.stderr)
    if args.issues:
        _sync_issues(args, catalog, dry_run=False)
    return exit_code_for(summary)


def _run_quietly(make: Callable[[], Awaitable[RunSummary]]) -> RunSummary:
    """``anyio.run`` whose main task returns nothing.

    Python 3.11's runner formats the finished main task (its result
    included) when it restores the Ctrl-C handler; for a summary of
    thousands of results that ``repr`` cost a few percent of a run.
    """
    box: list[RunSummary] = []

    async def main() -> None:
        box.append(await make())

    anyio.run(main)
    return box[0]


def cmd_import(args: argparse.Namespace) -> int:
    from linkwatch.importer import import_markdown  # markdown-it-py: only this command

    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(str(path), None, f"cannot read: {exc}") from exc
    imported = import_markdown(text, str(path))
    for note in imported.notes:
        if not args.quiet:
            print(note, file=sys.stderr)
    toml_text = render_catalog(imported.links)
    # The docs promise the generated catalog loads back; a case the importer
    # did not foresee must fail here, before anything is written, not on the
    # next ``validate``.  The generated text's line numbers mean nothing to
    # the user (it is never written), so the error names the Markdown file.
    try:
        parse_catalog(toml_text, str(args.output))
    except CatalogError as exc:
        problem = f"{exc.key}: {exc.message}" if exc.key else exc.message
        raise CatalogError(
            str(path), None, f"not imported: the generated catalog would not load: {problem}"
        ) from None
    if args.output == "-":
        sys.stdout.write(toml_text)
    else:
        out = Path(args.output)
        if out.exists() and not args.force:
            raise CatalogError(str(out), None, "exists; pass --force to overwrite or -o -")
        write_atomic(out, toml_text)
        if not args.quiet:
            sections = len({link.section for link in imported.links})
            print(f"wrote {out}: {len(imported.links)} links in {sections} sections")
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    catalog = load_catalog(args.catalog)
    if not args.quiet:
        print(f"{catalog.path}: {len(catalog.links)} links, {len(catalog.sections())} sections: ok")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    catalog = load_catalog(args.catalog)
    with Store.open(args.state, create=False) as store:
        states = store.load_states(with_text=False)
    rows = []
    for link in catalog.links:
        state = states.get(link.url)
        rows.append(
            {
                "url": link.url,
                "title": link.title,
                "section": link.section_label,
                "health": state.health.value if state else "unchecked",
                "last_verdict": state.last_verdict.value if state and state.last_verdict else None,
                "fail_streak": state.fail_streak if state else 0,
                "last_changed": state.last_changed.isoformat()
                if state and state.last_changed
                else None,
            }
        )
    if args.format == "json":
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return EXIT_OK
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table()
    for column in ("health", "last", "streak", "title", "url"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            Text(str(row["health"])),
            Text(str(row["last_verdict"] or "-")),
            Text(str(row["fail_streak"])),
            Text(str(row["title"])),
            Text(str(row["url"])),
        )
    Console(highlight=False).print(table)
    return EXIT_OK


def cmd_history(args: argparse.Namespace) -> int:
    with Store.open(args.state, create=False) as store:
        rows = store.history(args.url)
    if not rows:
        print(f"{args.url}: no checks recorded in {args.state}", file=sys.stderr)
        return EXIT_USAGE
    if args.format == "json":
        print(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
        return EXIT_OK
    for row in rows:
        parts = [str(row.get(k, "")) for k in ("checked_at", "verdict", "reason", "status_code")]
        health = row.get("health")
        changed = " changed" if row.get("changed") else ""
        print("  ".join(parts) + (f"  [{health}]" if health else "") + changed)
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    catalog = load_catalog(args.catalog)
    reports = Path(args.reports)
    with Store.open(args.state, create=False) as store:
        ensure_writable_dir(reports)  # after the state is found: a typo creates nothing
        summary = store.latest_summary(catalog, per_link=True)
        if summary is None:
            print(
                f"{args.state}: no run recorded yet; run `linkwatch check` first", file=sys.stderr
            )
            return EXIT_USAGE
        history = store.verdict_history([r.link.url for r in summary.results])
    written = write_reports(reports, summary, catalog, history)
    if not args.quiet:
        for path in written:
            print(path)
    return EXIT_OK


def _sync_issues(args: argparse.Namespace, catalog: Catalog, *, dry_run: bool) -> int:
    from linkwatch.github import WAYBACK_API, github_env, sync_run  # only with --issues

    repo, token, api_url = github_env(os.environ, getattr(args, "repo", None))
    with Store.open(args.state, create=False) as store:
        summary = store.latest_summary(catalog, per_link=True)
        states = store.load_states(with_text=False)
    if summary is None:
        print(f"{args.state}: no run recorded yet; nothing to sync", file=sys.stderr)
        return EXIT_USAGE
    lines = anyio.run(
        lambda: sync_run(
            summary,
            states,
            catalog.settings,
            {link.url for link in catalog.links},
            repo=repo,
            token=token,
            api_url=api_url,
            dry_run=dry_run,
            wayback=not getattr(args, "no_wayback", False),
            wayback_endpoint=os.environ.get("LINKWATCH_WAYBACK_API") or WAYBACK_API,
        )
    )
    for line in lines:
        print(line)
    return EXIT_OK


def cmd_issues_sync(args: argparse.Namespace) -> int:
    catalog = load_catalog(args.catalog)
    return _sync_issues(args, catalog, dry_run=args.dry_run)


def cmd_fix(args: argparse.Namespace) -> int:
    from linkwatch.fixer import (  # tomlkit: only here
        fix_catalog,
        fix_markdown,
        safe_moves,
        unified_diff,
    )

    catalog = load_catalog(args.catalog)
    with Store.open(args.state, create=False) as store:
        summary = store.latest_summary(catalog, per_link=True)
    if summary is None:
        print(f"{args.state}: no run recorded yet; run `linkwatch check` first", file=sys.stderr)
        return EXIT_USAGE
    moves, held = safe_moves(
        [link.url for link in catalog.links],
        {
            r.link.url: r.suggested_url
            for r in summary.results
            if r.verdict is Verdict.MOVED and r.suggested_url and r.suggested_url != r.link.url
        },
    )
    targets: list[tuple[Path, Callable[[str, dict[str, str]], str]]] = [
        (Path(args.catalog), fix_catalog)
    ]
    if args.markdown:
        targets.append((Path(args.markdown), fix_markdown))
    # Every input is read (and the new catalog checked) before anything is
    # written: a missing --markdown must not leave the catalog fixed alone.
    texts = [_read_source(path) for path, _fixer in targets]
    if not args.quiet:
        listed = {url_key(link.url) for link in catalog.links}
        for old_url, new_url in held.items():
            why = (
                "is already in the catalog"
                if url_key(new_url) in listed
                else "is where another link moves too"
            )
            print(f"{catalog.path}: not rewriting {old_url}: {new_url} {why}", file=sys.stderr)
    if not moves:
        if not args.quiet and not held:
            print("no moved links: nothing to fix")
        return EXIT_OK
    fixed = [fixer(old, moves) for (_path, fixer), old in zip(targets, texts, strict=True)]
    _check_fixed_catalog(fixed[0], str(targets[0][0]))
    for (path, fixer), old, new in zip(targets, texts, fixed, strict=True):
        if args.dry_run:
            sys.stdout.write(unified_diff(old, new, str(path)))
        elif new != old:
            try:
                write_atomic(path, new)
            except OSError as exc:
                raise CatalogError(
                    str(path), None, f"cannot write: {exc.strerror or exc}"
                ) from None
            if not args.quiet:
                # Counted by what the fixer changes: a Markdown source may spell
                # a URL otherwise than the catalog (``文档`` for ``%E6%96%87…``).
                count = sum(1 for url in moves if fixer(old, {url: moves[url]}) != old)
                print(f"{path}: rewrote {count} moved URL(s)")
    return EXIT_OK


def _read_source(path: Path) -> str:
    """A file ``fix`` will rewrite, or a one-line error naming it."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise CatalogError(str(path), None, f"cannot read: {reason}") from None


def _check_fixed_catalog(text: str, path: str) -> None:
    """Refuse to write a rewritten catalog the loader would reject.

    ``fix`` edits the TOML text, not the validated catalog, so a case
    :func:`~linkwatch.fixer.safe_moves` did not foresee must fail here, with
    the file left as it was, not on the next ``check``.  tomlkit keeps every
    line where it was, so the loader's line numbers hold for the file on disk.
    """
    try:
        parse_catalog(text, path)
    except CatalogError as exc:
        raise CatalogError(
            path, exc.line, f"not rewritten: the fix would make it invalid: {exc.message}", exc.key
        ) from None


def cmd_merge(args: argparse.Namespace) -> int:
    catalog = load_catalog(args.catalog)
    with Store.open(args.state) as store:
        for shard in args.shards:
            store.merge_from(Path(shard))
        summary = store.latest_summary(catalog, per_link=True)
        history = store.verdict_history([r.link.url for r in summary.results]) if summary else {}
        # The merged database is the one kept night after night (the shards
        # start from a copy of it), so retention must apply here as in check.
        store.compact(catalog.settings.keep_runs)
    if summary is not None and args.reports:
        ensure_writable_dir(Path(args.reports))
        write_reports(Path(args.reports), summary, catalog, history)
    if not args.quiet:
        print(f"merged {len(args.shards)} shard database(s) into {args.state}")
    return exit_code_for(summary) if summary else EXIT_OK


def cmd_schedule(args: argparse.Namespace) -> int:
    from linkwatch.schedule import run_schedules  # APScheduler: only this command

    catalog = load_catalog(args.catalog)
    schedules = catalog.schedules or (
        Schedule(name="nightly", cron="0 3 * * *", timezone=catalog.settings.timezone),
    )
    reports = Path(args.reports)
    ensure_writable_dir(reports)
    options = _run_options(args)

    async def job(schedule: Schedule) -> RunSummary:
        current = load_catalog(args.catalog)  # pick up edits between runs
        links = filter_links(
            current.links,
            sections=tuple(schedule.sections),
            tags=tuple(schedule.tags),
            must_read=schedule.must_read_only,
        )
        with Store.open(args.state) as store:
            summary = await run_once(current, store, links=links, options=options)
            # Reports show the whole catalog, not just this schedule's subset.
            whole = store.latest_summary(current, per_link=True) or summary
            history = store.verdict_history([r.link.url for r in whole.results])
            # A schedule runs for months: retention applies here as in check.
            store.compact(current.settings.keep_runs)
        write_reports(reports, whole, current, history)
        log.info(
            "%s: %d links, %s%s",
            schedule.name,
            len(summary.results),
            summary.counts(),
            " (inconclusive)" if summary.inconclusive else "",
        )
        return summary

    anyio.run(lambda: run_schedules(schedules, job, logger=log, catalog_path=catalog.path))
    return EXIT_OK


# ---------------------------------------------------------------- parser


def _add_common(p: argparse.ArgumentParser, *, state: bool = True) -> None:
    p.add_argument("--catalog", default="catalog.toml", help="catalog file (default: %(default)s)")
    if state:
        p.add_argument(
            "--state",
            default=".linkwatch/state.db",
            help="history database (default: %(default)s)",
        )
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="linkwatch",
        description="Tell the curator of a link list which links need a human.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"linkwatch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=EXIT_CODES_HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    check = command("check", "check every link of the catalog and write reports")
    _add_common(check)
    _add_reports(check)
    check.add_argument("--no-reports", action="store_true", help="do not write report files")
    check.add_argument(
        "--format",
        choices=("text", "json", "md", "html"),
        default="text",
        help="what to print, or write to --output (default: text)",
    )
    check.add_argument("--output", "-o", help="write the --format output to this file")
    _add_crawl(check)
    check.add_argument("--issues", action="store_true", help="sync GitHub issues after the run")
    check.add_argument(
        "--no-wayback", action="store_true", help="no Wayback Machine look-ups for new issues"
    )
    check.add_argument("--section", action="append", help="only links in this section (repeat)")
    check.add_argument("--tag", action="append", help="only links with this tag, kind or lang")
    check.add_argument("--must-read", action="store_true", help="only must-read links")
    check.add_argument(
        "--jobs",
        type=parse_jobs,
        default=1,
        help="check in N worker processes, split by host (default: 1, this process)",
    )
    check.add_argument("--shard", type=parse_shard, help="check only shard K of N (by host)")
    check.add_argument(
        "--no-conditional", action="store_true", help="no If-None-Match/If-Modified-Since"
    )
    check.add_argument(
        "--no-soft404-probe",
        action="store_true",
        help="skip the per-host random-path probe (overrides soft404_probe)",
    )
    check.add_argument("-v", "--verbose", action="store_true", help="list every link")
    check.set_defaults(func=cmd_check)

    imp = command("import", "turn a Markdown link list into a catalog")
    imp.add_argument("file", help="Markdown file to read")
    imp.add_argument(
        "-o",
        "--output",
        default="catalog.toml",
        help="catalog to write, or - (default: %(default)s)",
    )
    imp.add_argument("--force", action="store_true", help="overwrite an existing catalog")
    imp.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    imp.set_defaults(func=cmd_import)

    validate = command("validate", "check the catalog file itself, without the network")
    _add_common(validate, state=False)
    validate.set_defaults(func=cmd_validate)

    status = command("status", "current health of every link, from history (no network)")
    _add_common(status)
    status.add_argument(
        "--format", choices=("text", "json"), default="text", help="(default: %(default)s)"
    )
    status.set_defaults(func=cmd_status)

    hist = command("history", "the timeline of one link")
    hist.add_argument("url", help="the link, as the catalog spells it")
    hist.add_argument(
        "--state", default=".linkwatch/state.db", help="history database (default: %(default)s)"
    )
    hist.add_argument(
        "--format", choices=("text", "json"), default="text", help="(default: %(default)s)"
    )
    hist.set_defaults(func=cmd_history)

    report = command("report", "rewrite the reports from history, without checking")
    _add_common(report)
    _add_reports(report)
    report.set_defaults(func=cmd_report)

    schedule = command("schedule", "run the catalog's [[schedule]] entries until stopped")
    _add_common(schedule)
    _add_reports(schedule)
    _add_crawl(schedule)
    schedule.set_defaults(func=cmd_schedule)

    issues = command("issues", "GitHub issues for rotten links")
    issues_sub = issues.add_subparsers(dest="issues_command", required=True, metavar="COMMAND")
    sync = issues_sub.add_parser("sync", help="open, update and close issues to match health")
    _add_common(sync)
    sync.add_argument("--repo", help="OWNER/NAME (default: $GITHUB_REPOSITORY)")
    sync.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    sync.add_argument(
        "--no-wayback", action="store_true", help="no Wayback Machine look-ups for new issues"
    )
    sync.set_defaults(func=cmd_issues_sync)

    fix = command("fix", "rewrite moved links in the catalog (keeps comments)")
    _add_common(fix)
    fix.add_argument("--markdown", help="also fix this Markdown source")
    fix.add_argument("--dry-run", action="store_true", help="show the diff, change nothing")
    fix.set_defaults(func=cmd_fix)

    merge = command("merge", "fold shard state databases into one, and report")
    _add_common(merge)
    merge.add_argument("shards", nargs="+", help="shard state databases")
    _add_reports(merge)
    merge.set_defaults(func=cmd_merge)
    return parser


def _add_reports(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reports", default="reports", help="report folder (default: %(default)s)")


def _add_crawl(parser: argparse.ArgumentParser) -> None:
    """The crawl options ``check`` and ``schedule`` share, so their help says the same."""
    parser.add_argument(
        "--concurrency", type=int, help="links checked at once (overrides settings)"
    )
    parser.add_argument(
        "--allow-private",
        action="store_true",
        help="permit loopback and private-network targets (refused by default)",
    )
    parser.add_argument(
        "--no-adapters", action="store_true", help="no GitHub/YouTube/bilibili API checks"
    )


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM behaves like Ctrl-C, so the same clean path handles both."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``linkwatch`` console script.

    Modules only one command needs (Markdown import, TOML editing, the
    scheduler, the GitHub client) are imported by that command: every run
    pays for start-up, and ``check`` does not need them (~40 ms).
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if argv is None:  # the process is ours (console script), not a caller's
        tune_gc()
        tune_malloc()
        raise_open_file_limit()
    logging.basicConfig(
        level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    if args.command == "schedule":
        logging.getLogger().setLevel(logging.INFO)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        code: int = args.func(args)
        return code
    except LinkwatchError as exc:
        print(f"linkwatch: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("linkwatch: interrupted; history and reports left as they were", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:
        # The machine's answer to a file we were told to use (a folder where a
        # file should be, no space left, no permission): the user's to fix.
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"linkwatch: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception:
        # Python's own exit status for an uncaught exception is 1, which
        # scripts read as "links need a human": a crash must not pass for a
        # verdict.  Writes are atomic, so nothing is left half-written.
        traceback.print_exc()
        print(
            "linkwatch: internal error (a bug in linkwatch, not in your catalog); "
            "please report it with the traceback above",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
