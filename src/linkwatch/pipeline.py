"""The one place that wires a run together: catalog → fetch → classify → history → store.

Everything here is glue.  Decisions live in the pure modules (classify,
content, history); I/O lives in fetch and store.  ``run_once`` keeps no body
longer than the callback that receives it, so memory stays bounded by the
number of links in flight, not by the size of the catalog.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any

import anyio

from linkwatch.catalog import balance_by_host
from linkwatch.classify import classify, is_network_failure
from linkwatch.content import (
    compress_text,
    diff_summary,
    extract_text,
    fingerprint,
    fingerprint_bytes,
    is_binary,
)
from linkwatch.errors import LinkwatchError
from linkwatch.fetch import Resolver, check_links
from linkwatch.history import apply_run, detect_inconclusive, host_incidents, host_of
from linkwatch.htmlpage import SharedBody
from linkwatch.models import (
    Catalog,
    CheckResult,
    Link,
    LinkState,
    Observation,
    RunSummary,
    Settings,
    Validators,
    Verdict,
)
from linkwatch.store import Store
from linkwatch.workers import run_workers

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The default clock; tests inject a fixed one instead."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class RunOptions:
    """How to run, beyond what the catalog's ``[settings]`` says."""

    allow_private: bool = False
    use_adapters: bool = True
    concurrency: int | None = None
    github_token: str | None = None
    github_api_url: str = "https://api.github.com"
    resolver: Resolver | None = None
    conditional: bool = True
    soft404_probe: bool | None = None  # None: as the catalog's settings say
    # Worker processes, split by host (see check_in_workers); 1 checks in this process.
    jobs: int = 1


def effective_settings(settings: Settings, options: RunOptions) -> Settings:
    """The catalog's settings with command-line overrides applied."""
    if options.concurrency is not None:
        settings = replace(settings, concurrency=max(1, options.concurrency))
    if options.soft404_probe is not None:
        settings = replace(settings, soft404_probe=options.soft404_probe)
    return settings


def _content_facts(
    obs: Observation, link: Link, shared: SharedBody | None = None
) -> tuple[str | None, str | None]:
    """Fingerprint the main content of a full 2xx answer; (hash, text).

    An HTML or text page with no readable text (a JavaScript app shell whose
    content only scripts render, a ``select`` that matches nothing) is
    fingerprinted as the empty text it is: its raw bytes hold per-request
    nonces, ``__VIEWSTATE`` and build ids, and hashing them reported such a
    page "changed" on every run with nothing to show.  Only a binary body
    (PDF, image…), which has no text form, is hashed byte for byte.
    """
    if obs.not_modified or obs.status_code is None or not 200 <= obs.status_code < 300:
        return None, None
    if not obs.body:
        return None, None
    content_type = obs.headers.get("content-type")
    text = extract_text(obs.body, content_type, link.select, shared=shared)
    if text or not is_binary(obs.body, content_type):
        return fingerprint(text, link.ignore_patterns, normalised=True), text
    return fingerprint_bytes(obs.body), None


#: A detail is one sentence for a human; what it quotes (a page title, an
#: exception's text) comes from outside and is kept for every link of a run.
MAX_DETAIL = 500


def _bounded(detail: str) -> str:
    return detail if len(detail) <= MAX_DETAIL else detail[: MAX_DETAIL - 1] + "…"


def observe(
    link: Link,
    obs: Observation,
    checked_at: datetime,
    *,
    previous_hash: str | None = None,
) -> CheckResult:
    """Turn one raw observation into a result (health is filled in later by history).

    The page's text is only needed to diff a change and to be stored as the
    new "before"; when its hash equals ``previous_hash`` (the one history
    holds) it is dropped, so a run over 50,000 unchanged pages does not keep
    200 MB of text until it is recorded.  The store keeps the old text then.
    """
    # One parse for both: classify only reads the tree, then extraction takes it.
    shared = SharedBody(obs.body) if obs.body else None
    verdict = classify(obs, link, shared=shared)
    content_hash, text = _content_facts(obs, link, shared)
    if previous_hash is not None and content_hash == previous_hash:
        text = None
    return CheckResult(
        link=link,
        verdict=verdict.verdict,
        reason=verdict.reason,
        detail=_bounded(verdict.detail),
        checked_at=checked_at,
        status_code=obs.status_code,
        final_url=obs.final_url,
        redirects=obs.hops,
        attempts=obs.attempts,
        elapsed_ms=obs.elapsed_ms,
        suggested_url=verdict.suggested_url,
        content_hash=content_hash,
        text=text,
        etag=obs.headers.get("etag"),
        last_modified=obs.headers.get("last-modified"),
        archived=obs.archived,
        pushed_at=obs.pushed_at,
        bytes_received=obs.bytes_received,
        not_modified=obs.not_modified,
        network_error=is_network_failure(obs),
    )


