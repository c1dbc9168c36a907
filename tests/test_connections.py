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

import httpcore
import pytest

from linkwatch.connections import _HIGH_WATER, HostPool

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


def get(port: int, *, read_timeout: float = 2.0) -> httpcore.Request:
    return httpcore.Request(
        b"GET",
        httpcore.URL(scheme=b"http", host=b"127.0.0.1", port=port, target=b"/"),
        headers=[(b"Host", b"example.test")],
        extensions={"timeout": {"connect": 2.0, "read": read_timeout, "write": 2.0}},
    )


def new_pool() -> HostPool:
    return HostPool(ssl.create_default_context(), max_idle=2, keepalive_expiry=5.0)


async def fetch(pool: HostPool, request: httpcore.Request) -> tuple[int, bytes]:
    response, connection = await pool.send(request)
    try:
        body = b"".join([chunk async for chunk in response.aiter_stream()])
    finally:
        await pool.release(response, connection)
    return response.status, body


async def test_keep_alive_connection_is_reused() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            writer.write(OK)
            await writer.drain()

    async with server(handler) as (port, connections):
        pool = new_pool()
        results = [await fetch(pool, get(port)) for _ in range(3)]
        await pool.aclose()
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
        first = await fetch(pool, get(port))
        await asyncio.sleep(0.1)  # the FIN arrives while the connection is idle
        second = await fetch(pool, get(port))
        await pool.aclose()
    assert (first, second) == ((200, b"ok"), (200, b"ok"))
    assert connections == [0, 1]


async def test_connection_close_is_not_kept() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        await asyncio.sleep(1)

    async with server(handler) as (port, connections):
        pool = new_pool()
        await fetch(pool, get(port))
        await fetch(pool, get(port))
        await pool.aclose()
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
        response, connection = await pool.send(get(port))
        stream = connection._network_stream
        await asyncio.sleep(0.5)  # the server keeps sending; nobody reads
        buffered = stream._protocol.buffered  # type: ignore[attr-defined]
        received = 0
        async for chunk in response.aiter_stream():
            received += len(chunk)
            if received > 4 * 1024 * 1024:
                break
        await pool.release(response, connection)
        await pool.aclose()
    # Bounded by the high-water mark plus what one socket read brings.
    assert 0 < buffered <= _HIGH_WATER + 256 * 1024
    assert received > 4 * 1024 * 1024
    assert connection.is_closed()  # a response not read to its end is never reused


async def test_server_that_never_answers_is_a_read_timeout() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(5)

    async with server(handler) as (port, _):
        pool = new_pool()
        with pytest.raises(httpcore.ReadTimeout):
            await fetch(pool, get(port, read_timeout=0.2))
        await pool.aclose()


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
            await fetch(pool, get(port))
        await pool.aclose()


async def test_refused_connection_is_a_connect_error_from_the_oserror() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, never listening: refused
        pool = new_pool()
        with pytest.raises(httpcore.ConnectError) as caught:
            await fetch(pool, get(port))
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)


async def test_closed_pool_keeps_no_connection() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            writer.write(OK)
            await writer.drain()

    async with server(handler) as (port, _):
        pool = new_pool()
        response, connection = await pool.send(get(port))
        await pool.aclose()  # closed while a response is still being read
        await response.aread()
        await pool.release(response, connection)
    assert connection.is_closed()
