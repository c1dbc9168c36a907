from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime

import httpx
import pytest
import respx

from linkwatch.errors import GitHubError
from linkwatch.github import (
    Action,
    GitHubClient,
    Issue,
    format_plan,
    github_env,
    marker,
    parse_marker,
    plan_issues,
    sync_issues,
    url_key,
    wayback_snapshot,
)
from linkwatch.models import CheckResult, Health, Hop, Link, LinkState, Settings, Verdict

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


NOW = datetime(2025, 3, 1, 3, 0, tzinfo=UTC)
API = "https://api.github.test"
REPO = "owner/repo"
A = "https://a.example/page"
B = "https://b.example/doc"
C = "https://c.example/x"


def link(url: str, title: str = "A page", line: int = 7) -> Link:
    return Link(url=url, title=title, line=line, section=("Basics",))


def result(
    url: str, verdict: Verdict = Verdict.BROKEN, reason: str = "http-404", **kw: object
) -> CheckResult:
    fields: dict[str, object] = {
        "status_code": 404 if verdict is Verdict.BROKEN else 200,
        "detail": "Not Found",
    }
    fields.update(kw)
    return CheckResult(
        link=link(url, title=str(fields.pop("title", "A page"))),
        verdict=verdict,
        reason=reason,
        checked_at=NOW,
        **fields,  # type: ignore[arg-type]
    )


def state(url: str, health: Health, fail: int = 3, ok: int = 0) -> LinkState:
    return LinkState(
        url=url,
        health=health,
        fail_streak=fail,
        ok_streak=ok,
        first_failure_at=datetime(2025, 2, 26, tzinfo=UTC) if fail else None,
    )


def issue_for(
    url: str, number: int = 1, state_: str = "open", *, res: CheckResult | None = None
) -> Issue:
    """An issue as linkwatch itself would have opened it for ``res``."""
    res = res or result(url)
    plan = plan_issues(
        {url: state(url, Health.ROTTEN)},
        [res],
        [],
        Settings(),
        inconclusive=False,
        catalog_urls={url},
        now=NOW,
    )
    body = plan[0].body
    return Issue(number, plan[0].title, state_, body, ("linkwatch",), parse_marker(body))


def kinds(actions: list[Action]) -> list[tuple[str, int | None]]:
    return [(a.kind, a.issue_number) for a in actions]


# ----------------------------------------------------------------------------- plan

PLAN_CASES = [
    pytest.param(
        {A: state(A, Health.ROTTEN)}, [result(A)], [], [("open", None)], id="new-rotten-opens"
    ),
    pytest.param(
        {A: state(A, Health.FAILING, fail=1)}, [result(A)], [], [], id="failing-is-not-yet-rot"
    ),
    pytest.param(
        {A: state(A, Health.ROTTEN, fail=4)},
        [result(A)],
        [issue_for(A, 5)],
        [],
        id="rerun-same-evidence-does-nothing",
    ),
    pytest.param(
        {A: state(A, Health.ROTTEN, fail=4)},
        [result(A, reason="http-410", status_code=410, detail="Gone")],
        [issue_for(A, 5)],
        [("comment", 5)],
        id="rerun-new-evidence-comments",
    ),
    pytest.param(
        {A: state(A, Health.ROTTEN, fail=4)},
        [],
        [issue_for(A, 5)],
        [],
        id="not-checked-this-run-says-nothing",
    ),
    pytest.param(
        {A: state(A, Health.ROTTEN)},
        [result(A)],
        [issue_for(A, 5, "closed")],
        [("reopen", 5)],
        id="recurrence-reopens",
    ),
    pytest.param(
        {A: state(A, Health.HEALTHY, fail=0, ok=1)},
        [result(A, Verdict.OK, "ok")],
        [issue_for(A, 5)],
        [("close", 5)],
        id="healthy-closes",
    ),
    pytest.param(
        {A: state(A, Health.RECOVERED, fail=0, ok=2)},
        [result(A, Verdict.OK, "ok")],
        [issue_for(A, 5)],
        [("close", 5)],
        id="recovered-long-enough-closes",
    ),
    pytest.param(
        {A: state(A, Health.RECOVERED, fail=0, ok=1)},
        [result(A, Verdict.OK, "ok")],
        [issue_for(A, 5)],
        [],
        id="recovered-once-keeps-open",
    ),
    pytest.param(
        {A: state(A, Health.HEALTHY, fail=0, ok=3)},
        [result(A, Verdict.OK, "ok")],
        [issue_for(A, 5, "closed")],
        [],
        id="closed-and-healthy-untouched",
    ),
]


