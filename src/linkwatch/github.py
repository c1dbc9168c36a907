"""GitHub issues for rotten links: the pure plan and the thin API client.

The plan (``plan_issues``) is a plain function over dataclasses: given what
history says about each link and the ``linkwatch`` issues that already exist,
it returns the actions to take.  The client (``GitHubClient``) only executes
them.  So the rules — one issue per rotten link, never a duplicate, reopen
on recurrence, close on recovery, nothing after an inconclusive run, a cap
on new issues per run — are tested with tables, without any HTTP.

Each issue carries a hidden marker ``<!-- linkwatch:url=<sha256(url)> -->``
that ties it to its link across runs.  The hash keeps the URL itself out of
the marker, so editing the visible text never breaks the tie and a marker
never becomes a link.  A second marker, ``<!-- linkwatch:evidence=… -->``,
fingerprints what the issue has said (the newest first, then the earlier
evidence it reported), so a rerun comments only on evidence the issue has
not shown yet: a dead server that answers 502 one night and 504 the next
is not news every night.

REST endpoints used (API version 2022-11-28, docs.github.com/en/rest/issues):
``GET /repos/{o}/{r}/issues`` (list, paginated with ``Link: rel="next"``),
``POST /repos/{o}/{r}/issues`` (create), ``PATCH /repos/{o}/{r}/issues/{n}``
(state, ``state_reason``, body), ``POST …/issues/{n}/comments`` and
``POST …/issues/{n}/labels``.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import anyio
import httpx

from linkwatch.errors import GitHubError
from linkwatch.history import aware
from linkwatch.models import CheckResult, Health, LinkState, RunSummary, Settings, Verdict
from linkwatch.textsafe import code, neutralize, plain_title, truncate

ActionKind = Literal["open", "comment", "reopen", "close", "summary"]

LABEL = "linkwatch"
SUMMARY_KEY = "summary"
MAX_BODY = 65_536
MAX_CHECKLIST = 500
DEFAULT_API_URL = "https://api.github.com"
WAYBACK_API = "https://archive.org/wayback/available"

_MARKER_RE = re.compile(r"<!-- linkwatch:(?:url=([0-9a-f]{64})|(summary)) -->")
_EVIDENCE_RE = re.compile(r"<!-- linkwatch:evidence=([0-9a-f]{1,64}(?: [0-9a-f]{1,64})*) -->")
#: How many earlier fingerprints an issue's evidence marker remembers.
MAX_EVIDENCE = 8
_WAYBACK_RE = re.compile(r"^https?://web\.archive\.org/web/(\d{14})/(.+)$")
_REPO_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


def url_key(url: str) -> str:
    """The marker key of a link: sha256 of its URL, hex."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


def marker(key: str) -> str:
    if key == SUMMARY_KEY:
        return "<!-- linkwatch:summary -->"
    return f"<!-- linkwatch:url={key} -->"


def parse_marker(body: str | None) -> str | None:
    """The marker key in an issue body (a url hash or ``"summary"``), if any."""
    match = _MARKER_RE.search(body or "")
    if match is None:
        return None
    return match.group(1) or match.group(2)


def _evidence_of(body: str) -> str | None:
    """The newest evidence fingerprint in ``body``'s marker."""
    seen = _evidence_seen(body)
    return seen[0] if seen else None


def _evidence_seen(body: str) -> tuple[str, ...]:
    """Every evidence fingerprint ``body``'s marker holds, the newest first."""
    match = _EVIDENCE_RE.search(body)
    return tuple(match.group(1).split()) if match else ()


@dataclass(frozen=True)
class Issue:
    """An existing ``linkwatch`` issue; ``marker_url`` is its marker key (url hash or summary)."""

    number: int
    title: str
    state: str
    body: str = ""
    labels: tuple[str, ...] = ()
    marker_url: str | None = None


@dataclass(frozen=True)
class Action:
    """One step of the plan.

    ``body`` is the new issue's body for ``open`` and for a new ``summary``;
    for ``comment``, ``reopen`` and ``close`` it is the comment text.
    ``issue_body`` replaces an existing issue's body (refreshing its evidence
    marker); ``labels`` are set on create and added otherwise.
    """

    kind: ActionKind
    url: str | None
    issue_number: int | None
    title: str
    body: str
    labels: tuple[str, ...] = ()
    issue_body: str | None = None
    state_reason: str | None = None


# --------------------------------------------------------------------------- plan


