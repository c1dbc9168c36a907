"""The HTML report in a real browser: hostile titles stay text, filters and sort work.

Headless Chromium is driven over the Chrome DevTools Protocol
(https://chromedevtools.github.io/devtools-protocol/) with the small
``websockets`` client.  The page is a ``file://`` URL and the flags keep
Chromium from any network traffic of its own.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from linkwatch.report import render
from report_data import EVIL_HTML_TITLE, SECTIONS, sample_history, sample_summary

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--remote-debugging-port=0",
)


class CDP:
    """A minimal synchronous CDP client over one browser-level WebSocket."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.next_id = 0
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None

    def call(self, method: str, timeout: float = 15.0, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            message["sessionId"] = self.session
        self.ws.send(json.dumps(message))
        deadline = time.monotonic() + timeout
        while True:
            reply = json.loads(self.ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise AssertionError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self.events.append(reply)

    def wait_for(self, event: str, timeout: float = 15.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for seen in self.events:
                if seen.get("method") == event:
                    return seen
            reply = json.loads(self.ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            self.events.append(reply)

    def js(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def errors(self) -> list[dict[str, Any]]:
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if (
                method == "Runtime.exceptionThrown"
                or (
                    method == "Runtime.consoleAPICalled"
                    and params.get("type") in ("error", "assert")
                )
                or (method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error")
            ):
                found.append(event)
        return found

    def screenshot(self, path: Path, width: int, *, mobile: bool = False) -> None:
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=900,
            deviceScaleFactor=1,
            mobile=mobile,
        )
        shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.write_bytes(base64.b64decode(shot["data"]))


def _chromium() -> str:
    # Debian ships "chromium"; Ubuntu runners of GitHub Actions have Google Chrome.
    exe = next(
        filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None
    )
    if exe is None:
        if os.environ.get("LINKWATCH_REQUIRE_BROWSER") == "1":
            pytest.fail("a Chromium is required (LINKWATCH_REQUIRE_BROWSER=1) but none is on PATH")
        pytest.skip("chromium not installed (apt-get install chromium)")
    return exe


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CDP]:
    from websockets.sync.client import connect

    exe = _chromium()
    tmp = tmp_path_factory.mktemp("browser")
    report = tmp / "index.html"
    summary = sample_summary(EVIL_HTML_TITLE)
    report.write_text(
        render(summary, "html", history=sample_history(), sections=SECTIONS), encoding="utf-8"
    )
    proc = subprocess.Popen(
        [exe, *FLAGS, f"--user-data-dir={tmp / 'profile'}", "about:blank"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stderr is not None
    stderr = proc.stderr

    def pump() -> None:
        # Drain stderr for the whole run so Chromium never blocks on a full pipe.
        for line in stderr:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    try:
        endpoint = None
        deadline = time.monotonic() + 30
        while endpoint is None and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                continue
            match = re.search(r"DevTools listening on (ws://127\.0\.0\.1:\d+/\S+)", line)
            endpoint = match.group(1) if match else None
        assert endpoint, "chromium did not print its DevTools endpoint"
        with connect(endpoint, max_size=None, open_timeout=10) as ws:
            cdp = CDP(ws)
            targets = cdp.call("Target.getTargets")["targetInfos"]
            target = next(t for t in targets if t["type"] == "page")
            cdp.session = cdp.call(
                "Target.attachToTarget", targetId=target["targetId"], flatten=True
            )["sessionId"]
            for domain in ("Page", "Runtime", "Log"):
                cdp.call(f"{domain}.enable")
            cdp.call("Page.navigate", url=report.as_uri())
            cdp.wait_for("Page.loadEventFired")
            yield cdp
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _visible(cdp: CDP) -> int:
    return int(cdp.js("document.querySelectorAll('#links tr.row:not(.hidden)').length"))


def _set(cdp: CDP, element_id: str, value: str, event: str) -> None:
    cdp.js(
        f"(() => {{ const el = document.getElementById({json.dumps(element_id)});"
        f" el.value = {json.dumps(value)}; el.dispatchEvent(new Event({json.dumps(event)})); }})()"
    )


def test_page_loads_without_console_errors(page: CDP) -> None:
    assert page.js("document.readyState") == "complete"
    assert page.errors() == []


def test_injected_script_does_not_run(page: CDP) -> None:
    assert page.js("typeof window.__pwned") == "undefined"
    assert page.js("document.images.length") == 0


def test_malicious_title_is_visible_as_text(page: CDP) -> None:
    text = page.js("document.body.innerText")
    assert "<script>window.__pwned=1</script>" in text
    assert "<img src=x onerror=alert(1)>" in text


def test_non_http_url_is_not_a_link(page: CDP) -> None:
    assert page.js("[...document.links].every(a => /^https?:/.test(a.href))") is True
    assert "javascript:alert(document.domain)" in page.js("document.body.innerText")


def test_verdict_filter_hides_and_shows_rows(page: CDP) -> None:
    total = _visible(page)
    _set(page, "f-verdict", "broken", "change")
    assert _visible(page) == 3
    assert page.js(
        "[...document.querySelectorAll('#links tr.row:not(.hidden)')]"
        ".every(r => r.dataset.verdict === 'broken')"
    )
    _set(page, "f-verdict", "", "change")
    assert _visible(page) == total == 20


def test_search_filters_rows(page: CDP) -> None:
    _set(page, "f-search", "langchain", "input")
    assert _visible(page) == 1
    assert page.js("document.getElementById('f-count').textContent") == "1 of 20 links"
    _set(page, "f-search", "", "input")
    assert _visible(page) == 20


def test_search_ignores_the_sparkline_label(page: CDP) -> None:
    # Every row's sparkline is labelled "last N runs: K failed; newest …":
    # searching "failed" or "newest" must not match every row through it.
    _set(page, "f-search", "newest", "input")
    assert _visible(page) == 0
    _set(page, "f-search", "failed", "input")
    shown = page.js(
        "[...document.querySelectorAll('#links tr.row:not(.hidden)')]"
        ".map(r => r.innerText.toLowerCase().includes('failed'))"
    )
    assert all(shown)
    assert len(shown) < 20
    _set(page, "f-search", "", "input")
    assert _visible(page) == 20


def test_section_and_tag_filters(page: CDP) -> None:
    _set(page, "f-section", "2", "change")
    assert _visible(page) == 4
    _set(page, "f-section", "", "change")
    _set(page, "f-tag", "video", "change")
    assert _visible(page) == 5
    _set(page, "f-tag", "", "change")


def test_sort_by_time_orders_rows(page: CDP) -> None:
    keys = page.js(
        "(() => { const t = document.querySelector('#links section.sec table');"
        " t.querySelectorAll('th button')[3].click();"
        " return [...t.tBodies[0].rows].map(r => Number(r.cells[3].dataset.key)); })()"
    )
    assert keys == sorted(keys)
    assert keys[0] < keys[-1]
    keys_desc = page.js(
        "(() => { const t = document.querySelector('#links section.sec table');"
        " t.querySelectorAll('th button')[3].click();"
        " return [...t.tBodies[0].rows].map(r => Number(r.cells[3].dataset.key)); })()"
    )
    assert keys_desc == sorted(keys, reverse=True)


def test_no_horizontal_scroll_on_a_phone(page: CDP) -> None:
    page.call(
        "Emulation.setDeviceMetricsOverride",
        width=375,
        height=800,
        deviceScaleFactor=2,
        mobile=True,
    )
    try:
        assert page.js("document.documentElement.scrollWidth") <= 375
    finally:
        page.call("Emulation.clearDeviceMetricsOverride")


def test_screenshots(page: CDP) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(ARTIFACTS / "report.png", 1280)
    page.screenshot(ARTIFACTS / "report-phone.png", 375, mobile=True)
    page.call(
        "Emulation.setEmulatedMedia", features=[{"name": "prefers-color-scheme", "value": "dark"}]
    )
    page.screenshot(ARTIFACTS / "report-dark.png", 1280)
    page.call("Emulation.setEmulatedMedia", features=[])
    page.call("Emulation.clearDeviceMetricsOverride")
    assert (ARTIFACTS / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert page.errors() == []


def test_csp_blocks_a_script_that_escaped_escaping(page: CDP, tmp_path: Path) -> None:
    # Runs last: it navigates away and provokes a CSP violation on purpose.
    html = render(sample_summary(), "html")
    tampered = tmp_path / "tampered.html"
    tampered.write_text(
        html.replace("<main", "<script>window.__pwned=1</script><main", 1), encoding="utf-8"
    )
    page.events.clear()
    page.call("Page.navigate", url=tampered.as_uri())
    page.wait_for("Page.loadEventFired")
    assert page.js("typeof window.__pwned") == "undefined"
    assert page.js("document.querySelectorAll('#links tr.row').length") == 20
