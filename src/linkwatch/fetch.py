"""The only crawler I/O: turn a catalog link into an ``Observation`` of raw HTTP facts.

Everything that judges those facts lives in :mod:`linkwatch.classify`; this
module only fetches, and it never raises for remote trouble — every foreign
exception (httpx, ssl, socket) is mapped at the boundary into
``Observation.error`` kinds (design.md §6, "a dead link is data").

Engine (design.md §7, measured): httpx's single shared connection pool is
quadratic over many hosts, so each host gets its *own* few keep-alive
connections (:class:`linkwatch.connections.HostPool`: llhttp, Node.js's
HTTP/1.1 parser, over a lean asyncio transport), created lazily,
all sharing *one* ``ssl.SSLContext`` (building one costs tens of
milliseconds).  Requests go straight to those connections:
``httpx.AsyncClient.send`` costs about as much CPU as the HTTP exchange
itself (auth, redirect, cookie-jar and hook layers this module does not
use).  The per-host slot (an ``anyio.Semaphore``) is taken *before* a
connection is asked for, so no request ever queues inside the pool.  Host adapters still get an
``httpx.AsyncClient`` for their API host.

Name resolution is done here, not by the socket layer: a host name is
resolved once per run through an injectable :data:`Resolver`, the address is
checked against the private-address policy, and the connection goes to that
very address (``Host`` header and TLS SNI/verification still use the real
name).  Checking the address we actually connect to is what defeats
DNS-rebinding SSRF: a public link cannot redirect the checker to
``127.0.0.1`` or ``169.254.169.254``.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import functools
import hashlib
import html
import ipaddress
import math
import re
import secrets
import socket
import ssl
import time
import zlib
from collections import Counter, deque
from collections.abc import (
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import unquote

import anyio
import anyio.abc
import anyio.lowlevel
import httpcore
import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_result, stop_after_attempt
from tenacity.stop import stop_base
from tenacity.wait import wait_random_exponential

from linkwatch import adapters, classify
from linkwatch.adapters.base import origin_of
from linkwatch.connections import Connection, HostPool, IdleBudget
from linkwatch.models import Hop, Link, Observation, Settings, Validators

Resolver = Callable[[str], Awaitable[list[str]]]
"""Resolve a host name to IP address strings; raise ``socket.gaierror`` on failure."""

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], datetime]
AddressPolicy = Callable[[str], bool]


AdapterFinder = Callable[[str], adapters.Adapter | None]

REDIRECT_STATUSES = frozenset({300, 301, 302, 303, 307, 308})
ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
# We decode bodies ourselves (bounded, see _BoundedDecoder), so we only offer
# the codings we can decode with a hard output cap.
ACCEPT_ENCODING = "gzip, deflate"
ACCEPT_B = ACCEPT.encode("ascii")
ACCEPT_ENCODING_B = ACCEPT_ENCODING.encode("ascii")
REDIRECT_BODY_BYTES = 16_384
PROBE_SUFFIX = "-linkwatch-probe"
SHELL_TEXT_BYTES = 300  # less visible text than this, plus scripts: a JS app shell
_TEXTUAL = re.compile(r"^(text/|application/(xhtml\+xml|xml|json|ld\+json|rss\+xml|atom\+xml))")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
# What a kept-alive connection the server has just closed raises on its next request.
_STALE_ERRORS = (httpcore.RemoteProtocolError, httpcore.ReadError, httpcore.WriteError, OSError)
# IPv6 prefixes that carry an IPv4 address in their last 32 bits (RFC 6052
# NAT64, and the deprecated IPv4-compatible ::/96): on a NAT64 network
# ``64:ff9b::a9fe:a9fe`` *is* 169.254.169.254, so the IPv4 is what is judged.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# RFC 6145 (SIIT) IPv4-translated addresses, ::ffff:0:a.b.c.d.
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
# RFC 8215's local-use NAT64 prefix: whatever it maps to is the local network's.
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
X509_V_ERR_CERT_HAS_EXPIRED = 10  # OpenSSL's verify code (x509_vfy.h)


def is_public_address(ip: str) -> bool:
    """True when ``ip`` is a globally routable unicast address.

    Refused: loopback, RFC 1918 private, link-local (169.254/16 — cloud
    metadata lives there — and fe80::/10), multicast, unspecified, reserved,
    documentation ranges and CGNAT 100.64/10 (RFC 6598).  IPv6 addresses that
    carry an IPv4 address (IPv4-mapped, NAT64 64:ff9b::/96, 6to4 2002::/16,
    IPv4-compatible) are judged by that IPv4 address: a resolver can hand out
    any of them for a name, and each may lead to it.
    """
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address):
        if addr in _NAT64_LOCAL:
            return False
        if addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        elif addr.sixtofour is not None:
            addr = addr.sixtofour
        elif (
            addr in _NAT64
            or addr in _IPV4_TRANSLATED
            or (addr in _IPV4_COMPATIBLE and int(addr) > 1)
        ):
            addr = ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    if isinstance(addr, ipaddress.IPv4Address) and addr in _CGNAT:
        return False
    return addr.is_global and not addr.is_multicast


async def system_resolver(host: str) -> list[str]:
    """Resolve through the operating system (``getaddrinfo``), IPv4 first.

    IPv4 goes first because a machine with an IPv6 address but no IPv6 route
    would otherwise report every dual-stack site as unreachable.
    """
    infos = await anyio.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_ADDRCONFIG)
    seen: dict[str, int] = {}
    for family, _type, _proto, _name, sockaddr in infos:
        seen.setdefault(str(sockaddr[0]), 0 if family == socket.AF_INET else 1)
    return sorted(seen, key=lambda ip: seen[ip])


class _Failure(Exception):
    """A remote failure on its way to becoming ``Observation.error``; never escapes."""

    def __init__(self, kind: str, detail: str, *, tried: bool = True) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        # False: no request was sent, the host's own recent failure stands in
        # (see Checker._spared); it says nothing new about the host.
        self.tried = tried
        # When the request so answered started (its host's slot taken), if it did.
        self.sent_at = -math.inf


def _dns_failure(host: str, exc: OSError) -> _Failure:
    code = exc.args[0] if exc.args else None
    if code in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)):
        return _Failure("dns-nxdomain", f"the name {host} does not exist in DNS")
    return _Failure("dns-temporary", f"DNS lookup of {host} failed: {exc}")


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


_ERRNO_KINDS = {
    errno.ECONNREFUSED: "connect-refused",
    errno.ECONNRESET: "connect-reset",
    errno.ECONNABORTED: "connect-reset",
    errno.EPIPE: "connect-reset",
    errno.ENETUNREACH: "connect-unreachable",
    errno.EHOSTUNREACH: "connect-unreachable",
    errno.ENETDOWN: "connect-unreachable",
    errno.EHOSTDOWN: "connect-unreachable",
    errno.ETIMEDOUT: "timeout",
    # This machine's limits, not the server's: see history.detect_inconclusive.
    errno.EMFILE: "local-resources",
    errno.ENFILE: "local-resources",
    errno.ENOBUFS: "local-resources",
    errno.ENOMEM: "local-resources",
}


# httpcore's exceptions and the httpx ones they become (httpx maps them the
# same way in ``map_httpcore_exceptions``); most specific first.
_HTTPCORE_TO_HTTPX: tuple[tuple[type[Exception], type[httpx.HTTPError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
)
_HTTPCORE_ERRORS = tuple(core for core, _ in _HTTPCORE_TO_HTTPX)


def _as_httpx(exc: Exception) -> Exception:
    """The httpx exception httpx itself would have raised for httpcore's ``exc``."""
    for core, mapped in _HTTPCORE_TO_HTTPX:
        if isinstance(exc, core):
            converted = mapped(str(exc))
            converted.__cause__ = exc
            return converted
    return exc


def _map_exception(exc: BaseException) -> _Failure:
    """Map httpx/httpcore/ssl/socket exceptions to Observation error kinds.

    httpx wraps httpcore's exceptions, which wrap the socket or ssl error
    (``raise ... from exc``), so the cause chain is walked to find the root.
    """
    detail = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            if cause.verify_code == X509_V_ERR_CERT_HAS_EXPIRED:
                return _Failure("tls-expired", f"TLS certificate expired: {cause.verify_message}")
            return _Failure("tls-verify", f"TLS certificate not trusted: {cause.verify_message}")
        if isinstance(cause, ssl.SSLError):
            return _Failure("tls-handshake", f"TLS handshake failed: {cause}")
        if isinstance(cause, OSError) and cause.errno in _ERRNO_KINDS:
            return _Failure(_ERRNO_KINDS[cause.errno], detail)
    if isinstance(exc, httpx.ConnectTimeout):
        # "connect…" tells classify.is_network_failure that no server was reached.
        return _Failure("timeout", f"connect timeout: {detail}")
    if isinstance(exc, httpx.TimeoutException):
        return _Failure("timeout", f"the server stopped answering: {detail}")
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        return _Failure("connect-reset", detail)
    if isinstance(exc, httpx.RemoteProtocolError) and "disconnected" in str(exc):
        return _Failure("connect-reset", detail)
    if isinstance(exc, httpx.ProtocolError | httpx.DecodingError):
        return _Failure("protocol-error", detail)
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return _Failure("invalid-url", detail)
    if isinstance(exc, httpx.ConnectError):
        return _Failure("connect-unreachable", detail)
    return _Failure("protocol-error", detail)


