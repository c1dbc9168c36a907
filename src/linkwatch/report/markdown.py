"""The GitHub-flavoured Markdown report: job summary and issue body.

Everything a remote server controls (titles, details, redirect targets) is
passed through :func:`neutralize_md` before it reaches Markdown, because
GitHub renders issue bodies and ``$GITHUB_STEP_SUMMARY`` with mentions,
issue references, autolinks, images and a subset of raw HTML (GFM spec;
GitHub docs "Basic writing and formatting syntax").  A page title must not
be able to ping a user, cross-reference another repository's issue, load a
tracking image or hide a phishing link behind friendly text.

The size budget: GitHub caps an issue body at 65,536 characters and a step
summary at 1 MiB ("Adding a job summary", GitHub Actions docs), so the
renderer can stop at a row boundary and point at the full HTML report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from linkwatch.models import CheckResult, Health, RunSummary, Verdict
from linkwatch.report.triage import by_section, duration_text, iso, section_order, triage
from linkwatch.textsafe import md_code, md_url, neutralize_md

__all__ = ["md_code", "md_url", "neutralize_md", "render_markdown"]

DEFAULT_REPORT_POINTER = "reports/index.html"


_VERDICT_ICON: Mapping[Verdict, str] = {
    Verdict.OK: "✅",
    Verdict.MOVED: "↪️",
    Verdict.BROKEN: "❌",
    Verdict.BLOCKED: "🚧",
    Verdict.ERROR: "⚠️",
}


@dataclass
class _Block:
    """A run of table rows with the text that opens and closes it.

    Truncation keeps whole rows only, and always closes a block it opened so
    the Markdown stays well formed (no dangling ``<details>``).
    """

    head: str
    rows: list[str] = field(default_factory=list)
    tail: str = ""


def _title_cell(result: CheckResult) -> str:
    star = " ★ must-read" if result.link.must_read else ""
    return (
        f"**{neutralize_md(result.link.title) or '(untitled)'}**{star}<br>{md_url(result.link.url)}"
    )


def _section_cell(result: CheckResult) -> str:
    return neutralize_md(result.link.section_label) or "—"


def _problem_cell(result: CheckResult) -> str:
    status = f" · HTTP {result.status_code}" if result.status_code is not None else ""
    detail = neutralize_md(result.detail)
    return (
        f"{_VERDICT_ICON[result.verdict]} {result.verdict.value}{status} · "
        f"{md_code(result.reason)}" + (f"<br>{detail}" if detail else "")
    )


def _fix_cell(result: CheckResult, group: str) -> str:
    if group == "moved" or (result.verdict is Verdict.MOVED and result.suggested_url):
        target = result.suggested_url or result.final_url
        if target:
            return f"Replace the URL with {md_code(target)}"
        return "Find where the page moved and update the URL"
    if group == "blocked":
        return "Open it in a browser; if it works, accept or skip it in the catalog"
    if result.suggested_url:
        return f"Try {md_code(result.suggested_url)}, or replace or remove the link"
    if result.archived:
        return "Repository is archived: find a maintained replacement or keep as is"
    return "Find a replacement (an archive copy, the new home) or remove the link"


_GROUPS: Sequence[tuple[str, str, str]] = (
    ("rotten", "🪦 Rotten", "failed in enough consecutive runs to call them dead"),
    ("broken", "❌ Newly broken", "definitely gone or wrong since the last run"),
    ("moved", "↪️ Moved", "permanent redirect: update the catalog"),
    ("blocked", "🚧 Blocked", "the site refuses automated checks: check by hand"),
)

_TABLE_HEAD = "| Link | Section | Problem | Suggested fix |\n|---|---|---|---|\n"
_HEALTHY_HEAD = "| Link | Verdict | Status | Time | Health |\n|---|---|---:|---:|---|\n"


def _summary_text(summary: RunSummary, actionable: int, blocked: int, zone: str | None) -> str:
    counts = summary.counts()
    total = len(summary.results)
    started, finished = iso(summary.started, zone), iso(summary.finished, zone)
    took = duration_text(max(0.0, (summary.finished - summary.started).total_seconds()))
    lines = ["# linkwatch report", ""]
    if summary.partly_inconclusive:
        reason = neutralize_md(summary.inconclusive_reason) or "most hosts were unreachable"
        unjudged = sum(1 for r in summary.results if not summary.judged(r))
        lines += [
            "> [!WARNING]",
            f"> **Partly inconclusive**: {unjudged} links were last checked by a run that",
            f"> looked offline ({reason}); they are not judged. The others are.",
            "",
        ]
    elif summary.inconclusive:
        reason = neutralize_md(summary.inconclusive_reason) or "most hosts were unreachable"
        lines += [
            "> [!WARNING]",
            f"> **Inconclusive run**: {reason}. These results say nothing about the links;",
            "> they do not count toward rot and open no issue.",
            "",
        ]
    if summary.inconclusive and not actionable:
        verdict_line = f"**Nothing to act on**: the run is inconclusive ({total} links checked)."
    elif actionable:
        verdict_line = f"**{actionable} of {total} links need a human.**"
    else:
        verdict_line = f"**Nothing needs a human** ({total} links checked)."
    if blocked:
        verdict_line += f" {blocked} blocked (check by hand)."
    lines += [
        verdict_line,
        "",
        f"Run {started} → {finished} ({took}) · catalog {md_code(summary.catalog, table=False)}",
        "",
        "| " + " | ".join(counts) + " |",
        "|" + "---:|" * len(counts),
        "| " + " | ".join(str(n) for n in counts.values()) + " |",
        "",
    ]
    for incident in summary.incidents:
        lines.append(f"- {neutralize_md(incident)}")
    if summary.incidents:
        lines.append("")
    return "\n".join(lines) + "\n"


def _healthy_row(result: CheckResult, history: Sequence[Verdict] | None) -> str:
    status = str(result.status_code) if result.status_code is not None else "—"
    health = result.health.value
    if history:
        health += " " + "".join(_VERDICT_DOT[v] for v in history[-10:])
    flags = []
    if result.changed:
        flags.append("changed")
    if result.archived:
        flags.append("archived")
    if result.stale:
        flags.append("stale")
    extra = f" · {', '.join(flags)}" if flags else ""
    return (
        f"| {_title_cell(result)} | {_VERDICT_ICON[result.verdict]} {result.verdict.value}"
        f"{extra} | {status} | {result.elapsed_ms} ms | {health} |\n"
    )


_VERDICT_DOT: Mapping[Verdict, str] = {
    Verdict.OK: "🟩",
    Verdict.MOVED: "🟦",
    Verdict.BROKEN: "🟥",
    Verdict.BLOCKED: "🟨",
    Verdict.ERROR: "🟧",
}


def _blocks(
    summary: RunSummary,
    history: Mapping[str, Sequence[Verdict]],
    sections: Sequence[tuple[str, ...]] | None,
    zone: str | None = None,
) -> list[_Block]:
    groups = triage(summary)
    blocks = [_Block(_summary_text(summary, len(groups.actionable), len(groups.blocked), zone))]
    if groups.all:
        blocks.append(_Block("## Needs a human\n\n"))
    for key, heading, explanation in _GROUPS:
        members: tuple[CheckResult, ...] = getattr(groups, key)
        if not members:
            continue
        rows = [
            f"| {_title_cell(r)} | {_section_cell(r)} | {_problem_cell(r)} "
            f"| {_fix_cell(r, key)} |\n"
            for r in members
        ]
        blocks.append(
            _Block(
                f"### {heading} ({len(members)})\n\n_{explanation}_\n\n{_TABLE_HEAD}", rows, "\n"
            )
        )
    listed = {id(r) for r in groups.all}
    rest = [r for r in summary.results if id(r) not in listed]
    watching = [r for r in rest if r.failed or r.health in (Health.FAILING, Health.FLAKY)]
    if watching:
        waits = ("not judged: inconclusive run", "waiting for more runs")
        rows = [
            f"| {_title_cell(r)} | {_section_cell(r)} | {_problem_cell(r)} | "
            f"{r.health.value}: {waits[summary.judged(r)]} |\n"
            for r in watching
        ]
        blocks.append(
            _Block(
                f"<details><summary>👀 Watching: {len(watching)} failing, not yet actionable"
                f"</summary>\n\n{_TABLE_HEAD}",
                rows,
                "\n</details>\n\n",
            )
        )
    watched = {id(r) for r in watching}
    others = [r for r in rest if id(r) not in watched]
    if others:
        blocks.append(_Block("## Other links by section\n\n"))
    for section, rows_in in by_section(others, section_order(summary, sections)):
        label = neutralize_md(" › ".join(section)) or "(no section)"
        ok = sum(1 for r in rows_in if r.verdict is Verdict.OK)
        blocks.append(
            _Block(
                f"<details><summary>{label}: {ok}/{len(rows_in)} ok</summary>\n\n{_HEALTHY_HEAD}",
                [_healthy_row(r, history.get(r.link.url)) for r in rows_in],
                "\n</details>\n\n",
            )
        )
    return blocks


def _pointer(remaining: int, report_url: str | None) -> str:
    where = md_url(report_url, table=False) if report_url else md_code(DEFAULT_REPORT_POINTER)
    noun = "row" if remaining == 1 else "rows"
    return f"\n… {remaining} more {noun}; full report: {where}\n"


def _join(blocks: Sequence[_Block]) -> str:
    return "".join(b.head + "".join(b.rows) + b.tail for b in blocks)


def _truncate(blocks: Sequence[_Block], max_chars: int, report_url: str | None) -> str:
    total_rows = sum(len(b.rows) for b in blocks)
    reserve = len(_pointer(total_rows, report_url))
    out: list[str] = []
    used = 0
    for index, block in enumerate(blocks):
        opened = False
        for row_index, row in enumerate(block.rows):
            cost = len(row) + len(block.tail) + (0 if opened else len(block.head))
            if used + cost + reserve > max_chars:
                if opened:
                    out.append(block.tail)
                remaining = (
                    len(block.rows) - row_index + sum(len(b.rows) for b in blocks[index + 1 :])
                )
                out.append(_pointer(remaining, report_url))
                return "".join(out)
            if not opened:
                out.append(block.head)
                used += len(block.head)
                opened = True
            out.append(row)
            used += len(row)
        if not block.rows:
            if used + len(block.head) + reserve > max_chars:
                remaining = sum(len(b.rows) for b in blocks[index:])
                out.append(_pointer(remaining, report_url))
                return "".join(out)
            out.append(block.head)
            used += len(block.head)
        if opened or not block.rows:
            out.append(block.tail)
            used += len(block.tail)
    return "".join(out)


def render_markdown(
    summary: RunSummary,
    *,
    history: Mapping[str, Sequence[Verdict]] | None = None,
    sections: Sequence[tuple[str, ...]] | None = None,
    max_chars: int | None = None,
    report_url: str | None = None,
    zone: str | None = None,
) -> str:
    """The Markdown report; ``zone``: the IANA time zone of its run times (UTC when None)."""
    blocks = _blocks(summary, history or {}, sections, zone)
    full = _join(blocks).rstrip("\n") + "\n"
    if max_chars is None or len(full) <= max_chars:
        return full
    return _truncate(blocks, max_chars, report_url)
