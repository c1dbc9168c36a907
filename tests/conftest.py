"""Shared fixtures: the anyio backend and the loopback test web (tests/web.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from web import TestWeb


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestWeb]:
    """One real HTTP server on loopback playing many hostile sites, for the whole session."""
    certs: Path = tmp_path_factory.mktemp("certs")
    server = TestWeb(cert_dir=certs)
    server.start()
    try:
        yield server
    finally:
        server.stop()
