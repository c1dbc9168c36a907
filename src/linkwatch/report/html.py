"""The HTML report: one self-contained file people read on a laptop or a phone.

Self-contained because it travels as a CI artifact and is opened from disk:
CSS and JavaScript are inline, there is no CDN, font or image request.

Hostile input is expected — a page title is whatever a remote server says.
Four layers keep it inert:

1. jinja2 autoescaping for every value (``autoescape=True``), so remote text
   is text;
2. ``href`` only for absolute http(s) URLs (``safe_http_url``), so no
   ``javascript:`` link can exist;
3. bidirectional override and isolate characters dropped from every value
   (``_finalize``): a U+202E in a page title or an error detail would
   reverse what follows it on the line, our own reason code included
   (CVE-2021-42574, "Trojan Source"); the Markdown drops them too;
4. a Content-Security-Policy (W3C CSP Level 3, delivered by ``<meta>``) that
   allows only our own inline style and script, pinned by their SHA-256
   hashes, and ``img-src data:``: even a tag that slipped through escaping
   could neither run nor load anything.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from linkwatch.models import CheckResult, Health, RunSummary, Verdict
from linkwatch.report.triage import (
    MAX_SPARK,
    duration_text,
    iso,
    local,
    section_order,
    triage,
)
from linkwatch.textsafe import safe_http_url, strip_bidi

MAX_DIFF_CHARS = 20_000

VERDICT_WORDS: Mapping[Verdict, str] = {
    Verdict.OK: "works",
    Verdict.MOVED: "moved permanently",
    Verdict.BROKEN: "broken",
    Verdict.BLOCKED: "blocked — can't tell",
    Verdict.ERROR: "unreachable",
}
# Sorting by verdict puts the worst first.
VERDICT_RANK: Mapping[Verdict, int] = {
    Verdict.BROKEN: 0,
    Verdict.ERROR: 1,
    Verdict.MOVED: 2,
    Verdict.BLOCKED: 3,
    Verdict.OK: 4,
}
HEALTH_WORDS: Mapping[Health, str] = {
    Health.HEALTHY: "healthy",
    Health.FAILING: "failing — not yet rotten",
    Health.ROTTEN: "rotten",
    Health.FLAKY: "flaky",
    Health.RECOVERED: "recovered",
}
HEALTH_RANK: Mapping[Health, int] = {
    Health.ROTTEN: 0,
    Health.FAILING: 1,
    Health.FLAKY: 2,
    Health.RECOVERED: 3,
    Health.HEALTHY: 4,
}
# Bar heights of the sparkline: failures stand up, successes stay low.
SPARK_HEIGHT: Mapping[Verdict, int] = {
    Verdict.OK: 5,
    Verdict.MOVED: 7,
    Verdict.BLOCKED: 10,
    Verdict.ERROR: 14,
    Verdict.BROKEN: 14,
}


@dataclass(frozen=True)
class Hyperlink:
    """A URL shown as text, and as a link only when it is plain http(s)."""

    text: str
    href: str | None

    @classmethod
    def of(cls, url: str) -> Hyperlink:
        return cls(url, safe_http_url(url))


@dataclass(frozen=True)
class SparkBar:
    x: int
    y: int
    height: int
    verdict: str


@dataclass(frozen=True)
class Row:
    result: CheckResult
    link: Hyperlink
    section_index: int
    tags_json: str
    verdict_words: str
    health_words: str
    verdict_rank: int
    health_rank: int
    # Each hop and what it answered: a status code, or "meta refresh" for a
    # redirect stub (its 200 would read as "this page is fine").
    redirects: tuple[tuple[Hyperlink, str], ...]
    final: Hyperlink | None
    suggested: Hyperlink | None
    last_changed: str | None
    diff_lines: tuple[tuple[str, str], ...]
    diff_truncated: bool
    spark: Markup


@dataclass(frozen=True)
class SectionView:
    index: int
    label: str
    group: str
    subtitle: str
    rows: tuple[Row, ...]


def _spark(verdicts: Sequence[Verdict]) -> tuple[tuple[SparkBar, ...], str]:
    recent = list(verdicts)[-MAX_SPARK:]
    bars = tuple(
        SparkBar(x=i * 5, y=14 - SPARK_HEIGHT[v], height=SPARK_HEIGHT[v], verdict=v.value)
        for i, v in enumerate(recent)
    )
    failed = sum(1 for v in recent if v in (Verdict.BROKEN, Verdict.ERROR))
    label = f"last {len(recent)} runs: {failed} failed; newest {recent[-1].value}" if recent else ""
    return bars, label


@lru_cache(maxsize=4096)
def _spark_svg(verdicts: tuple[Verdict, ...]) -> Markup:
    """The row's history sparkline as markup, made once per distinct history.

    Histories repeat (most links: N runs ok), and a template loop over the
    bars cost four escapes per bar per row.  Everything in it is ours:
    numbers, verdict names and a label, each escaped by ``Markup.format``.
    One ``<path>`` per verdict draws all its bars: a ``<rect>`` per bar made
    a 5,000-link report of 30 runs 16.5 MB, 11 of them sparklines, and
    150,000 SVG elements for the browser to lay out.
    """
    bars, label = _spark(verdicts)
    shapes: dict[str, list[str]] = {}
    for bar in bars:
        shapes.setdefault(bar.verdict, []).append(f"M{bar.x} {bar.y}h4v{bar.height}h-4z")
    path = Markup('<path class="s-{}" d="{}"></path>')  # Markup.format escapes both
    paths = Markup("").join(path.format(verdict, "".join(d)) for verdict, d in shapes.items())
    svg = Markup(
        '<svg class="spark" width="150" height="14" viewBox="0 0 150 14" role="img" '
        'aria-label="{0}"><title>{0}</title>{1}</svg>'
    )
    return svg.format(label, paths)


def _diff_lines(diff: str | None) -> tuple[tuple[tuple[str, str], ...], bool]:
    if not diff:
        return (), False
    text = diff[:MAX_DIFF_CHARS]
    lines = []
    for line in text.splitlines():
        kind = "add" if line.startswith("+") else "del" if line.startswith("-") else "ctx"
        lines.append((kind, line))
    return tuple(lines), len(diff) > MAX_DIFF_CHARS


@lru_cache(maxsize=1024)
def _tags_json(tags: frozenset[str]) -> str:
    """Cached: a catalog has a few tag sets, shared by many links."""
    return json.dumps(sorted(tags), ensure_ascii=False)


def _row(
    result: CheckResult,
    section_index: int,
    history: Sequence[Verdict] | None,
    zone: str | None = None,
) -> Row:
    spark = _spark_svg(tuple(history[-MAX_SPARK:]) if history else (result.verdict,))
    diff_lines, diff_truncated = _diff_lines(result.diff)
    final = (
        Hyperlink.of(result.final_url)
        if result.final_url and result.final_url != result.link.url
        else None
    )
    return Row(
        result=result,
        link=Hyperlink.of(result.link.url),
        section_index=section_index,
        tags_json=_tags_json(result.link.tags),
        verdict_words=VERDICT_WORDS[result.verdict],
        health_words=HEALTH_WORDS[result.health],
        verdict_rank=VERDICT_RANK[result.verdict],
        health_rank=HEALTH_RANK[result.health],
        redirects=tuple((Hyperlink.of(h.url), h.label) for h in result.redirects),
        final=final,
        suggested=Hyperlink.of(result.suggested_url) if result.suggested_url else None,
        last_changed=iso(result.last_changed, zone),
        diff_lines=diff_lines,
        diff_truncated=diff_truncated,
        spark=spark,
    )


def _fix(result: CheckResult, group: str) -> str:
    if group == "moved":
        return "Update the catalog to the new URL."
    if group == "blocked":
        return "Open it in a browser; if it works, accept or skip it in the catalog."
    if result.archived:
        return "The repository is archived: find a maintained replacement or keep it knowingly."
    return "Find a replacement (the new home, an archived copy) or remove the link."


def _finalize(value: object) -> object:
    """Every ``{{ … }}`` value: text without bidi controls; our own markup as it is."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return strip_bidi(value)
    return value


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("linkwatch.report", "templates"),
        autoescape=True,
        finalize=_finalize,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


