"""connections.HostPool against raw loopback servers whose every byte the test controls.

The crawler-level behaviour (verdicts for hostile servers) is proven in
test_fetch.py through the same pool; here are the pool's own promises:
keep-alive reuse, noticing a server that hung up on an idle connection,
bounded buffering of a body nobody reads, and httpcore's error types.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio
import httpcore
import pytest

from linkwatch.connections import _HIGH_WATER, Connection, HostPool

pytestmark = pytest.mark.anyio

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@asynccontextmanager
async def server(handler: Handler) -> AsyncIterator[tuple[int, list[int]]]:
    """A loopback server running ``handler`` per connection; yields (port, connection ids)."""
    connections: list[int] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(len(connections))
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    srv = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        yield port, connections
    finally:
        srv.close()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


def answering(answer: bytes) -> Handler:
    """A handler that reads one request, sends ``answer`` and keeps the connection a second."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer)
        await writer.drain()
        await asyncio.sleep(1)

    return handler


def serving(answer: bytes) -> Handler:
    """A handler that sends ``answer`` to every request on its connection (keep-alive)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            writer.write(answer)
            await writer.drain()

    return handler


def new_pool() -> HostPool:
    return HostPool(ssl.create_default_context(), max_idle=2, keepalive_expiry=5.0)


async def start(pool: HostPool, port: int, *, read_timeout: float = 2.0) -> tuple[Connection, int]:
    connection = await pool.acquire("127.0.0.1", port, server_hostname=None, connect_timeout=2.0)
    try:
        status, _headers = await connection.send(
            b"GET",
            b"/",
            [(b"Host", b"example.test")],
            read_timeout=read_timeout,
            write_timeout=2.0,
        )
    except BaseException:
        pool.release(connection)
        raise
    return connection, status


async def fetch(pool: HostPool, port: int, *, read_timeout: float = 2.0) -> tuple[int, bytes]:
    connection, status = await start(pool, port, read_timeout=read_timeout)
    body = b""
    try:
        while chunk := await connection.read(read_timeout):
            body += chunk
    finally:
        pool.release(connection)
    return status, body


async def test_keep_alive_connection_is_reused() -> None:
    async with server(serving(OK)) as (port, connections):
        pool = new_pool()
        results = [await fetch(pool, port) for _ in range(3)]
        pool.close()
    assert results == [(200, b"ok")] * 3
    assert connections == [0]


async def test_idle_connection_the_server_closed_is_not_reused() -> None:
    """A connection the server dropped while idle costs a new connection, not an error."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(OK)
        await writer.drain()
        # ...and hang up without "Connection: close", as servers do on idle timeout.

    async with server(handler) as (port, connections):
        pool = new_pool()
        first = await fetch(pool, port)
        await asyncio.sleep(0.1)  # the FIN arrives while the connection is idle
        second = await fetch(pool, port)
        pool.close()
    assert (first, second) == ((200, b"ok"), (200, b"ok"))
    assert connections == [0, 1]


async def test_connection_close_is_not_kept() -> None:
    async with server(
        answering(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
    ) as (port, connections):
        pool = new_pool()
        await fetch(pool, port)
        await fetch(pool, port)
        pool.close()
    assert connections == [0, 1]


async def test_unread_endless_body_is_not_buffered_without_bound() -> None:
    """The transport stops reading past the high-water mark until the reader catches up."""
    sent = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal sent
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (65536, b"x" * 65536)
        while True:
            writer.write(chunk)
            sent += len(chunk)
            await writer.drain()

    async with server(handler) as (port, _):
        pool = new_pool()
        connection, _status = await start(pool, port)
        await asyncio.sleep(0.5)  # the server keeps sending; nobody reads
        buffered = connection._protocol.buffered
        received = 0
        while received <= 4 * 1024 * 1024:
            received += len(await connection.read(2.0))
        pool.release(connection)
        pool.close()
    # Bounded by the high-water mark plus what one socket read brings.
    assert 0 < buffered <= _HIGH_WATER + 256 * 1024
    assert received > 4 * 1024 * 1024
    assert connection.closed  # a response not read to its end is never reused


async def test_server_that_never_answers_is_a_read_timeout() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(5)

    async with server(handler) as (port, _):
        pool = new_pool()
        with pytest.raises(httpcore.ReadTimeout):
            await fetch(pool, port, read_timeout=0.2)
        pool.close()


async def test_reset_mid_body_is_a_read_error_from_the_socket_error() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\npartial")
        await writer.drain()
        sock = writer.get_extra_info("socket")
        # SO_LINGER 0: close() sends RST instead of FIN.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        writer.transport.abort()

    async with server(handler) as (port, _):
        pool = new_pool()
        with pytest.raises((httpcore.ReadError, httpcore.RemoteProtocolError)):
            await fetch(pool, port)
        pool.close()


async def test_refused_connection_is_a_connect_error_from_the_oserror() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, never listening: refused
        pool = new_pool()
        with pytest.raises(httpcore.ConnectError) as caught:
            await fetch(pool, port)
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)