@pytest.mark.parametrize(("states", "results", "existing", "expected"), PLAN_CASES)
def test_plan_table(
    states: dict[str, LinkState],
    results: list[CheckResult],
    existing: list[Issue],
    expected: list[tuple[str, int | None]],
) -> None:
    plan = plan_issues(
        states, results, existing, Settings(), inconclusive=False, catalog_urls={A, B, C}, now=NOW
    )
    assert kinds(plan) == expected


def test_blocked_answer_on_a_rotten_link_is_no_new_evidence() -> None:
    """A bot wall in front of a rotten link says nothing about it (design.md §2, blocked)."""
    wall = result(A, Verdict.BLOCKED, "bot-challenge", status_code=403, detail="Just a moment")
    plan = plan_issues(
        {A: state(A, Health.ROTTEN, fail=4)}, [wall], [issue_for(A, 5)], Settings(),
        inconclusive=False, catalog_urls={A}, now=NOW,
    )  # fmt: skip
    assert plan == []


def test_churning_evidence_comments_once_per_kind_not_every_night() -> None:
    """A dead server answering 502, 504, 500, 502, 504 … is not news every night."""
    statuses = [502, 504, 500, 502, 504, 500, 502]
    issue = issue_for(A, 5, res=result(A, reason="http-5xx", status_code=statuses[0]))
    comments = []
    for night, status in enumerate(statuses[1:], start=1):
        plan = plan_issues(
            {A: state(A, Health.ROTTEN, fail=3 + night)},
            [result(A, reason="http-5xx", status_code=status, detail=f"HTTP {status}")],
            [issue], Settings(), inconclusive=False, catalog_urls={A}, now=NOW,
        )  # fmt: skip
        for action in plan:
            assert action.kind == "comment" and action.issue_body is not None
            comments.append(status)
            issue = replace(issue, body=action.issue_body)
    assert comments == [504, 500]
    # Evidence never seen before is still news.
    plan = plan_issues(
        {A: state(A, Health.ROTTEN, fail=10)}, [result(A, reason="http-404", status_code=404)],
        [issue], Settings(), inconclusive=False, catalog_urls={A}, now=NOW,
    )  # fmt: skip
    assert kinds(plan) == [("comment", 5)]


def test_reopen_comment_does_not_call_the_link_still_rotten() -> None:
    plan = plan_issues(
        {A: state(A, Health.ROTTEN)}, [result(A)], [issue_for(A, 5, "closed")], Settings(),
        inconclusive=False, catalog_urls={A}, now=NOW,
    )  # fmt: skip
    assert kinds(plan) == [("reopen", 5)]
    assert plan[0].body.startswith("The link is rotten again (2025-03-01 03:00 UTC):\n\n- Verdict")
    assert "still rotten" not in plan[0].body


def test_a_link_that_came_back_by_moving_closes_with_where_it_went() -> None:
    """It works again, but the catalog still has the old address: the comment names the new one."""
    moved = result(
        A,
        Verdict.MOVED,
        "moved-permanently",
        suggested_url="https://a.example/new @octocat",
        title="A page",
    )
    plan = plan_issues(
        {A: state(A, Health.HEALTHY, fail=0, ok=2)},
        [moved],
        [issue_for(A, 5)],
        Settings(),
        inconclusive=False,
        catalog_urls={A},
        now=NOW,
    )
    assert kinds(plan) == [("close", 5)]
    assert "redirects permanently to `https://a.example/new @octocat`" in plan[0].body
    assert "`linkwatch fix`" in plan[0].body
    fine = plan_issues(
        {A: state(A, Health.HEALTHY, fail=0, ok=2)},
        [result(A, Verdict.OK, "ok")],
        [issue_for(A, 5)],
        Settings(),
        inconclusive=False,
        catalog_urls={A},
        now=NOW,
    )
    assert "redirects" not in fine[0].body


