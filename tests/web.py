"""A real, hostile little web on loopback for the crawler's tests (design.md §8).

One asyncio server with hand-written HTTP/1.1 runs in a background thread on
127.0.0.1 (plus 127.0.0.2, and a TLS listener), and plays many sites: the
site is chosen by the ``Host`` header, because the checker resolves names
itself (through :meth:`TestWeb.resolve`, a fake resolver that maps the
``.test`` names of RFC 6761 to loopback) and connects to the address with the
real name in ``Host``.  Writing HTTP by hand lets a route do what no
framework would: never answer, trickle a byte at a time, send an endless
body or a compression bomb, or reset the connection mid-response.

Nothing here touches any address outside 127.0.0.0/8.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
import ssl
import struct
import subprocess
import threading
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

LOOPBACK = "127.0.0.1"
PUBLIC_LOOKALIKE = "127.0.0.2"  # plays a "public" address in the SSRF test

HTML = "text/html; charset=utf-8"
#: How long a ``beside*`` page waits for its host's soft-404 probe before answering alone.
BESIDE_WAIT = 0.3


def page(title: str, body: str = "", extra_head: str = "") -> bytes:
    filler = " ".join(["This paragraph is real content written for readers."] * 12)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
        f"{extra_head}</head><body><h1>{title}</h1>{body}<p>{filler}</p></body></html>"
    ).encode()


def redirect_stub(target: str, refresh: str | None = None) -> bytes:
    """The page jekyll-redirect-from leaves where a page moved (its ``redirect.html``, verbatim).

    GitHub Pages serves it with 200; only the ``<meta http-equiv="refresh">``
    (and a script) sends the reader on.  ``refresh``: another ``content``
    attribute, written as given (quotes and all).
    """
    content = f'"0; url={target}"' if refresh is None else refresh
    return (
        '<!DOCTYPE html>\n<html lang="en-US">\n  <meta charset="utf-8">\n'
        "  <title>Redirecting&hellip;</title>\n"
        f'  <link rel="canonical" href="{target}">\n'
        f'  <script>location="{target}"</script>\n'
        f'  <meta http-equiv="refresh" content={content}>\n'
        '  <meta name="robots" content="noindex">\n'
        "  <h1>Redirecting&hellip;</h1>\n"
        f'  <a href="{target}">Click here if you are not redirected.</a>\n'
        "</html>\n"
    ).encode()


#: ``content`` attributes of a refresh to ``/article``, as sites write them
#: (``/stub/form/<index>``): each one a stub that must be followed.
REFRESH_FORMS = (
    '"0;url=/article"',
    "\"0; URL='/article'\"",
    "'0;url=\"/article\"'",
    '"  0 ;  Url = /article  "',
    '"0,url=/article"',
    '"1.5; url=/article"',
    '"0 /article"',
    '"5;URL=/article"',
    "0;url=/article",
)


@dataclass
class Request:
    method: str
    path: str
    host: str
    headers: dict[str, str]


@dataclass
class Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def send(
        self,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        *,
        head: bool = False,
    ) -> None:
        reason = {200: "OK", 301: "Moved", 302: "Found", 304: "Not Modified"}.get(status, "X")
        all_headers = {"Content-Type": HTML, "Content-Length": str(len(body))}
        all_headers.update(headers or {})
        lines = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in all_headers.items()]
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.writer.write(data if head or status == 304 else data + body)
        await self.writer.drain()

    async def redirect(self, status: int, location: str) -> None:
        await self.send(status, b"", {"Location": location})

    def reset(self) -> None:
        """Close with RST (SO_LINGER 0), as a crashing server or middlebox does."""
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()


Handler = Callable[[Request, Conn], Awaitable[bool]]  # returns "keep the connection"


@dataclass
class HostStats:
    active: int = 0
    max_active: int = 0
    starts: list[float] = field(default_factory=list)
    spans: list[tuple[float, float]] = field(default_factory=list)  # (start, end) per request


def gzip_bomb(decoded_mib: int) -> bytes:
    """``decoded_mib`` MiB of zeros as a multi-member gzip (RFC 1952 §2.2), ~1 KiB per MiB."""
    member = gzip.compress(b"\0" * (1 << 20), compresslevel=9)
    return member * decoded_mib


def deflate_bomb(decoded_mib: int) -> bytes:
    """``decoded_mib`` MiB of zeros as one zlib stream (RFC 1950)."""
    compressor = zlib.compressobj(9)
    chunk = b"\0" * (1 << 20)
    parts = [compressor.compress(chunk) for _ in range(decoded_mib)]
    parts.append(compressor.flush())
    return b"".join(parts)


def self_signed_cert(directory: Path, name: str) -> tuple[Path, Path] | None:
    """A throwaway certificate for ``name`` made with the openssl CLI, or None without it."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    try:
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "ec",
                "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", str(key), "-out", str(cert), "-days", "2",
                "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}",
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )  # fmt: skip
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return None
    return cert, key


