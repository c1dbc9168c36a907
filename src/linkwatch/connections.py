"""Keep-alive HTTP/1.1 connections to one host: httpcore's connection, a lean pool and transport.

The crawler sends every link request through httpcore's own
``AsyncHTTP11Connection`` (the HTTP/1.1 code ``httpx.AsyncHTTPTransport``
runs), but not through ``httpcore.AsyncConnectionPool`` nor httpcore's
anyio network backend.  Measured on the benchmark (5,000 links, 500 hosts,
benchmarks/README.md), those two layers were a third of linkwatch's CPU
time: the pool takes a lock, an event and two shielded cancel scopes per
request to queue requests fairly, and the anyio stream opens a cancel scope
(``fail_after``) around every single read and write.  Neither is needed
here:

- **No queue.** The crawler takes the host's slot (``fetch._HostGate``)
  before it asks for a connection, so at most ``per_host`` requests want
  one at a time: :class:`HostPool` only keeps the idle ones, hands one out
  or opens another.
- **Timeouts without scopes.** :class:`_Stream` reads from an
  ``asyncio.Protocol``'s buffer; a read that has to wait arms one
  ``loop.call_later`` timer.  The link's total deadline is still the
  caller's cancel scope.

Errors are httpcore's (``ConnectError``, ``ReadTimeout``…, raised ``from``
the socket or TLS error), so ``fetch`` maps them exactly as before.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any, cast

import anyio
import httpcore
from httpcore._synchronization import AsyncLock

# Past this much unread data the transport stops reading from the socket
# until the reader catches up: an endless body cannot fill memory between
# two reads.
_HIGH_WATER = 256 * 1024


class _Protocol(asyncio.Protocol):
    """Buffers what arrives and wakes the one reader (HTTP/1.1: one request at a time)."""

    __slots__ = (
        "_buffer",
        "_buffered",
        "_paused_reading",
        "_waiter",
        "_write_waiter",
        "eof",
        "error",
        "transport",
        "write_paused",
    )  # fmt: skip

    def __init__(self) -> None:
        self._buffer: list[bytes] = []  # chunks as they came: no copy for the usual one
        self._buffered = 0
        self._waiter: asyncio.Future[None] | None = None
        self._write_waiter: asyncio.Future[None] | None = None
        self._paused_reading = False
        self.transport: asyncio.Transport | None = None
        self.eof = False
        self.error: Exception | None = None
        self.write_paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._buffer.append(data)
        self._buffered += len(data)
        if self._buffered > _HIGH_WATER and not self._paused_reading and self.transport:
            self._paused_reading = True
            self.transport.pause_reading()
        _wake(self._waiter)

    def eof_received(self) -> bool:
        self.eof = True
        _wake(self._waiter)
        return False  # close our side too: HTTP/1.1 has no half-closed use

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        _wake(self._waiter)
        _wake(self._write_waiter)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        _wake(self._write_waiter)

    @property
    def buffered(self) -> int:
        return self._buffered

    @property
    def readable(self) -> bool:
        """Data or end of stream waiting: an idle connection in this state is dead."""
        return bool(self._buffer) or self.eof

    def take(self, max_bytes: int) -> bytes:
        buffer = self._buffer
        data = buffer[0] if len(buffer) == 1 else b"".join(buffer)
        buffer.clear()
        if len(data) > max_bytes:
            data, rest = data[:max_bytes], data[max_bytes:]
            buffer.append(rest)
        self._buffered -= len(data)
        if self._paused_reading and self._buffered <= _HIGH_WATER // 2 and self.transport:
            self._paused_reading = False
            self.transport.resume_reading()
        return data

    async def wait(self, seconds: float | None, *, writing: bool = False) -> None:
        """Until data (or room to write) arrives, the connection ends, or ``seconds`` pass.

        The caller tells which of those happened by looking at the state.
        """
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        if writing:
            self._write_waiter = waiter
        else:
            self._waiter = waiter
        timer = loop.call_later(seconds, _wake, waiter) if seconds is not None else None
        try:
            await waiter
        finally:
            if writing:
                self._write_waiter = None
            else:
                self._waiter = None
            if timer is not None:
                timer.cancel()


def _wake(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


class _Stream(httpcore.AsyncNetworkStream):
    """httpcore's network-stream interface over :class:`_Protocol`."""

    __slots__ = ("_protocol", "_transport")

    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self._transport = transport
        self._protocol = protocol

    # The ``timeout`` parameters are httpcore's AsyncNetworkStream interface.
    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        protocol = self._protocol
        if not protocol.readable:
            await protocol.wait(timeout)
            if not protocol.readable:
                raise httpcore.ReadTimeout(f"no data for {timeout} s")
        if protocol.buffered:
            return protocol.take(max_bytes)
        if protocol.error is not None:
            raise httpcore.ReadError(str(protocol.error)) from protocol.error
        return b""

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        protocol = self._protocol
        if protocol.eof or self._transport.is_closing():
            cause = protocol.error or ConnectionResetError("the connection is closed")
            raise httpcore.WriteError(str(cause)) from cause
        self._transport.write(buffer)
        if protocol.write_paused and not protocol.eof:
            await protocol.wait(timeout, writing=True)
            if protocol.write_paused and not protocol.eof:
                raise httpcore.WriteTimeout(f"could not write for {timeout} s")

    async def aclose(self) -> None:
        # No await: closing must also work inside an already cancelled scope.
        self._transport.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> httpcore.AsyncNetworkStream:
        # TLS is set up at connect time; only proxies (not used) upgrade later.
        raise httpcore.UnsupportedProtocol("TLS upgrade of an open connection")

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return self._protocol.readable
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        return self._transport.get_extra_info(info)