def _fingerprint(*parts: object) -> str:
    text = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _link_fingerprint(result: CheckResult | None, state: LinkState) -> str:
    if result is None:
        return _fingerprint(state.last_verdict)
    return _fingerprint(result.verdict, result.reason, result.status_code)


def _fmt_time(when: datetime | None) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC") if when else "unknown"


def _autolink(url: str) -> str:
    """A curator's own URL (from catalog.toml) as an autolink; unsafe characters percent-encoded."""
    safe = quote(url, safe=":/?#[]@!$&'*+,;=%-._~")
    return f"<{safe.replace('[', '%5B').replace(']', '%5D')}>"


def _safe_wayback(url: str | None) -> str | None:
    """Accept only a well-formed Wayback snapshot URL, rebuilt on https."""
    if not url:
        return None
    match = _WAYBACK_RE.match(url)
    if match is None:
        return None
    return f"https://web.archive.org/web/{match.group(1)}/{match.group(2)}"


def _suggestion(result: CheckResult | None, archive: str | None) -> str:
    moved_to = None
    if result is not None:
        moved_to = result.suggested_url or (
            result.final_url if result.verdict is Verdict.MOVED else None
        )
    if moved_to:
        return (
            f"The link seems to have moved to {code(moved_to, limit=300)} "
            "(shown as code; check it before use). `linkwatch fix` can rewrite the catalog."
        )
    snapshot = _safe_wayback(archive)
    if snapshot:
        return f"An archived copy exists on the Wayback Machine: {_autolink(snapshot)}"
    return "No new location or archived copy was found; consider replacing or removing the link."


def _link_body(
    url: str,
    state: LinkState,
    result: CheckResult | None,
    *,
    catalog_path: str,
    archive: str | None,
    reported: Sequence[str] = (),
) -> str:
    """The issue body; ``reported`` are fingerprints of evidence it showed before."""
    key = url_key(url)
    current = _link_fingerprint(result, state)
    evidence = list(dict.fromkeys([current, *reported]))[:MAX_EVIDENCE]
    lines = [
        marker(key),
        f"<!-- linkwatch:evidence={' '.join(evidence)} -->",
        "",
    ]
    title = result.link.title if result else url
    lines.append(f"**{neutralize(title, limit=200)}** — {_autolink(url)}")
    lines.append("")
    lines.append(
        "linkwatch found this link failing in "
        f"{state.fail_streak} consecutive run(s); it is now considered rotten."
    )
    lines += ["", "### Evidence", ""]
    if result is not None:
        status = str(result.status_code) if result.status_code is not None else "no answer"
        lines += [
            f"- Verdict: `{result.verdict.value}`",
            f"- Reason: {code(result.reason, limit=80)}",
            f"- HTTP status: {status}",
            f"- Detail: {neutralize(result.detail, limit=500) or '—'}",
        ]
        if result.redirects:
            chain = " → ".join(
                f"{hop.label} {code(hop.url, limit=200)}" for hop in result.redirects[:10]
            )
            lines.append(f"- Redirects: {chain}")
        if result.final_url and result.final_url != url:
            lines.append(f"- Final URL: {code(result.final_url, limit=300)}")
        lines.append(f"- Checked at: {_fmt_time(result.checked_at)}")
    lines += [
        f"- First failure: {_fmt_time(state.first_failure_at)}",
        f"- Failure streak: {state.fail_streak} run(s)",
        f"- Last OK: {_fmt_time(state.last_ok_at)}",
        "",
        "### Where",
        "",
    ]
    if result is not None:
        where = code(catalog_path, limit=200)
        if result.link.line:
            where += f", line {result.link.line}"
        lines.append(f"- {where}")
        if result.link.section:
            lines.append(f"- Section: {neutralize(result.link.section_label, limit=200)}")
    else:
        lines.append(f"- {code(catalog_path, limit=200)}")
    lines += [
        "",
        "### Suggestion",
        "",
        _suggestion(result, archive),
        "",
        "_This issue is managed by linkwatch: it is closed automatically when the link recovers "
        "or leaves the catalog._",
    ]
    return _cap("\n".join(lines))


def _cap(body: str) -> str:
    """GitHub rejects issue and comment bodies over 65,536 characters."""
    if len(body) <= MAX_BODY:
        return body
    return truncate(body, MAX_BODY - 40) + "\n\n_(truncated)_"