class _BoundedDecoder:
    """Content-Encoding decoder whose output never exceeds a cap (RFC 9110 §8.4.1).

    httpx's own decoders call ``decompress(data)`` without ``max_length``, so
    one 64 KiB network read of a deflate bomb can expand to ~64 MiB before
    anyone can stop it.  Here every call passes the remaining budget as
    ``max_length``, so memory is bounded by ``max_body_bytes`` whatever the
    compression ratio.  Multi-member gzip (RFC 1952 §2.2) is decoded member by
    member.  ``supported`` is False for codings we did not offer (br, zstd):
    such a body is left unread rather than misread.
    """

    def __init__(self, content_encoding: str) -> None:
        coding = content_encoding.strip().lower()
        self.supported = coding in ("", "identity", "gzip", "x-gzip", "deflate")
        self._gzip = coding in ("gzip", "x-gzip")
        self._deflate = coding == "deflate"
        self._first = True
        self._z = self._new()
        self._ended = False  # a deflate stream is complete: what follows is not body

    def _new(self) -> zlib._Decompress | None:
        if self._gzip:
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        if self._deflate:
            return zlib.decompressobj()
        return None

    def decode(self, data: bytes, limit: int) -> bytes:
        """Decode ``data``, returning at most ``limit`` bytes; raises ``zlib.error``."""
        z = self._z
        if self._ended:
            return b""
        if z is None:
            return data[:limit]
        out: list[bytes] = []
        while data and limit > 0:
            try:
                chunk = z.decompress(data, limit)
            except zlib.error:
                if self._deflate and self._first:
                    # Servers often send raw deflate (RFC 1951) for "deflate",
                    # which RFC 9110 §8.4.1.2 says is zlib (RFC 1950).
                    z = self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                    self._first = False
                    continue
                raise
            self._first = False
            out.append(chunk)
            limit -= len(chunk)
            if z.eof:
                data = z.unused_data
                if not self._gzip:
                    self._ended = True
                    break
                # Another member may follow, in this read or in the next one.
                z = self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
            else:
                data = z.unconsumed_tail
        return b"".join(out)


def _decode_headers(
    raw: list[tuple[bytes, bytes]],
) -> tuple[dict[str, str], tuple[str, ...]]:
    """Lower-cased names, repeated fields joined with ", " (RFC 9110 §5.3), and the Set-Cookies.

    Decoded as httpx's ``Headers`` decodes them: ASCII, else UTF-8, else
    ISO-8859-1 for the whole block (so a raw UTF-8 ``Location`` survives).
    """
    for encoding in ("ascii", "utf-8", "iso-8859-1"):
        try:
            headers: dict[str, str] = {}
            cookies: list[str] = []
            for name_b, value_b in raw:
                name = name_b.decode(encoding).lower()
                value = value_b.decode(encoding)
                if name == "set-cookie":
                    cookies.append(value)
                held = headers.get(name)
                headers[name] = value if held is None else f"{held}, {value}"
            return headers, tuple(cookies)
        except UnicodeDecodeError:
            continue
    raise AssertionError("iso-8859-1 decodes any bytes")  # pragma: no cover


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    truncated: bool
    bytes_received: int
    decode_error: str | None = None
    set_cookies: tuple[str, ...] = ()


@dataclass(frozen=True)
class _PageSignature:
    """Cheap look-alike test for soft-404 probing: title, size and visible text."""

    title: str
    length: int
    text_hash: str
    script_shell: bool = False
    words: frozenset[bytes] = frozenset()

    def looks_like(self, other: _PageSignature) -> bool:
        """Same page, judged cheaply; never for a client-rendered app shell.

        A single-page app serves one identical HTML shell for every path, real
        or not, and fills it in with JavaScript — so on such a host the probe
        always "matches" and proves nothing.  Pages with scripts and hardly
        any visible text are therefore never called look-alikes.

        Short of identical text, the same title and size are not enough: a
        site with one title everywhere and a heavy template has pages of
        nearly equal size whatever they say.  The words must agree too: at
        most :data:`_WORDS_APART` distinct words may be in only one of the two
        (a "not found" page that repeats the address asked for, a request id
        or the time differs by a few; a real page from a sorry page by dozens
        at the least, however much navigation the two share — so a share of
        all the words would not do).
        """
        if self.script_shell or other.script_shell:
            return False
        if self.text_hash == other.text_hash:
            return True
        if not self.title or self.title != other.title:
            return False
        longer = max(self.length, other.length, 1)
        if abs(self.length - other.length) / longer > 0.05:
            return False
        return len(self.words ^ other.words) <= _WORDS_APART


#: How many distinct words two look-alike pages may hold that the other lacks.
_WORDS_APART = 16


# All linear: a page of ten thousand unclosed "<script " or "<title>" must not
# make any of these rescan to its end once per tag (lazy ``.*?`` and ``[^>]*``
# from every "<" did: 160 KB took 9 s, a 1 MB body would take minutes).
_RAW_TEXT_OPEN = re.compile(rb"<(script|style|noscript)\b", re.I)
_TAGS = re.compile(rb"<[^<>]*>")
_SPACE = re.compile(rb"\s+")


def _title_of(body: bytes) -> str:
    lower = body.lower()
    start = lower.find(b"<title")
    opened = lower.find(b">", start) if start >= 0 else -1
    end = lower.find(b"</title", opened) if opened >= 0 else -1
    title = b" ".join(body[opened + 1 : end].split()) if end >= 0 else b""
    return html.unescape(title.decode("utf-8", "replace"))


def _without_raw_text(body: bytes) -> bytes:
    """``body`` with each script, style and noscript element (or an unclosed one's rest) cut."""
    lower = body.lower()
    kept: list[bytes] = []
    pos = 0
    while (match := _RAW_TEXT_OPEN.search(body, pos)) is not None:
        kept.append(body[pos : match.start()])
        close = lower.find(b"</" + match.group(1).lower(), match.end())
        if close < 0:
            return b" ".join(kept)  # never closed: a browser reads the rest as its text
        end = lower.find(b">", close)
        pos = end + 1 if end >= 0 else len(body)
    kept.append(body[pos:])
    return b" ".join(kept)


def page_signature(body: bytes) -> _PageSignature:
    """Title, size and a hash of the visible text; regexes suffice for a look-alike test."""
    text = _SPACE.sub(b" ", _TAGS.sub(b" ", _without_raw_text(body))).strip()
    return _PageSignature(
        title=_title_of(body),
        length=len(body),
        text_hash=hashlib.sha256(text).hexdigest(),
        script_shell=b"<script" in body.lower() and len(text) < SHELL_TEXT_BYTES,
        words=frozenset(text.lower().split()),
    )


def matches_probe(body: bytes, probe: _PageSignature) -> bool:
    """``page_signature(body).looks_like(probe)``, skipping the costly part when it cannot match.

    On a host that answers 200 to every path, every page of the host is
    compared with the probe; most differ already by title.  The title is
    part of the visible text, so pages whose titles differ cannot share the
    text hash either, and the text (three regex passes and a hash) is only
    computed when the titles agree.
    """
    if probe.script_shell or _title_of(body) != probe.title:
        return False
    return page_signature(body).looks_like(probe)


def _path_is_root(url: str) -> bool:
    """Whether a URL as httpx writes it has an empty or ``/`` path, without parsing it again."""
    rest = url.partition("://")[2]
    slash = rest.find("/")
    if slash < 0:
        return True
    path = rest[slash:].partition("#")[0].partition("?")[0]
    return path == "/"


def _is_html(headers: Mapping[str, str]) -> bool:
    ctype = headers.get("content-type", "").lower()
    return "html" in ctype


class _LinkClock:
    """One link's deadline, which runs only while the link itself is at work.

    A link's ``link_timeout`` is what its server may take.  Waiting for our
    own politeness — a slot on its host (``per_host``), the spacing of
    request starts, the soft-404 probe of its host — is not
    the server's time: billed to the link, it made every link queued behind
    a slow host "time out" without a request sent (8 links on a host that
    answers in 1.0 s, two at a time, 2.5 s each: four timed out, and a
    timeout is a failure on the way to "rotten").  Those waits run with the
    deadline paused (:meth:`paused`) and move it on by as long as they took.
    """

    __slots__ = ("scope", "spared", "unbilled")

    def __init__(self, scope: anyio.CancelScope) -> None:
        self.scope = scope
        self.unbilled = 0.0
        # True once an attempt was answered by its host's failure without a
        # request (Checker._spared): retrying would only repeat that.
        self.spared = False

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        scope = self.scope
        deadline = scope.deadline
        since = time.monotonic()
        scope.deadline = math.inf
        try:
            yield
        finally:
            waited = time.monotonic() - since
            self.unbilled += waited
            scope.deadline = deadline + waited


