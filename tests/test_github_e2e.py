"""End to end: plan + sync against a fake GitHub API over real HTTP on loopback.

Several nightly runs in a row drive one repository's issues through their
whole lifecycle; a second loopback host (127.0.0.2) stands in for "anywhere
else" and proves the token never reaches it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from fake_github import FakeGitHub
from linkwatch.errors import GitHubError
from linkwatch.github import github_env, sync_run
from linkwatch.models import CheckResult, Health, Link, LinkState, RunSummary, Settings, Verdict

pytestmark = pytest.mark.anyio

TOKEN = "ghs_e2e_token"
A = "https://a.example/page"
B = "https://b.example/doc"
START = datetime(2025, 3, 1, 3, 0, tzinfo=UTC)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def api() -> Iterator[FakeGitHub]:
    with FakeGitHub("127.0.0.1", token=TOKEN) as fake:
        yield fake


@pytest.fixture
def elsewhere() -> Iterator[FakeGitHub]:
    try:
        server = FakeGitHub("127.0.0.2", token=TOKEN)
    except OSError:
        pytest.skip("127.0.0.2 is not routable on this machine")
    with server as fake:
        yield fake


class Night:
    """One nightly run: what history and the checker said about each link."""

    def __init__(self, day: int) -> None:
        self.when = START + timedelta(days=day)
        self.states: dict[str, LinkState] = {}
        self.results: list[CheckResult] = []

    def rotten(self, url: str, status: int = 404, reason: str = "http-404") -> Night:
        self.states[url] = LinkState(
            url, Health.ROTTEN, Verdict.BROKEN, fail_streak=3, first_failure_at=START
        )
        self.results.append(
            CheckResult(
                Link(url, f"Page {url[8]}", line=3),
                Verdict.BROKEN,
                reason,
                "Not Found",
                self.when,
                status,
            )
        )
        return self

    def healthy(self, url: str) -> Night:
        self.states[url] = LinkState(url, Health.HEALTHY, Verdict.OK, ok_streak=3)
        self.results.append(
            CheckResult(Link(url, f"Page {url[8]}", line=3), Verdict.OK, "ok", "OK", self.when, 200)
        )
        return self


async def run(api: FakeGitHub, night: Night, catalog: set[str], **kw: object) -> list[str]:
    repo, token, api_url = github_env(
        {"GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": "owner/repo", "GITHUB_API_URL": api.url}, None
    )
    summary = RunSummary(night.when, night.when, "catalog.toml", tuple(night.results))
    return await sync_run(
        summary,
        night.states,
        Settings(),
        catalog,
        repo=repo,
        token=token,
        api_url=api_url,
        wayback_endpoint=f"{api.url}/wayback/available",
        **kw,  # type: ignore[arg-type]
    )


async def test_issue_lifecycle_over_several_runs(api: FakeGitHub) -> None:
    catalog = {A, B}
    api.wayback[B] = "http://web.archive.org/web/20240101000000/https://b.example/doc"

    lines = await run(api, Night(0).rotten(A).rotten(B), catalog)
    assert len(lines) == 2 and all(line.startswith("opened #") for line in lines)
    assert {i.state for i in api.issues.values()} == {"open"}
    issue_b = next(i for i in api.issues.values() if "b.example" in i.body)
    assert "<https://web.archive.org/web/20240101000000/https://b.example/doc>" in issue_b.body
    assert issue_b.labels == ["linkwatch", "http-404"]

    # Rerun with the same evidence: no duplicate, no comment.
    assert await run(api, Night(1).rotten(A).rotten(B), catalog) == []
    assert len(api.issues) == 2

    # New evidence on A: one comment, still two issues, new label added.
    lines = await run(api, Night(2).rotten(A, 410, "http-410").rotten(B), catalog)
    issue_a = next(i for i in api.issues.values() if "a.example" in i.body)
    assert lines == [f"commented on #{issue_a.number}: {issue_a.title}"]
    assert "http-410" in issue_a.labels and len(issue_a.comments) == 1

    # A recovers: closed as completed with a comment.
    await run(api, Night(3).healthy(A).rotten(B), catalog)
    assert (issue_a.state, issue_a.state_reason) == ("closed", "completed")
    assert "works again" in issue_a.comments[-1]

    # A rots again: the same issue is reopened, nothing new is created.
    lines = await run(api, Night(4).rotten(A).rotten(B), catalog)
    assert lines == [f"reopened #{issue_a.number}: {issue_a.title}"]
    assert issue_a.state == "open" and len(api.issues) == 2

    # B leaves the catalog: closed as not planned.
    await run(api, Night(5).rotten(A), {A})
    assert (issue_b.state, issue_b.state_reason) == ("closed", "not_planned")

    # Every API request went to the API host with the token; the wayback
    # lookup (same fake, different path) carried no token at all.
    api_requests = [r for r in api.requests if r.path.startswith("/repos/")]
    assert api_requests and all(r.authorization == f"Bearer {TOKEN}" for r in api_requests)
    assert all(r.host == api.url.removeprefix("http://") for r in api.requests)
    wayback = [r for r in api.requests if r.path.startswith("/wayback/")]
    assert wayback and all(r.authorization is None for r in wayback)


async def test_inconclusive_run_touches_nothing(api: FakeGitHub) -> None:
    night = Night(0).rotten(A)
    summary = RunSummary(
        night.when, night.when, "catalog.toml", tuple(night.results), inconclusive=True
    )
    lines = await sync_run(
        summary, night.states, Settings(), {A}, repo="owner/repo", token=TOKEN, api_url=api.url
    )
    assert lines == [] and api.issues == {}
    assert [r.method for r in api.requests] == ["GET"]


async def test_dry_run_changes_nothing(api: FakeGitHub) -> None:
    lines = await run(api, Night(0).rotten(A), {A}, dry_run=True, wayback=False)
    assert lines == ["would open a new issue: Link rotten: Page a"]
    assert api.issues == {}


async def test_pagination_to_another_host_never_gets_the_token(
    api: FakeGitHub, elsewhere: FakeGitHub
) -> None:
    await run(api, Night(0).rotten(A).rotten(B), {A, B}, wayback=False)
    api.page_size = 1
    api.next_link_base = elsewhere.url
    with pytest.raises(GitHubError, match="another host"):
        await run(api, Night(1).rotten(A).rotten(B), {A, B}, wayback=False)
    assert elsewhere.requests == []
    assert len(api.issues) == 2


async def test_same_host_pagination_sees_every_issue(api: FakeGitHub) -> None:
    await run(api, Night(0).rotten(A).rotten(B), {A, B}, wayback=False)
    api.page_size = 1
    assert await run(api, Night(1).rotten(A).rotten(B), {A, B}, wayback=False) == []
    assert any("page=2" in r.path for r in api.requests)
    assert len(api.issues) == 2


async def test_redirect_to_another_host_never_gets_the_token(
    api: FakeGitHub, elsewhere: FakeGitHub
) -> None:
    api.redirect_to = elsewhere.url
    with pytest.raises(GitHubError, match="another host"):
        await run(api, Night(0).rotten(A), {A}, wayback=False)
    assert elsewhere.requests == []