def _update_comment(
    result: CheckResult | None,
    state: LinkState,
    heading: str = "The link is still rotten, with new evidence:",
) -> str:
    if result is None:
        return f"Still rotten (failure streak {state.fail_streak})."
    status = str(result.status_code) if result.status_code is not None else "no answer"
    return _cap(
        f"{heading}\n\n"
        f"- Verdict: `{result.verdict.value}`\n"
        f"- Reason: {code(result.reason, limit=80)}\n"
        f"- HTTP status: {status}\n"
        f"- Detail: {neutralize(result.detail, limit=500) or '—'}\n"
        f"- Failure streak: {state.fail_streak} run(s)"
    )


def _labels(result: CheckResult | None) -> tuple[str, ...]:
    if result is None or not result.reason:
        return (LABEL,)
    reason = re.sub(r"[^A-Za-z0-9._-]", "-", result.reason)[:50]
    return (LABEL, reason)


def _issue_title(url: str, result: CheckResult | None) -> str:
    return "Link rotten: " + plain_title(result.link.title if result else url, limit=200)


def _summary_body(
    rotten: Sequence[tuple[str, LinkState, CheckResult | None]],
    *,
    catalog_path: str,
    intro: str,
) -> str:
    items = sorted(url for url, _, _ in rotten)
    lines = [
        marker(SUMMARY_KEY),
        f"<!-- linkwatch:evidence={_fingerprint(*items)} -->",
        "",
        intro,
        "",
    ]
    for url, state, result in rotten[:MAX_CHECKLIST]:
        title = neutralize(result.link.title if result else url, limit=120)
        where = f" (line {result.link.line})" if result and result.link.line else ""
        reason = f" {code(result.reason, limit=60)}" if result else ""
        lines.append(
            f"- [ ] **{title}** — {_autolink(url)}{reason}, "
            f"{state.fail_streak} failed run(s){where}"
        )
    if len(rotten) > MAX_CHECKLIST:
        lines.append(f"- … and {len(rotten) - MAX_CHECKLIST} more")
    lines += ["", f"Catalog: {code(catalog_path, limit=200)}"]
    return _cap("\n".join(lines))


def _recovered(state: LinkState | None, settings: Settings) -> bool:
    if state is None:
        return False
    if state.health is Health.HEALTHY:
        return True
    return state.health is Health.RECOVERED and state.ok_streak >= settings.recover_after_runs


def _index(existing: Sequence[Issue]) -> dict[str, Issue]:
    """Marker key → issue; an open issue wins over closed ones, then the newest."""
    found: dict[str, Issue] = {}
    for issue in existing:
        key = issue.marker_url or parse_marker(issue.body)
        if key is None:
            continue
        best = found.get(key)
        rank = (issue.state == "open", issue.number)
        if best is None or rank > (best.state == "open", best.number):
            found[key] = issue
    return found


