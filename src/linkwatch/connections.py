"""Keep-alive HTTP/1.1 connections to one host: llhttp over a lean asyncio transport.

Responses are parsed by llhttp (Node.js's HTTP parser, in C, through
httptools, the binding uvicorn uses): status line, headers, chunked and
length-delimited bodies, keep-alive.  It replaced h11 (the pure-Python
state machine under httpx): writing a request and parsing a 4 KiB answer
took h11 ~35 µs of CPU, llhttp ~1.5 µs before our callbacks; h11 was a
tenth of linkwatch's CPU samples on the 5,000-link benchmark.  The
leniencies that keep llhttp as forgiving as h11 and browsers are in
:func:`_new_parser`; the request checks h11 made before sending are in
:func:`_request_bytes`.

What is ours is the few lines that move bytes between the parser and a
socket, because httpx's layers cost more than the checking they serve:
sending a link through ``httpcore.AsyncConnectionPool`` took a lock, an
event and two shielded cancel scopes per request (a pool must queue
requests fairly), its anyio stream a cancel scope per read, and its
connection a lock and three trace scopes per request; a third of
linkwatch's CPU time went there.  None of it is needed here:

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
``ReadTimeout``, ``RemoteProtocolError``…, ``from`` the socket, TLS or
parser error), so ``fetch`` maps them to verdict reasons exactly as httpx's
would be.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
import time
from typing import cast

import anyio
import httpcore
import httptools

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
    """One HTTP/1.1 connection: llhttp (via httptools) parsing what a :class:`_Protocol` buffers.

    Use: :meth:`send` a request (returns the status and headers), then
    :meth:`read` body chunks until it returns ``b""``, then hand the
    connection back with :meth:`HostPool.release`, read to the end or not.

    The parser calls back (``on_header``, ``on_body``…) as it goes; those
    callbacks only record, they never raise, so every error leaves
    :meth:`_feed` as one ``RemoteProtocolError``.  A fresh parser per
    exchange: nothing of one response can leak into the next.
    """

    __slots__ = ("_body", "_expire_at", "_extra", "_head_bytes", "_headers", "_headers_done",
                 "_informational", "_keep_alive", "_keepalive", "_message_done", "_parser",
                 "_protocol", "_requests", "_sent", "_status", "_transport", "peer")  # fmt: skip

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
        self._keepalive = keepalive
        self._expire_at = 0.0
        self.peer = peer
        self._parser: httptools.HttpResponseParser | None = None  # None: idle
        self._sent = False
        self._requests = 0
        self._reset()

    def _reset(self) -> None:
        self._status = 0
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._head_bytes = 0
        self._headers_done = False
        self._informational = False
        self._message_done = False
        self._extra = False  # bytes after the response: the connection is not reusable
        self._keep_alive = False  # the parser's verdict, read when the response completes

    @property
    def closed(self) -> bool:
        return self._transport.is_closing()

    @property
    def stale(self) -> bool:
        """The current request went out on a kept-alive connection and got no byte back.

        Servers close idle connections when they please, and one may do so
        just as our request arrives; the request was then never seen, and
        RFC 9112 §9.3.1 lets a client send an idempotent request again on a
        new connection.
        """
        return self._requests > 1 and self._head_bytes == 0

    @property
    def reusable(self) -> bool:
        """Idle, within its keep-alive time, and not hung up on by the server.

        Anything readable on an idle connection can only be the server
        closing it (or garbage): either way it must not carry a request.
        """
        return (
            self._parser is None
            and not self.closed
            and not self._protocol.readable
            and time.monotonic() < self._expire_at
        )

    # -- the parser's callbacks (httptools calls them by name) ------------------

    def on_message_begin(self) -> None:
        if self._message_done:
            self._extra = True
            return
        self._headers = []
        self._informational = False

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._headers_done:  # after the head: a chunked body's trailers, ignored
            # llhttp (lenient) frames by "Content-Length : 5" as by "Content-Length: 5".
            self._headers.append((name.rstrip(b" \t"), value.strip(b" \t")))

    def on_headers_complete(self) -> None:
        if self._message_done:
            return
        assert self._parser is not None
        status = self._parser.get_status_code()
        # 1xx answers come before the real one (101 would be an upgrade, refused in _feed).
        self._informational = 100 <= status < 200
        if not self._informational:
            self._status = status
            self._headers_done = True

    def on_body(self, body: bytes) -> None:
        if not self._message_done:
            self._body.append(body)

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            self._headers = []
        elif self._headers_done:
            self._message_done = True
            assert self._parser is not None
            self._keep_alive = self._parser.should_keep_alive()  # reset once past this callback

    # -- one exchange --------------------------------------------------------------

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
        request = _request_bytes(method, target, headers)
        self._parser = _new_parser(self)
        self._requests += 1
        self._sent = False
        self._reset()
        # A server may answer and close before reading the whole request:
        # then read what it said, as httpcore does.
        with contextlib.suppress(httpcore.WriteError):
            await self._write(request, write_timeout)
            self._sent = True
        while not self._headers_done:
            await self._feed(read_timeout)
        return self._status, self._headers

    async def read(self, timeout: float | None) -> bytes:  # noqa: ASYNC109
        """The next piece of the body, or ``b""`` at its end (and on any later call)."""
        while not self._body:
            if self._message_done or not self._headers_done:
                return b""  # the body already ended (or no exchange is under way)
            await self._feed(timeout)
        body = self._body
        data = body[0] if len(body) == 1 else b"".join(body)
        body.clear()
        return data

    def finish(self) -> None:
        """After an exchange: ready for the next request if both sides completed it, else closed."""
        parser, self._parser = self._parser, None
        if (
            parser is not None
            and self._sent
            and self._message_done
            and not self._extra
            and not self._body
            and self._keep_alive
            and not _ambiguous_length(self._headers)
            and not self.closed
        ):
            self._expire_at = time.monotonic() + self._keepalive
        else:
            self.close()

    def close(self) -> None:
        """No await: closing must also work inside an already cancelled scope."""
        self._transport.close()

    async def _feed(self, timeout: float | None) -> None:  # noqa: ASYNC109
        """Give the parser the next bytes that arrive; the end of the stream ends a body."""
        parser = self._parser
        assert parser is not None
        data = await self._receive(timeout)
        if not data:
            self._end_of_stream()
            return
        if not self._headers_done:
            self._head_bytes += len(data)
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            raise httpcore.RemoteProtocolError("the server switched protocols") from exc
        except httptools.HttpParserError as exc:
            if not self._message_done:
                raise httpcore.RemoteProtocolError(str(exc) or type(exc).__name__) from exc
            self._extra = True  # junk after a complete response: not reused
        if not self._headers_done and self._head_bytes > MAX_HEAD_BYTES:
            raise httpcore.RemoteProtocolError(
                f"the status line and headers exceed {MAX_HEAD_BYTES} bytes"
            )

    def _end_of_stream(self) -> None:
        if not self._headers_done:
            if self._head_bytes == 0 and not self._headers:
                raise httpcore.RemoteProtocolError(
                    "Server disconnected without sending a response."
                )
            raise httpcore.RemoteProtocolError("the server closed the connection mid-headers")
        if _delimited_by_close(self._headers):
            self._message_done = True  # the server's closing is the end of the body
            return
        raise httpcore.RemoteProtocolError(
            "peer closed connection without sending complete message body"
        )

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


def _new_parser(connection: Connection) -> httptools.HttpResponseParser:
    """A response parser as forgiving as h11 (httpx's parser) where browsers forgive too.

    llhttp alone is stricter than the web: it refuses bare-LF line ends,
    folded header lines, control characters in header values and a
    ``Content-Length`` beside ``Transfer-Encoding: chunked`` (chunked wins,
    RFC 9112 §6.3), all of which h11 and browsers read.  Calling such a
    page a protocol error would be a false alarm.  Malformed lengths, bad
    chunk sizes and garbage status lines stay errors.  On a reused
    connection leniency could let one response's bytes pass for the next
    one's, so an ambiguous length closes the connection (``finish``).
    """
    parser = httptools.HttpResponseParser(connection)
    parser.set_dangerous_leniencies(
        lenient_headers=True,
        lenient_chunked_length=True,
        lenient_optional_cr_before_lf=True,
        lenient_spaces_after_chunk_size=True,
    )
    return parser


def _ambiguous_length(headers: list[tuple[bytes, bytes]]) -> bool:
    """Both a length and a transfer coding: readable once, not trusted for reuse."""
    names = {name.lower() for name, _ in headers}
    return b"content-length" in names and b"transfer-encoding" in names


# The checks h11 makes before sending: RFC 9110 §5.1 tokens, §5.5 field
# values without CR, LF, NUL or other controls but tab, and a target without
# whitespace: no header or request smuggled in through a catalog's language
# or a server's cookie.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_VALUE = re.compile(rb"[^\x00-\x08\x0a-\x1f\x7f]*")
_TARGET = re.compile(rb"[^\x00\s]+")


def _request_bytes(method: bytes, target: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    """The request head, after the checks h11 made: a request must not carry another."""
    if not _TOKEN.fullmatch(method) or not _TARGET.fullmatch(target):
        raise httpcore.LocalProtocolError(f"illegal request line: {method!r} {target!r}")
    lines = [method, b" ", target, b" HTTP/1.1\r\n"]
    for name, value in headers:
        if not _TOKEN.fullmatch(name) or not _FIELD_VALUE.fullmatch(value):
            raise httpcore.LocalProtocolError(f"illegal header: {name!r}")
        lines += (name, b": ", value, b"\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


def _delimited_by_close(headers: list[tuple[bytes, bytes]]) -> bool:
    """No length and not chunked: the body runs until the server closes (RFC 9112 §6.3)."""
    for name, _value in headers:
        if name.lower() in (b"content-length", b"transfer-encoding"):
            return False
    return True


class IdleBudget:
    """How many idle keep-alive connections all hosts' pools may keep together.

    Each idle connection holds a file descriptor, and a run keeps one per
    host for that host's next link: a catalog over 2,000 hosts checked
    host after host in turn holds ~2,000 sockets, and under the common
    soft limit of 1,024 open files the rest failed to connect ("Too many
    open files": 1,970 of 6,000 links reported unreachable).  Past the
    budget, the connection idle the longest is closed; its host reconnects
    when it needs to.
    """

    __slots__ = ("_idle", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = max(0, limit)
        # Insertion order is idle age: the first entry has waited longest.
        self._idle: dict[Connection, HostPool] = {}

    def __len__(self) -> int:
        return len(self._idle)

    def keep(self, connection: Connection, pool: HostPool) -> None:
        self._idle[connection] = pool
        while len(self._idle) > self.limit:
            oldest, owner = next(iter(self._idle.items()))
            owner.evict(oldest)

    def forget(self, connection: Connection) -> None:
        self._idle.pop(connection, None)


class HostPool:
    """The idle keep-alive connections to one host (scheme, name, port).

    Not a queue: the caller bounds how many requests are in flight (its
    per-host slot), so a request either reuses an idle connection or opens
    a new one.  At most ``max_idle`` connections are kept for reuse, and
    fewer when the run's :class:`IdleBudget` (shared by every host's pool)
    runs out.  ``ssl_context`` is for an https host; a plain-http host's
    pool has none.
    """

    __slots__ = ("_budget", "_closed", "_idle", "_keepalive", "_max_idle", "_ssl")

    def __init__(
        self,
        ssl_context: ssl.SSLContext | None,
        *,
        max_idle: int,
        keepalive_expiry: float,
        budget: IdleBudget | None = None,
    ) -> None:
        self._ssl = ssl_context
        self._max_idle = max_idle
        self._keepalive = keepalive_expiry
        self._budget = budget
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
            if self._budget is not None:
                self._budget.forget(connection)
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
            if self._budget is not None:
                self._budget.keep(connection, self)
        else:
            connection.close()

    def evict(self, connection: Connection) -> None:
        """Close one idle connection to make room in the budget."""
        with contextlib.suppress(ValueError):
            self._idle.remove(connection)
        if self._budget is not None:
            self._budget.forget(connection)
        connection.close()

    def drop_idle(self) -> None:
        """Close the idle connections: one went stale, the others idled as long."""
        idle, self._idle = self._idle, []
        for connection in idle:
            if self._budget is not None:
                self._budget.forget(connection)
            connection.close()

    def close(self) -> None:
        self._closed = True
        self.drop_idle()

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