async def test_closed_pool_keeps_no_connection() -> None:
    async with server(serving(OK)) as (port, _):
        pool = new_pool()
        connection, _status = await start(pool, port)
        pool.close()  # closed while a response is still being read
        while await connection.read(2.0):
            pass
        pool.release(connection)
    assert connection.closed


async def test_empty_304_body_keeps_the_connection_for_the_next_request() -> None:
    """A second run is mostly 304s: each must leave its connection reusable."""

    async with server(serving(b'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\n\r\n')) as (
        port,
        connections,
    ):
        pool = new_pool()
        results = [await fetch(pool, port) for _ in range(3)]
        pool.close()
    assert results == [(304, b"")] * 3
    assert connections == [0]


async def test_informational_responses_are_skipped() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n" + OK)
        await writer.drain()

    async with server(handler) as (port, _):
        pool = new_pool()
        assert await fetch(pool, port) == (200, b"ok")
        pool.close()


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 abc\r\n\r\n",  # no status code
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nxx\r\n",  # bad chunk size
        b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\nx",  # conflicting lengths
        b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"a" * (200 * 1024) + b"\r\n\r\n",  # huge head
        # Two equal lengths: h11 read it, llhttp (so Node.js, and we) does not.
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",  # not HTTP after
        b"HTTP/2 200 OK\r\n\r\n",
    ],
    ids=["no-status", "bad-chunk", "bad-length", "huge-head", "twice-length", "upgrade", "http2"],
)
async def test_malformed_responses_are_protocol_errors(answer: bytes) -> None:
    async with server(answering(answer)) as (port, _):
        pool = new_pool()
        with pytest.raises(httpcore.RemoteProtocolError):
            await fetch(pool, port)
        pool.close()


async def test_server_closing_before_answering_is_a_disconnect() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)  # ...and close without a word

    async with server(handler) as (port, _):
        pool = new_pool()
        with pytest.raises(httpcore.RemoteProtocolError, match="disconnected"):
            await fetch(pool, port)
        pool.close()


async def test_close_delimited_body_is_read_to_the_end() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nno length, ends at close")
        await writer.drain()

    async with server(handler) as (port, connections):
        pool = new_pool()
        assert await fetch(pool, port) == (200, b"no length, ends at close")
        assert await fetch(pool, port) == (200, b"no length, ends at close")
        pool.close()
    assert connections == [0, 1]


async def test_reading_past_the_end_keeps_saying_the_end() -> None:
    async with server(answering(OK)) as (port, _):
        pool = new_pool()
        connection, status = await start(pool, port)
        with anyio.fail_after(2):
            chunks = [await connection.read(1.0) for _ in range(4)]
        pool.release(connection)
        pool.close()
    assert (status, chunks) == (200, [b"ok", b"", b"", b""])