def plan_issues(
    states: Mapping[str, LinkState],
    results: Sequence[CheckResult],
    existing: Sequence[Issue],
    settings: Settings,
    *,
    inconclusive: bool,
    catalog_urls: Collection[str],
    now: datetime,
    catalog_path: str = "catalog.toml",
    archives: Mapping[str, str] | None = None,
    conclusive_urls: Collection[str] = (),
) -> list[Action]:
    """Decide which issues to open, update, reopen and close after a run.

    An inconclusive run (design.md §3: the checker itself was offline) says
    nothing about the links, so it yields no action at all.  A summary over
    several runs (``RunSummary.conclusive_urls``) is inconclusive when one of
    them was; then only the links in ``conclusive_urls``, whose latest check
    came from a conclusive run, are acted on: the others keep their issues as
    they are (a summary issue still lists them while rotten).  ``archives``
    maps a URL to a Wayback snapshot found beforehand (``plan_with_archives``).
    ``now`` stamps closing comments so a reader knows when it happened.
    """
    judged = set(conclusive_urls)
    if inconclusive and not judged:
        return []
    archives = archives or {}
    by_url = {r.link.url: r for r in results}
    order = list(dict.fromkeys([*(r.link.url for r in results), *states]))
    issues = _index(existing)
    catalog = set(catalog_urls)
    catalog_keys = {url_key(u) for u in catalog}
    stamp = _fmt_time(now)

    actions: list[Action] = []
    new_rotten: list[tuple[str, LinkState, CheckResult | None]] = []
    all_rotten: list[tuple[str, LinkState, CheckResult | None]] = []
    summary_mode = settings.issue_mode == "summary"

    for url in order:
        state = states.get(url)
        result = by_url.get(url)
        key = url_key(url)
        issue = issues.get(key)
        if inconclusive and url not in judged:
            # Its latest check says nothing about it: no open, comment or
            # close; its evidence is not that check's either.
            if state is not None and state.health is Health.ROTTEN and url in catalog:
                all_rotten.append((url, state, None))
            continue
        if state is not None and state.health is Health.ROTTEN and url in catalog:
            all_rotten.append((url, state, result))
            body = _link_body(
                url, state, result, catalog_path=catalog_path, archive=archives.get(url)
            )
            if issue is None:
                new_rotten.append((url, state, result))
            elif issue.state == "closed":
                if not summary_mode:
                    actions.append(
                        Action(
                            "reopen",
                            url,
                            issue.number,
                            issue.title,
                            _update_comment(result, state, f"The link is rotten again ({stamp}):"),
                            _labels(result),
                            issue_body=body,
                        )
                    )
            elif (
                result is not None
                and result.verdict is not Verdict.BLOCKED
                and _link_fingerprint(result, state) not in _evidence_seen(issue.body)
            ):
                # No result means the link was not checked this run (a scheduled
                # subset): no new evidence, so nothing to say.  A blocked answer
                # (a bot wall, a login page) says nothing about the link either:
                # it is no evidence that the link is still rotten.  Evidence the
                # issue already showed is no news: a server whose error churns
                # (502, 504, 502 …) gets one comment per kind, not one a night.
                actions.append(
                    Action(
                        "comment",
                        url,
                        issue.number,
                        issue.title,
                        _update_comment(result, state),
                        _labels(result),
                        issue_body=_link_body(
                            url,
                            state,
                            result,
                            catalog_path=catalog_path,
                            archive=archives.get(url),
                            reported=_evidence_seen(issue.body),
                        ),
                    )
                )
        elif issue is not None and issue.state == "open":
            if url not in catalog:
                actions.append(_close_removed(issue, url, stamp))
            elif _recovered(state, settings):
                actions.append(
                    Action(
                        "close",
                        url,
                        issue.number,
                        issue.title,
                        f"The link works again ({stamp}): it answered in "
                        f"{state.ok_streak if state else 0} consecutive run(s)."
                        + _moved_note(result)
                        + " Closing.",
                        state_reason="completed",
                    )
                )

    # Issues whose link left the catalog and no longer appears in the run at all.
    planned = {a.issue_number for a in actions}
    for key, issue in sorted(issues.items(), key=lambda kv: kv[1].number):
        if key == SUMMARY_KEY or issue.state != "open" or issue.number in planned:
            continue
        if key not in catalog_keys:
            actions.append(_close_removed(issue, None, stamp))

    summary = issues.get(SUMMARY_KEY)
    if summary_mode:
        actions += _summary_actions(
            summary,
            all_rotten,
            catalog_path=catalog_path,
            intro=f"linkwatch found {len(all_rotten)} rotten link(s) that need a human:",
            stamp=stamp,
        )
        return actions

    cap = max(settings.max_new_issues, 0)
    # Links that have waited longest on the summary issue come first: in
    # catalog order, a link near the end could wait for ever while links
    # above it keep rotting (the sort is stable, so ties keep catalog order).
    new_rotten.sort(key=lambda item: _rot_began(item[1], now))
    for url, state, result in new_rotten[:cap]:
        actions.append(
            Action(
                "open",
                url,
                None,
                _issue_title(url, result),
                _link_body(
                    url, state, result, catalog_path=catalog_path, archive=archives.get(url)
                ),
                _labels(result),
            )
        )
    overflow = new_rotten[cap:]
    actions += _summary_actions(
        summary,
        overflow,
        catalog_path=catalog_path,
        intro=(
            f"{len(overflow)} more rotten link(s) exceed the limit of {cap} new issue(s) "
            "per run (`max_new_issues`); they get their own issues in later runs:"
        ),
        stamp=stamp,
    )
    return actions


def _rot_began(state: LinkState, now: datetime) -> datetime:
    """When the link's failure streak began (``now`` when unknown), zone-aware."""
    return aware(state.first_failure_at or now)