def test_removed_from_catalog_closes_as_not_planned() -> None:
    plan = plan_issues(
        {}, [], [issue_for(A, 9)], Settings(), inconclusive=False, catalog_urls={B}, now=NOW
    )
    assert kinds(plan) == [("close", 9)]
    assert plan[0].state_reason == "not_planned"


def test_inconclusive_run_plans_nothing() -> None:
    plan = plan_issues(
        {A: state(A, Health.ROTTEN)},
        [result(A)],
        [issue_for(B, 2)],
        Settings(),
        inconclusive=True,
        catalog_urls={A},
        now=NOW,
    )
    assert plan == []


def test_inconclusive_view_acts_only_on_links_a_conclusive_run_checked_last() -> None:
    """A per-link summary over an old inconclusive run and a newer partial one.

    A was last checked by the conclusive run: it is rotten, so it gets its
    issue.  B and C were last checked by the inconclusive run: B's issue is
    not closed although its state looks recovered, and C gets no issue.
    """
    plan = plan_issues(
        {
            A: state(A, Health.ROTTEN),
            B: state(B, Health.HEALTHY, fail=0, ok=5),
            C: state(C, Health.ROTTEN),
        },
        [result(A), result(B), result(C)],
        [issue_for(B, 2)],
        Settings(),
        inconclusive=True,
        conclusive_urls={A},
        catalog_urls={A, B, C},
        now=NOW,
    )
    assert [(a.kind, a.url) for a in plan] == [("open", A)]


def test_inconclusive_view_keeps_unjudged_rotten_links_on_the_summary_issue() -> None:
    settings = Settings(issue_mode="summary")
    states = {A: state(A, Health.ROTTEN), B: state(B, Health.ROTTEN)}
    first = plan_issues(
        states, [result(A), result(B)], [], settings,
        inconclusive=False, catalog_urls={A, B}, now=NOW,
    )  # fmt: skip
    (action,) = first
    summary = Issue(1, action.title, "open", action.body, ("linkwatch",), parse_marker(action.body))
    plan = plan_issues(
        states, [result(A), result(B)], [summary], settings,
        inconclusive=True, conclusive_urls={A}, catalog_urls={A, B}, now=NOW,
    )  # fmt: skip
    assert plan == []


def test_more_than_max_new_issues_go_to_one_summary() -> None:
    urls = [f"https://site{i}.example/" for i in range(5)]
    plan = plan_issues(
        {u: state(u, Health.ROTTEN) for u in urls},
        [result(u) for u in urls],
        [],
        Settings(max_new_issues=2),
        inconclusive=False,
        catalog_urls=set(urls),
        now=NOW,
    )
    assert [a.kind for a in plan] == ["open", "open", "summary"]
    summary = plan[-1]
    assert parse_marker(summary.body) == "summary"
    assert summary.body.count("- [ ]") == 3
    assert all(f"<{u}>" in summary.body for u in urls[2:])


def test_links_waiting_on_the_summary_get_their_issues_before_newer_rot() -> None:
    """Over the cap, the oldest rot is opened first, not the first in the catalog."""
    waiting = "https://z-last-in-catalog.example/"
    newer = "https://a-first-in-catalog.example/"
    rotten = state(newer, Health.ROTTEN)
    states = {
        newer: replace(rotten, first_failure_at=datetime(2025, 2, 27, tzinfo=UTC)),
        waiting: replace(rotten, url=waiting, first_failure_at=datetime(2025, 2, 20, tzinfo=UTC)),
    }
    plan = plan_issues(
        states, [result(newer), result(waiting)], [], Settings(max_new_issues=1),
        inconclusive=False, catalog_urls=set(states), now=NOW,
    )  # fmt: skip
    assert [(a.kind, a.url) for a in plan] == [("open", waiting), ("summary", None)]
    assert f"<{newer}>" in plan[1].body


