"""GitHub repositories, checked through the REST API.

``github.com`` answers robots with 429s and renders much of a repository page
with script; the API says precisely whether a repository exists, whether it
was renamed or transferred, and whether it is archived
(https://docs.github.com/en/rest/repos/repos#get-a-repository).  A renamed
or transferred repository answers ``301 Moved Permanently`` with a
``Location`` on the API host (https://docs.github.com/en/rest/using-the-rest-api/
best-practices-for-using-the-rest-api#follow-redirects).  A temporary
redirect (302, 307) is followed too but says nothing moved: the same page
asks clients to repeat the request there and keep using the original URL
(GitHub answers 307 for a renamed repository only to methods other than GET,
https://developer.github.com/changes/2015-04-17-preview-repository-redirects/),
so only the ``full_name`` that answers can call it renamed.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from linkwatch.adapters.base import adapter_observation, get, host_of, json_object, origin_of
from linkwatch.models import Observation

GITHUB_HOSTS = frozenset({"github.com", "www.github.com"})

#: First path segments of github.com that are not user or organisation names
#: (GitHub's own pages: ``/advisories/GHSA-…``, ``/git-guides/…``; files
#: attached to issues and READMEs: ``/user-attachments/assets/<uuid>``).  A missing
#: one makes the adapter ask for a repository that cannot exist and report a
#: working page broken; a link under one of these is fetched like any page.
RESERVED_OWNERS = frozenset(
    {
        "about",
        "accessibility",
        "account",
        "advisories",
        "apps",
        "blog",
        "codespaces",
        "collections",
        "contact",
        "copilot",
        "customer-stories",
        "dashboard",
        "discussions",
        "education",
        "enterprise",
        "enterprises",
        "events",
        "explore",
        "features",
        "git-guides",
        "github-copilot",
        "issues",
        "join",
        "login",
        "logout",
        "marketplace",
        "mobile",
        "new",
        "notifications",
        "open-source",
        "organizations",
        "orgs",
        "partners",
        "password_reset",
        "premium-support",
        "pricing",
        "pulls",
        "readme",
        "resources",
        "search",
        "security",
        "sessions",
        "settings",
        "signup",
        "site",
        "solutions",
        "sponsors",
        "stars",
        "team",
        "topics",
        "trending",
        "user-attachments",
        "users",
        "watching",
        "why-github",
    }
)

_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_MAX_API_REDIRECTS = 3


@dataclass(frozen=True)
class RepoRef:
    owner: str
    repo: str
    rest: str  # the path after /OWNER/REPO, "" for the repository root
    query: str
    fragment: str

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.repo}"

    @property
    def is_root(self) -> bool:
        return self.rest.strip("/") == "" and not self.query and not self.fragment


def parse_repo_url(url: str) -> RepoRef | None:
    """``https://github.com/OWNER/REPO[/…]`` → its parts; None for any other URL."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or (parts.hostname or "").lower() not in GITHUB_HOSTS:
        return None
    segments = parts.path.split("/")
    if len(segments) < 3:
        return None
    owner, repo = segments[1], segments[2].removesuffix(".git")
    if owner.lower() in RESERVED_OWNERS or not _NAME.fullmatch(owner) or not repo:
        return None
    if not _NAME.fullmatch(repo) or repo in (".", ".."):
        return None
    rest = "/" + "/".join(segments[3:]) if len(segments) > 3 else ""
    return RepoRef(owner, repo, rest, parts.query, parts.fragment)


class GitHubAdapter:
    """Repository existence, renames and archival from ``GET /repos/{owner}/{repo}``.

    Deep links (``/blob/…``, ``/issues/…``) and links with a ``#fragment``
    are decided here only when the repository itself is gone or renamed;
    otherwise the adapter returns None and the normal fetch checks the page.
    """

    name = "github"

    def __init__(self, api_url: str = "https://api.github.com") -> None:
        self.api_url = api_url.rstrip("/")
        self.api_host = host_of(self.api_url)
        self._api_origin = origin_of(self.api_url)

    def matches(self, url: str) -> bool:
        return parse_repo_url(url) is not None

    def _headers(self, request_url: str, token: str | None) -> dict[str, str]:
        """API headers; the token goes to the API's origin and nowhere else.

        The origin, not just the host: a redirect to ``http://`` on the same
        host would carry the token in cleartext (the issues client compares
        scheme, host and port for the same reason).
        """
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }
        if token and self._api_origin is not None and origin_of(request_url) == self._api_origin:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    async def check(
        self, url: str, client: httpx.AsyncClient, *, token: str | None = None
    ) -> Observation | None:
        ref = parse_repo_url(url)
        if ref is None:
            return None
        started = time.perf_counter()
        request_url = f"{self.api_url}/repos/{ref.owner}/{ref.repo}"
        redirected = False
        for _ in range(_MAX_API_REDIRECTS + 1):
            response = await get(client, request_url, headers=self._headers(request_url, token))
            if response is None:
                return None
            location = response.headers.get("location")
            if response.status_code in (301, 302, 307, 308) and location:
                request_url = urljoin(request_url, location)
                # Only a permanent redirect says the repository moved.
                redirected = redirected or response.status_code in (301, 308)
                continue
            break
        else:
            return None
        elapsed = int((time.perf_counter() - started) * 1000)

        if response.status_code == 404:
            return adapter_observation(
                url,
                adapter=self.name,
                reason="github-repo-missing",
                detail=f"GitHub has no repository {ref.full_name} (deleted, private or never "
                "existed).",
                status_code=404,
                elapsed_ms=elapsed,
            )
        if response.status_code != 200:
            return None  # rate limit (403/429), 5xx, blocked (451): let the page fetch decide
        data = json_object(response)
        if data is None:
            return None
        full_name, html_url = data.get("full_name"), data.get("html_url")
        if not isinstance(full_name, str) or not isinstance(html_url, str):
            return None
        archived = data.get("archived") is True
        pushed = data.get("pushed_at")
        pushed_at = pushed if isinstance(pushed, str) else None

        if redirected or full_name.lower() != ref.full_name.lower():
            new_url = html_url.rstrip("/") + ref.rest
            if ref.query:
                new_url += "?" + ref.query
            if ref.fragment:
                new_url += "#" + ref.fragment
            return adapter_observation(
                url,
                adapter=self.name,
                reason="github-repo-renamed",
                detail=f"The repository {ref.full_name} is now {full_name}.",
                status_code=200,
                final_url=new_url,
                archived=archived,
                pushed_at=pushed_at,
                elapsed_ms=elapsed,
            )
        if not ref.is_root:
            return None
        if archived:
            return adapter_observation(
                url,
                adapter=self.name,
                reason="github-archived",
                detail=f"The repository {full_name} is archived (read-only); last push "
                f"{pushed_at or 'unknown'}.",
                status_code=200,
                archived=True,
                pushed_at=pushed_at,
                elapsed_ms=elapsed,
            )
        return adapter_observation(
            url,
            adapter=self.name,
            reason="github-ok",
            detail=f"The repository {full_name} exists; last push {pushed_at or 'unknown'}.",
            status_code=200,
            archived=False,
            pushed_at=pushed_at,
            elapsed_ms=elapsed,
        )