def _moved_note(result: CheckResult | None) -> str:
    """A link that came back by moving still wants its catalog entry updated: say where to."""
    if result is None or result.verdict is not Verdict.MOVED or not result.suggested_url:
        return ""
    return (
        f" It now redirects permanently to {code(result.suggested_url, limit=300)}:"
        " update the catalog (`linkwatch fix`)."
    )


def _close_removed(issue: Issue, url: str | None, stamp: str) -> Action:
    return Action(
        "close",
        url,
        issue.number,
        issue.title,
        f"The link is no longer in the catalog ({stamp}). Closing.",
        state_reason="not_planned",
    )


def _summary_actions(
    summary: Issue | None,
    rotten: Sequence[tuple[str, LinkState, CheckResult | None]],
    *,
    catalog_path: str,
    intro: str,
    stamp: str,
) -> list[Action]:
    title = f"Rotten links: {len(rotten)} need a human"
    if not rotten:
        if summary is not None and summary.state == "open":
            return [
                Action(
                    "close",
                    None,
                    summary.number,
                    summary.title,
                    f"No rotten link is left on this list ({stamp}). Closing.",
                    state_reason="completed",
                )
            ]
        return []
    body = _summary_body(rotten, catalog_path=catalog_path, intro=intro)
    if summary is None:
        return [Action("summary", None, None, title, body, (LABEL,))]
    if summary.state == "closed":
        return [
            Action(
                "reopen",
                None,
                summary.number,
                title,
                f"Rotten links again ({stamp}).",
                (LABEL,),
                issue_body=body,
            )
        ]
    if _evidence_of(summary.body) != _evidence_of(body):
        return [Action("summary", None, summary.number, title, body, (LABEL,), issue_body=body)]
    return []


def format_plan(plan: Sequence[Action]) -> str:
    """The plan as lines a human reads (``issues sync --dry-run``)."""
    if not plan:
        return "No issue changes."
    return "\n".join(_describe(action, dry_run=True) for action in plan)


def _describe(action: Action, *, dry_run: bool, number: int | None = None) -> str:
    n = number if number is not None else action.issue_number
    ref = f"#{n}" if n is not None else "a new issue"
    verb = {
        "open": ("would open", "opened"),
        "comment": ("would comment on", "commented on"),
        "reopen": ("would reopen", "reopened"),
        "close": ("would close", "closed"),
        "summary": (
            ("would update summary", "updated summary")
            if action.issue_number is not None
            else ("would open summary", "opened summary")
        ),
    }[action.kind][0 if dry_run else 1]
    return f"{verb} {ref}: {action.title}"


# --------------------------------------------------------------------------- client


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port


def _finite(text: str) -> float:
    """A header's number; ``nan`` and ``inf`` are as unusable as garbage.

    ``float()`` accepts both, and ``nan`` passes every ``> limit`` check and
    then reaches ``sleep``.
    """
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {text!r}")
    return value


def _one_line(text: str, limit: int = 200) -> str:
    return truncate(" ".join(text.split()), limit)


Sleep = Callable[[float], Awaitable[None]]


