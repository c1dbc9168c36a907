"""Host adapters against respx-mocked APIs (no traffic leaves the process)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from linkwatch.adapters import (
    BilibiliAdapter,
    GitHubAdapter,
    YouTubeAdapter,
    find_adapter,
)
from linkwatch.adapters.bilibili import video_params
from linkwatch.adapters.github import parse_repo_url
from linkwatch.adapters.youtube import video_id
from linkwatch.classify import classify
from linkwatch.fetch import Checker
from linkwatch.models import Link, Observation, Settings, Verdict

API = "https://api.github.com"
OEMBED = "https://www.youtube.com/oembed"
BILI = "https://api.bilibili.com/x/web-interface/view"
TOKEN = "ghs_secret"


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        yield router


def run(adapter: Any, url: str, token: str | None = None) -> Observation | None:
    async def go() -> Observation | None:
        async with httpx.AsyncClient() as client:
            result: Observation | None = await adapter.check(url, client, token=token)
            return result

    return asyncio.run(go())


def repo_json(full_name: str, *, archived: bool = False) -> dict[str, Any]:
    return {
        "full_name": full_name,
        "html_url": f"https://github.com/{full_name}",
        "archived": archived,
        "pushed_at": "2024-10-18T00:00:00Z",
    }


def verdict_of(obs: Observation | None) -> tuple[Verdict | None, str | None]:
    assert obs is not None
    return obs.adapter_verdict, obs.adapter_reason


# --- find_adapter -----------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://github.com/openai/openai-cookbook", "github"),
        ("https://github.com/RUCAIBox/LLMSurvey/", "github"),
        ("https://github.com/o/r/blob/main/README.md", "github"),
        ("https://www.youtube.com/watch?v=bZQun8Y4L2A", "youtube"),
        ("https://youtu.be/bZQun8Y4L2A", "youtube"),
        ("https://www.youtube.com/shorts/bZQun8Y4L2A", "youtube"),
        ("https://www.bilibili.com/video/BV1gj411X72B/", "bilibili"),
        ("https://www.bilibili.com/video/av170001", "bilibili"),
        ("https://github.com/features/copilot", None),
        ("https://github.com/openai", None),
        # GitHub's own pages, not repositories: the page fetch checks them.
        ("https://github.com/advisories/GHSA-jfh8-c2jp-5v3q", None),
        ("https://github.com/git-guides/install-git", None),
        ("https://github.com/copilot/c/1", None),
        ("https://github.com/education/students", None),
        ("https://github.com/sessions/two-factor", None),
        ("https://github.com/user-attachments/assets/7c3e1d2a-0b4f-4e8e-9c1a-2f3b4c5d6e7f", None),
        ("https://github.com/user-attachments/files/17123456/paper.pdf", None),
        ("https://github.com/enterprises/acme/sso", None),
        ("https://www.youtube.com/embed/videoseries?list=PLAqhIrjkxbuWI23v9cThsA9GvCAUhRvKZ", None),
        ("https://www.youtube.com/embed/live_stream?channel=UC4R8DWoMoI7CAwX8_LjQHig", None),
        ("https://www.youtube.com/embed/bZQun8Y4L2A", "youtube"),
        ("https://gist.github.com/o/abc123", None),
        ("https://www.youtube.com/@karpathy", None),
        ("https://www.youtube.com/watch?v=short", None),
        ("https://b23.tv/vF2vS6t", None),
        ("https://space.bilibili.com/123", None),
        ("https://zh.d2l.ai/", None),
        ("not a url", None),
    ],
)
def test_find_adapter(url: str, name: str | None) -> None:
    adapter = find_adapter(url)
    assert (adapter.name if adapter else None) == name


def test_parse_repo_url_keeps_the_rest() -> None:
    ref = parse_repo_url("https://github.com/o/r.git/tree/main/docs?x=1#top")
    assert ref is not None
    assert (ref.owner, ref.repo, ref.rest, ref.query, ref.fragment) == (
        "o",
        "r",
        "/tree/main/docs",
        "x=1",
        "top",
    )


def test_video_id_from_watch_url_with_extra_params() -> None:
    assert video_id("https://m.youtube.com/watch?list=PL1&v=bZQun8Y4L2A&t=10") == "bZQun8Y4L2A"


def test_video_params_for_av_number() -> None:
    assert video_params("https://m.bilibili.com/video/av170001?p=2") == {"aid": "170001"}


# --- GitHub -----------------------------------------------------------------

REPO = "https://github.com/openai/openai-cookbook"


def test_github_repo_ok(mock: respx.MockRouter) -> None:
    mock.get(f"{API}/repos/openai/openai-cookbook").respond(
        200, json=repo_json("openai/openai-cookbook")
    )
    obs = run(GitHubAdapter(API), REPO)
    assert verdict_of(obs) == (Verdict.OK, "github-ok")
    assert obs is not None and obs.archived is False and obs.pushed_at == "2024-10-18T00:00:00Z"


def test_github_archived_repo_is_ok_with_archived_fact(mock: respx.MockRouter) -> None:
    mock.get(f"{API}/repos/openai/openai-cookbook").respond(
        200, json=repo_json("openai/openai-cookbook", archived=True)
    )
    obs = run(GitHubAdapter(API), REPO)
    assert verdict_of(obs) == (Verdict.OK, "github-archived")
    assert obs is not None and obs.archived is True


def test_github_missing_repo_is_broken(mock: respx.MockRouter) -> None:
    mock.get(f"{API}/repos/openai/openai-cookbook").respond(404, json={"message": "Not Found"})
    assert verdict_of(run(GitHubAdapter(API), REPO)) == (Verdict.BROKEN, "github-repo-missing")


def test_github_case_only_difference_is_not_a_rename(mock: respx.MockRouter) -> None:
    mock.get(f"{API}/repos/openai/openai-cookbook").respond(
        200, json=repo_json("OpenAI/OpenAI-Cookbook")
    )
    assert verdict_of(run(GitHubAdapter(API), REPO)) == (Verdict.OK, "github-ok")


def test_github_renamed_repo_is_moved_with_rest_of_path(mock: respx.MockRouter) -> None:
    mock.get(f"{API}/repos/old/name").respond(200, json=repo_json("new-owner/new-name"))
    obs = run(GitHubAdapter(API), "https://github.com/old/name/blob/main/a.md#intro")
    assert verdict_of(obs) == (Verdict.MOVED, "github-repo-renamed")
    assert obs is not None
    assert obs.final_url == "https://github.com/new-owner/new-name/blob/main/a.md#intro"
    assert classify(obs, Link(url=obs.url, title="t")).suggested_url == obs.final_url


def test_github_api_301_is_followed_as_a_rename(mock: respx.MockRouter) -> None:
    mock.get(f"{API}/repos/old/name").respond(
        301, headers={"Location": f"{API}/repositories/42"}, json={"message": "Moved"}
    )
    mock.get(f"{API}/repositories/42").respond(200, json=repo_json("old/name2"))
    obs = run(GitHubAdapter(API), "https://github.com/old/name")
    assert verdict_of(obs) == (Verdict.MOVED, "github-repo-renamed")
    assert obs is not None and obs.final_url == "https://github.com/old/name2"


def test_github_deep_link_to_existing_repo_is_left_to_the_fetch(mock: respx.MockRouter) -> None:
    mock.get(f"{API}/repos/o/r").respond(200, json=repo_json("o/r"))
    assert run(GitHubAdapter(API), "https://github.com/o/r/blob/main/README.md") is None


def test_github_fragment_link_is_left_to_the_fetch(mock: respx.MockRouter) -> None:
    mock.get(f"{API}/repos/o/r").respond(200, json=repo_json("o/r"))
    assert run(GitHubAdapter(API), "https://github.com/o/r#installation") is None


def test_github_deep_link_to_missing_repo_is_broken(mock: respx.MockRouter) -> None:
    mock.get(f"{API}/repos/o/r").respond(404)
    obs = run(GitHubAdapter(API), "https://github.com/o/r/issues/97")
    assert verdict_of(obs) == (Verdict.BROKEN, "github-repo-missing")


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(403, json={"message": "API rate limit exceeded"}),
        httpx.Response(429),
        httpx.Response(500),
        httpx.Response(451),
        httpx.Response(200, text="<html>not json</html>"),
        httpx.Response(200, json=["a", "list"]),
        httpx.Response(200, json={"full_name": 3}),
    ],
)
def test_github_undecidable_answers_fall_back(
    mock: respx.MockRouter, response: httpx.Response
) -> None:
    mock.get(f"{API}/repos/o/r").mock(return_value=response)
    assert run(GitHubAdapter(API), "https://github.com/o/r") is None


def test_github_network_failure_falls_back(mock: respx.MockRouter) -> None:
    mock.get(f"{API}/repos/o/r").mock(side_effect=httpx.ConnectError("refused"))
    assert run(GitHubAdapter(API), "https://github.com/o/r") is None


@pytest.mark.parametrize("status", [302, 307])
def test_github_api_temporary_redirect_is_no_rename(mock: respx.MockRouter, status: int) -> None:
    # GitHub: repeat the request at Location, keep using the original URL.
    mock.get(f"{API}/repos/o/r").respond(status, headers={"Location": f"{API}/repositories/7"})
    mock.get(f"{API}/repositories/7").respond(200, json=repo_json("o/r"))
    assert verdict_of(run(GitHubAdapter(API), "https://github.com/o/r")) == (
        Verdict.OK,
        "github-ok",
    )


def test_github_temporary_redirect_to_another_name_is_still_a_rename(
    mock: respx.MockRouter,
) -> None:
    mock.get(f"{API}/repos/o/r").respond(307, headers={"Location": f"{API}/repositories/7"})
    mock.get(f"{API}/repositories/7").respond(200, json=repo_json("n/r2"))
    obs = run(GitHubAdapter(API), "https://github.com/o/r")
    assert verdict_of(obs) == (Verdict.MOVED, "github-repo-renamed")


def test_github_endless_api_redirects_fall_back(mock: respx.MockRouter) -> None:
    mock.get(f"{API}/repos/o/r").respond(301, headers={"Location": f"{API}/repos/o/r"})
    assert run(GitHubAdapter(API), "https://github.com/o/r") is None


def test_github_token_is_sent_to_the_api_host(mock: respx.MockRouter) -> None:
    route = mock.get(f"{API}/repos/o/r").respond(200, json=repo_json("o/r"))
    run(GitHubAdapter(API), "https://github.com/o/r", token=TOKEN)
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_github_no_token_no_authorization_header(mock: respx.MockRouter) -> None:
    route = mock.get(f"{API}/repos/o/r").respond(200, json=repo_json("o/r"))
    run(GitHubAdapter(API), "https://github.com/o/r")
    assert "Authorization" not in route.calls.last.request.headers


def test_github_token_never_follows_a_redirect_to_another_host(mock: respx.MockRouter) -> None:
    mock.get(f"{API}/repos/o/r").respond(
        301, headers={"Location": "https://evil.example/repositories/42"}
    )
    evil = mock.get("https://evil.example/repositories/42").respond(200, json=repo_json("x/y"))
    run(GitHubAdapter(API), "https://github.com/o/r", token=TOKEN)
    assert evil.called
    assert "Authorization" not in evil.calls.last.request.headers


@pytest.mark.parametrize(
    "elsewhere",
    ["http://api.github.com/repositories/42", "https://api.github.com:8443/repositories/42"],
)
def test_github_token_never_follows_a_redirect_off_the_api_origin(
    mock: respx.MockRouter, elsewhere: str
) -> None:
    """Same host, but plain http (the token in cleartext) or another port: not the API."""
    mock.get(f"{API}/repos/o/r").respond(301, headers={"Location": elsewhere})
    other = mock.get(elsewhere).respond(200, json=repo_json("o/r2"))
    run(GitHubAdapter(API), "https://github.com/o/r", token=TOKEN)
    assert other.called
    assert "Authorization" not in other.calls.last.request.headers


def test_github_token_follows_a_redirect_within_the_api_origin(mock: respx.MockRouter) -> None:
    mock.get(f"{API}/repos/o/r").respond(301, headers={"Location": "/repositories/42"})
    moved = mock.get(f"{API}/repositories/42").respond(200, json=repo_json("o/r2"))
    run(GitHubAdapter(API), "https://github.com/o/r", token=TOKEN)
    assert moved.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"


def check_with(api_url: str, url: str) -> Observation:
    """``url`` through a Checker configured as ``GITHUB_API_URL=api_url``, with a token."""

    async def go() -> Observation:
        async with Checker(Settings(), github_token=TOKEN, github_api_url=api_url) as checker:
            return await checker.check(Link(url=url, title="t"))

    return asyncio.run(go())


def test_github_com_links_on_github_enterprise_ask_the_public_api(
    mock: respx.MockRouter,
) -> None:
    """The Enterprise API knows nothing of github.com, and its token is not github.com's."""
    ghe = "https://ghe.example/api/v3"
    enterprise = mock.get(url__startswith=ghe).respond(404, json={"message": "Not Found"})
    public = mock.get(f"{API}/repos/torvalds/linux").respond(200, json=repo_json("torvalds/linux"))
    obs = check_with(ghe, "https://github.com/torvalds/linux")
    assert verdict_of(obs) == (Verdict.OK, "github-ok")
    assert not enterprise.called
    assert "Authorization" not in public.calls.last.request.headers


