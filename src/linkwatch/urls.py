"""What counts as a checkable link, and when two spellings are the same link.

Both the catalog loader and the Markdown importer need these answers, and
they are siblings in the layer contract, so the rules live here, below both.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_BAD_CHAR = re.compile(r"[\s\x00-\x1f\x7f]")


def url_problem(url: str) -> str | None:
    """Why ``url`` is not an absolute http(s) URL with a host (RFC 3986 §3), or None."""
    if not url:
        return "empty link"
    if url.startswith("#"):
        return "in-page anchor"
    if _BAD_CHAR.search(url):
        return "contains whitespace or control characters"
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a port that is not a number
        host = parts.hostname
    except ValueError as exc:
        return f"unparsable: {exc}"
    if not parts.scheme:
        return "relative link"
    if parts.scheme.lower() not in ("http", "https"):
        return f"{parts.scheme}: link, not http(s)"
    if not host:
        return "no host"
    return None


def url_key(url: str) -> str:
    """Identity for duplicates: scheme and host are case-insensitive (RFC 3986 §6.2.2.1)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    return parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower()).geturl()