async def check_catalog(
    links: Sequence[Link],
    settings: Settings,
    *,
    options: RunOptions,
    validators: Mapping[str, Validators] | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
    clock: Clock = utc_now,
    prev_states: Mapping[str, LinkState] | None = None,
    packed: dict[str, bytes] | None = None,
    keep: bool = True,
) -> list[CheckResult]:
    """Check ``links`` and return their results in catalog order (no history).

    With ``prev_states``, results whose content is unchanged carry no text
    (see :func:`observe`).  ``keep=False`` returns nothing: a worker process
    streams its results to ``on_result`` and need not hold them too.
    """
    order = {link.url: i for i, link in enumerate(links)}
    results: list[CheckResult] = []
    states = prev_states or {}

    def collect(link: Link, obs: Observation) -> None:
        prev = states.get(link.url)
        previous_hash = prev.content_hash if prev is not None else None
        result = observe(link, obs, clock(), previous_hash=previous_hash)
        if packed is not None and result.text is not None and previous_hash is None:
            # A new page: its text is only stored, never diffed, so it waits
            # compressed (a few hundred bytes instead of a few KiB).
            packed[link.url] = compress_text(result.text)
            result = replace(result, text=None)
        if keep:
            results.append(result)
        if on_result is not None:
            on_result(result)

    kwargs: dict[str, Any] = {
        "allow_private": options.allow_private,
        "use_adapters": options.use_adapters,
        "github_token": options.github_token,
        "github_api_url": options.github_api_url,
        "probe_soft404": settings.soft404_probe,
    }
    if options.resolver is not None:
        kwargs["resolver"] = options.resolver
    await check_links(
        [link for link in links if not link.skip],
        settings,
        on_result=collect,
        validators=validators if options.conditional else None,
        **kwargs,
    )
    results.sort(key=lambda r: order.get(r.link.url, len(order)))
    return results


#: CheckResult's fields as a worker sends them: all but ``link``, which the
#: parent already holds (sending it back would copy every Link into the parent).
_SENT_FIELDS = tuple(f.name for f in fields(CheckResult) if f.name != "link")
#: A worker sends its results in batches: per-message pickling and wake-ups
#: stay small, and the parent's progress lags by at most a tenth of a second.
_BATCH_SIZE = 64
_BATCH_SECONDS = 0.1


@dataclass(frozen=True, slots=True)
class _Part:
    """What one worker process needs: its hosts' links and their remembered facts."""

    links: tuple[Link, ...]
    settings: Settings
    options: RunOptions
    validators: dict[str, Validators]
    prev_states: dict[str, LinkState]


_Sent = tuple[int, tuple[Any, ...], bytes | None]  # (index in the part, fields, packed text)


async def _check_part_here(
    part: _Part,
    *,
    on_result: Callable[[CheckResult], None] | None,
    packed: dict[str, bytes] | None,
    keep: bool = True,
) -> list[CheckResult]:
    """:func:`check_catalog` over one part, in whichever process holds it."""
    return await check_catalog(
        part.links,
        part.settings,
        options=part.options,
        validators=part.validators,
        on_result=on_result,
        prev_states=part.prev_states,
        packed=packed,
        keep=keep,
    )


def _check_part(send: Callable[[object], None], part: _Part) -> None:
    """A worker's body: check one part with the ordinary engine, stream batches back."""
    index = {link.url: i for i, link in enumerate(part.links)}
    packed: dict[str, bytes] = {}
    batch: list[_Sent] = []
    flushed = time.monotonic()

    def flush() -> None:
        nonlocal flushed
        if batch:
            send(list(batch))
            batch.clear()
        flushed = time.monotonic()

    def on_result(result: CheckResult) -> None:
        url = result.link.url
        values = tuple(getattr(result, name) for name in _SENT_FIELDS)
        batch.append((index[url], values, packed.pop(url, None)))
        if len(batch) >= _BATCH_SIZE or time.monotonic() - flushed >= _BATCH_SECONDS:
            flush()

    async def main() -> None:
        await _check_part_here(part, on_result=on_result, packed=packed, keep=False)

    anyio.run(main)
    flush()


def job_parts(links: Sequence[Link], jobs: int) -> list[tuple[Link, ...]]:
    """The non-empty, balanced host groups of ``--jobs``, smallest first.

    The first is checked by this process, which also receives every
    worker's results and starts work before they do: the smallest share.
    """
    return sorted((part for part in balance_by_host(links, jobs) if part), key=len)