def test_summary_mode_one_checklist_then_close_when_all_recover() -> None:
    settings = Settings(issue_mode="summary")
    rotten = {A: state(A, Health.ROTTEN), B: state(B, Health.ROTTEN)}
    first = plan_issues(
        rotten,
        [result(A), result(B)],
        [],
        settings,
        inconclusive=False,
        catalog_urls={A, B},
        now=NOW,
    )
    assert [a.kind for a in first] == ["summary"]
    assert first[0].body.count("- [ ]") == 2
    existing = [Issue(3, first[0].title, "open", first[0].body, ("linkwatch",), "summary")]
    unchanged = plan_issues(
        rotten, [result(A), result(B)], existing, settings,
        inconclusive=False, catalog_urls={A, B}, now=NOW,
    )  # fmt: skip
    assert unchanged == []
    healed = {u: state(u, Health.HEALTHY, fail=0, ok=1) for u in (A, B)}
    last = plan_issues(
        healed,
        [result(A, Verdict.OK, "ok"), result(B, Verdict.OK, "ok")],
        existing,
        settings,
        inconclusive=False,
        catalog_urls={A, B},
        now=NOW,
    )
    assert kinds(last) == [("close", 3)]


def test_summary_mode_updates_when_list_changes() -> None:
    settings = Settings(issue_mode="summary")
    first = plan_issues(
        {A: state(A, Health.ROTTEN)}, [result(A)], [], settings,
        inconclusive=False, catalog_urls={A, B}, now=NOW,
    )  # fmt: skip
    existing = [Issue(3, first[0].title, "open", first[0].body, ("linkwatch",), "summary")]
    plan = plan_issues(
        {A: state(A, Health.ROTTEN), B: state(B, Health.ROTTEN)},
        [result(A), result(B)],
        existing,
        settings,
        inconclusive=False,
        catalog_urls={A, B},
        now=NOW,
    )
    assert kinds(plan) == [("summary", 3)]
    assert f"<{B}>" in plan[0].body


def test_body_has_marker_evidence_location_and_labels() -> None:
    res = result(
        A,
        redirects=(Hop(A, 301), Hop("https://a.example/new", 404)),
        final_url="https://a.example/new",
    )
    plan = plan_issues(
        {A: state(A, Health.ROTTEN)},
        [res],
        [],
        Settings(),
        inconclusive=False,
        catalog_urls={A},
        now=NOW,
        catalog_path="lists/catalog.toml",
    )
    action = plan[0]
    assert action.title == "Link rotten: A page"
    assert action.labels == ("linkwatch", "http-404")
    assert f"<!-- linkwatch:url={url_key(A)} -->" in action.body
    assert A not in marker(url_key(A))
    for expected in ("HTTP status: 404", "`http-404`", "Not Found", "line 7", "lists/catalog.toml"):
        assert expected in action.body
    assert "Redirects: 301" in action.body
    assert "First failure: 2025-02-26" in action.body
    assert "Failure streak: 3" in action.body


def test_body_names_a_redirect_stubs_hop_meta_refresh_not_200() -> None:
    res = result(
        A,
        redirects=(Hop(A, 200, meta_refresh=True),),
        final_url="https://a.example/new",
    )
    plan = plan_issues(
        {A: state(A, Health.ROTTEN)},
        [res],
        [],
        Settings(),
        inconclusive=False,
        catalog_urls={A},
        now=NOW,
    )
    assert f"Redirects: meta refresh `{A}`" in plan[0].body


def test_body_neutralises_remote_text() -> None:
    res = result(
        A,
        detail="@everyone see ![x](https://evil.example/p.png) <script>",
        final_url="https://evil.example/@admin",
        title="Hi @team [x](https://evil.example)",
    )
    action = plan_issues(
        {A: state(A, Health.ROTTEN)}, [res], [], Settings(),
        inconclusive=False, catalog_urls={A}, now=NOW,
    )[0]  # fmt: skip
    assert "@everyone" not in action.body
    assert "@team" not in action.body and "@team" not in action.title
    assert "](https://evil" not in action.body
    assert "<script>" not in action.body
    # Server-chosen URLs appear only verbatim inside code spans, where GitHub
    # neither autolinks nor mentions; everywhere else they are defanged.
    outside_code = re.sub(r"`[^`]*`", "", action.body)
    assert "https://evil" not in outside_code
    assert "`https://evil.example/@admin`" in action.body


