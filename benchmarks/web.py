"""A fast loopback web for benchmarks: many hosts, fixed latency, ETags.

Every ``127.x.y.z`` address is a separate host on Linux (the whole of
127.0.0.0/8 is routed to ``lo``), so one process can play N sites: it binds
the same port on N addresses (``127.1.0.1``, ``127.1.0.2``, …) and a crawler
that keeps one pool per host sees N hosts, exactly as it would on the web.

Every link path (``/p/<n>``, what :func:`links` hands out) answers ``200``
with a small HTML page after ``latency_ms`` (``GET`` and ``HEAD``); every
other path answers ``404`` with a short "not found" page, as real sites
answer a random path.  So a soft-404 detector that probes a random path on
each host (linkwatch does, once per host) pays one cheap 404 per host, as
on the real web, and never finds a look-alike.  Each page has its own title
and text.  Each page carries a strong ``ETag``; a request whose
``If-None-Match`` lists it gets ``304 Not Modified`` without a body
(RFC 9110 §13.1.2), so the saving of conditional requests can be measured.

The server runs in its own process (``multiprocessing``, spawn) so it never
competes with the client for a GIL, and is written against the bare
``asyncio.Protocol`` API — no streams, no per-request task — so that on a
2-core machine it costs as little CPU as possible.  uvloop is used when it
is installed (an optional speed-up, not a dependency).

The parent controls it through a pipe: ``stats()`` returns the counters
(requests, bytes sent, connections, …) and ``reset()`` zeroes them between
runs; nothing about control travels over HTTP, so the counters count only
the crawler's traffic.

Run it by hand with ``python benchmarks/web.py --hosts 3 --latency-ms 50``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import multiprocessing
import resource
import signal
import socket
import sys
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from typing import Any, cast

LINK_PREFIX = "/p/"
NOT_FOUND = (
    b"<!doctype html>\n<html><head><title>Not Found</title></head>"
    b"<body><h1>Not Found</h1></body></html>\n"
)
HOSTS_PER_OCTET = 250
MAX_HOSTS = HOSTS_PER_OCTET * 256
MAX_HEADER_BYTES = 16_384
_FILLER = (
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
    "incididunt ut labore et dolore magna aliqua. "
)


def host_address(index: int) -> str:
    """The address of host ``index`` (0-based): 127.1.0.1, 127.1.0.2, …, 127.1.0.250, 127.1.1.1…

    127.0.0.0/16 is left alone so the benchmark never collides with a
    service on 127.0.0.1; the last octet skips 0 and 255.
    """
    if not 0 <= index < MAX_HOSTS:
        raise ValueError(f"host index {index} outside 0..{MAX_HOSTS - 1}")
    return f"127.1.{index // HOSTS_PER_OCTET}.{index % HOSTS_PER_OCTET + 1}"


@dataclass
class Stats:
    """What the server sent since the last reset."""

    connections: int = 0
    requests: int = 0
    get: int = 0
    head: int = 0
    ok: int = 0
    not_found: int = 0
    not_modified: int = 0
    bytes_sent: int = 0
    body_bytes_sent: int = 0
    server_cpu_s: float = 0.0


@dataclass
class _Server:
    latency: float
    body_bytes: int
    stats: Stats = field(default_factory=Stats)

    def page(self, host: str, path: str) -> tuple[bytes, bytes]:
        """The body and strong ETag of ``path`` on ``host``: stable across runs."""
        head = (
            "<!doctype html>\n<html><head><meta charset=utf-8>"
            f"<title>Page {path} on {host}</title></head>\n"
            f"<body><h1>Page {path}</h1><p>This is {path} served by {host}.</p>\n<p>"
        )
        tail = "</p></body></html>\n"
        room = max(0, self.body_bytes - len(head) - len(tail))
        filler = (_FILLER * (room // len(_FILLER) + 1))[:room]
        body = (head + filler + tail).encode()
        etag = b'"%08x"' % zlib.crc32(body)
        return body, etag


class _HttpProtocol(asyncio.Protocol):
    """Minimal HTTP/1.1 (RFC 9112): keep-alive, one request at a time per connection.

    Requests are answered in order; a pipelined request waits in the buffer
    until the one before it has been answered.  Request bodies are skipped
    by ``Content-Length`` (GET and HEAD have none in practice).
    """

    __slots__ = ("_buffer", "_busy", "_host", "_loop", "_server", "_transport")

    def __init__(self, server: _Server) -> None:
        self._server = server
        self._buffer = b""
        self._busy = False
        self._transport: asyncio.Transport | None = None
        self._host = ""
        self._loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses; same API.
        self._transport = cast(asyncio.Transport, transport)
        self._host = str(transport.get_extra_info("sockname")[0])
        self._server.stats.connections += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        self._next()

    def _next(self) -> None:
        if self._busy or self._transport is None:
            return
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > MAX_HEADER_BYTES:
                self._transport.close()
            return
        head = self._buffer[:end].decode("latin-1")
        lines = head.split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            self._transport.close()
            return
        method, target, version = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        skip = int(headers.get("content-length", "0") or 0)
        self._buffer = self._buffer[end + 4 + skip :]
        connection = headers.get("connection", "").lower()
        close = connection == "close" or (version == "HTTP/1.0" and connection != "keep-alive")
        self._busy = True
        path = target.split("?", 1)[0].split("#", 1)[0]
        inm = headers.get("if-none-match")
        self._loop.call_later(self._server.latency, self._respond, method, path, inm, close)

    def _respond(self, method: str, path: str, if_none_match: str | None, close: bool) -> None:
        self._busy = False
        transport = self._transport
        if transport is None:
            return
        stats = self._server.stats
        stats.requests += 1
        if method == "HEAD":
            stats.head += 1
        else:
            stats.get += 1
        if not path.startswith(LINK_PREFIX):
            stats.not_found += 1
            body = b"" if method == "HEAD" else NOT_FOUND
            head = (
                b"HTTP/1.1 404 Not Found\r\n"
                b"Content-Type: text/html; charset=utf-8\r\n"
                b"Content-Length: %d\r\n"
                % len(NOT_FOUND)
                + (b"Connection: close\r\n" if close else b"")
                + b"\r\n"
            )
            self._send(transport, head, body, close)
            return
        body, etag = self._server.page(self._host, path)
        status = b"200 OK"
        if if_none_match is not None and etag_matches(if_none_match, etag):
            status, body = b"304 Not Modified", b""
            stats.not_modified += 1
            length = b""
        else:
            stats.ok += 1
            length = b"Content-Length: %d\r\n" % len(body)
            if method == "HEAD":
                body = b""
        head = (
            b"HTTP/1.1 " + status + b"\r\n"
            b"Content-Type: text/html; charset=utf-8\r\n" + length + b"ETag: " + etag + b"\r\n"
            b"Cache-Control: no-cache\r\n" + (b"Connection: close\r\n" if close else b"") + b"\r\n"
        )
        self._send(transport, head, body, close)

    def _send(self, transport: asyncio.Transport, head: bytes, body: bytes, close: bool) -> None:
        stats = self._server.stats
        transport.write(head + body)
        stats.bytes_sent += len(head) + len(body)
        stats.body_bytes_sent += len(body)
        if close:
            transport.close()
            return
        self._next()


def etag_matches(header: str, etag: bytes) -> bool:
    """``If-None-Match`` uses the weak comparison (RFC 9110 §13.1.2): ``W/`` is ignored."""
    if header.strip() == "*":
        return True
    wanted = etag.decode()
    return any(tag.strip().removeprefix("W/") == wanted for tag in header.split(","))


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _raise_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _listen(hosts: int, port: int) -> tuple[list[socket.socket], int]:
    """Bind ``port`` (0: a free one, found on the first address) on every host address."""
    sockets: list[socket.socket] = []
    try:
        for index in range(hosts):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host_address(index), port))
            port = sock.getsockname()[1]
            sock.listen(1024)
            sock.setblocking(False)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets, port


def _new_loop(use_uvloop: bool) -> asyncio.AbstractEventLoop:
    if use_uvloop:
        with contextlib.suppress(ImportError):
            uvloop = importlib.import_module("uvloop")
            loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
            return loop
    return asyncio.new_event_loop()


def serve(
    control: Connection,
    hosts: int,
    latency_ms: float,
    body_bytes: int,
    port: int,
    use_uvloop: bool,
) -> None:
    """Child-process entry point: serve until the parent says ``stop`` or goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent owns Ctrl-C
    _raise_fd_limit(hosts + 20_000)
    loop = _new_loop(use_uvloop)
    asyncio.set_event_loop(loop)
    state = _Server(latency=latency_ms / 1000, body_bytes=body_bytes)
    try:
        sockets, port = _listen(hosts, port)
    except OSError as exc:
        control.send(("error", f"cannot listen: {exc}"))
        return
    done = loop.create_future()
    baseline = [_cpu_seconds()]

    async def start() -> list[asyncio.Server]:
        return [
            await loop.create_server(lambda: _HttpProtocol(state), sock=sock, backlog=1024)
            for sock in sockets
        ]

    def on_control() -> None:
        try:
            command = control.recv()
        except (EOFError, OSError):
            command = "stop"
        if command == "stats":
            state.stats.server_cpu_s = round(_cpu_seconds() - baseline[0], 3)
            control.send(asdict(state.stats))
        elif command == "reset":
            state.stats = Stats()
            baseline[0] = _cpu_seconds()
            control.send("ok")
        elif not done.done():
            done.set_result(None)

    servers = loop.run_until_complete(start())
    loop.add_reader(control.fileno(), on_control)
    control.send(("ready", port, "uvloop" if type(loop).__module__.startswith("uvloop") else ""))
    try:
        loop.run_until_complete(done)
    finally:
        loop.remove_reader(control.fileno())
        for server in servers:
            server.close()
        loop.close()
        with contextlib.suppress(OSError):
            control.send("stopped")