#: The clock of the link the current task is checking (set by Checker.check).
_LINK_CLOCK: ContextVar[_LinkClock | None] = ContextVar("linkwatch_link_clock", default=None)


@contextlib.contextmanager
def _unbilled(will_wait: bool) -> Iterator[None]:
    """Pause the current link's deadline around a wait that is ours, not its server's."""
    clock = _LINK_CLOCK.get() if will_wait else None
    if clock is None:
        yield
        return
    with clock.paused():
        yield


class _HostGate:
    """Per-host politeness: at most ``per_host`` requests in flight, spaced starts.

    Used as ``async with gate:``.  The slot is an ``anyio.Semaphore`` with
    ``fast_acquire``: a free slot is taken without a trip through the event
    loop (a ``CapacityLimiter`` checkpoints twice and tracks its borrowers,
    which nothing here needs).  Spacing needs no lock: each request books
    the next free start time in one step (no ``await`` between reading and
    writing it), so starts are handed out in arrival order, ``interval``
    apart, and a request only sleeps until its own.

    A host that says "too many requests" (429, or 503 with ``Retry-After``)
    gets :meth:`back_off`: no request starts before its ``Retry-After``, and
    its starts are spaced twice as far apart as before (at least
    ``RATE_LIMITED_SPACING``).  Each link retried on its own, while the
    host's other links went on asking at full speed and earned 429s of
    their own.  A request whose turn at such a host is further away than
    ``max_wait`` is not sent: it fails at once as "rate-limited", so a host
    that wants a minute between requests cannot stretch a run to a minute
    per link.  Nor is any request once the host has said 429 to
    ``RATE_LIMIT_STRIKES`` requests for different targets in a row that
    were sent after slowing down: it is not going to let us in this run.
    Any other answer narrows the spacing by a fifth and ends both
    (:meth:`answered`).
    """

    __slots__ = (
        "_backed_off_at", "_base", "_held_until", "_interval", "_max_wait", "_next_start",
        "_rate_limited", "_refuse", "_slots", "_struck", "heard",
    )  # fmt: skip

    def __init__(
        self,
        per_host: int,
        min_interval: float,
        max_wait: float = math.inf,
        refuse: Callable[[], None] = lambda: None,
    ) -> None:
        self._slots = anyio.Semaphore(max(1, per_host), fast_acquire=True)
        # Raises when a request is not to be sent at all (Checker._spared):
        # asked before the wait and again once the slot is taken, never
        # after a start is booked, for a request not sent owes the host no
        # spacing (booked and slept, the spared links of a host that looks
        # down took as long to fail as to be tried, min_interval apart).
        self._refuse = refuse
        self._base = self._interval = min_interval
        self._max_wait = max_wait
        self._next_start = 0.0
        self._rate_limited = False
        # The targets (path and query) that earned a strike since the last
        # other answer.  One path asked again, a link's retry, is no new
        # strike: a single link that always gets 429 would close its host
        # to every later link with its own three attempts.
        self._struck: set[bytes] = set()
        self._backed_off_at = -math.inf
        self._held_until = -math.inf  # no start before this: the latest back-off's hold
        self.heard = False  # the host has answered a request this run (a status line)

    def answered(self) -> None:
        """The host answered without asking us to slow down: narrow the spacing a fifth.

        A fifth, not a half: halved at each good answer, the spacing fell
        below the host's limit within two answers and earned the next 429
        (a limiter allowing one request per 0.4 s sent 6–7 429s to 20 links,
        4 now, and the run was shorter).  Below 10 ms above the configured
        spacing it is back to that.  And no request is turned away any more
        until the next 429: one path that always answers 429 must not cost
        the host's other links their check.
        """
        self._rate_limited = False
        self._struck.clear()
        narrower = self._interval * ANSWERED_SPACING_FACTOR
        self._interval = narrower if narrower > self._base + 0.01 else self._base

    @property
    def slowed(self) -> bool:
        """Spaced wider than configured, or turning requests away, after a 429."""
        return self._rate_limited or self._interval > self._base

    def back_off(
        self, sent_at: float, after: float | None, cap: float, target: bytes = b""
    ) -> None:
        """The host asked us to slow down; ``after`` is its ``Retry-After`` in seconds.

        ``sent_at``: when the request so answered started.  Requests already
        in flight at the last back-off extend the hold but do not slow the
        host down again: four 429s to one burst are one "slow down".
        ``target``: the path and query asked for (see ``_struck``).
        """
        now = time.monotonic()
        self._rate_limited = True
        if sent_at >= self._backed_off_at:
            # The cap bounds the slowing down, never the configured spacing:
            # capped below min_interval, a 429 would speed the host up.
            doubled = min(max(2 * self._interval, RATE_LIMITED_SPACING), max(cap, 0.0))
            self._interval = max(self._base, doubled)
            self._backed_off_at = now
            self._struck.add(target)
        hold = self._interval if after is None else after
        self._held_until = max(self._held_until, now + hold)
        self._next_start = max(self._next_start, self._held_until)

    async def __aenter__(self) -> None:
        self._refuse()
        # Waiting here is not the link's time (see _LinkClock); the common
        # case, a free slot and no spacing due, waits for nothing.
        busy = self._slots.value == 0 or self._next_start > time.monotonic()
        with _unbilled(busy):
            await self._enter()

    async def _enter(self) -> None:
        await self._slots.acquire()
        try:
            self._refuse()  # the host may have been found down while we waited
            # A start booked before a back-off is booked again after its
            # hold: sent on time, it would be sent while the host has asked
            # us to wait, and its 429 would count as a strike.
            while self._interval > 0:
                # Real time on purpose: politeness is owed in wall-clock seconds.
                now = time.monotonic()
                start = max(now, self._next_start)
                if self._rate_limited and (
                    self._strikes >= RATE_LIMIT_STRIKES or start - now > self._max_wait
                ):
                    raise self._turned_away(start - now)
                self._next_start = start + self._interval
                if start <= now:
                    return
                await anyio.sleep(start - now)
                if self._held_until <= start:
                    return
        except BaseException:
            self._slots.release()
            raise

    async def __aexit__(self, *exc_info: object) -> None:
        self._slots.release()

    @property
    def _strikes(self) -> int:
        return len(self._struck)

    def _turned_away(self, wait: float) -> _Failure:
        if self._strikes >= RATE_LIMIT_STRIKES:
            why = (
                f"answered 429 to the last {self._strikes} requests, each for another "
                "path and sent after slowing down"
            )
        else:
            why = f"its next turn is {wait:.0f} s away, more than the {self._max_wait:g} s allowed"
        return _Failure(
            "rate-limited",
            "not tried: the host asked us to slow down (HTTP 429 or 503 with Retry-After) "
            f"and {why}",
            tried=False,
        )


_HostKey = tuple[str, str, int]

#: 429s in a row to requests for different paths, sent after slowing down,
#: after which a host's other links are not sent this run (see _HostGate).
RATE_LIMIT_STRIKES = 3

#: The least spacing of request starts to a host that answered 429 (see
#: _HostGate.back_off); it doubles with each further 429, and each other
#: answer narrows it by this factor (_HostGate.answered).
RATE_LIMITED_SPACING = 1.0
ANSWERED_SPACING_FACTOR = 0.8


#: Network-level failures or timeouts in a row after which a host's other requests take
#: its failure instead of waiting their turn to fail alike (Checker._spared).
DEAD_HOST_STREAK = 3

#: Open files kept back from the crawl's sockets: the state database and its
#: journal, a report being written, pipes to worker processes, the event
#: loop's own, name lookups in threads, the adapters' API connections.
RESERVED_FILES = 64


def socket_budget(concurrency: int) -> tuple[int, int]:
    """``(requests in flight, idle connections kept)`` within the open-file limit.

    Every request in flight holds one socket and every kept-alive idle
    connection another; past ``RLIMIT_NOFILE`` a connect fails with "Too
    many open files", which would read as the server being unreachable.
    The requests in flight come first (``concurrency``, or fewer under a
    very low limit), idle connections get the rest (see
    ``connections.IdleBudget``).  No limit known (no ``resource`` module):
    no cap.
    """
    wanted = max(1, concurrency)
    try:
        import resource  # POSIX only

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        unlimited = soft == resource.RLIM_INFINITY
    except (ImportError, OSError, ValueError):
        return wanted, 1 << 30
    if unlimited:
        return wanted, 1 << 30
    usable = max(1, soft - RESERVED_FILES)
    in_flight = min(wanted, usable)
    return in_flight, max(0, usable - in_flight)