async def check_in_workers(
    links: Sequence[Link],
    settings: Settings,
    *,
    options: RunOptions,
    validators: Mapping[str, Validators] | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
    prev_states: Mapping[str, LinkState] | None = None,
    packed: dict[str, bytes] | None = None,
) -> list[CheckResult]:
    """:func:`check_catalog` in ``options.jobs`` worker processes, split by host.

    When the web answers fast a run is CPU-bound on one core (HTTP parsing,
    HTML parsing, fingerprints: ~1 ms of Python per link), so each worker
    runs the whole engine and :func:`observe` for its hosts; this process
    is one of them.  A host lives in exactly one worker, and the workers get
    about as many links each (:func:`~linkwatch.catalog.balance_by_host`), so the
    per-host limits hold as in one process; the global concurrency is shared
    out.  Only results and packed texts come back; history, the store and
    reports stay in the parent, unchanged.  ``checked_at`` comes from each
    worker's own UTC clock, and ``options.resolver`` must be picklable.
    """
    parts = job_parts(links, options.jobs)
    if not parts:
        # An empty shard (N above the number of hosts) or an empty catalog is
        # a normal run with no results, as with --jobs 1: no part to check here.
        return []
    states = prev_states or {}
    known = validators or {}
    share, extra = divmod(settings.concurrency, max(1, len(parts)))
    work = [
        _Part(
            links=part,
            settings=replace(settings, concurrency=max(1, share + (k < extra))),
            options=replace(options, jobs=1),
            validators={link.url: known[link.url] for link in part if link.url in known},
            prev_states={link.url: states[link.url] for link in part if link.url in states},
        )
        for k, part in enumerate(parts)
    ]
    results: list[CheckResult] = []

    def on_data(k: int, batch: list[_Sent]) -> None:
        part = parts[k + 1]
        for i, values, text in batch:
            link = part[i]
            result = CheckResult(link=link, **dict(zip(_SENT_FIELDS, values, strict=True)))
            if text is not None and packed is not None:
                packed[link.url] = text
            results.append(result)
            if on_result is not None:
                on_result(result)

    failed: list[LinkwatchError] = []
    # This process checks the first part itself: one interpreter (~50 MB) and
    # one start-up fewer than N workers, and it works while they start.
    async with anyio.create_task_group() as group:

        async def remote() -> None:
            try:
                await run_workers(_check_part, work[1:], on_data)
            except LinkwatchError as exc:
                failed.append(exc)
                group.cancel_scope.cancel()

        group.start_soon(remote)
        results += await _check_part_here(work[0], on_result=on_result, packed=packed)
    if failed:
        raise failed[0]
    order = {link.url: i for i, link in enumerate(links)}
    results.sort(key=lambda r: order.get(r.link.url, len(order)))
    return results


#: How many hosts outside a partial run are asked whether the network is there.
WITNESS_HOSTS = 3


def witness_links(
    catalog: Catalog, chosen: Sequence[Link], canary: str | None = None
) -> list[Link]:
    """One link on each of a few catalog hosts the run did not check: the canary first.

    A shard, a ``--section`` or a schedule's subset may hold one or two
    hosts; when they all fail, "they are down" and "we are offline" look the
    same, and a whole run of the catalog would have had other hosts to tell
    them apart.  Those hosts are still the catalog's own (design.md: offline
    is judged from the catalog's hosts failing), so a partial run that looks
    offline asks a few of them (:data:`WITNESS_HOSTS`, the hosts with the
    most links first: the least likely to be down) before it decides.
    """
    checked = {host_of(link.url) for link in chosen}
    first: dict[str, Link] = {}
    counts: dict[str, int] = {}
    for link in catalog.links:
        host = host_of(link.url)
        if link.skip or not host or host in checked:
            continue
        if host not in first or link.url == canary:  # the canary itself, if listed
            first[host] = link
        counts[host] = counts.get(host, 0) + 1
    canary_host = host_of(canary) if canary else ""
    ordered = sorted(first, key=lambda h: (h != canary_host, -counts[h]))  # stable: catalog order
    return [first[h] for h in ordered[:WITNESS_HOSTS]]


