"""What every host adapter shares: the protocol the fetch layer calls and the
one way adapters build their ``Observation``.

An adapter asks a host's API a precise question ("does this repository
exist?") instead of scraping a page that may be a bot wall or a client-side
app.  It answers with an ``Observation`` whose ``adapter_verdict`` settles the
classification, or with None when it cannot decide — rate-limited, a server
error, JSON it does not recognise — so that the fetch layer falls back to an
ordinary fetch.  Remote trouble never raises: a dead link is data.
"""

from __future__ import annotations

import json
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from linkwatch.classify import reason_verdict
from linkwatch.models import Observation


class Adapter(Protocol):
    """A host-specific checker (GitHub API, YouTube oEmbed, bilibili API)."""

    name: str
    api_host: str

    def matches(self, url: str) -> bool: ...

    async def check(
        self, url: str, client: httpx.AsyncClient, *, token: str | None = None
    ) -> Observation | None: ...


def adapter_observation(
    url: str,
    *,
    adapter: str,
    reason: str,
    detail: str,
    status_code: int | None,
    final_url: str | None = None,
    archived: bool | None = None,
    pushed_at: str | None = None,
    elapsed_ms: int = 0,
) -> Observation:
    """An Observation whose verdict comes from ``classify.REASONS`` (one table for all)."""
    return Observation(
        url=url,
        final_url=final_url or url,
        status_code=status_code,
        adapter=adapter,
        adapter_verdict=reason_verdict(reason),
        adapter_reason=reason,
        adapter_detail=detail,
        archived=archived,
        pushed_at=pushed_at,
        elapsed_ms=elapsed_ms,
    )


def host_of(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def origin_of(url: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` with the default port filled in; None when unparsable.

    A credential may follow a redirect only to its own origin: the same host
    on plain http or another port is somewhere else (RFC 6454 §4).
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or (443 if scheme == "https" else 80)


async def get(
    client: httpx.AsyncClient,
    url: str,
    *,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response | None:
    """GET without following redirects; None on any transport failure."""
    try:
        return await client.get(url, params=params, headers=headers, follow_redirects=False)
    except (httpx.HTTPError, httpx.InvalidURL, ValueError):
        return None


def json_object(response: httpx.Response) -> dict[str, Any] | None:
    """The body as a JSON object, or None when it is not one."""
    try:
        data = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None