@dataclass(frozen=True, slots=True)
class _Trouble:
    """A host's latest request got no HTTP answer: how, how many in a row, and when.

    ``reached``: when the streak reached ``DEAD_HOST_STREAK``; ``rests``:
    whether the host is rested; ``pages``: the URLs whose timeouts made the
    streak (see ``Checker._note_reachability``).
    """

    failure: _Failure
    streak: int
    at: float
    reached: float = math.inf
    rests: bool = False
    pages: frozenset[str] = frozenset()


class _BudgetStop(stop_base):
    """Stop retrying when the next wait would overrun the per-link budget.

    ``elapsed`` tells the link's time so far: the first attempt (which runs
    outside tenacity) included, its waits for politeness not.
    """

    def __init__(self, budget: float, elapsed: Callable[[], float]) -> None:
        self._budget = budget
        self._elapsed = elapsed

    def __call__(self, retry_state: RetryCallState) -> bool:
        upcoming = retry_state.upcoming_sleep or 0.0
        return self._elapsed() + upcoming >= self._budget


class Checker:
    """Checks links, one ``Observation`` each; use as ``async with Checker(...)``.

    Method choice — GET, never HEAD.  Most catalog links are HTML pages whose
    body we need anyway (soft-404 text, ``#fragment`` targets, expected text,
    the content fingerprint for freshness), so HEAD-then-GET would cost two
    requests for the common case, and HEAD is the method servers most often
    get wrong (405, 403, 404 or 501 to HEAD while GET works).  A streamed GET
    costs no more than HEAD for the rest: the body is read only when it is
    text, and then only up to ``settings.max_body_bytes``; for a PDF or a
    video we read the headers and close.  ``Observation.method`` is therefore
    always ``"GET"``.

    Conditional requests (RFC 9110 §13.1): with ``validators`` we send
    ``If-None-Match``/``If-Modified-Since``; a 304 comes back as
    ``status_code=304, not_modified=True`` and no body, which the pipeline
    treats as "ok, unchanged since last time".

    Retries (tenacity): while :func:`classify.should_retry` says so, up to
    ``settings.retries`` *re*-tries (``retries=0`` means one attempt), waiting
    for ``Retry-After`` when the server gives one (capped by
    ``settings.retry_after_cap``, RFC 9110 §10.2.3) or else an exponential
    backoff with full jitter.  Everything for one link — resolution, all
    attempts, waits, redirects and the soft-404 probe — runs under one total
    deadline, ``settings.link_timeout``, so a server that trickles a byte a
    second cannot hold a worker for longer than that.

    Host adapters (GitHub, YouTube, bilibili) get their own per-host client
    for their fixed API host; that client resolves names through the system,
    as those hosts are not catalog input.  The GitHub token belongs to
    ``github_api_url`` (``GITHUB_API_URL``) and goes only to an adapter whose
    API is that origin: on GitHub Enterprise, github.com links are checked
    against api.github.com without it.  Cookies set during one check are
    sent back to the host that set them for the rest of that check only, so
    a "set cookie, redirect to self" check is not mistaken for a loop.

    ``is_public``, ``find_adapter``, ``probe_soft404`` and ``ssl_context``
    exist for tests (and the benchmarks): production uses the defaults.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        allow_private: bool = False,
        use_adapters: bool = True,
        github_token: str | None = None,
        github_api_url: str = "https://api.github.com",
        resolver: Resolver | None = None,
        sleep: Sleep | None = None,
        clock: Clock | None = None,
        is_public: AddressPolicy = is_public_address,
        find_adapter: AdapterFinder | None = None,
        probe_soft404: bool = True,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._settings = settings
        self._allow_private = allow_private
        self._use_adapters = use_adapters
        self._github_token = github_token
        self._github_api_origin = _origin_key(github_api_url)
        self._resolver: Resolver = resolver or system_resolver
        self._sleep: Sleep = sleep or anyio.sleep
        self._clock: Clock = clock or (lambda: datetime.now(UTC))
        self._is_public = is_public
        self._find_adapter: AdapterFinder = find_adapter or adapters.find_adapter
        self._probe_soft404 = probe_soft404
        self._backoff = wait_random_exponential(multiplier=0.5, max=settings.retry_after_cap)
        # One SSLContext for every client: building one costs tens of ms (design.md §7).
        self._ssl: ssl.SSLContext | None = ssl_context
        self._timeout = httpx.Timeout(
            connect=settings.connect_timeout,
            read=settings.read_timeout,
            write=settings.read_timeout,
            pool=settings.link_timeout,
        )
        self._user_agent = settings.user_agent.encode("utf-8")
        in_flight, idle = socket_budget(settings.concurrency)
        self._global = anyio.Semaphore(in_flight, fast_acquire=True)
        self._idle_budget = IdleBudget(idle)
        self._clients: dict[_HostKey, httpx.AsyncClient] = {}
        self._pools: dict[_HostKey, HostPool] = {}
        self._left: dict[_HostKey, int] = {}  # links still to check, per origin host
        self._announced: dict[str, _HostKey | None] = {}  # expect()'s split, until done()
        self._busy: dict[_HostKey, int] = {}  # exchanges in flight, per host
        self._public: dict[str, bool] = {}
        self._gates: dict[_HostKey, _HostGate] = {}
        self._dns: dict[str, list[str] | _Failure] = {}
        self._dns_locks: dict[str, anyio.Lock] = {}
        # When each name's last temporary DNS failure was seen (see _resolve).
        self._dns_failed_at: dict[str, float] = {}
        # Hosts whose latest request this run got no HTTP answer (see _note_reachability).
        self._unreachable: dict[_HostKey, _Trouble] = {}
        # Hosts where one request is trying again after a streak (see _spared).
        self._trials: set[_HostKey] = set()
        self._probes: dict[_HostKey, _PageSignature | None] = {}
        # Each host's probe while it runs (see _probe_signature), and the
        # task group probes run in while the checker is open.
        self._probes_running: dict[_HostKey, anyio.Event] = {}
        self._background: anyio.abc.TaskGroup | None = None

    async def __aenter__(self) -> Self:
        group = anyio.create_task_group()
        await group.__aenter__()
        self._background = group
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        group, self._background = self._background, None
        if group is not None:
            # A probe still running serves no link any more.
            group.cancel_scope.cancel()
            await group.__aexit__(None, None, None)
        await self.aclose()

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()
        with anyio.CancelScope(shield=True):
            for client in clients:
                await client.aclose()

    def expect(self, urls: Iterable[str], keys: Iterable[_HostKey | None] | None = None) -> None:
        """Announce the links to come, so each host's pool is closed after its last one.

        Without this, every host's pool and its keep-alive connection live
        until the end of the run: thousands of idle sockets on a large
        catalog.  With it, :meth:`done` closes a host's pool once all its
        links are checked and no exchange is using it.  A later redirect to
        that host simply opens a new pool.  ``keys``: each URL's
        :func:`origin_of`, when the caller has them already.
        """
        interned: dict[_HostKey, _HostKey] = {}  # one key object per host, not per link
        if keys is None:
            pairs: Iterable[tuple[str, _HostKey | None]] = ((u, _origin_key(u)) for u in urls)
        else:
            pairs = zip(urls, keys, strict=True)
        for url, found in pairs:
            key = interned.setdefault(found, found) if found is not None else None
            if key is not None:
                self._left[key] = self._left.get(key, 0) + 1
            self._announced[url] = key

    async def done(self, url: str) -> None:
        """One announced link is checked; close its host's pool if it was the last."""
        key = self._host_key(url)
        self._announced.pop(url, None)
        left = self._left.get(key) if key is not None else None
        if key is None or left is None:
            return
        self._left[key] = max(0, left - 1)
        if left <= 1 and not self._busy.get(key):
            self._close_pool(key)

    def _host_key(self, url: str) -> _HostKey | None:
        """``url``'s pool key: from :meth:`expect`'s split when announced, else split now."""
        return self._announced[url] if url in self._announced else _origin_key(url)

    def _close_pool(self, key: _HostKey) -> None:
        pool = self._pools.pop(key, None)
        if pool is not None:
            pool.close()

    # -- one link -------------------------------------------------------------

    async def check(self, link: Link, validators: Validators | None = None) -> Observation:
        """Check one link, with retries, under its total deadline; never raises.

        The first attempt runs outside tenacity: most links answer at once,
        and ``AsyncRetrying`` costs a retry state, several callbacks and a
        coroutine-function check per call.  Only an answer that
        :func:`classify.should_retry` wants retried enters it, which then
        sees that first answer as its attempt 1 — so waits, attempt counts
        and the budget are exactly those of a loop run by tenacity alone.
        """
        async with self._global:
            started = time.monotonic()
            budget = self._settings.link_timeout
            retries = max(0, self._settings.retries)
            attempts = 0
            last: Observation | None = None
            obs: Observation | None = None
            with anyio.move_on_after(budget) as scope:
                clock = _LinkClock(scope)
                token = _LINK_CLOCK.set(clock)

                def elapsed() -> float:
                    return time.monotonic() - started - clock.unbilled

                try:
                    last = await self._attempt(link, validators)
                    attempts = 1

                    def again(answer: Observation) -> bool:
                        return not clock.spared and classify.should_retry(answer)

                    if retries == 0 or not again(last):
                        obs = last
                    else:
                        first: list[Observation] = [last]

                        async def attempt() -> Observation:
                            nonlocal attempts, last
                            if first:
                                return first.pop()
                            attempts += 1
                            last = await self._attempt(link, validators)
                            return last

                        retrying = AsyncRetrying(
                            sleep=self._sleep,
                            retry=retry_if_result(again),
                            stop=stop_after_attempt(retries + 1) | _BudgetStop(budget, elapsed),
                            wait=self._wait,
                            retry_error_callback=_last_result,
                        )
                        obs = await retrying(attempt)
                finally:
                    _LINK_CLOCK.reset(token)
            if obs is None:
                # The deadline cut an attempt short: the last complete answer, if
                # any, says more than "timeout" (a 503, a connect timeout…).
                obs = last or self._timed_out(link.url, budget)
            elif attempts <= retries and not clock.spared:
                obs = self._unwaited(obs, budget - elapsed())
            # The link's own time, as its deadline counted it: queueing for
            # politeness is the run's, not the server's.
            took = int(elapsed() * 1000)
            return replace(obs, attempts=max(1, attempts), elapsed_ms=took)

    def _unwaited(self, obs: Observation, left: float) -> Observation:
        """A 5xx whose ``Retry-After`` is more than the link has ``left``: "retry-later".

        Such a link ends with retries to spare and a server that asked to
        be asked again later (a 503 for a moment of maintenance, through a
        CDN): judged by its status, one answer was ``broken`` ("persisted
        through retries"), a newly broken link.  It is an ``error`` instead:
        no alarm tonight, yet it counts toward rot, so a site stuck in
        maintenance mode for days (WordPress sends ``Retry-After: 600``)
        still rots, where ``blocked`` would have hidden it for ever.
        """
        status = obs.status_code
        if status is None or not 500 <= status < 600 or not classify.should_retry(obs):
            return obs
        after = classify.retry_after_seconds(
            obs.headers, self._clock(), self._settings.retry_after_cap
        )
        if after is None or after < left:
            return obs
        return replace(
            obs,
            error="retry-later",
            error_detail=(
                f"not retried: HTTP {status} asked us to come back in {after:g} s "
                f"(Retry-After), more than the {max(left, 0.0):.1f} s this link had left"
            ),
        )

    def _timed_out(self, url: str, budget: float) -> Observation:
        """A link whose deadline passed before any attempt of it completed.

        Waits for the host's slot do not count (:class:`_LinkClock`), so the
        deadline cut one of its own attempts: a server that trickles, or a
        connect that hangs.  If the host's latest request got no answer,
        that failure is this link's too, so that a runner whose packets are
        silently dropped is still seen to be offline
        (``classify.is_network_failure``) instead of judging such links
        "timed out" as if a server had been reached.
        """
        detail = f"no complete answer within the {budget:g} s allowed per link"
        key = self._host_key(url)
        trouble = self._unreachable.get(key) if key is not None else None
        if trouble is None:
            return Observation(url=url, final_url=url, error="timeout", error_detail=detail)
        failure = trouble.failure
        return Observation(
            url=url,
            final_url=url,
            error=failure.kind,
            # The host's failure first: "connect …" is what marks a timeout as
            # a failure below HTTP (classify.is_network_failure_kind).
            error_detail=f"{failure.detail} (this host's latest request; {detail})",
        )

    def _wait(self, retry_state: RetryCallState) -> float:
        """Honour ``Retry-After`` when given, else exponential backoff with full jitter."""
        outcome = retry_state.outcome
        if outcome is not None and not outcome.failed:
            obs: Observation = outcome.result()
            after = classify.retry_after_seconds(
                obs.headers, self._clock(), self._settings.retry_after_cap
            )
            if after is not None:
                return after
        return float(self._backoff(retry_state))

    async def _attempt(self, link: Link, validators: Validators | None) -> Observation:
        if self._use_adapters:
            adapted = await self._try_adapter(link.url)
            if adapted is not None:
                return adapted
        if validators is None:
            # With validators the page will most likely answer 304, which
            # needs no probe: a nightly run of unchanged pages sends none.
            self._probe_beside(link.url)
        obs = await self._follow(link.url, validators, lang=link.lang)
        if self._probe_soft404 and self._wants_probe(obs):
            probe = await self._probe_signature(obs.final_url or obs.url)
            if probe is not None and matches_probe(obs.body, probe):
                obs = replace(obs, soft404_probe_match=True)
        return obs

    async def _try_adapter(self, url: str) -> Observation | None:
        adapter = self._find_adapter(url)
        if adapter is None:
            return None
        host = adapter.api_host
        key: _HostKey = ("https", host, 443)
        token = self._github_token if key == self._github_api_origin else None
        try:
            async with self._gate(key):
                return await adapter.check(url, self._api_client(key), token=token)
        except (httpx.HTTPError, OSError, _Failure):
            # The API being unwell (or rate-limited) is no verdict on the link:
            # fetch it normally.
            return None

    # -- redirects, by hand ---------------------------------------------------

    async def _follow(
        self,
        url: str,
        validators: Validators | None,
        *,
        lang: str | None = None,
        note_failure: bool = True,
    ) -> Observation:
        """Follow redirects one hop at a time, re-checking the address policy at each.

        A redirect stub (a small 200 HTML page whose ``<meta
        http-equiv="refresh">`` sends the reader elsewhere at once,
        :meth:`_stub_target`) is a hop too: browsers follow it at once, and a
        page moved on a static site leaves nothing else behind.

        The fragment of the link is carried to the final URL unless a
        ``Location`` (or a stub's URL) brings its own (RFC 9110 §10.2.2).  ``note_failure``:
        whether a request that gets no answer counts towards resting its
        host (:meth:`_note_reachability`); an answer always counts.
        """
        hops: list[Hop] = []
        seen: set[str] = set()
        jar: dict[str, dict[str, str]] = {}
        origin_public: bool | None = None
        current = url
        try:
            target = httpx.URL(url)
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            return Observation(url=url, error="invalid-url", error_detail=str(exc))
        # Building an httpx.URL parses and validates every part again, so
        # the strings of each hop are cut from the one parsed URL instead.
        plain, _, fragment = str(target).partition("#")
        while True:
            final_url = _with_fragment(plain, fragment)
            try:
                if target.scheme not in ("http", "https") or not target.host:
                    raise _Failure("invalid-url", f"cannot fetch {current!r}: not an http(s) URL")
                host_jar = jar.setdefault(target.host, {})
                cookie = "; ".join(f"{k}={v}" for k, v in host_jar.items())
                # A redirect to the same URL that sets a cookie is a cookie
                # check, not a loop: the next request differs by its Cookie.
                if f"{plain} {cookie}" in seen:
                    raise _Failure("redirect-loop", f"{plain} redirected back to itself")
                if len(hops) > self._settings.max_redirects:
                    raise _Failure(
                        "too-many-redirects",
                        f"more than {self._settings.max_redirects} redirects",
                    )
                seen.add(f"{plain} {cookie}")
                address, public = await self._address_for(target, origin_public)
                if origin_public is None:
                    origin_public = public
                answer = await self._exchange(target, address, validators, lang=lang, cookie=cookie)
                host_jar.update(_cookie_pairs(answer.set_cookies))
            except _Failure as failure:
                if note_failure:
                    self._note_reachability(plain, failure)
                return Observation(
                    url=url,
                    final_url=final_url,
                    hops=tuple(hops),
                    error=failure.kind,
                    error_detail=failure.detail,
                )
            self._note_reachability(plain, None)
            location = answer.headers.get("location")
            if answer.status in REDIRECT_STATUSES and (location or answer.status != 300):
                if not location:
                    return replace(
                        self._observation(url, final_url, hops, answer),
                        error="redirect-without-location",
                        error_detail=f"{answer.status} redirect without a Location header",
                    )
                hops.append(Hop(url=plain, status=answer.status))
                try:
                    target = target.join(location)
                except (httpx.InvalidURL, ValueError) as exc:
                    return Observation(
                        url=url,
                        final_url=final_url,
                        hops=tuple(hops),
                        error="invalid-url",
                        error_detail=f"unusable Location {location!r}: {exc}",
                    )
            else:
                stub = self._stub_target(target, plain, answer)
                if stub is None:
                    return self._observation(url, final_url, hops, answer)
                # A redirect stub is one more hop, under the same address
                # policy, loop check and hop limit as an HTTP redirect.
                hops.append(Hop(url=plain, status=answer.status, meta_refresh=True))
                target = stub
            current = str(target)
            plain, _, own_fragment = current.partition("#")
            if own_fragment:
                fragment = own_fragment

    @staticmethod
    def _stub_target(page: httpx.URL, plain: str, answer: _Answer) -> httpx.URL | None:
        """Where a redirect stub (``classify.refresh_target``) sends the reader, or None.

        Only a whole 200 body is read for one: a body cut at the size limit
        or undecodable is no stub.  The URL resolves against the page's own
        (HTML §4.2.5.3); one that is not http(s), cannot be parsed or leads
        back to the page itself (a page that reloads) is not followed, as a
        browser would stay where it is.
        """
        if answer.status != 200 or answer.truncated or answer.decode_error:
            return None
        raw = classify.refresh_target(answer.body, answer.headers.get("content-type", ""))
        if raw is None:
            return None
        try:
            target = page.join(raw)
        except (httpx.InvalidURL, ValueError):
            return None
        if target.scheme not in ("http", "https") or not target.host:
            return None
        if str(target).partition("#")[0] == plain:
            return None
        return target

    def _note_reachability(self, url: str, failure: _Failure | None) -> None:
        """Remember whether ``url``'s host last got no answer (:meth:`_timed_out`, :meth:`_spared`).

        No answer is a failure below HTTP or a server that stopped answering
        (``timeout``): one that accepts connections and never answers holds
        each request for the read timeout, as a silent one holds it for the
        connect timeout, and the links queued behind either wait with their
        deadlines paused (:class:`_LinkClock`), so they too would time out
        round after round without the breaker.  A timeout is no network
        failure for offline detection: its detail says so, and it is kept.

        A timeout or a refused connect counts only while the host has not
        answered any request this run: a host that answers is alive, and
        three slow pages of it in a row must not cost its other links their
        check (spared, they would fail night after night while their pages
        work), nor a restart of a second its links' retries would outlast.
        Both cost little unspared: a refusal is instant, a slow page ends
        at the read timeout.

        A streak of network-level failures rests the host at once: a refused
        or unanswered connect is the host's, whatever the path.  A timeout is
        the page's until shown otherwise: such a streak rests the host only
        once a request sent after it was reached times out too, and a retry
        of a page already in the streak neither extends nor confirms it (one
        hung page's own attempts would otherwise make the streak by
        themselves).  Three pages that hang at the front of a live host's
        links (one at a time, before any page of it answered) would
        otherwise have the host's other links spared as "timeout" without a
        request sent, night after night.
        """
        if failure is None and not self._unreachable:
            return  # the common case, kept to a dict's truth test
        key = self._host_key(url)
        if key is None:
            return
        if failure is not None and not failure.tried:
            return
        network = failure is not None and classify.is_network_failure_kind(
            failure.kind, failure.detail
        )
        if failure is not None and (
            failure.kind == "connect-refused" or (failure.kind == "timeout" and not network)
        ):
            gate = self._gates.get(key)
            if gate is not None and gate.heard:
                return  # a host that answers: no sign it is down
        if failure is not None and (network or failure.kind == "timeout"):
            trouble = self._unreachable.get(key)
            if not network and trouble is not None and not trouble.rests and url in trouble.pages:
                return  # a retry of a page in the streak: that page's, no news of the host
            streak = trouble.streak + 1 if trouble is not None else 1
            now = time.monotonic()
            reached = trouble.reached if trouble is not None else math.inf
            if streak >= DEAD_HOST_STREAK:
                reached = min(reached, now)
            rests = streak >= DEAD_HOST_STREAK and (
                network
                or (trouble is not None and (trouble.rests or failure.sent_at >= trouble.reached))
            )
            pages = trouble.pages if trouble is not None else frozenset()
            if not network:
                pages |= {url}
            self._unreachable[key] = _Trouble(failure, streak, now, reached, rests, pages)
        else:
            self._unreachable.pop(key, None)

    def _admission(self, key: _HostKey) -> Literal["go", "trial", "spare"]:
        """Whether a request to ``key`` goes, goes as the host's one trial, or is spared.

        See :meth:`_spared`.  A trial is booked here; the caller ends it.
        """
        trouble = self._unreachable.get(key)
        if trouble is None or not trouble.rests:
            return "go"
        if self._resting(key, trouble):
            return "spare"
        self._trials.add(key)
        return "trial"

    def _resting(self, key: _HostKey, trouble: _Trouble) -> bool:
        """After its streak, the host rests for a link_timeout, or has its one trial under way."""
        return key in self._trials or time.monotonic() - trouble.at < self._settings.link_timeout

    def _refuse_while_resting(self, key: _HostKey) -> None:
        """Raise :meth:`_spared`'s failure now if :meth:`_admission` would spare ``key``.

        The host's gate asks before a request waits for its slot or turn
        (see _HostGate); a trial is still booked by :meth:`_admission` alone.
        """
        trouble = self._unreachable.get(key) if self._unreachable else None
        if trouble is not None and trouble.rests and self._resting(key, trouble):
            raise self._spared(key)

    def _spared(self, key: _HostKey) -> _Failure:
        """This host's failure, for a request not sent because the host looks down.

        A host whose connects time out holds each request for the whole
        ``connect_timeout`` (one that never answers, for ``read_timeout``),
        ``per_host`` at a time, so its links queued behind would take many
        times the timeout to fail one by one (40 links, 4 at a time: ten
        rounds).  After ``DEAD_HOST_STREAK`` network-level failures or
        timeouts in a row (a circuit breaker; timeouts confirmed by one more
        request, see :meth:`_note_reachability`), the host's
        requests get the latest failure at once, marked as not tried; once
        ``link_timeout`` has passed since that failure, one request at a
        time tries the host again, and a success ends the streak.  It is the
        failure those links would have met, so offline detection and outage
        grouping see what they always saw.
        """
        trouble = self._unreachable[key]
        clock = _LINK_CLOCK.get()
        if clock is not None:
            clock.spared = True
        return _Failure(
            trouble.failure.kind,
            f"{trouble.failure.detail} (not tried: the last {trouble.streak} requests to "
            "this host got no answer)",
            tried=False,
        )

    @staticmethod
    def _observation(url: str, final_url: str, hops: list[Hop], answer: _Answer) -> Observation:
        return Observation(
            url=url,
            final_url=final_url,
            status_code=answer.status,
            method="GET",
            hops=tuple(hops),
            headers=answer.headers,
            body=answer.body,
            body_truncated=answer.truncated,
            bytes_received=answer.bytes_received,
            not_modified=answer.status == 304,
            # A note beside a real answer, not a failure: classify judges the
            # status and says the body was unreadable (agreed with classify).
            error="decode-error" if answer.decode_error else None,
            error_detail=answer.decode_error or "",
        )

    # -- names and addresses --------------------------------------------------

    async def _resolve(self, host: str) -> list[str]:
        """Resolve once per run; concurrent lookups of one name share the answer.

        An address or a definite "no such name" holds for the whole run.  A
        temporary failure (``EAI_AGAIN``: the resolver did not answer) is only
        shared with the lookups that were already waiting for it; a lookup
        asked afterwards — a retry, or the host's next link — asks again, or
        retries could never see the resolver recover.
        """
        cached = self._dns.get(host)
        if cached is None or host in self._dns_failed_at:
            asked = time.monotonic()
            lock = self._dns_locks.setdefault(host, anyio.Lock())
            async with lock:
                cached = self._dns.get(host)
                failed_at = self._dns_failed_at.get(host)
                if cached is None or (failed_at is not None and failed_at < asked):
                    try:
                        answer = list(await self._resolver(host))
                        cached = answer or _Failure(
                            "dns-nxdomain", f"the name {host} has no address"
                        )
                    except OSError as exc:
                        cached = _dns_failure(host, exc)
                    self._dns[host] = cached
                    if isinstance(cached, _Failure) and cached.kind == "dns-temporary":
                        self._dns_failed_at[host] = time.monotonic()
                    else:
                        self._dns_failed_at.pop(host, None)
        if isinstance(cached, _Failure):
            raise cached
        return cached

    async def _address_for(self, url: httpx.URL, origin_public: bool | None) -> tuple[str, bool]:
        """The address to connect to for ``url``, and whether it is public.

        ``origin_public`` is None for the link itself: a private address is
        then allowed only with ``allow_private``.  For a redirect hop of a
        public link a private address is always refused (SSRF).
        """
        host = url.raw_host.decode("ascii")
        known = self._dns.get(host)  # a literal address, or a name resolved before
        if isinstance(known, list):
            addresses = known
        else:
            try:
                addresses = self._dns[host] = [str(ipaddress.ip_address(host.strip("[]")))]
            except ValueError:
                addresses = await self._resolve(host)
        address = addresses[0]
        public = self._public.get(address)
        if public is None:
            public = self._public[address] = self._is_public(address)
        if not public:
            if origin_public:
                raise _Failure(
                    "ssrf-blocked",
                    f"a public link redirected to {host}, which is the private address {address}",
                )
            if not self._allow_private:
                raise _Failure(
                    "private-address",
                    f"{host} is the private address {address} (use --allow-private to check it)",
                )
        return address, public

    # -- one HTTP exchange ----------------------------------------------------

    def _gate(self, key: _HostKey) -> _HostGate:
        gate = self._gates.get(key)
        if gate is None:
            settings = self._settings
            gate = _HostGate(
                settings.per_host,
                settings.min_interval_ms / 1000,
                settings.link_timeout,
                refuse=functools.partial(self._refuse_while_resting, key),
            )
            self._gates[key] = gate
        return gate

    def _tls(self) -> ssl.SSLContext:
        """The run's one TLS context, made at the first https request.

        Loading the CA bundle costs ~25 ms, which a run over plain-http links
        need not pay.
        """
        if self._ssl is None:
            self._ssl = httpx.create_ssl_context()
        return self._ssl

    def _new_client(self) -> httpx.AsyncClient:
        per_host = max(1, self._settings.per_host)
        return httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(
                verify=self._tls(),
                limits=httpx.Limits(max_connections=per_host, max_keepalive_connections=per_host),
            ),
            timeout=self._timeout,
            headers={"User-Agent": self._settings.user_agent},
            follow_redirects=False,
            trust_env=False,
        )

    def _api_client(self, key: _HostKey) -> httpx.AsyncClient:
        api_key: _HostKey = ("api", *key[1:])
        client = self._clients.get(api_key)
        if client is None:
            client = self._clients[api_key] = self._new_client()
        return client

    def _pool(self, key: _HostKey) -> HostPool:
        """The host's own keep-alive connections (``connections`` says why not httpcore's pool).

        Links are sent straight over a connection: ``AsyncClient.send`` would add
        auth, redirect, cookie-jar and event-hook machinery that this module
        does by hand (redirects, per-check cookies) or must not have (a client
        cookie jar would carry cookies from one check to the next).
        """
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = HostPool(
                self._tls() if key[0] == "https" else None,
                max_idle=max(1, self._settings.per_host),
                keepalive_expiry=5.0,
                budget=self._idle_budget,
            )
        return pool

    async def _exchange(
        self,
        url: httpx.URL,
        address: str,
        validators: Validators | None,
        *,
        lang: str | None = None,
        cookie: str = "",
    ) -> _Answer:
        """One GET to ``address`` on behalf of ``url``'s host, holding that host's slot."""
        scheme = url.scheme
        host = url.raw_host.decode("ascii")
        key: _HostKey = (scheme, host, url.port or (443 if scheme == "https" else 80))
        headers = [
            (b"Host", url.netloc),
            (b"Accept", ACCEPT_B),
            (b"Accept-Encoding", ACCEPT_ENCODING_B),
            (b"Accept-Language", f"{lang}, *;q=0.5".encode() if lang else b"*"),
            (b"Connection", b"keep-alive"),
            (b"User-Agent", self._user_agent),
        ]
        if url.userinfo:
            # What httpx does for credentials in the URL: Basic auth (RFC 7617).
            credentials = f"{url.username}:{url.password}".encode()
            headers.append((b"Authorization", b"Basic " + base64.b64encode(credentials)))
        if cookie:
            headers.append((b"Cookie", cookie.encode("utf-8")))
        if validators is not None:
            if validators.etag:
                headers.append((b"If-None-Match", validators.etag.encode("utf-8")))
            if validators.last_modified:
                headers.append((b"If-Modified-Since", validators.last_modified.encode("utf-8")))
        settings = self._settings
        gate = self._gate(key)
        async with gate:
            sent_at = time.monotonic()
            admission = self._admission(key) if self._unreachable else "go"
            if admission == "spare":
                raise self._spared(key)
            trial = admission == "trial"
            self._busy[key] = self._busy.get(key, 0) + 1
            try:
                pool = self._pool(key)
                for first_try in (True, False):
                    connection = await pool.acquire(
                        address,
                        key[2],
                        server_hostname=host if scheme == "https" else None,
                        connect_timeout=settings.connect_timeout,
                    )
                    try:
                        try:
                            status, raw_headers = await connection.send(
                                b"GET",
                                url.raw_path,
                                headers,
                                read_timeout=settings.read_timeout,
                                write_timeout=settings.read_timeout,
                            )
                            gate.heard = True
                        except _STALE_ERRORS:
                            # Closed by the server as our request arrived: the
                            # request was never seen, so it goes again, on a
                            # new connection, and is no attempt of the link's.
                            if first_try and connection.stale:
                                pool.drop_idle()
                                continue
                            raise
                        answer = await self._read(status, raw_headers, connection)
                        if status == 429 or (status == 503 and "retry-after" in answer.headers):
                            gate.back_off(
                                sent_at,
                                classify.retry_after_seconds(
                                    answer.headers, self._clock(), settings.retry_after_cap
                                ),
                                settings.retry_after_cap,
                                url.raw_path,
                            )
                        elif gate.slowed:
                            gate.answered()
                        return answer
                    finally:
                        pool.release(connection)
                raise AssertionError("unreachable: the second try returns or raises")
            except _HTTPCORE_ERRORS as exc:
                failure = _map_exception(_as_httpx(exc))
                failure.sent_at = sent_at
                raise failure from exc
            except (OSError, ssl.SSLError) as exc:
                failure = _map_exception(exc)
                failure.sent_at = sent_at
                raise failure from exc
            finally:
                if trial:
                    self._trials.discard(key)
                busy = self._busy[key] = self._busy[key] - 1
                if busy == 0 and self._left.get(key) == 0:
                    self._close_pool(key)

    async def _read(
        self, status: int, raw_headers: list[tuple[bytes, bytes]], connection: Connection
    ) -> _Answer:
        """Read a bounded prefix of a textual body, decoding it ourselves.

        ``bytes_received`` counts the body bytes as they came off the wire
        (after de-chunking, before content decoding), headers not included.
        """
        headers, cookies = _decode_headers(raw_headers)
        read_timeout = self._settings.read_timeout
        if status in REDIRECT_STATUSES:
            cap = REDIRECT_BODY_BYTES
        elif status == 304 or not _TEXTUAL.match(headers.get("content-type", "text/html").lower()):
            cap = 0
        else:
            cap = max(0, self._settings.max_body_bytes)
        decoder = _BoundedDecoder(headers.get("content-encoding", ""))
        if not decoder.supported or cap == 0:
            if status == 304 or headers.get("content-length") == "0":
                # Nothing to read: take the end of the message, so the
                # connection can carry the next request (second runs are 304s).
                await connection.read(read_timeout)
            return _Answer(status, headers, b"", False, 0, set_cookies=cookies)
        chunks: list[bytes] = []
        size = 0
        received = 0
        truncated = False
        try:
            while raw := await connection.read(read_timeout):
                received += len(raw)
                piece = decoder.decode(raw, cap - size)
                chunks.append(piece)
                size += len(piece)
                if size >= cap:
                    truncated = True
                    break
        except zlib.error as exc:
            return _Answer(
                status,
                headers,
                b"".join(chunks),
                False,
                received,
                set_cookies=cookies,
                decode_error=(
                    f"the body could not be decoded "
                    f"(Content-Encoding: {headers.get('content-encoding')}): {exc}"
                ),
            )
        return _Answer(status, headers, b"".join(chunks), truncated, received, set_cookies=cookies)

    # -- soft-404 probe -------------------------------------------------------

    @staticmethod
    def _wants_probe(obs: Observation) -> bool:
        if obs.error or obs.status_code != 200 or not obs.body or not _is_html(obs.headers):
            return False
        return not _path_is_root(obs.final_url or obs.url)

    async def _probe_signature(self, page_url: str) -> _PageSignature | None:
        """What this host serves for a path that cannot exist: once per host per run.

        A host that answers 200 to ``/<random>-linkwatch-probe`` serves soft
        404s; if a link's page looks the same as that answer, the link is
        most likely a soft 404 too.  Hosts that answer 404 cost one request.

        The probe is the host's, not a link's: it runs in a task of its own
        under a ``link_timeout`` of its own (:meth:`_run_probe`), started
        beside a page when a request slot is free (:meth:`_probe_beside`),
        else here, after the page, in this link's slot, which the link holds
        while it waits.  Every link that needs it waits with its deadline
        paused.  Run under the deadline of the link that happened to need it
        first, a probe was cut short by what that link had left after its
        own page, and lost for the host's other links all run.
        """
        key = self._host_key(page_url)
        if key is None:
            return None
        if key in self._probes:
            return self._probes[key]
        running = self._probes_running.get(key) or self._start_probe(key, page_url)
        with _unbilled(True):
            await running.wait()
        return self._probes.get(key)

    def _probe_beside(self, url: str) -> None:
        """Start ``url``'s host probe now, beside the page, when a request slot is free.

        Made after the page, the probe doubles the time of a host's first
        link that needs it: on a catalog smaller than the concurrency (the
        learning path: 44 links, 21 hosts) every host waits for page, then
        probe, so the run takes twice the slowest host's answer.  Beside the
        page it costs no time.  It takes a request slot of its own, so no
        more requests are in flight than ``concurrency``; with none free (a
        large catalog keeps them all busy) the probe is made after the page,
        in the link's slot (:meth:`_probe_signature`).  A link whose page
        needs no probe (root, 404, not HTML, another host after a redirect)
        has cost its host one short request.
        """
        if self._background is None or not self._probe_soft404 or _path_is_root(url):
            return
        key = self._host_key(url)
        if key is None or key in self._probes or key in self._probes_running:
            return
        if key in self._unreachable:
            return  # a host in trouble gets its link's request alone (see _admission)
        try:
            self._global.acquire_nowait()
        except anyio.WouldBlock:
            return
        self._start_probe(key, url, own_slot=True)

    def _start_probe(self, key: _HostKey, url: str, *, own_slot: bool = False) -> anyio.Event:
        """Start :meth:`_run_probe` for ``key``; the event set when its answer is known."""
        group = self._background
        if group is None:
            raise RuntimeError("use the checker as 'async with Checker(...)'")
        running = self._probes_running[key] = anyio.Event()
        group.start_soon(self._run_probe, key, url, running, own_slot)
        return running

    async def _run_probe(
        self, key: _HostKey, page_url: str, running: anyio.Event, own_slot: bool
    ) -> None:
        """Ask ``page_url``'s host for a random path, and keep what a 200 HTML answer looks like.

        Its failures do not count towards resting the host
        (:meth:`_note_reachability`): its links' own requests tell that,
        and a probe beside a page would otherwise cost that link a retry.
        """
        _LINK_CLOCK.set(None)  # the task inherited its starter's context, not its deadline
        try:
            with anyio.move_on_after(self._settings.link_timeout):
                path = f"/{secrets.token_hex(8)}{PROBE_SUFFIX}"
                url = httpx.URL(page_url).copy_with(path=path, query=None, fragment=None)
                probe = await self._follow(str(url), None, note_failure=False)
                if probe.error is None and probe.status_code == 200 and _is_html(probe.headers):
                    self._probes[key] = page_signature(probe.body)
        finally:
            self._probes.setdefault(key, None)
            self._probes_running.pop(key, None)
            if own_slot:
                self._global.release()
            running.set()