class GitHubClient:
    """A small client for the issues API that never leaks its token.

    The token rides only on requests to the API origin (scheme, host and
    port of ``api_url``): redirects are not followed by httpx, and a
    redirect or a pagination ``next`` link to any other origin raises
    ``GitHubError`` before anything is sent there.  Rate limits follow
    GitHub's rules ("Rate limits for the REST API"): on 403/429 wait for
    ``retry-after`` seconds, or until ``x-ratelimit-reset`` when
    ``x-ratelimit-remaining`` is 0, or — for a secondary limit with neither
    header — at least a minute, doubling on each retry; a wait longer than
    ``max_wait`` fails fast instead of stalling the nightly job.
    """

    def __init__(
        self,
        repo: str,
        token: str,
        *,
        api_url: str = DEFAULT_API_URL,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = anyio.sleep,
        clock: Callable[[], float] = time.time,
        max_wait: float = 60.0,
        max_retries: int = 3,
        timeout: float = 30.0,
    ) -> None:
        if not _REPO_RE.match(repo):
            raise GitHubError(f"invalid repository {repo!r}: expected OWNER/NAME")
        self.repo = repo
        self.api_url = api_url.rstrip("/")
        self._origin = _origin(self.api_url)
        self._token = token
        self._sleep = sleep
        self._clock = clock
        self._max_wait = max_wait
        self._max_retries = max_retries
        self._http = httpx.AsyncClient(
            transport=transport,
            follow_redirects=False,
            timeout=timeout,
            headers={
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": "linkwatch",
            },
        )

    async def __aenter__(self) -> GitHubClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def _same_origin(self, url: str) -> bool:
        return _origin(url) == self._origin

    async def _request(
        self, method: str, url: str, *, json: Any = None, params: Mapping[str, str] | None = None
    ) -> httpx.Response:
        if not url.startswith(("http://", "https://")):
            url = f"{self.api_url}/{url.lstrip('/')}"
        secondary_wait = 60.0
        redirects = 0
        attempt = 0
        while True:
            if not self._same_origin(url):
                raise GitHubError(
                    f"GitHub API sent us to another host ({_origin(url)[1]}); "
                    "refusing to send the token there"
                )
            try:
                response = await self._http.request(
                    method,
                    url,
                    json=json,
                    params=params,
                    headers={"Authorization": f"Bearer {self._token}"},
                )
            except httpx.HTTPError as exc:
                raise GitHubError(
                    f"GitHub API {method} {urlsplit(url).path}: {type(exc).__name__}: "
                    f"{_one_line(str(exc)) or 'request failed'}"
                ) from exc
            status = response.status_code
            if status in (301, 302, 307, 308):
                redirects += 1
                location = response.headers.get("location")
                if not location or redirects > 5:
                    raise GitHubError(f"GitHub API {method} {urlsplit(url).path}: bad redirect")
                url = str(response.url.join(location))
                params = None
                continue
            if status in (403, 429):
                wait = self._rate_limit_wait(response, secondary_wait)
                if wait is None:
                    raise self._error(method, url, response)
                attempt += 1
                if wait > self._max_wait or attempt > self._max_retries:
                    raise GitHubError(
                        f"GitHub API rate limit: would have to wait {wait:.0f}s "
                        f"(limit {self._max_wait:.0f}s); try again later"
                    )
                if "retry-after" not in response.headers:
                    secondary_wait *= 2
                await self._sleep(max(wait, 0.0))
                continue
            if status in (502, 503, 504) and method == "GET" and attempt < self._max_retries:
                attempt += 1
                await self._sleep(float(2**attempt))
                continue
            if status >= 400:
                raise self._error(method, url, response)
            return response

    def _rate_limit_wait(self, response: httpx.Response, secondary_wait: float) -> float | None:
        headers = response.headers
        retry_after = headers.get("retry-after")
        if retry_after is not None:
            try:
                return _finite(retry_after)
            except ValueError:
                return secondary_wait
        if headers.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in headers:
            try:
                return max(_finite(headers["x-ratelimit-reset"]) - self._clock(), 0.0) + 1.0
            except ValueError:
                return None
        if "secondary rate limit" in _message(response).lower():
            return secondary_wait
        if response.status_code == 429:
            return secondary_wait
        return None

    @staticmethod
    def _error(method: str, url: str, response: httpx.Response) -> GitHubError:
        hint = {
            401: " (is GITHUB_TOKEN valid?)",
            403: " (does the token have issues: write permission?)",
            404: " (wrong repository, or the token cannot see it)",
        }.get(response.status_code, "")
        message = _one_line(_message(response)) or response.reason_phrase
        return GitHubError(
            f"GitHub API {method} {urlsplit(url).path}: {response.status_code} {message}{hint}"
        )

    def _repo_path(self, suffix: str) -> str:
        return f"/repos/{self.repo}/{suffix}"

    async def list_issues(self) -> list[Issue]:
        """Every issue (open and closed) labelled ``linkwatch``, pull requests excluded."""
        url: str | None = self._repo_path("issues")
        params: Mapping[str, str] | None = {"labels": LABEL, "state": "all", "per_page": "100"}
        issues: list[Issue] = []
        pages = 0
        while url is not None:
            pages += 1
            if pages > 100:
                raise GitHubError("GitHub API: more than 100 pages of linkwatch issues")
            response = await self._request("GET", url, params=params)
            params = None
            for item in _json(response):
                if not isinstance(item, dict) or "pull_request" in item:
                    continue
                issues.append(_parse_issue(item))
            nxt = response.links.get("next", {}).get("url")
            if nxt is not None and not self._same_origin(str(response.url.join(nxt))):
                raise GitHubError(
                    "GitHub API pagination points at another host; refusing to send the token there"
                )
            url = str(response.url.join(nxt)) if nxt else None
        return issues

    async def create_issue(self, title: str, body: str, labels: Sequence[str]) -> int:
        response = await self._request(
            "POST",
            self._repo_path("issues"),
            json={"title": title, "body": body, "labels": list(labels)},
        )
        return int(_json(response)["number"])

    async def comment(self, number: int, body: str) -> None:
        await self._request(
            "POST", self._repo_path(f"issues/{number}/comments"), json={"body": body}
        )

    async def update_issue(
        self,
        number: int,
        *,
        state: str | None = None,
        state_reason: str | None = None,
        body: str | None = None,
        title: str | None = None,
    ) -> None:
        """PATCH an issue; ``state_reason`` only takes effect together with ``state``."""
        payload: dict[str, str] = {}
        if state is not None:
            payload["state"] = state
            if state_reason is not None:
                payload["state_reason"] = state_reason
        if body is not None:
            payload["body"] = body
        if title is not None:
            payload["title"] = title
        if payload:
            await self._request("PATCH", self._repo_path(f"issues/{number}"), json=payload)

    async def add_labels(self, number: int, labels: Sequence[str]) -> None:
        if labels:
            await self._request(
                "POST", self._repo_path(f"issues/{number}/labels"), json={"labels": list(labels)}
            )


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise GitHubError(
            f"GitHub API {response.request.method} {response.request.url.path}: invalid JSON"
        ) from exc