def test_moved_suggestion_and_wayback_suggestion() -> None:
    moved = result(A, Verdict.BROKEN, suggested_url="https://a.example/v2")
    plan = plan_issues(
        {A: state(A, Health.ROTTEN)}, [moved], [], Settings(),
        inconclusive=False, catalog_urls={A}, now=NOW,
    )  # fmt: skip
    assert "moved to `https://a.example/v2`" in plan[0].body
    snap = "http://web.archive.org/web/20240101000000/https://b.example/doc"
    plan = plan_issues(
        {B: state(B, Health.ROTTEN)}, [result(B)], [], Settings(),
        inconclusive=False, catalog_urls={B}, now=NOW, archives={B: snap},
    )  # fmt: skip
    assert "<https://web.archive.org/web/20240101000000/https://b.example/doc>" in plan[0].body


def test_issue_body_shows_a_pipe_in_a_url_as_it_is() -> None:
    """An issue body has no table, so a ``\\|`` inside a code span would show its backslash."""
    moved = result(A, Verdict.MOVED, suggested_url="https://a.example/q?a=1|2")
    plan = plan_issues(
        {A: state(A, Health.ROTTEN)}, [moved], [], Settings(),
        inconclusive=False, catalog_urls={A}, now=NOW,
    )  # fmt: skip
    assert "moved to `https://a.example/q?a=1|2`" in plan[0].body


def test_forged_wayback_url_is_ignored() -> None:
    plan = plan_issues(
        {B: state(B, Health.ROTTEN)}, [result(B)], [], Settings(),
        inconclusive=False, catalog_urls={B}, now=NOW,
        archives={B: "https://evil.example/web/20240101000000/x"},
    )  # fmt: skip
    assert "evil" not in plan[0].body


def test_body_is_capped() -> None:
    res = result(
        A, redirects=tuple(Hop(f"https://a.example/{'x' * 5000}{i}", 302) for i in range(20))
    )
    body = plan_issues(
        {A: state(A, Health.ROTTEN)}, [res], [], Settings(),
        inconclusive=False, catalog_urls={A}, now=NOW,
    )[0].body  # fmt: skip
    assert len(body) <= 65_536


def test_format_plan_lines() -> None:
    plan = [
        Action("open", A, None, "Link rotten: A", "body"),
        Action("close", B, 4, "Link rotten: B", "bye"),
    ]
    assert format_plan(plan) == (
        "would open a new issue: Link rotten: A\nwould close #4: Link rotten: B"
    )
    assert format_plan([]) == "No issue changes."


# ----------------------------------------------------------------------------- env


def test_github_env_reads_actions_variables() -> None:
    env = {"GITHUB_TOKEN": "t0k", "GITHUB_REPOSITORY": "o/r"}
    assert github_env(env, None) == ("o/r", "t0k", "https://api.github.com")
    assert github_env({**env, "GITHUB_API_URL": "https://ghe.test/api/v3/"}, "x/y") == (
        "x/y",
        "t0k",
        "https://ghe.test/api/v3",
    )


@pytest.mark.parametrize(
    ("env", "flag", "message"),
    [
        ({"GITHUB_REPOSITORY": "o/r"}, None, "GITHUB_TOKEN"),
        ({"GITHUB_TOKEN": "t"}, None, "--repo"),
        ({"GITHUB_TOKEN": "t"}, "not a repo", "OWNER/NAME"),
        ({"GITHUB_TOKEN": "t", "GITHUB_API_URL": "ftp://x"}, "o/r", "http(s)"),
    ],
)
def test_github_env_errors(env: dict[str, str], flag: str | None, message: str) -> None:
    with pytest.raises(GitHubError, match=message.replace("(", r"\(").replace(")", r"\)")):
        github_env(env, flag)