@cache
def _asset(name: str) -> str:
    return (resources.files("linkwatch.report") / "templates" / name).read_text("utf-8")


def _csp_hash(source: str) -> str:
    """The ``'sha256-…'`` source expression for an inline block (CSP Level 3 §8.4)."""
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def render_html(
    summary: RunSummary,
    *,
    history: Mapping[str, Sequence[Verdict]] | None = None,
    sections: Sequence[tuple[str, ...]] | None = None,
    zone: str | None = None,
) -> str:
    return "".join(html_chunks(summary, history=history, sections=sections, zone=zone))


def html_chunks(
    summary: RunSummary,
    *,
    history: Mapping[str, Sequence[Verdict]] | None = None,
    sections: Sequence[tuple[str, ...]] | None = None,
    zone: str | None = None,
) -> Iterator[str]:
    """The page in pieces, so a 50,000-link report is never one string in memory.

    ``zone``: the IANA time zone its dates and times are shown in (UTC when None).
    """
    history = history or {}
    order = section_order(summary, sections)
    index_of = {section: i for i, section in enumerate(order)}
    grouped: dict[tuple[str, ...], list[Row]] = {s: [] for s in order}
    for result in summary.results:
        section = result.link.section
        grouped[section].append(_row(result, index_of[section], history.get(result.link.url), zone))
    views = [
        SectionView(
            index=index_of[section],
            label=" › ".join(section) or "(no section)",
            group=section[0] if section else "(no section)",
            subtitle=" › ".join(section[1:]),
            rows=tuple(rows),
        )
        for section, rows in grouped.items()
        if rows
    ]
    groups = triage(summary)
    need = [
        (
            key,
            title,
            explanation,
            [(r, _fix(r, key), _row(r, index_of[r.link.section], None, zone)) for r in members],
        )
        for key, title, explanation, members in (
            (
                "rotten",
                "Rotten",
                "failed in enough consecutive runs to call them dead",
                groups.rotten,
            ),
            (
                "broken",
                "Newly broken",
                "definitely gone or wrong since the last run",
                groups.broken,
            ),
            ("moved", "Moved", "permanent redirect: update the catalog", groups.moved),
            (
                "blocked",
                "Blocked",
                "the site refuses automated checks: check by hand",
                groups.blocked,
            ),
        )
        if members
    ]
    tags = sorted({tag for r in summary.results for tag in r.link.tags})
    css, js = _asset("report.css"), _asset("report.js")
    csp = (
        "default-src 'none'; img-src data:; "
        f"style-src {_csp_hash(css)}; script-src {_csp_hash(js)}; "
        "base-uri 'none'; form-action 'none'"
    )
    started, finished = local(summary.started, zone), local(summary.finished, zone)
    return (
        _environment()
        .get_template("report.html.j2")
        .generate(
            summary=summary,
            counts=summary.counts(),
            verdict_words=VERDICT_WORDS,
            started=iso(started),
            finished=iso(finished),
            started_text=started.strftime("%Y-%m-%d %H:%M %Z"),
            took=duration_text(max(0.0, (finished - started).total_seconds())),
            total=len(summary.results),
            actionable=len(groups.actionable),
            unjudged=sum(1 for r in summary.results if not summary.judged(r)),
            blocked=len(groups.blocked),
            need=need,
            sections=views,
            tags=tags,
            csp=csp,
            css=Markup(css),  # noqa: S704 - our own packaged stylesheet, pinned by hash in the CSP
            js=Markup(js),  # noqa: S704 - our own packaged script, pinned by hash in the CSP
        )
    )
