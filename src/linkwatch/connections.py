"""Keep-alive HTTP/1.1 connections to one host: h11 over a lean asyncio transport.

The protocol itself is h11's, the HTTP/1.1 state machine httpx runs (via
httpcore): request framing, response parsing, chunked and length-delimited
bodies, keep-alive bookkeeping.  What is ours is the few lines that move
bytes between h11 and a socket, because httpx's layers above h11 cost more
than the checking they serve.  Measured on the benchmark (5,000 links over
500 hosts, benchmarks/README.md): sending a link through
``httpcore.AsyncConnectionPool`` took a lock, an event and two shielded
cancel scopes per request (a pool must queue requests fairly), its anyio
stream a cancel scope per read, and its connection a lock and three trace
scopes per request; a third of linkwatch's CPU time went there.  None of it
is needed here:

- **No queue.** The crawler takes the host's slot (``fetch._HostGate``)
  before it asks for a connection, so at most ``per_host`` requests want
  one at a time: :class:`HostPool` keeps the idle connections, hands one
  out or opens another.  A connection is held by one request at a time, so
  it needs no lock.
- **Timeouts without scopes.** :class:`Connection` reads from an
  ``asyncio.Protocol``'s buffer; a read that has to wait arms one
  ``loop.call_later`` timer.  The link's total deadline is still the
  caller's cancel scope.

Errors are raised as httpcore's exception types (``ConnectError``,
``ReadTimeout``, ``RemoteProtocolError``…, ``from`` the socket, TLS or h11
error), so ``fetch`` maps them to verdict reasons exactly as httpx's would be.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from typing import cast

import anyio
import h11
import httpcore

# Past this much unread data the transport stops reading from the socket
# until the reader catches up: an endless body cannot fill memory between
# two reads.
_HIGH_WATER = 256 * 1024
# What one read takes from the buffer, and the cap on a response's status
# line and headers (both httpcore's values).
READ_BYTES = 64 * 1024
MAX_HEAD_BYTES = 100 * 1024


class _Protocol(asyncio.Protocol):
    """Buffers what arrives and wakes the one reader (HTTP/1.1: one request at a time)."""

    __slots__ = ("_buffer", "_buffered", "_paused_reading", "_waiter", "_write_waiter", "eof",
                 "error", "transport", "write_paused")  # fmt: skip

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


class Connection:
    """One HTTP/1.1 connection: h11's state machine over a :class:`_Protocol`.

    Use: :meth:`send` a request (returns the status and headers), then
    :meth:`read` body chunks until it returns ``b""``, then hand the
    connection back with :meth:`HostPool.release`, read to the end or not.
    """

    __slots__ = ("_expire_at", "_h11", "_keepalive", "_protocol", "_transport", "peer")

    def __init__(
        self,
        transport: asyncio.Transport,
        protocol: _Protocol,
        *,
        peer: tuple[str, int],
        keepalive: float,
    ) -> None:
        self._transport = transport
        self._protocol = protocol
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)
        self._keepalive = keepalive
        self._expire_at = 0.0
        self.peer = peer

    @property
    def closed(self) -> bool:
        return self._transport.is_closing()

    @property
    def reusable(self) -> bool:
        """Idle, within its keep-alive time, and not hung up on by the server.

        Anything readable on an idle connection can only be the server
        closing it (or garbage): either way it must not carry a request.
        """
        state = self._h11
        return (
            state.our_state is h11.IDLE
            and state.their_state is h11.IDLE
            and not self.closed
            and not self._protocol.readable
            and time.monotonic() < self._expire_at
        )

    async def send(
        self,
        method: bytes,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        *,
        read_timeout: float | None,
        write_timeout: float | None,
    ) -> tuple[int, list[tuple[bytes, bytes]]]:
        """Send a body-less request; the response's status and raw headers (1xx skipped)."""
        try:
            data = self._h11.send(h11.Request(method=method, target=target, headers=headers))
            end = self._h11.send(h11.EndOfMessage())
        except h11.LocalProtocolError as exc:
            raise httpcore.LocalProtocolError(str(exc)) from exc
        # A server may answer and close before reading the whole request:
        # then read what it said, as httpcore does.
        with contextlib.suppress(httpcore.WriteError):
            await self._write((data or b"") + (end or b""), write_timeout)
        while True:
            event = await self._next_event(read_timeout)
            if isinstance(event, h11.Response):
                return event.status_code, event.headers.raw_items()
            if not isinstance(event, h11.InformationalResponse):
                raise httpcore.RemoteProtocolError(f"unexpected {type(event).__name__}")

    async def read(self, timeout: float | None) -> bytes:  # noqa: ASYNC109
        """The next piece of the body, or ``b""`` at its end (and on any later call)."""
        if self._h11.their_state is not h11.SEND_BODY:
            return b""  # the body already ended: h11 would wait for a next response
        event = await self._next_event(timeout)
        if isinstance(event, h11.Data):
            return bytes(event.data)
        return b""  # EndOfMessage (or ConnectionClosed): a body yields nothing else

    def finish(self) -> None:
        """After an exchange: ready for the next request if both sides completed it, else closed."""
        state = self._h11
        if state.our_state is h11.DONE and state.their_state is h11.DONE and not self.closed:
            state.start_next_cycle()
            self._expire_at = time.monotonic() + self._keepalive
        else:
            self.close()

    def close(self) -> None:
        """No await: closing must also work inside an already cancelled scope."""
        self._transport.close()

    async def _next_event(self, timeout: float | None) -> h11.Event | type[h11.PAUSED]:  # noqa: ASYNC109
        state = self._h11
        while True:
            try:
                event = state.next_event()
            except h11.RemoteProtocolError as exc:
                raise httpcore.RemoteProtocolError(str(exc)) from exc
            if event is not h11.NEED_DATA:
                return cast("h11.Event | type[h11.PAUSED]", event)
            data = await self._receive(timeout)
            if not data and state.their_state is h11.SEND_RESPONSE:
                # h11 would say "can't handle ConnectionClosed in SEND_RESPONSE".
                raise httpcore.RemoteProtocolError(
                    "Server disconnected without sending a response."
                )
            state.receive_data(data)

    async def _receive(self, timeout: float | None) -> bytes:  # noqa: ASYNC109
        protocol = self._protocol
        if not protocol.readable:
            await protocol.wait(timeout)
            if not protocol.readable:
                raise httpcore.ReadTimeout(f"no data for {timeout} s")
        if protocol.buffered:
            return protocol.take(READ_BYTES)
        if protocol.error is not None:
            raise httpcore.ReadError(str(protocol.error)) from protocol.error
        return b""

    async def _write(self, data: bytes, timeout: float | None) -> None:  # noqa: ASYNC109
        protocol = self._protocol
        if protocol.eof or self.closed:
            cause = protocol.error or ConnectionResetError("the connection is closed")
            raise httpcore.WriteError(str(cause)) from cause
        self._transport.write(data)
        if protocol.write_paused and not protocol.eof:
            await protocol.wait(timeout, writing=True)
            if protocol.write_paused and not protocol.eof:
                raise httpcore.WriteTimeout(f"could not write for {timeout} s")


