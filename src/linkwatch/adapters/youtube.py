"""YouTube videos, checked through oEmbed (https://oembed.com/, §2.3).

A watch page is several hundred kilobytes of script whose "Video
unavailable" state is buried in JSON, and YouTube throttles robots that
fetch it.  The oEmbed endpoint answers a small JSON document for a playable
video and an error status otherwise: 404 for a removed video, 400 for an id
that never existed.  401 and 403 are ambiguous — YouTube uses them both for
"embedding disabled by the owner" (the video plays fine on youtube.com) and
for private videos — so they fall back to a normal fetch of the watch page,
where classify reads the player's own status.
"""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlsplit

import httpx

from linkwatch.adapters.base import adapter_observation, get, host_of, json_object
from linkwatch.models import Observation

YOUTUBE_HOSTS = frozenset({"youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com"})
SHORT_HOSTS = frozenset({"youtu.be", "www.youtu.be"})
_VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{11}")
_ID_PATHS = ("shorts", "embed", "live", "v")
# Embed paths of exactly a video id's length that name no video: a playlist
# (``/embed/videoseries?list=…``) and a channel's live stream.
_NOT_VIDEO_IDS = frozenset({"videoseries", "live_stream"})


def video_id(url: str) -> str | None:
    """The 11-character video id of a watch, short, embed or youtu.be URL."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    segments = [s for s in parts.path.split("/") if s]
    candidate: str | None = None
    if host in SHORT_HOSTS and len(segments) == 1:
        candidate = segments[0]
    elif host in YOUTUBE_HOSTS:
        if segments == ["watch"]:
            values = parse_qs(parts.query).get("v")
            candidate = values[0] if values else None
        elif len(segments) == 2 and segments[0] in _ID_PATHS:
            candidate = segments[1]
    if candidate is not None and _VIDEO_ID.fullmatch(candidate) and candidate not in _NOT_VIDEO_IDS:
        return candidate
    return None


class YouTubeAdapter:
    name = "youtube"

    def __init__(self, oembed_url: str = "https://www.youtube.com/oembed") -> None:
        self.oembed_url = oembed_url
        self.api_host = host_of(oembed_url)

    def matches(self, url: str) -> bool:
        return video_id(url) is not None

    async def check(
        self, url: str, client: httpx.AsyncClient, *, token: str | None = None
    ) -> Observation | None:
        vid = video_id(url)
        if vid is None:
            return None
        started = time.perf_counter()
        watch = f"https://www.youtube.com/watch?v={vid}"
        response = await get(client, self.oembed_url, params={"url": watch, "format": "json"})
        if response is None:
            return None
        elapsed = int((time.perf_counter() - started) * 1000)
        status = response.status_code
        if status in (400, 404):
            return adapter_observation(
                url,
                adapter=self.name,
                reason="video-unavailable",
                detail=f"YouTube oEmbed answers {status} for video {vid}: removed, private or "
                "never existed.",
                status_code=status,
                elapsed_ms=elapsed,
            )
        if status != 200:
            return None
        data = json_object(response)
        title = data.get("title") if data is not None else None
        if not isinstance(title, str):
            return None  # YouTube has answered 200 "Forbidden" in plain text before
        return adapter_observation(
            url,
            adapter=self.name,
            reason="youtube-ok",
            detail=f"YouTube video '{title}' is available.",
            status_code=200,
            elapsed_ms=elapsed,
        )