# ----------------------------------------------------------------------------- client


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def client(sleep: Sleeps | None = None, **kw: object) -> GitHubClient:
    return GitHubClient(REPO, "s3cret", api_url=API, sleep=sleep or Sleeps(), **kw)  # type: ignore[arg-type]


def issue_json(
    number: int, body: str = "", state_: str = "open", **extra: object
) -> dict[str, object]:
    return {
        "number": number,
        "title": f"t{number}",
        "state": state_,
        "body": body,
        "labels": [{"name": "linkwatch"}],
        **extra,
    }


@respx.mock
async def test_create_sends_headers_and_payload() -> None:
    route = respx.post(f"{API}/repos/{REPO}/issues").mock(
        return_value=httpx.Response(201, json={"number": 42})
    )
    async with client() as gh:
        number = await gh.create_issue("Link rotten: x", "body", ["linkwatch", "http-404"])
    assert number == 42
    request = route.calls.last.request
    assert request.headers["Authorization"] == "Bearer s3cret"
    assert request.headers["Accept"] == "application/vnd.github+json"
    assert request.headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert json.loads(request.content) == {
        "title": "Link rotten: x",
        "body": "body",
        "labels": ["linkwatch", "http-404"],
    }


@respx.mock
async def test_list_follows_pagination_and_skips_pull_requests() -> None:
    body = marker(url_key(A))
    route = respx.get(f"{API}/repos/{REPO}/issues").mock(
        side_effect=[
            httpx.Response(
                200,
                json=[issue_json(1, body), issue_json(2, pull_request={"url": "x"})],
                headers={"Link": f'<{API}/repos/{REPO}/issues?page=2>; rel="next"'},
            ),
            httpx.Response(200, json=[issue_json(3, state_="closed")]),
        ]
    )
    async with client() as gh:
        issues = await gh.list_issues()
    assert [(i.number, i.state) for i in issues] == [(1, "open"), (3, "closed")]
    assert issues[0].marker_url == url_key(A)
    params = route.calls[0].request.url.params
    assert (params["labels"], params["state"], params["per_page"]) == ("linkwatch", "all", "100")
    assert route.calls[1].request.url.params["page"] == "2"


@respx.mock
async def test_comment_reopen_close_and_labels() -> None:
    comment = respx.post(f"{API}/repos/{REPO}/issues/7/comments").mock(
        return_value=httpx.Response(201, json={})
    )
    patch = respx.patch(f"{API}/repos/{REPO}/issues/7").mock(
        return_value=httpx.Response(200, json={})
    )
    labels = respx.post(f"{API}/repos/{REPO}/issues/7/labels").mock(
        return_value=httpx.Response(200, json=[])
    )
    async with client() as gh:
        await gh.comment(7, "hello")
        await gh.update_issue(7, state="open", state_reason="reopened")
        await gh.update_issue(7, state="closed", state_reason="not_planned")
        await gh.add_labels(7, ["http-410"])
    assert json.loads(comment.calls.last.request.content) == {"body": "hello"}
    sent = [json.loads(c.request.content) for c in patch.calls]
    assert sent == [
        {"state": "open", "state_reason": "reopened"},
        {"state": "closed", "state_reason": "not_planned"},
    ]
    assert json.loads(labels.calls.last.request.content) == {"labels": ["http-410"]}


@respx.mock
async def test_retry_after_is_honoured() -> None:
    route = respx.post(f"{API}/repos/{REPO}/issues/1/comments").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "7"}, json={"message": "slow down"}),
            httpx.Response(201, json={}),
        ]
    )
    sleeps = Sleeps()
    async with client(sleeps) as gh:
        await gh.comment(1, "x")
    assert sleeps.calls == [7.0]
    assert route.call_count == 2


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e400"])
@respx.mock
async def test_non_finite_retry_after_is_unusable(value: str) -> None:
    """``float()`` takes these; ``nan`` slipped past the max-wait check into ``sleep``."""
    respx.post(f"{API}/repos/{REPO}/issues/1/comments").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": value}, json={"message": "slow down"}),
            httpx.Response(201, json={}),
        ]
    )
    sleeps = Sleeps()
    async with client(sleeps) as gh:
        await gh.comment(1, "x")
    assert sleeps.calls == [60.0]  # as for a Retry-After that is not a number