@pytest.mark.parametrize("api_url", [API, f"{API}/", "https://API.github.com:443"])
def test_github_com_links_get_the_token_when_it_is_github_com_s(
    mock: respx.MockRouter, api_url: str
) -> None:
    route = mock.get(f"{API}/repos/o/r").respond(200, json=repo_json("o/r"))
    check_with(api_url, "https://github.com/o/r")
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_other_adapters_never_send_the_token(mock: respx.MockRouter) -> None:
    oembed = mock.get(OEMBED).respond(200, json={"title": "State of GPT"})
    bili = mock.get(BILI).respond(200, json={"code": 0, "data": {"title": "x"}})
    run(YouTubeAdapter(), "https://youtu.be/bZQun8Y4L2A", token=TOKEN)
    run(BilibiliAdapter(), "https://www.bilibili.com/video/BV1gj411X72B/", token=TOKEN)
    for route in (oembed, bili):
        assert route.called
        assert "Authorization" not in route.calls.last.request.headers


# --- YouTube ----------------------------------------------------------------

WATCH = "https://www.youtube.com/watch?v=bZQun8Y4L2A"


def test_youtube_ok_asks_oembed_for_the_canonical_watch_url(mock: respx.MockRouter) -> None:
    route = mock.get(OEMBED).respond(200, json={"title": "State of GPT"})
    obs = run(YouTubeAdapter(), "https://youtu.be/bZQun8Y4L2A?t=5")
    assert verdict_of(obs) == (Verdict.OK, "youtube-ok")
    assert obs is not None and "State of GPT" in obs.adapter_detail
    params = route.calls.last.request.url.params
    assert (params["url"], params["format"]) == (WATCH, "json")


