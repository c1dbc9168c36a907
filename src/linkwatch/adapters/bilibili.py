"""bilibili videos, checked through the web view API.

``GET https://api.bilibili.com/x/web-interface/view?bvid=…`` (or ``aid=``)
answers HTTP 200 with a JSON ``code``: 0 for a visible video, -404 for none,
62002 "稿件不可见" (hidden), 62004 "稿件审核中" (under review), 62012 "仅UP主
自己可见" (visible to the uploader only), -403 "权限不足" (restricted), -400 a
bad request, and -412 when bilibili's risk control refuses the request
(documented by the community at github.com/SocialSisterYi/bilibili-API-collect,
docs/video/info.md).  -412 and anything unknown fall back to a normal fetch.
``b23.tv`` short links are left to the normal fetch, which follows them.
"""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

import httpx

from linkwatch.adapters.base import adapter_observation, get, host_of, json_object
from linkwatch.models import Observation

BILIBILI_HOSTS = frozenset({"bilibili.com", "www.bilibili.com", "m.bilibili.com"})
_VIDEO_PATH = re.compile(r"/video/(?:(BV[0-9A-Za-z]{10})|av(\d+))/?", re.IGNORECASE)

#: API code → (reason, what bilibili says), for codes that settle the verdict.
CODE_REASONS: dict[int, tuple[str, str]] = {
    0: ("bilibili-ok", "the video is visible"),
    -404: ("video-unavailable", "no such video (-404)"),
    62002: ("video-unavailable", "the video is hidden (62002 稿件不可见)"),
    62004: ("video-under-review", "the video is under review (62004 稿件审核中)"),
    62012: ("video-private", "only the uploader can see the video (62012 仅UP主自己可见)"),
    -403: ("bilibili-restricted", "access is restricted (-403 权限不足)"),
}


def video_params(url: str) -> dict[str, str] | None:
    """``{"bvid": …}`` or ``{"aid": …}`` for a bilibili video URL, else None."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if (parts.hostname or "").lower() not in BILIBILI_HOSTS:
        return None
    match = _VIDEO_PATH.fullmatch(parts.path)
    if match is None:
        return None
    bvid, aid = match.groups()
    if bvid:
        return {"bvid": "BV" + bvid[2:]}
    return {"aid": aid}


class BilibiliAdapter:
    name = "bilibili"

    def __init__(self, api_url: str = "https://api.bilibili.com/x/web-interface/view") -> None:
        self.api_url = api_url
        self.api_host = host_of(api_url)

    def matches(self, url: str) -> bool:
        return video_params(url) is not None

    async def check(
        self, url: str, client: httpx.AsyncClient, *, token: str | None = None
    ) -> Observation | None:
        params = video_params(url)
        if params is None:
            return None
        started = time.perf_counter()
        response = await get(
            client, self.api_url, params=params, headers={"Referer": "https://www.bilibili.com/"}
        )
        if response is None or response.status_code != 200:
            return None
        elapsed = int((time.perf_counter() - started) * 1000)
        data = json_object(response)
        code = data.get("code") if data is not None else None
        if not isinstance(code, int) or code not in CODE_REASONS:
            return None
        reason, said = CODE_REASONS[code]
        video = next(iter(params.values()))
        detail = f"bilibili says {said} for {video}."
        payload = data.get("data") if data is not None else None
        if code == 0 and isinstance(payload, dict) and isinstance(payload.get("title"), str):
            detail = f"bilibili video '{payload['title']}' is visible."
        return adapter_observation(
            url,
            adapter=self.name,
            reason=reason,
            detail=detail,
            status_code=200,
            elapsed_ms=elapsed,
        )