class _Uncontended(AsyncLock):
    """A lock that is never waited for.

    httpcore's connection guards its state with an anyio lock because its
    pool may hand one connection to several requests; ``HostPool`` never
    does (a connection is either idle in its list or held by one caller).
    An uncontended anyio lock still yields to the event loop on every
    acquire: two trips per request, 5% of a run's CPU.
    """

    async def __aenter__(self) -> _Uncontended:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None


class _Connection(httpcore.AsyncHTTP11Connection):
    """httpcore's HTTP/1.1 connection, for one caller at a time (see :class:`_Uncontended`)."""

    def __init__(
        self, origin: httpcore.Origin, stream: httpcore.AsyncNetworkStream, keepalive: float
    ) -> None:
        super().__init__(origin, stream, keepalive_expiry=keepalive)
        self._state_lock = _Uncontended()


class HostPool:
    """The idle keep-alive connections to one origin (scheme, address, port).

    Not a queue: the caller bounds how many requests are in flight (its
    per-host slot), so a request either reuses an idle connection or opens
    a new one.  At most ``max_idle`` connections are kept for reuse.
    """

    __slots__ = ("_closed", "_idle", "_keepalive", "_max_idle", "_ssl")

    def __init__(
        self, ssl_context: ssl.SSLContext, *, max_idle: int, keepalive_expiry: float
    ) -> None:
        self._ssl = ssl_context
        self._max_idle = max_idle
        self._keepalive = keepalive_expiry
        self._idle: list[httpcore.AsyncHTTP11Connection] = []
        self._closed = False

    async def send(
        self, request: httpcore.Request
    ) -> tuple[httpcore.Response, httpcore.AsyncHTTP11Connection]:
        """Send ``request``; the caller reads the response, then calls :meth:`release`."""
        connection = await self._take_idle()
        if connection is None:
            connection = await self._connect(request)
        try:
            response = await connection.handle_async_request(request)
        except BaseException:
            await self._discard(connection)
            raise
        return response, connection

    async def release(
        self, response: httpcore.Response, connection: httpcore.AsyncHTTP11Connection
    ) -> None:
        """Close ``response``; keep its connection if the exchange ended cleanly."""
        try:
            await response.aclose()
        finally:
            if connection.is_idle() and not self._closed and len(self._idle) < self._max_idle:
                self._idle.append(connection)
            else:
                await self._discard(connection)

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.aclose()

    async def _take_idle(self) -> httpcore.AsyncHTTP11Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if connection.is_available() and not connection.has_expired():
                return connection
            await connection.aclose()
        return None

    @staticmethod
    async def _discard(connection: httpcore.AsyncHTTP11Connection) -> None:
        if not connection.is_closed():
            await connection.aclose()

    async def _connect(self, request: httpcore.Request) -> httpcore.AsyncHTTP11Connection:
        origin = request.url.origin
        timeout = request.extensions.get("timeout", {}).get("connect")
        host = origin.host.decode("ascii")
        tls = self._ssl if origin.scheme == b"https" else None
        server_hostname = None
        if tls is not None:
            server_hostname = request.extensions.get("sni_hostname") or host
        loop = asyncio.get_running_loop()
        try:
            with anyio.fail_after(timeout):
                transport, protocol = await loop.create_connection(
                    _Protocol, host, origin.port, ssl=tls, server_hostname=server_hostname
                )
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"no connection within {timeout} s") from exc
        except OSError as exc:  # ssl.SSLError included
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        return _Connection(origin, _Stream(transport, protocol), self._keepalive)