@pytest.mark.parametrize(
    ("answer", "reused"),
    [
        (b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok", True),  # bare LF line ends
        (b"HTTP/1.1 200 OK\r\nX-A: a\r\n  b\r\nContent-Length: 2\r\n\r\nok", True),  # folded
        (b"HTTP/1.1 200 OK\r\nX-A: a\x01b\r\nContent-Length: 2\r\n\r\nok", True),  # a control
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2 \r\n\r\nok", True),  # trailing space
        (b"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok", True),  # no reason phrase
        (b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok", True),  # space before the colon
        # Chunked wins over a length (RFC 9112 6.3); such framing is not trusted for reuse.
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"2 \r\nok\r\n0\r\n\r\n",
            False,
        ),
    ],
    ids=["bare-lf", "folded", "control", "space", "no-reason", "space-colon", "length-and-chunked"],
)
async def test_quirks_browsers_read_are_read(answer: bytes, reused: bool) -> None:
    """What h11 and browsers accept is a page, not a protocol error (no false alarm)."""

    async with server(serving(answer)) as (port, connections):
        pool = new_pool()
        results = [await fetch(pool, port), await fetch(pool, port)]
        pool.close()
    assert results == [(200, b"ok")] * 2
    assert connections == ([0] if reused else [0, 1])


async def test_trailers_are_not_headers_and_junk_after_an_answer_is_not_reused() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            writer.write(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Head: 1\r\n\r\n"
                b"2\r\nok\r\n0\r\nX-Trailer: 2\r\n\r\nHTTP/1.1 junk"
            )
            await writer.drain()

    async with server(handler) as (port, connections):
        pool = new_pool()
        connection, status = await start(pool, port)
        body = await connection.read(2.0)
        assert await connection.read(2.0) == b""
        pool.release(connection)
        second = await fetch(pool, port)
        pool.close()
    names = [name for name, _ in connection._headers]
    assert (status, body, second) == (200, b"ok", (200, b"ok"))
    assert names == [b"Transfer-Encoding", b"X-Head"]
    assert connections == [0, 1]


@pytest.mark.parametrize(
    ("target", "header"),
    [
        (b"/", (b"Accept-Language", b"en\r\nX-Injected: 1")),
        (b"/", (b"Cookie", b"a=b\nHost: evil.test")),
        (b"/", (b"Bad Name", b"v")),
        (b"/ HTTP/1.1\r\nX-Injected: 1\r\n", (b"Host", b"example.test")),
    ],
    ids=["crlf-in-value", "lf-in-cookie", "space-in-name", "crlf-in-target"],
)
async def test_nothing_is_sent_that_would_smuggle_a_header(
    target: bytes, header: tuple[bytes, bytes]
) -> None:
    received: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.read(4096))

    async with server(handler) as (port, _):
        pool = new_pool()
        connection = await pool.acquire(
            "127.0.0.1", port, server_hostname=None, connect_timeout=2.0
        )
        with pytest.raises(httpcore.LocalProtocolError):
            await connection.send(b"GET", target, [header], read_timeout=1.0, write_timeout=1.0)
        pool.release(connection)
        pool.close()
        await asyncio.sleep(0.05)
    assert received in ([], [b""])


async def test_header_names_and_values_come_trimmed() -> None:
    async with server(
        answering(b'HTTP/1.1 200 OK\r\nContent-Length : 2\r\nETag:  "x" \t\r\n\r\nok')
    ) as (port, _):
        pool = new_pool()
        connection = await pool.acquire(
            "127.0.0.1", port, server_hostname=None, connect_timeout=2.0
        )
        status, headers = await connection.send(
            b"GET", b"/", [(b"Host", b"example.test")], read_timeout=2.0, write_timeout=2.0
        )
        body = await connection.read(2.0)
        pool.release(connection)
        pool.close()
    assert (status, headers, body) == (200, [(b"Content-Length", b"2"), (b"ETag", b'"x"')], b"ok")


def _closing_on_the_second_request(reset: bool) -> Handler:
    """Answers once, keeps the connection open, then hangs up as the next request arrives
    (its idle timeout firing at that very moment), without a byte of answer."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(OK)
        await writer.drain()
        await read_request(reader)
        if reset:  # an RST rather than a FIN
            sock = writer.get_extra_info("socket")
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
        writer.close()

    return handler


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
async def test_a_request_on_a_connection_the_server_just_closed_is_sent_again(reset: bool) -> None:
    """RFC 9112 §9.3.1: the GET was never seen, so it goes again on a new connection,
    and it is no failure (nor a retry) of the link's."""
    from linkwatch.fetch import Checker
    from linkwatch.models import Link, Settings

    settings = Settings(retries=0, per_host=1, min_interval_ms=0, soft404_probe=False)
    async with (
        server(_closing_on_the_second_request(reset)) as (port, connections),
        Checker(settings, allow_private=True, probe_soft404=False) as checker,
    ):
        first = await checker.check(Link(url=f"http://127.0.0.1:{port}/a", title="a"))
        second = await checker.check(Link(url=f"http://127.0.0.1:{port}/b", title="b"))
    assert (first.status_code, first.error) == (200, None)
    assert (second.status_code, second.error, second.attempts) == (200, None, 1)
    assert len(connections) == 2


async def test_a_new_connection_that_answers_nothing_is_not_sent_again() -> None:
    """Only a reused connection can have been closed under us; on a new one,
    hanging up without an answer is the server's answer."""
    from linkwatch.fetch import Checker
    from linkwatch.models import Link, Settings

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)

    settings = Settings(retries=0, per_host=1, min_interval_ms=0, soft404_probe=False)
    async with (
        server(hang_up) as (port, connections),
        Checker(settings, allow_private=True, probe_soft404=False) as checker,
    ):
        obs = await checker.check(Link(url=f"http://127.0.0.1:{port}/a", title="a"))
    assert obs.status_code is None and obs.error is not None
    assert len(connections) == 1