def _message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return str(data["message"])
    return ""


def _parse_issue(item: Mapping[str, Any]) -> Issue:
    body = item.get("body") or ""
    labels = tuple(
        str(label.get("name", "")) if isinstance(label, dict) else str(label)
        for label in item.get("labels") or ()
    )
    return Issue(
        number=int(item["number"]),
        title=str(item.get("title") or ""),
        state=str(item.get("state") or "open"),
        body=str(body),
        labels=labels,
        marker_url=parse_marker(str(body)),
    )


# --------------------------------------------------------------------------- apply


async def sync_issues(client: GitHubClient, plan: Sequence[Action], *, dry_run: bool) -> list[str]:
    """Apply the plan in order; with ``dry_run`` nothing is sent and the lines say "would"."""
    lines: list[str] = []
    for action in plan:
        if dry_run:
            lines.append(_describe(action, dry_run=True))
            continue
        number = action.issue_number
        match action.kind:
            case "open":
                number = await client.create_issue(action.title, action.body, action.labels)
            case "summary":
                if number is None:
                    number = await client.create_issue(action.title, action.body, action.labels)
                else:
                    await client.update_issue(number, body=action.body, title=action.title)
            case "comment":
                assert number is not None
                if action.issue_body is not None:
                    await client.update_issue(number, body=action.issue_body)
                await client.add_labels(number, action.labels)
                await client.comment(number, action.body)
            case "reopen":
                assert number is not None
                await client.update_issue(
                    number, state="open", state_reason="reopened", body=action.issue_body
                )
                await client.add_labels(number, action.labels)
                await client.comment(number, action.body)
            case "close":
                assert number is not None
                await client.comment(number, action.body)
                await client.update_issue(
                    number, state="closed", state_reason=action.state_reason or "completed"
                )
        lines.append(_describe(action, dry_run=False, number=number))
    return lines


# --------------------------------------------------------------------------- wayback


async def wayback_snapshot(
    client: httpx.AsyncClient,
    url: str,
    *,
    timeout: float = 5.0,  # noqa: ASYNC109 -- a per-lookup budget, enforced with fail_after below
    endpoint: str = WAYBACK_API,
) -> str | None:
    """The closest Wayback Machine snapshot of ``url``, or None.

    Uses the Availability API (archive.org/help/wayback_api.php).  A hint,
    never a requirement: any error, a non-200 or a slow answer gives None.
    """
    try:
        with anyio.fail_after(timeout):
            response = await client.get(endpoint, params={"url": url}, timeout=timeout)
        if response.status_code != 200:
            return None
        data = response.json()
        closest = data["archived_snapshots"]["closest"]
        if not closest.get("available") or str(closest.get("status", "200")) != "200":
            return None
        return _safe_wayback(str(closest["url"]))
    except (httpx.HTTPError, TimeoutError, ValueError, KeyError, TypeError, AttributeError):
        return None


