"""Machine-readable outputs: the JSON report (design.md §4) and the badge.

The JSON keys of design.md §4 are a contract scripts rely on; extras are
only ever added, never renamed.  The badge follows the shields.io endpoint
schema (https://shields.io/badges/endpoint-badge): ``schemaVersion``,
``label``, ``message``, ``color``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from linkwatch.models import CheckResult, RunSummary
from linkwatch.report.triage import iso, ok_count, triage


def _groups(summary: RunSummary) -> dict[int, str]:
    """Each needs-a-human result (by identity) and its group: ``rotten``, ``broken``…

    Written on every result as ``needs_human``, so a script reads the
    report's own judgement instead of re-deriving it from verdict and health
    (the rules have exceptions: a 5xx waits for rot, an offline run lists
    nothing).
    """
    groups = triage(summary)
    return {
        id(result): name
        for name, members in (
            ("rotten", groups.rotten),
            ("broken", groups.broken),
            ("moved", groups.moved),
            ("blocked", groups.blocked),
        )
        for result in members
    }


def _result_dict(result: CheckResult, group: str | None = None) -> dict[str, Any]:
    link = result.link
    return {
        "url": link.url,
        "title": link.title,
        "section": link.section_label,
        "verdict": result.verdict.value,
        "reason": result.reason,
        "detail": result.detail,
        "status_code": result.status_code,
        "final_url": result.final_url,
        "redirects": [hop.as_dict() for hop in result.redirects],
        "attempts": result.attempts,
        "elapsed_ms": result.elapsed_ms,
        "health": result.health.value,
        "changed": result.changed,
        "content_hash": result.content_hash,
        "suggested_url": result.suggested_url,
        "must_read": link.must_read,
        "tags": sorted(link.tags),
        "lang": link.lang,
        "kind": link.kind,
        "last_changed": iso(result.last_changed),
        "archived": result.archived,
        "stale": result.stale,
        "needs_human": group,
    }


def report_dict(summary: RunSummary) -> dict[str, Any]:
    groups = _groups(summary)
    return {
        "run": _run_dict(summary),
        "results": [_result_dict(r, groups.get(id(r))) for r in summary.results],
    }


def _run_dict(summary: RunSummary) -> dict[str, Any]:
    groups = triage(summary)
    return {
        "started": iso(summary.started),
        "finished": iso(summary.finished),
        "catalog": summary.catalog,
        "inconclusive": summary.inconclusive,
        "counts": summary.counts(),
        "inconclusive_reason": summary.inconclusive_reason,
        "incidents": list(summary.incidents),
        "bytes_received": summary.bytes_received,
        "bytes_saved": summary.bytes_saved,
        "needs_human": len(groups.all),
        "needs_human_groups": groups.group_counts(),
    }


def render_json(summary: RunSummary) -> str:
    return "".join(json_chunks(summary))


def json_chunks(summary: RunSummary) -> Iterator[str]:
    """The JSON report, one result at a time: ``run`` indented, each result on one line.

    Never the whole list of result dicts (nor the whole document) in memory
    at once.  A line per link keeps the file easy to grep and to diff
    between nights, and lets json's C encoder write it: with ``indent`` the
    encoder is pure Python, about 14 µs per result.
    """
    groups = _groups(summary)
    yield '{\n  "run": ' + _nested(_run_dict(summary), 1) + ',\n  "results": ['
    for i, result in enumerate(summary.results):
        row = _result_dict(result, groups.get(id(result)))
        yield (",\n    " if i else "\n    ") + _one_line(row)
    yield ("\n  ]" if summary.results else "]") + "\n}\n"


def _nested(value: object, level: int) -> str:
    # JSON strings never hold a raw newline, so re-indenting lines is safe.
    return json.dumps(value, ensure_ascii=False, indent=2).replace("\n", "\n" + "  " * level)


_one_line = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode


def badge_dict(summary: RunSummary) -> dict[str, Any]:
    """``N/M ok``: green when nothing is actionable, yellow for moved only, red otherwise.

    Blocked links lower N (they are not known to be ok) but do not change the
    colour: they are not known to be broken either.
    """
    if summary.inconclusive and not summary.partly_inconclusive:
        return {
            "schemaVersion": 1,
            "label": "links",
            "message": "inconclusive",
            "color": "lightgrey",
        }
    groups = triage(summary)
    if groups.rotten or groups.broken:
        color = "red"
    elif groups.moved:
        color = "yellow"
    else:
        color = "brightgreen"
    message = f"{ok_count(summary)}/{len(summary.results)} ok"
    return {"schemaVersion": 1, "label": "links", "message": message, "color": color}


def render_badge(summary: RunSummary) -> str:
    return json.dumps(badge_dict(summary), ensure_ascii=False) + "\n"