def _with_fragment(plain: str, fragment: str) -> str:
    """``plain`` with ``fragment`` (as it stands, percent-encoded, in a parsed URL) appended.

    An encoded fragment goes through httpx once more, to come out
    normalised exactly as ``URL.copy_with(fragment=...)`` would give it.
    """
    if not fragment:
        return plain
    if "%" in fragment:
        return str(httpx.URL(plain).copy_with(fragment=unquote(fragment)))
    return f"{plain}#{fragment}"


def _origin_key(url: str) -> _HostKey | None:
    """The pool key ``_exchange`` will use for ``url``'s host, from a cheap split.

    Should the split ever disagree with httpx's parse (IDNA names), the only
    cost is a pool closed at the end of the run instead of early.  The same
    origin the adapters compare before sending a token.
    """
    return origin_of(url)


def _cookie_pairs(set_cookies: Iterable[str]) -> dict[str, str]:
    """Name and value of each ``Set-Cookie`` (RFC 6265 §5.2); attributes are ignored.

    Cookies live for one check and go back only to the host that set them —
    enough for the "set a cookie and redirect to yourself" dance that would
    otherwise look like a redirect loop.
    """
    pairs: dict[str, str] = {}
    for line in set_cookies:
        name, sep, value = line.split(";", 1)[0].partition("=")
        if sep and name.strip():
            pairs[name.strip()] = value.strip()
    return pairs


