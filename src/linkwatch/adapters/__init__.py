"""Host adapters: ask a host's API instead of scraping its pages.

``find_adapter(url)`` returns the adapter for a URL or None; the fetch layer
calls ``await adapter.check(url, client, token=…)`` and falls back to a
normal fetch when that returns None.  See ``base.Adapter`` for the contract.
"""

from __future__ import annotations

from linkwatch.adapters.base import Adapter, adapter_observation
from linkwatch.adapters.bilibili import BilibiliAdapter
from linkwatch.adapters.github import GitHubAdapter
from linkwatch.adapters.youtube import YouTubeAdapter

__all__ = [
    "Adapter",
    "BilibiliAdapter",
    "GitHubAdapter",
    "YouTubeAdapter",
    "adapter_observation",
    "default_adapters",
    "find_adapter",
]


def default_adapters() -> tuple[Adapter, ...]:
    """The built-in adapters, each asking its own host's public API.

    The GitHub adapter matches github.com links, so it asks api.github.com
    even on GitHub Enterprise: the Enterprise API (``GITHUB_API_URL``) knows
    nothing of github.com repositories and would call every one missing.
    """
    return (GitHubAdapter(), YouTubeAdapter(), BilibiliAdapter())


_DEFAULT = default_adapters()


def find_adapter(url: str, adapters: tuple[Adapter, ...] | None = None) -> Adapter | None:
    """The first adapter that knows this URL, or None."""
    for adapter in adapters if adapters is not None else _DEFAULT:
        if adapter.matches(url):
            return adapter
    return None