class HostPool:
    """The idle keep-alive connections to one host (scheme, name, port).

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
        self._idle: list[Connection] = []
        self._closed = False

    async def acquire(
        self,
        address: str,
        port: int,
        *,
        server_hostname: str | None,
        connect_timeout: float | None,
    ) -> Connection:
        """An idle connection to ``address:port`` or a new one (TLS when ``server_hostname``)."""
        while self._idle:
            connection = self._idle.pop()
            if connection.reusable and connection.peer == (address, port):
                return connection
            connection.close()
        return await self._connect(address, port, server_hostname, connect_timeout)

    def release(self, connection: Connection) -> None:
        """Keep ``connection`` for the next request if its exchange ended cleanly, else close it.

        Synchronous on purpose: it runs in ``finally`` blocks, also under cancellation.
        """
        connection.finish()
        if connection.reusable and not self._closed and len(self._idle) < self._max_idle:
            self._idle.append(connection)
        else:
            connection.close()

    def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    async def _connect(
        self,
        address: str,
        port: int,
        server_hostname: str | None,
        timeout: float | None,  # noqa: ASYNC109
    ) -> Connection:
        loop = asyncio.get_running_loop()
        tls = self._ssl if server_hostname is not None else None
        try:
            with anyio.fail_after(timeout):
                transport, protocol = await loop.create_connection(
                    _Protocol, address, port, ssl=tls, server_hostname=server_hostname
                )
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"no connection within {timeout} s") from exc
        except OSError as exc:  # ssl.SSLError included
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        return Connection(transport, protocol, peer=(address, port), keepalive=self._keepalive)
