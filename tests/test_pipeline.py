"""Tests for linkwatch.pipeline: what a run keeps per link, without the network.

``check_links`` (the fetch layer) is replaced by a stub that hands the
pipeline prepared observations, so these tests send no packet at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from linkwatch import pipeline
from linkwatch.content import extract_text, fingerprint, fingerprint_bytes
from linkwatch.models import Catalog, Link, Observation, RunSummary, Settings
from linkwatch.store import Store

URL = "https://example.org/guide"
LINK = Link(url=URL, title="Guide")
T0 = datetime(2024, 3, 1, 3, 0, tzinfo=UTC)
HTML = {"content-type": "text/html; charset=utf-8"}


def body(sentence: str) -> bytes:
    return f"<html><body><main><p>Intro words.</p><p>{sentence}</p></main></body></html>".encode()


def obs(sentence: str) -> Observation:
    return Observation(url=URL, final_url=URL, status_code=200, headers=HTML, body=body(sentence))


def run(store: Store, sentence: str, monkeypatch: pytest.MonkeyPatch, at: datetime) -> RunSummary:
    async def fake_check_links(
        links: Iterable[Link], settings: Settings, *, on_result: Callable[..., None], **_: Any
    ) -> None:
        for link in links:
            on_result(link, obs(sentence))

    monkeypatch.setattr(pipeline, "check_links", fake_check_links)
    catalog = Catalog(path="catalog.toml", settings=Settings(), links=(LINK,))
    return asyncio.run(pipeline.run_once(catalog, store, clock=lambda: at))


def test_observe_keeps_the_text_of_a_new_or_changed_page() -> None:
    text = extract_text(body("Old."), "text/html")
    assert pipeline.observe(LINK, obs("Old."), T0).text == text
    changed = pipeline.observe(LINK, obs("Old."), T0, previous_hash="other")
    assert changed.text == text


def test_observe_drops_the_text_of_an_unchanged_page() -> None:
    same = fingerprint(extract_text(body("Old."), "text/html"))
    result = pipeline.observe(LINK, obs("Old."), T0, previous_hash=same)
    assert (result.content_hash, result.text) == (same, None)


def test_unchanged_run_keeps_the_stored_text_for_the_next_diff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store.open(tmp_path / "state.db") as store:
        run(store, "The old sentence.", monkeypatch, T0)
        second = run(store, "The old sentence.", monkeypatch, T0 + timedelta(days=1))
        assert second.results[0].text is None
        third = run(store, "A new sentence.", monkeypatch, T0 + timedelta(days=2))
    result = third.results[0]
    assert result.changed
    assert result.diff == "-The old sentence.\n+A new sentence."


def test_a_long_detail_is_clipped() -> None:
    title = "Page not found | " + "x" * 5000  # the site's name, absurdly long
    page = f"<html><head><title>{title}</title></head><body><p>x</p></body></html>".encode()
    observation = Observation(url=URL, final_url=URL, status_code=200, headers=HTML, body=page)
    result = pipeline.observe(LINK, observation, T0)
    assert result.reason == "soft-404-title"
    assert len(result.detail) == pipeline.MAX_DETAIL
    assert result.detail.endswith("…")


def test_a_new_page_waits_packed_and_is_stored_for_the_next_diff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store.open(tmp_path / "state.db") as store:
        first = run(store, "The first sentence.", monkeypatch, T0)
        assert first.results[0].text is None  # held compressed until recorded
        assert store.texts([URL]) == {URL: extract_text(body("The first sentence."), "text/html")}
        second = run(store, "The second sentence.", monkeypatch, T0 + timedelta(days=1))
    assert second.results[0].diff == "-The first sentence.\n+The second sentence."


def test_witnesses_are_other_hosts_of_the_catalog_canary_first_then_the_busiest() -> None:
    def urls(host: str, n: int) -> list[str]:
        return [f"https://{host}/{i}" for i in range(n)]

    listed = [
        *urls("mine.example", 3),
        *urls("small.example", 1),
        *urls("busy.example", 4),
        *urls("mid.example", 2),
        *urls("other.example", 2),
        "https://canary.example/ping",
    ]
    links = tuple(Link(url=u, title=u) for u in listed)
    catalog = Catalog(path="c.toml", settings=Settings(), links=links, schedules=())
    chosen = [link for link in links if "mine." in link.url]

    picked = [link.url for link in pipeline.witness_links(catalog, chosen)]
    assert picked == ["https://busy.example/0", "https://mid.example/0", "https://other.example/0"]
    canary = "https://canary.example/ping"
    assert [link.url for link in pipeline.witness_links(catalog, chosen, canary)] == [
        canary,
        "https://busy.example/0",
        "https://mid.example/0",
    ]
    assert pipeline.witness_links(catalog, list(links)) == []  # a whole run has none to ask


def shell_obs(nonce: str) -> Observation:
    """A JavaScript app shell: no text until scripts run, a nonce per request."""
    page = (
        f'<!doctype html><html><head><title>Docs</title><script nonce="{nonce}">'
        f'window.__REQ="{nonce}"</script></head><body><div id="root"></div></body></html>'
    )
    return Observation(url=URL, final_url=URL, status_code=200, headers=HTML, body=page.encode())


def test_a_page_without_text_has_the_fingerprint_of_its_empty_text() -> None:
    first = pipeline.observe(LINK, shell_obs("aB3dE5fG7hJ9kL1m"), T0)
    again = pipeline.observe(LINK, shell_obs("Zx9Yw8Vu7Ts6Rq5P"), T0, previous_hash="x")
    assert first.content_hash == again.content_hash == fingerprint("")
    assert first.text == ""  # stored as such, so a later diff shows the text that came


def test_a_binary_body_is_still_hashed_byte_for_byte() -> None:
    pdf = b"%PDF-1.7\n\x00\x01 a pdf"
    observation = Observation(
        url=URL,
        final_url=URL,
        status_code=200,
        headers={"content-type": "application/pdf"},
        body=pdf,
    )
    result = pipeline.observe(LINK, observation, T0)
    assert (result.content_hash, result.text) == (fingerprint_bytes(pdf), None)


def test_a_textless_page_is_not_changed_on_every_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nonces = iter(["aB3dE5fG7hJ9kL1m", "Zx9Yw8Vu7Ts6Rq5P", "Qq1Ww2Ee3Rr4Tt5Y"])

    async def fake_check_links(
        links: Iterable[Link], settings: Settings, *, on_result: Callable[..., None], **_: Any
    ) -> None:
        for link in links:
            on_result(link, shell_obs(next(nonces)))

    monkeypatch.setattr(pipeline, "check_links", fake_check_links)
    catalog = Catalog(path="catalog.toml", settings=Settings(), links=(LINK,))
    with Store.open(tmp_path / "state.db") as store:
        for day in range(3):
            at = T0 + timedelta(days=day)
            summary = asyncio.run(pipeline.run_once(catalog, store, clock=lambda at=at: at))
            assert not summary.results[0].changed