async def plan_with_archives(
    http: httpx.AsyncClient | None,
    states: Mapping[str, LinkState],
    results: Sequence[CheckResult],
    existing: Sequence[Issue],
    settings: Settings,
    *,
    inconclusive: bool,
    catalog_urls: Collection[str],
    now: datetime,
    catalog_path: str = "catalog.toml",
    lookup_seconds: float = 5.0,
    wayback_endpoint: str = WAYBACK_API,
    conclusive_urls: Collection[str] = (),
) -> list[Action]:
    """Plan, looking up Wayback snapshots only for links about to get an issue.

    The lookups run concurrently under one overall ``timeout`` so a slow
    archive.org never holds up the run (``lookup_seconds``); with ``http=None``
    no lookup is made.
    """
    kwargs: dict[str, Any] = {
        "inconclusive": inconclusive,
        "conclusive_urls": conclusive_urls,
        "catalog_urls": catalog_urls,
        "now": now,
        "catalog_path": catalog_path,
    }
    plan = plan_issues(states, results, existing, settings, **kwargs)
    by_url = {r.link.url: r for r in results}
    wanted = [
        a.url
        for a in plan
        if a.kind in ("open", "reopen")
        and a.url is not None
        and not (by_url.get(a.url) and by_url[a.url].suggested_url)
    ]
    if http is None or not wanted:
        return plan
    found: dict[str, str] = {}

    async def one(url: str) -> None:
        snapshot = await wayback_snapshot(
            http, url, timeout=lookup_seconds, endpoint=wayback_endpoint
        )
        if snapshot:
            found[url] = snapshot

    with anyio.move_on_after(lookup_seconds + 1.0):
        async with anyio.create_task_group() as tg:
            for url in wanted:
                tg.start_soon(one, url)
    if not found:
        return plan
    return plan_issues(states, results, existing, settings, archives=found, **kwargs)


# --------------------------------------------------------------------------- wiring


def github_env(environ: Mapping[str, str], repo_flag: str | None) -> tuple[str, str, str]:
    """``(repo, token, api_url)`` from the flag and the variables GitHub Actions sets."""
    token = environ.get("GITHUB_TOKEN", "").strip()
    if not token:
        raise GitHubError(
            "GITHUB_TOKEN is not set: export a token with issues: write permission "
            "(in GitHub Actions: env: GITHUB_TOKEN: ${{ github.token }})"
        )
    repo = (repo_flag or environ.get("GITHUB_REPOSITORY", "")).strip()
    if not repo:
        raise GitHubError("no repository: pass --repo OWNER/NAME or set GITHUB_REPOSITORY")
    if not _REPO_RE.match(repo):
        raise GitHubError(f"invalid repository {repo!r}: expected OWNER/NAME")
    api_url = (environ.get("GITHUB_API_URL") or DEFAULT_API_URL).strip().rstrip("/")
    if urlsplit(api_url).scheme not in ("http", "https") or not urlsplit(api_url).hostname:
        raise GitHubError(f"GITHUB_API_URL {api_url!r} is not an http(s) URL")
    return repo, token, api_url


async def sync_run(
    summary: RunSummary,
    states: Mapping[str, LinkState],
    settings: Settings,
    catalog_urls: Collection[str],
    *,
    repo: str,
    token: str,
    api_url: str = DEFAULT_API_URL,
    dry_run: bool = False,
    now: datetime | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    wayback: bool = True,
    wayback_endpoint: str = WAYBACK_API,
    wayback_transport: httpx.AsyncBaseTransport | None = None,
) -> list[str]:
    """Everything ``--issues`` / ``issues sync`` needs: list, plan, look up archives, apply.

    The Wayback lookups use their own client with no Authorization header,
    so the GitHub token can never reach archive.org.
    """
    async with GitHubClient(repo, token, api_url=api_url, transport=transport) as client:
        existing = await client.list_issues()
        kwargs: dict[str, Any] = {
            "inconclusive": summary.inconclusive,
            "conclusive_urls": summary.conclusive_urls,
            "catalog_urls": catalog_urls,
            "now": now or summary.finished,
            "catalog_path": summary.catalog,
        }
        if wayback and (not summary.inconclusive or summary.conclusive_urls):
            async with httpx.AsyncClient(
                transport=wayback_transport, follow_redirects=False
            ) as http:
                plan = await plan_with_archives(
                    http,
                    states,
                    summary.results,
                    existing,
                    settings,
                    wayback_endpoint=wayback_endpoint,
                    **kwargs,
                )
        else:
            plan = plan_issues(states, summary.results, existing, settings, **kwargs)
        return await sync_issues(client, plan, dry_run=dry_run)