class LoopbackWeb:
    """The parent's handle: ``with LoopbackWeb(hosts=500, latency_ms=50) as web: ...``."""

    def __init__(
        self,
        *,
        hosts: int,
        latency_ms: float = 0.0,
        body_bytes: int = 4096,
        port: int = 0,
        use_uvloop: bool = True,
    ) -> None:
        if not 1 <= hosts <= MAX_HOSTS:
            raise ValueError(f"hosts must be between 1 and {MAX_HOSTS}")
        self.hosts = hosts
        self.latency_ms = latency_ms
        self.body_bytes = body_bytes
        self.port = port
        self.loop_name = ""
        self._use_uvloop = use_uvloop
        self._process: multiprocessing.process.BaseProcess | None = None
        self._control: Connection | None = None

    def start(self, timeout: float = 60.0) -> None:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        process = ctx.Process(
            target=serve,
            args=(child, self.hosts, self.latency_ms, self.body_bytes, self.port, self._use_uvloop),
            name="loopback-web",
            daemon=True,
        )
        process.start()
        child.close()
        self._process, self._control = process, parent
        if not parent.poll(timeout):
            self.stop()
            raise RuntimeError(f"loopback web did not start within {timeout:g} s")
        try:
            message = parent.recv()
        except EOFError:
            message = ("error", f"loopback web exited with code {process.exitcode}")
        if message[0] != "ready":
            self.stop()
            raise RuntimeError(str(message[1]))
        self.port, self.loop_name = int(message[1]), str(message[2])

    def url(self, host: int, path: str = "/") -> str:
        return f"http://{host_address(host)}:{self.port}{path}"

    def _ask(self, command: str) -> Any:
        if self._control is None:
            raise RuntimeError("loopback web is not running")
        self._control.send(command)
        if not self._control.poll(30):
            raise RuntimeError(f"loopback web did not answer {command!r}")
        return self._control.recv()

    def stats(self) -> Stats:
        return Stats(**self._ask("stats"))

    def reset(self) -> None:
        self._ask("reset")

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def stop(self) -> None:
        process, control = self._process, self._control
        self._process = self._control = None
        if control is not None:
            with contextlib.suppress(OSError, BrokenPipeError):
                control.send("stop")
        if process is not None:
            process.join(10)
            if process.is_alive():
                process.kill()
                process.join(5)
        if control is not None:
            control.close()

    def __enter__(self) -> LoopbackWeb:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def links(count: int, hosts: int, port: int) -> Iterator[str]:
    """``count`` distinct URLs spread round-robin over ``hosts`` hosts."""
    for i in range(count):
        yield f"http://{host_address(i % hosts)}:{port}{LINK_PREFIX}{i}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="serve a loopback web until Ctrl-C")
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--body-bytes", type=int, default=4096)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    with LoopbackWeb(
        hosts=args.hosts, latency_ms=args.latency_ms, body_bytes=args.body_bytes, port=args.port
    ) as web:
        print(f"serving {args.hosts} hosts on port {web.port} (pid {web.pid}), e.g.")
        for i in range(min(args.hosts, 3)):
            print("  " + web.url(i, "/p/1"))
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
        print(web.stats())
    return 0


if __name__ == "__main__":
    sys.exit(main())