@respx.mock
async def test_non_finite_rate_limit_reset_is_an_error() -> None:
    respx.get(f"{API}/repos/{REPO}/issues").respond(
        403,
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": "nan"},
        json={"message": "API rate limit exceeded"},
    )
    sleeps = Sleeps()
    async with client(sleeps) as gh:
        with pytest.raises(GitHubError, match="403"):
            await gh.list_issues()
    assert sleeps.calls == []


@respx.mock
async def test_primary_limit_waits_until_reset() -> None:
    respx.get(f"{API}/repos/{REPO}/issues").mock(
        side_effect=[
            httpx.Response(
                403,
                headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1010"},
                json={"message": "API rate limit exceeded"},
            ),
            httpx.Response(200, json=[]),
        ]
    )
    sleeps = Sleeps()
    async with client(sleeps, clock=lambda: 1000.0) as gh:
        assert await gh.list_issues() == []
    assert sleeps.calls == [11.0]


@respx.mock
async def test_reset_too_far_away_fails_fast() -> None:
    respx.get(f"{API}/repos/{REPO}/issues").mock(
        return_value=httpx.Response(
            403,
            headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": "5000"},
            json={"message": "API rate limit exceeded"},
        )
    )
    sleeps = Sleeps()
    async with client(sleeps, clock=lambda: 1000.0) as gh:
        with pytest.raises(GitHubError, match="rate limit"):
            await gh.list_issues()
    assert sleeps.calls == []


@respx.mock
async def test_secondary_limit_backs_off_then_gives_up() -> None:
    secondary = httpx.Response(
        403, json={"message": "You have exceeded a secondary rate limit. Please wait."}
    )
    route = respx.post(f"{API}/repos/{REPO}/issues").mock(
        side_effect=[secondary, httpx.Response(201, json={"number": 1})]
    )
    sleeps = Sleeps()
    async with client(sleeps) as gh:
        assert await gh.create_issue("t", "b", ["linkwatch"]) == 1
    assert sleeps.calls == [60.0]
    assert route.call_count == 2

    route.side_effect = [secondary, secondary]
    sleeps2 = Sleeps()
    async with client(sleeps2) as gh:
        with pytest.raises(GitHubError, match="rate limit"):
            await gh.create_issue("t", "b", ["linkwatch"])
    assert sleeps2.calls == [60.0]


@respx.mock
async def test_plain_403_is_a_one_line_error() -> None:
    respx.post(f"{API}/repos/{REPO}/issues").mock(
        return_value=httpx.Response(
            403, json={"message": "Resource not accessible\nby integration"}
        )
    )
    async with client() as gh:
        with pytest.raises(GitHubError) as info:
            await gh.create_issue("t", "b", [])
    message = str(info.value)
    assert "\n" not in message
    assert "403 Resource not accessible by integration" in message


@respx.mock
async def test_redirect_to_other_host_never_gets_the_token() -> None:
    respx.get(f"{API}/repos/{REPO}/issues").mock(
        return_value=httpx.Response(301, headers={"Location": "https://elsewhere.test/issues"})
    )
    other = respx.get("https://elsewhere.test/issues").mock(
        return_value=httpx.Response(200, json=[])
    )
    async with client() as gh:
        with pytest.raises(GitHubError, match="another host"):
            await gh.list_issues()
    assert not other.called


@respx.mock
async def test_same_host_redirect_is_followed() -> None:
    respx.get(f"{API}/repos/{REPO}/issues").mock(
        return_value=httpx.Response(301, headers={"Location": f"{API}/repositories/9/issues"})
    )
    moved = respx.get(f"{API}/repositories/9/issues").mock(
        return_value=httpx.Response(200, json=[])
    )
    async with client() as gh:
        assert await gh.list_issues() == []
    assert moved.calls.last.request.headers["Authorization"] == "Bearer s3cret"