def conclude(
    catalog: Catalog,
    results: Sequence[CheckResult],
    prev_states: Mapping[str, LinkState],
    *,
    settings: Settings,
    started: datetime,
    finished: datetime,
    witnesses: Sequence[CheckResult] = (),
) -> tuple[RunSummary, dict[str, LinkState]]:
    """Apply history to a run's results: inconclusive detection, incidents, health.

    ``witnesses`` (see :func:`witness_links`) count only toward "was the
    checker offline?"; they are no result of this run.
    """
    inconclusive, reason = detect_inconclusive([*results, *witnesses], canary_url=settings.canary)
    if inconclusive:
        results = [_not_judged(r, reason) for r in results]
    incidents = () if inconclusive else tuple(host_incidents(results))
    judged, states = apply_run(
        prev_states,
        results,
        settings,
        finished,
        inconclusive=inconclusive,
        incident_hosts=incidents,
        differ=diff_summary,
    )
    received = sum(r.bytes_received for r in judged)
    saved = sum(_saved_bytes(r, prev_states) for r in judged)
    summary = RunSummary(
        started=started,
        finished=finished,
        catalog=catalog.path,
        results=tuple(judged),
        inconclusive=inconclusive,
        inconclusive_reason=reason,
        incidents=incidents,
        bytes_received=received,
        bytes_saved=saved,
    )
    return summary, states


def _not_judged(result: CheckResult, why: str) -> CheckResult:
    """An offline checker's DNS or connection failure says nothing about the link.

    Offline, the resolver answers "no such name" for every host; reporting
    44 links as ``broken`` (dns-nxdomain) is the false alarm peers raise.
    """
    if not result.network_error:
        return result
    return replace(
        result,
        verdict=Verdict.ERROR,
        reason="checker-offline",
        detail=f"Not judged: {why} (here: {result.reason}: {result.detail})",
    )


def _saved_bytes(result: CheckResult, prev_states: Mapping[str, LinkState]) -> int:
    """A 304 saves the body we would otherwise have downloaded again."""
    if not result.not_modified:
        return 0
    prev = prev_states.get(result.link.url)
    return prev.body_bytes if prev is not None else 0


def _adopted(
    packed: Mapping[str, bytes], summary: RunSummary, states: Mapping[str, LinkState]
) -> dict[str, bytes]:
    """The packed texts whose hash history adopted as the link's content.

    History decides what counts as content (not a soft-404 page, not an
    inconclusive run); a text is stored only where its hash became the
    state's hash.
    """
    if summary.inconclusive or not packed:
        return {}
    adopted: dict[str, bytes] = {}
    for result in summary.results:
        url = result.link.url
        state = states.get(url)
        if url in packed and state is not None and state.content_hash == result.content_hash:
            adopted[url] = packed[url]
    return adopted


def _with_old_texts(
    prev_states: Mapping[str, LinkState], results: Sequence[CheckResult], store: Store
) -> Mapping[str, LinkState]:
    """``prev_states`` with the stored text of each link whose content changed.

    States are loaded without text; only a changed page needs its old text
    (for the diff), so only those few are read back.
    """
    changed = [
        r.link.url
        for r in results
        if r.text is not None
        and (prev := prev_states.get(r.link.url)) is not None
        and prev.content_hash is not None
        and prev.content_hash != r.content_hash
    ]
    if not changed:
        return prev_states
    texts = store.texts(changed)
    return {
        **prev_states,
        **{url: replace(prev_states[url], text=text) for url, text in texts.items()},
    }


async def run_once(
    catalog: Catalog,
    store: Store,
    *,
    links: Sequence[Link] | None = None,
    options: RunOptions | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
    clock: Clock = utc_now,
) -> RunSummary:
    """Check the catalog (or ``links`` of it), judge with history, and record the run.

    The run is written to the store in one transaction at the very end, so a
    run that is interrupted at any point leaves history as it was.
    """
    options = options or RunOptions()
    settings = effective_settings(catalog.settings, options)
    chosen = catalog.links if links is None else links
    prev_states: Mapping[str, LinkState] = store.load_states(with_text=False)
    started = clock()
    packed: dict[str, bytes] = {}
    check = check_in_workers if options.jobs > 1 else functools.partial(check_catalog, clock=clock)
    results = await check(
        chosen,
        settings,
        options=options,
        validators=store.validators(),
        on_result=on_result,
        prev_states=prev_states,
        packed=packed,
    )
    prev_states = _with_old_texts(prev_states, results, store)
    witnesses: list[CheckResult] = []
    if detect_inconclusive(results, canary_url=settings.canary)[0]:
        witnesses = await check_catalog(
            witness_links(catalog, chosen, settings.canary),
            settings,
            options=replace(options, jobs=1, conditional=False),
            clock=clock,
        )
    summary, states = conclude(
        catalog,
        results,
        prev_states,
        settings=settings,
        started=started,
        finished=clock(),
        witnesses=witnesses,
    )
    run_id = store.record_run(summary, states, texts=_adopted(packed, summary, states))
    return replace(summary, run_id=run_id)