def _last_result(retry_state: RetryCallState) -> Observation:
    """When retries run out, the last observation is the answer (not an exception)."""
    assert retry_state.outcome is not None
    result: Observation = retry_state.outcome.result()
    return result


async def check_links(
    links: Iterable[Link],
    settings: Settings,
    *,
    on_result: Callable[[Link, Observation], None],
    validators: Mapping[str, Validators] | None = None,
    **checker_kwargs: Any,
) -> None:
    """Check ``links`` with at most ``settings.concurrency`` in flight, streaming results.

    A fixed set of workers pulls from one shared iterator, so a catalog of
    50,000 links costs ``concurrency`` tasks, not 50,000, and each body is dropped as
    soon as ``on_result`` returns.  When ``links`` is a sequence, its hosts
    are interleaved (:func:`spread_by_host`) and each host's connection pool
    is closed after its last link (:meth:`Checker.expect`).  Results arrive
    in the order they are checked, not in the order given.

    ``on_result`` (parsing, fingerprints: most of a run's CPU) runs in one
    task of its own, one answer per turn of the event loop.  Run inline by
    each worker, a wave of answers arriving together would be processed in
    one long turn while connects and first bytes of other requests wait
    behind it, holding their slots (measured: new connections took ~20 ms
    longer under load).  At most :func:`_handoff_limit` answers wait; then
    the workers wait too, so bodies cannot pile up when the CPU is short.
    """
    counted = isinstance(links, Sequence)
    hosts = _interned_hosts(links) if isinstance(links, Sequence) else None
    pending = iter(spread_by_host(links, hosts) if isinstance(links, Sequence) else links)
    known = validators or {}
    waiting: deque[tuple[Link, Observation]] = deque()
    room = anyio.Semaphore(_handoff_limit(settings.concurrency), fast_acquire=True)
    wake_consumer = anyio.Event()
    producing = True

    async def worker(checker: Checker) -> None:
        for link in pending:
            obs = await checker.check(link, known.get(link.url))
            await room.acquire()
            waiting.append((link, obs))
            wake_consumer.set()
            if counted:
                await checker.done(link.url)

    async def consumer() -> None:
        nonlocal wake_consumer
        while True:
            while waiting:
                link, obs = waiting.popleft()
                on_result(link, obs)
                room.release()
                await anyio.lowlevel.checkpoint()  # let the network in between
            if not producing:
                return
            await wake_consumer.wait()
            wake_consumer = anyio.Event()

    async with anyio.create_task_group() as outer:
        outer.start_soon(consumer)
        async with (
            Checker(settings, **checker_kwargs) as checker,
            anyio.create_task_group() as group,
        ):
            if isinstance(links, Sequence):
                checker.expect((link.url for link in links), hosts)
            for _ in range(max(1, settings.concurrency)):
                group.start_soon(worker, checker)
        producing = False
        wake_consumer.set()


