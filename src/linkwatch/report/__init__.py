"""Report renderers: a run in, a string out (design.md §6, pip-audit's ``format() -> str``).

Only the CLI writes files.  Formats: ``html`` (one self-contained page),
``md`` (GitHub job summary / issue body), ``json`` (design.md §4) and
``badge`` (a shields.io endpoint).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Final

from linkwatch.models import RunSummary, Verdict
from linkwatch.report.html import html_chunks, render_html
from linkwatch.report.machine import badge_dict, json_chunks, render_badge, render_json, report_dict
from linkwatch.report.markdown import md_code, md_url, neutralize_md, render_markdown
from linkwatch.report.triage import Triage, needs_human, triage

FORMATS: Final = ("html", "md", "json", "badge")

__all__ = [
    "FORMATS",
    "Triage",
    "badge_dict",
    "md_code",
    "md_url",
    "needs_human",
    "neutralize_md",
    "render",
    "report_dict",
    "stream",
    "triage",
]


def render(
    summary: RunSummary,
    fmt: str,
    *,
    history: Mapping[str, Sequence[Verdict]] | None = None,
    sections: Sequence[tuple[str, ...]] | None = None,
    max_chars: int | None = None,
    report_url: str | None = None,
    zone: str | None = None,
) -> str:
    """Render ``summary`` as ``fmt``.

    ``history`` maps a URL to its recent verdicts, oldest first, including
    this run (sparklines); ``sections`` is the catalog's section order.
    ``max_chars`` and ``report_url`` only apply to Markdown, which is cut at
    a row boundary and points at the full report.  ``zone`` (the catalog's
    ``timezone``) is the clock of the HTML and Markdown reports' times; JSON
    and the badge keep UTC.
    """
    if fmt == "html":
        return render_html(summary, history=history, sections=sections, zone=zone)
    if fmt == "md":
        return render_markdown(
            summary,
            history=history,
            sections=sections,
            max_chars=max_chars,
            report_url=report_url,
            zone=zone,
        )
    if fmt == "json":
        return render_json(summary)
    if fmt == "badge":
        return render_badge(summary)
    raise ValueError(f"unknown report format {fmt!r}; expected one of {', '.join(FORMATS)}")


def stream(
    summary: RunSummary,
    fmt: str,
    *,
    history: Mapping[str, Sequence[Verdict]] | None = None,
    sections: Sequence[tuple[str, ...]] | None = None,
    zone: str | None = None,
) -> Iterator[str]:
    """:func:`render` in pieces: what the CLI writes, so a 50,000-link HTML or
    JSON report never sits in memory whole (the text is the same)."""
    if fmt == "html":
        return html_chunks(summary, history=history, sections=sections, zone=zone)
    if fmt == "json":
        return json_chunks(summary)
    return iter((render(summary, fmt, history=history, sections=sections, zone=zone),))