@pytest.mark.parametrize("status", [400, 404])
def test_youtube_gone_video_is_unavailable(mock: respx.MockRouter, status: int) -> None:
    mock.get(OEMBED).respond(status, text="Not Found")
    assert verdict_of(run(YouTubeAdapter(), WATCH)) == (Verdict.BROKEN, "video-unavailable")


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(401, text="Unauthorized"),
        httpx.Response(403, text="Forbidden"),
        httpx.Response(429),
        httpx.Response(500),
        httpx.Response(200, text="Forbidden"),
    ],
)
def test_youtube_ambiguous_answers_fall_back(
    mock: respx.MockRouter, response: httpx.Response
) -> None:
    mock.get(OEMBED).mock(return_value=response)
    assert run(YouTubeAdapter(), WATCH) is None


def test_youtube_timeout_falls_back(mock: respx.MockRouter) -> None:
    mock.get(OEMBED).mock(side_effect=httpx.ReadTimeout("slow"))
    assert run(YouTubeAdapter(), WATCH) is None


# --- bilibili ---------------------------------------------------------------

BV = "https://www.bilibili.com/video/BV1gj411X72B/"

BILIBILI_CASES = [
    (0, Verdict.OK, "bilibili-ok"),
    (-404, Verdict.BROKEN, "video-unavailable"),
    (62002, Verdict.BROKEN, "video-unavailable"),
    (62004, Verdict.BROKEN, "video-under-review"),
    (62012, Verdict.BROKEN, "video-private"),
    (-403, Verdict.BLOCKED, "bilibili-restricted"),
]