def _interned_hosts(links: Sequence[Link]) -> list[_HostKey | None]:
    """Each link's :func:`origin_of`, one key object per host (kept all run: 50,000
    fresh tuples and host strings were 13 MB of peak memory)."""
    interned: dict[_HostKey, _HostKey] = {}
    hosts: list[_HostKey | None] = []
    for link in links:
        key = _origin_key(link.url)
        hosts.append(interned.setdefault(key, key) if key is not None else None)
    return hosts


def spread_by_host(
    links: Sequence[Link], hosts: Sequence[_HostKey | None] | None = None
) -> list[Link]:
    """``links`` reordered so that each host's links are spread evenly over the run.

    Curated lists group their links by topic, and a topic often lives on one
    host (a section of forty GitHub repositories, then one of videos).
    Checked in catalog order, every worker would queue behind that one
    host's politeness limits (``per_host`` requests at once,
    ``min_interval_ms`` apart) while all other hosts idle: 5,000 links over
    500 hosts, listed host by host, took 21 s instead of 3 s
    (benchmarks/README.md, ``--order grouped``).  A host's k-th of n links
    goes to the point (k + ½)/n of the run, ties in catalog order: equal
    hosts take turns, and a big host works through its share from the first
    second instead of being left for last.  Each unparsable URL counts as a
    host of its own.  ``hosts``: each link's :func:`origin_of`, when known.
    """
    if hosts is None:
        hosts = [origin_of(link.url) for link in links]
    sizes = Counter(host or link.url for host, link in zip(hosts, links, strict=True))
    seen: Counter[object] = Counter()
    points: list[float] = []
    for host, link in zip(hosts, links, strict=True):
        group = host or link.url
        points.append((seen[group] + 0.5) / sizes[group])
        seen[group] += 1
    # Stable: equal points keep catalog order, which for hosts of equal size
    # is the order in which the hosts first appear.
    order = sorted(range(len(links)), key=points.__getitem__)
    return [links[i] for i in order]


def _handoff_limit(concurrency: int) -> int:
    """How many checked answers may wait for ``on_result`` before workers wait too."""
    return max(8, concurrency // 2)
