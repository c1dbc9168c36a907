"""A small fake of the GitHub issues REST API, served over real HTTP on loopback.

It keeps issues and comments in memory, paginates with ``Link: rel="next"``
like the real API, and records the Host and Authorization header of every
request so tests can prove where the token went.  Knobs let a test make it
misbehave: point the next-page link or a redirect at another host.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    method: str
    path: str
    host: str
    authorization: str | None


@dataclass
class FakeIssue:
    number: int
    title: str
    body: str
    labels: list[str]
    state: str = "open"
    state_reason: str | None = None
    comments: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "title": self.title,
            "body": self.body,
            "state": self.state,
            "state_reason": self.state_reason,
            "labels": [{"name": name} for name in self.labels],
        }


class FakeGitHub:
    """One loopback server; ``repo`` is the only repository it knows."""

    def __init__(
        self, host: str = "127.0.0.1", *, repo: str = "owner/repo", token: str = ""
    ) -> None:
        self.repo = repo
        self.token = token
        self.issues: dict[int, FakeIssue] = {}
        self.requests: list[Recorded] = []
        self.page_size = 100
        self.next_link_base: str | None = None  # send rel="next" to another origin
        self.redirect_to: str | None = None  # answer every POST with a 307 to another origin
        self.wayback: dict[str, str] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, 0), self._handler())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeGitHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def _send(
                self, status: int, payload: Any = None, headers: dict[str, str] | None = None
            ) -> None:
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> Any:
                length = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(length) or b"{}")

            def _handle(self, method: str) -> None:
                with fake._lock:
                    fake.requests.append(
                        Recorded(
                            method,
                            self.path,
                            self.headers.get("Host", ""),
                            self.headers.get("Authorization"),
                        )
                    )
                    fake._dispatch(self, method)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_PATCH(self) -> None:
                self._handle("PATCH")

        return Handler

    def _dispatch(self, h: Any, method: str) -> None:
        parts = urlsplit(h.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path == "/wayback/available":
            snap = self.wayback.get(query.get("url", ""))
            closest = {"available": True, "status": "200", "url": snap} if snap else None
            h._send(200, {"archived_snapshots": {"closest": closest} if closest else {}})
            return
        if h.headers.get("Authorization") != f"Bearer {self.token}":
            h._send(401, {"message": "Bad credentials"})
            return
        prefix = f"/repos/{self.repo}/issues"
        if not parts.path.startswith(prefix):
            h._send(404, {"message": "Not Found"})
            return
        rest = parts.path[len(prefix) :]
        if method == "POST" and self.redirect_to:
            h._send(307, headers={"Location": self.redirect_to + parts.path})
            return
        if rest == "" and method == "GET":
            self._list(h, parts.path, query)
        elif rest == "" and method == "POST":
            data = h._body()
            number = len(self.issues) + 1
            self.issues[number] = FakeIssue(
                number, data["title"], data.get("body", ""), list(data.get("labels", []))
            )
            h._send(201, self.issues[number].as_json())
        elif (m := re.fullmatch(r"/(\d+)", rest)) and method == "PATCH":
            issue = self.issues[int(m.group(1))]
            data = h._body()
            if "state" in data:
                issue.state = data["state"]
                issue.state_reason = data.get("state_reason")
            issue.body = data.get("body", issue.body)
            issue.title = data.get("title", issue.title)
            h._send(200, issue.as_json())
        elif (m := re.fullmatch(r"/(\d+)/comments", rest)) and method == "POST":
            self.issues[int(m.group(1))].comments.append(h._body()["body"])
            h._send(201, {"id": 1})
        elif (m := re.fullmatch(r"/(\d+)/labels", rest)) and method == "POST":
            issue = self.issues[int(m.group(1))]
            for name in h._body()["labels"]:
                if name not in issue.labels:
                    issue.labels.append(name)
            h._send(200, [{"name": n} for n in issue.labels])
        else:
            h._send(404, {"message": "Not Found"})

    def _list(self, h: Any, path: str, query: dict[str, str]) -> None:
        label = query.get("labels")
        state = query.get("state", "open")
        per_page = min(int(query.get("per_page", "30")), self.page_size)
        page = int(query.get("page", "1"))
        items = [
            i
            for i in sorted(self.issues.values(), key=lambda i: -i.number)
            if (label is None or label in i.labels) and (state == "all" or i.state == state)
        ]
        chunk = items[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(items):
            base = self.next_link_base or self.url
            nxt = f"{base}{path}?labels={label}&state={state}&per_page={per_page}&page={page + 1}"
            headers["Link"] = f'<{nxt}>; rel="next"'
        h._send(200, [i.as_json() for i in chunk], headers)