@pytest.mark.parametrize(("code", "verdict", "reason"), BILIBILI_CASES)
def test_bilibili_codes(mock: respx.MockRouter, code: int, verdict: Verdict, reason: str) -> None:
    route = mock.get(BILI).respond(
        200, json={"code": code, "message": "x", "data": {"title": "t"} if code == 0 else None}
    )
    assert verdict_of(run(BilibiliAdapter(), BV)) == (verdict, reason)
    assert route.calls.last.request.url.params["bvid"] == "BV1gj411X72B"


def test_bilibili_av_link_asks_by_aid(mock: respx.MockRouter) -> None:
    route = mock.get(BILI).respond(200, json={"code": 0, "data": {"title": "t"}})
    run(BilibiliAdapter(), "https://www.bilibili.com/video/av170001")
    assert route.calls.last.request.url.params["aid"] == "170001"


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, json={"code": -412, "message": "请求被拦截"}),
        httpx.Response(200, json={"code": -400, "message": "请求错误"}),
        httpx.Response(200, json={"code": 99999}),
        httpx.Response(200, json={"code": "0"}),
        httpx.Response(200, text="<html>"),
        httpx.Response(412),
        httpx.Response(502),
    ],
)
def test_bilibili_undecidable_answers_fall_back(
    mock: respx.MockRouter, response: httpx.Response
) -> None:
    mock.get(BILI).mock(return_value=response)
    assert run(BilibiliAdapter(), BV) is None


def test_bilibili_network_failure_falls_back(mock: respx.MockRouter) -> None:
    mock.get(BILI).mock(side_effect=httpx.ConnectTimeout("slow"))
    assert run(BilibiliAdapter(), BV) is None


def test_adapters_leave_unknown_urls_alone(mock: respx.MockRouter) -> None:
    for adapter in (GitHubAdapter(API), YouTubeAdapter(), BilibiliAdapter()):
        assert run(adapter, "https://example.org/") is None
    assert not mock.calls