@respx.mock
async def test_next_link_to_other_host_never_gets_the_token() -> None:
    respx.get(f"{API}/repos/{REPO}/issues").mock(
        return_value=httpx.Response(
            200,
            json=[issue_json(1)],
            headers={"Link": '<https://elsewhere.test/issues?page=2>; rel="next"'},
        )
    )
    other = respx.get("https://elsewhere.test/issues").mock(
        return_value=httpx.Response(200, json=[])
    )
    async with client() as gh:
        with pytest.raises(GitHubError, match="another host"):
            await gh.list_issues()
    assert not other.called


@respx.mock
async def test_sync_applies_plan_in_api_calls() -> None:
    create = respx.post(f"{API}/repos/{REPO}/issues").mock(
        return_value=httpx.Response(201, json={"number": 11})
    )
    comment = respx.post(f"{API}/repos/{REPO}/issues/4/comments").mock(
        return_value=httpx.Response(201, json={})
    )
    patch = respx.patch(f"{API}/repos/{REPO}/issues/4").mock(
        return_value=httpx.Response(200, json={})
    )
    plan = [
        Action("open", A, None, "Link rotten: A", "body", ("linkwatch", "http-404")),
        Action("close", B, 4, "Link rotten: B", "fixed", state_reason="completed"),
    ]
    async with client() as gh:
        lines = await sync_issues(gh, plan, dry_run=False)
    assert lines == ["opened #11: Link rotten: A", "closed #4: Link rotten: B"]
    assert create.called and comment.called
    assert json.loads(patch.calls.last.request.content) == {
        "state": "closed",
        "state_reason": "completed",
    }


@respx.mock(assert_all_called=False)
async def test_dry_run_sends_nothing() -> None:
    route = respx.route(host="api.github.test")
    plan = [Action("open", A, None, "Link rotten: A", "body")]
    async with client() as gh:
        lines = await sync_issues(gh, plan, dry_run=True)
    assert lines == ["would open a new issue: Link rotten: A"]
    assert not route.called


# ----------------------------------------------------------------------------- wayback

WAYBACK = "https://archive.test/wayback/available"


@respx.mock
async def test_wayback_returns_closest_snapshot() -> None:
    respx.get(WAYBACK).mock(
        return_value=httpx.Response(
            200,
            json={
                "archived_snapshots": {
                    "closest": {
                        "available": True,
                        "status": "200",
                        "url": "http://web.archive.org/web/20240101000000/https://a.example/page",
                    }
                }
            },
        )
    )
    async with httpx.AsyncClient() as http:
        snap = await wayback_snapshot(http, A, endpoint=WAYBACK)
    assert snap == "https://web.archive.org/web/20240101000000/https://a.example/page"


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, json={"archived_snapshots": {}}),
        httpx.Response(503),
        httpx.Response(200, text="not json"),
    ],
)
@respx.mock
async def test_wayback_failures_give_none(response: httpx.Response) -> None:
    respx.get(WAYBACK).mock(return_value=response)
    async with httpx.AsyncClient() as http:
        assert await wayback_snapshot(http, A, endpoint=WAYBACK) is None


@respx.mock
async def test_wayback_connection_error_gives_none() -> None:
    respx.get(WAYBACK).mock(side_effect=httpx.ConnectError("boom"))
    async with httpx.AsyncClient() as http:
        assert await wayback_snapshot(http, A, endpoint=WAYBACK) is None


def test_rerun_after_sync_is_stable() -> None:
    """The body a sync writes must parse back to the same marker and evidence."""
    existing = issue_for(A, 1)
    assert existing.marker_url == url_key(A)
    again = replace(existing, body=existing.body + "\n\nedited by a human")
    plan = plan_issues(
        {A: state(A, Health.ROTTEN)}, [result(A)], [again], Settings(),
        inconclusive=False, catalog_urls={A}, now=NOW,
    )  # fmt: skip
    assert plan == []