class TestWeb:
    """The loopback web; start with :meth:`start`, stop with :meth:`stop`."""

    __test__ = False  # not a pytest test class

    def __init__(self, cert_dir: Path | None = None) -> None:
        self.port = 0
        self.public_port = 0
        self.tls_port = 0
        self.closed_port = 0
        self.cert: Path | None = None
        self._cert_dir = cert_dir
        self.hits: Counter[str] = Counter()
        self.stats: dict[str, HostStats] = defaultdict(HostStats)
        self.allowed_at: dict[str, float] = {}  # /rate-limit/: each host's last 200
        self.limited: Counter[str] = Counter()  # /rate-limit/: 429s sent, per host
        self.busy_until: dict[str, float] = {}  # /wait-a-second/: each host's first second
        self.probed: dict[str, asyncio.Event] = {}  # beside*: each host's probe has arrived
        self.lookups: Counter[str] = Counter()
        self.requests: list[Request] = []
        self.gzip_bomb = gzip_bomb(1024)  # 1 GiB decoded from ~1 MiB
        self.deflate_bomb = deflate_bomb(128)  # 128 MiB decoded from ~128 KiB
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._servers: list[asyncio.Server] = []
        self._routes: dict[str, Handler] = self._site_routes()

    # -- lifecycle --------------------------------------------------------

    def start(self) -> None:
        self._loop.set_exception_handler(lambda _loop, _ctx: None)  # hostile clients too
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(30)
        with socket.socket() as sock:  # a port nobody listens on: connection refused
            sock.bind((LOOPBACK, 0))
            self.closed_port = sock.getsockname()[1]

    async def _start(self) -> None:
        main = await asyncio.start_server(self._serve, LOOPBACK, 0, limit=1 << 16, backlog=512)
        public = await asyncio.start_server(self._serve, PUBLIC_LOOKALIKE, 0, backlog=64)
        self._servers += [main, public]
        self.port = main.sockets[0].getsockname()[1]
        self.public_port = public.sockets[0].getsockname()[1]
        if self._cert_dir is not None:
            made = self_signed_cert(self._cert_dir, "tls.test")
            if made is not None:
                self.cert, key = made
                ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                ctx.load_cert_chain(self.cert, key)
                tls = await asyncio.start_server(self._serve, LOOPBACK, 0, ssl=ctx)
                self._servers.append(tls)
                self.tls_port = tls.sockets[0].getsockname()[1]

    def stop(self) -> None:
        async def _stop() -> None:
            for server in self._servers:
                server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(_stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    # -- the fake DNS -----------------------------------------------------

    async def resolve(self, host: str) -> list[str]:
        """Names ending in ``.test`` (RFC 6761: never real) map to loopback; others do not exist."""
        self.lookups[host] += 1
        if host == "nowhere.test" or not host.endswith(".test"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        if host == "public.test":
            return [PUBLIC_LOOKALIKE]
        return [LOOPBACK]

    def url(self, path: str, host: str = "site.test") -> str:
        return f"http://{host}:{self.port}{path}"

    # -- HTTP/1.1 by hand -------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Conn(reader, writer)
        try:
            while True:
                request = await self._read_request(reader)
                if request is None:
                    break
                if not await self._dispatch(request, conn):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    @staticmethod
    async def _read_request(reader: asyncio.StreamReader) -> Request | None:
        line = await reader.readline()
        if not line.strip():
            return None
        method, target, _version = line.decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while True:
            raw = await reader.readline()
            if raw in (b"\r\n", b"\n", b""):
                break
            name, _, value = raw.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        host = headers.get("host", "").rsplit(":", 1)[0]
        return Request(method, target, host, headers)

    async def _dispatch(self, request: Request, conn: Conn) -> bool:
        stats = self.stats[request.host]
        stats.active += 1
        stats.max_active = max(stats.max_active, stats.active)
        started = time.monotonic()
        stats.starts.append(started)
        self.hits[f"{request.host}{request.path}"] += 1
        self.requests.append(request)
        try:
            if request.host == "soft.test":
                return await self._soft_site(request, conn)
            if request.host.startswith("slowsoft"):  # soft.test, answering in 0.3 s
                await asyncio.sleep(0.3)
                return await self._soft_site(request, conn)
            if request.host == "spa.test":  # one JS shell for every path, real or not
                shell = b"<html><head><title>App</title></head><body><div id=root></div>"
                await conn.send(200, shell + b"<script src='/app.js'></script></body></html>")
                return True
            if request.host == "parked.test":
                body = page("example-domain.com", "<p>This domain is for sale! Inquire now.</p>")
                await conn.send(200, body)
                return True
            if request.host == "cf.test":
                body = page("Just a moment...", "<p>Checking your browser before accessing.</p>")
                headers = {"Server": "cloudflare", "cf-mitigated": "challenge"}
                await conn.send(403, body, headers)
                return True
            if request.host.startswith("tarpit"):  # its pages at once, made-up paths never
                if request.path.endswith("-linkwatch-probe"):
                    return await self._routes["/trickle"](request, conn)
                await conn.send(200, page(f"Tarpit {request.path}"))
                return True
            if request.host.startswith("beside"):  # a page answers once its probe is in
                arrived = self.probed.setdefault(request.host, asyncio.Event())
                if request.path.endswith("-linkwatch-probe"):
                    arrived.set()
                    await conn.send(404, page("Not Found"))
                    return True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(arrived.wait(), BESIDE_WAIT)
                met = "Met its probe" if arrived.is_set() else "Answered alone"
                await conn.send(200, page(f"{met} {request.path}"))
                return True
            if request.host.startswith("busy"):
                await asyncio.sleep(0.15)
                await conn.send(200, page(f"Busy {request.path}"))
                return True
            path = request.path.split("?", 1)[0]
            handler = self._routes.get(path) or self._prefixed(path)
            if handler is None:
                await conn.send(404, page("Not Found"))
                return True
            return await handler(request, conn)
        finally:
            stats.active -= 1
            stats.spans.append((started, time.monotonic()))

    def _prefixed(self, path: str) -> Handler | None:
        for prefix, handler in self._routes.items():
            if prefix.endswith("/") and prefix != "/" and path.startswith(prefix):
                return handler
        return None

    async def _soft_site(self, request: Request, conn: Conn) -> bool:
        """A host that answers every path, real or not, with the same 200 page."""
        await conn.send(200, page("Welcome to Soft", "<p>Latest news from Soft.</p>"))
        return True

    # -- the routes of site.test --------------------------------------------

    def _site_routes(self) -> dict[str, Handler]:
        web = self

        async def ok(req: Request, c: Conn) -> bool:
            await c.send(200, page("A real article"), head=req.method == "HEAD")
            return True

        async def home(req: Request, c: Conn) -> bool:
            await c.send(200, page("Site home", "<p>Welcome.</p>"))
            return True

        async def head_405(req: Request, c: Conn) -> bool:
            if req.method == "HEAD":
                await c.send(405, b"", {"Allow": "GET"}, head=True)
            else:
                await c.send(200, page("GET works"))
            return True

        def redirect(status: int, location: str) -> Handler:
            async def handler(req: Request, c: Conn) -> bool:
                await c.redirect(status, location)
                return True

            return handler

        def status(code: int, title: str, headers: dict[str, str] | None = None) -> Handler:
            async def handler(req: Request, c: Conn) -> bool:
                await c.send(code, page(title), headers)
                return True

            return handler

        async def hops(req: Request, c: Conn) -> bool:
            n = int(req.path.rsplit("/", 1)[1])
            await c.redirect(302, f"/hops/{n + 1}")
            return True

        async def doc(req: Request, c: Conn) -> bool:
            body = "<h2 id='present'>Present</h2><h2 id='user-content-install'>Install</h2>"
            await c.send(200, page("Documentation", body))
            return True

        async def flaky(req: Request, c: Conn) -> bool:
            if web.hits[f"{req.host}{req.path}"] <= 2:
                await c.send(503, page("Service Unavailable"))
            else:
                await c.send(200, page("Back again"))
            return True

        async def retry_after(req: Request, c: Conn) -> bool:
            if web.hits[f"{req.host}{req.path}"] == 1:
                await c.send(429, page("Too Many Requests"), {"Retry-After": "1"})
            else:
                await c.send(200, page("Patience rewarded"))
            return True

        async def rate_limit(req: Request, c: Conn) -> bool:
            # One request per 0.4 s per host, as a real rate limiter allows;
            # any faster gets 429 and "Retry-After: 1".
            now = time.monotonic()
            last = web.allowed_at.get(req.host)
            if last is not None and now - last < 0.4:
                web.limited[req.host] += 1
                await c.send(429, page("Too Many Requests"), {"Retry-After": "1"})
            else:
                web.allowed_at[req.host] = now
                await c.send(200, page(f"Allowed {req.path}"))
            return True

        async def wait_a_second(req: Request, c: Conn) -> bool:
            # Busy for a second after the host's first request, and says so:
            # 429 with "Retry-After: 1" until then, 200 afterwards.
            now = time.monotonic()
            until = web.busy_until.setdefault(req.host, now + 1.0)
            if now < until:
                web.limited[req.host] += 1
                await c.send(429, page("Too Many Requests"), {"Retry-After": "1"})
            else:
                await c.send(200, page(f"Allowed {req.path}"))
            return True

        async def cdn_flaky(req: Request, c: Conn) -> bool:
            # Through a CDN, which names itself on every answer: the origin's
            # 503 (or a rate limit) first, then the page.
            cdn = {"Server": "cloudflare", "CF-RAY": "8a1b2c3d4e5f6789-AMS"}
            if web.hits[f"{req.host}{req.path}"] == 1:
                status = 429 if "/429/" in req.path else 503
                await c.send(status, page("Service Unavailable"), {**cdn, "Retry-After": "1"})
            else:
                await c.send(200, page("Back again"), cdn)
            return True

        async def hang(req: Request, c: Conn) -> bool:
            await c.reader.read()  # until the client gives up and closes
            return False

        async def trickle(req: Request, c: Conn) -> bool:
            head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Slow: " + b"z" * 10_000
            for byte in head:
                c.writer.write(bytes([byte]))
                await c.writer.drain()
                await asyncio.sleep(0.25)
            return False

        async def endless(req: Request, c: Conn) -> bool:
            c.writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            chunk = b"<p>" + b"more " * 8000 + b"</p>"
            frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
            while True:  # until the client hangs up
                c.writer.write(frame)
                await c.writer.drain()

        def bomb(data: bytes, coding: str) -> Handler:
            async def handler(req: Request, c: Conn) -> bool:
                await c.send(200, data, {"Content-Encoding": coding})
                return False

            return handler

        async def bad_gzip(req: Request, c: Conn) -> bool:
            await c.send(200, b"\x1f\x8b\x08\x00garbage, not gzip at all" * 20,
                         {"Content-Encoding": "gzip"})  # fmt: skip
            return True

        async def bad_charset(req: Request, c: Conn) -> bool:
            body = page("Bytes", "<p>\xff\xfe broken</p>").replace(b"broken", b"\xff\xfe\xc3(\x80")
            await c.send(200, body, {"Content-Type": "text/html; charset=utf-8"})
            return True

        async def codec_charset(req: Request, c: Conn) -> bool:
            # Labels Python's codec registry knows but no browser reads a page with:
            # ``undefined`` raises whatever the error handler, ``idna`` only does
            # strict errors, ``zlib`` is not a text encoding at all.
            label = req.path.rsplit("/", 1)[-1]
            if label.startswith("meta-"):
                body = page("Codec", "<p>caf\xe9</p>").replace(b"'utf-8'", label[5:].encode())
                await c.send(200, body, {"Content-Type": "text/html"})
            else:
                ctype = f"text/html; charset={label}"
                await c.send(200, page("Codec", "<p>caf\xe9</p>"), {"Content-Type": ctype})
            return True

        async def reset_once(req: Request, c: Conn) -> bool:
            if web.hits[f"{req.host}{req.path}"] == 1:
                c.writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n<html>partial")
                await c.writer.drain()
                c.reset()
                return False
            await c.send(200, page("Whole again"))
            return True

        async def etag(req: Request, c: Conn) -> bool:
            if req.headers.get("if-none-match") == '"v1"':
                await c.send(304, b"", {"ETag": '"v1"'})
            else:
                await c.send(200, page("Versioned"), {"ETag": '"v1"'})
            return True

        async def cookie_check(req: Request, c: Conn) -> bool:
            if "seen=1" in req.headers.get("cookie", ""):
                await c.send(200, page("Welcome back"))
            else:
                await c.send(302, b"", {"Location": req.path, "Set-Cookie": "seen=1; Path=/"})
            return True

        def stub(target: str, refresh: str | None = None, *, ctype: str = HTML) -> Handler:
            """A redirect stub to ``target``; a leading ``//`` stands for this very host."""

            async def handler(req: Request, c: Conn) -> bool:
                here = f"http://{req.headers.get('host', req.host)}"
                where = here + target[1:] if target.startswith("//") else target
                await c.send(200, redirect_stub(where, refresh), {"Content-Type": ctype})
                return True

            return handler

        async def stub_etag(req: Request, c: Conn) -> bool:
            # A stub with validators of its own, as GitHub Pages serves every file.
            if req.headers.get("if-none-match") == '"stub-1"':
                await c.send(304, b"", {"ETag": '"stub-1"'})
            else:
                await c.send(200, redirect_stub("/article"), {"ETag": '"stub-1"'})
            return True

        async def stub_form(req: Request, c: Conn) -> bool:
            form = REFRESH_FORMS[int(req.path.rsplit("/", 1)[1])]
            await c.send(200, redirect_stub("/article", form))
            return True

        async def stub_hops(req: Request, c: Conn) -> bool:
            n = int(req.path.rsplit("/", 1)[1])
            await c.send(200, redirect_stub(f"/stub/hops/{n + 1}"))
            return True

        async def big_refresh(req: Request, c: Conn) -> bool:
            # A real page (well over 8 KiB) that happens to carry an instant refresh.
            head = '<meta http-equiv="refresh" content="0; url=/article">'
            await c.send(200, page("Live scores", "<p>Goal!</p>" * 1000, head))
            return True

        async def noscript_refresh(req: Request, c: Conn) -> bool:
            # "Enable JavaScript" pages send only script-less browsers on.
            head = '<noscript><meta http-equiv="refresh" content="0; url=/article"></noscript>'
            await c.send(200, b"<html><head>" + head.encode() + b"</head><body>App</body></html>")
            return True

        async def stub_to_internal(req: Request, c: Conn) -> bool:
            await c.send(200, redirect_stub(f"http://internal.test:{web.port}/article"))
            return True

        async def to_internal(req: Request, c: Conn) -> bool:
            await c.redirect(302, f"http://internal.test:{web.port}/article")
            return True

        return {
            "/": home,
            "/article": ok,
            "/redirect-302": redirect(302, "/article"),
            "/head-405": head_405,
            "/moved-twice": redirect(301, "/moved-once"),
            "/moved-to-etag": redirect(301, "/etag"),
            "/moved-once": redirect(301, "/article"),
            "/perm-308": redirect(308, "/article"),
            "/gone-404": status(404, "Not Found"),
            "/gone-410": status(410, "Gone"),
            "/loop-a": redirect(302, "/loop-b"),
            "/loop-b": redirect(302, "/loop-a"),
            "/hops/": hops,
            "/to-404": redirect(302, "/missing"),
            "/soft-404-en": status(200, "Page Not Found"),
            "/soft-404-zh": status(200, "页面不存在 - 示例网站"),
            "/deep/article/123": redirect(301, "/"),
            "/doc": doc,
            "/flaky-503/": flaky,
            "/cdn-flaky/": cdn_flaky,
            "/always-503": status(503, "Service Unavailable"),
            "/retry-after/": retry_after,
            "/always-429": status(429, "Too Many Requests", {"Retry-After": "1"}),
            "/always-429-long": status(429, "Too Many Requests", {"Retry-After": "30"}),
            "/rate-limit/": rate_limit,
            "/wait-a-second/": wait_a_second,
            "/private": status(401, "Unauthorized", {"WWW-Authenticate": 'Basic realm="x"'}),
            "/members": redirect(302, "/login?next=/members"),
            "/login": status(200, "Sign in"),
            "/no-location": status(302, "Found"),
            "/hang": hang,
            "/trickle": trickle,
            "/endless": endless,
            "/gzip-bomb": bomb(self.gzip_bomb, "gzip"),
            "/deflate-bomb": bomb(self.deflate_bomb, "deflate"),
            "/bad-gzip": bad_gzip,
            "/bad-charset": bad_charset,
            "/charset/": codec_charset,
            "/reset-once/": reset_once,
            "/etag": etag,
            "/to-internal": to_internal,
            "/cookie-check": cookie_check,
            # Redirect stubs: 200 pages that send the reader on by a meta refresh.
            "/stub/jekyll": stub("//article"),
            "/stub/etag": stub_etag,
            "/stub/relative": stub("../article"),
            "/stub/home": stub("/"),
            "/stub/ping": stub("/stub/pong"),
            "/stub/pong": stub("/stub/ping"),
            "/stub/to-missing": stub("/missing"),
            "/stub/to-login": stub("/login?next=/stub/to-login"),
            "/stub/via-302": redirect(302, "/stub/jekyll"),
            "/stub/via-301": redirect(301, "/stub/jekyll"),
            "/stub/to-301": stub("/moved-once"),
            "/stub/self": stub("/stub/self"),
            "/stub/reload": stub("/article", '"0"'),
            "/stub/every-5-minutes": stub("/article", '"300"'),
            "/stub/in-a-minute": stub("/article", '"60; url=/article"'),
            "/stub/invalid": stub("/article", '"soon; url=/article"'),
            "/stub/to-mailto": stub("mailto:someone@example.com"),
            "/stub/as-text": stub("/article", ctype="text/plain"),
            "/stub/to-internal": stub_to_internal,
            "/stub/form/": stub_form,
            "/stub/hops/": stub_hops,
            "/stub/big": big_refresh,
            "/stub/noscript": noscript_refresh,
        }
