"""Fixtures for the operations tests: empty databases of each kind, made and dropped per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from civictwin.app import create_app
from civictwin.store import Store
from tests.servers import free_port, loopback_settings
from tests.servers import serve_app as serve_any
from tests.services import drop_postgres_database, fresh_postgres_database, require_postgres_url

NewDatabase = Callable[[], str]


@pytest.fixture(params=["sqlite", "postgresql"])
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NewDatabase]:
    """Make empty databases of one kind on demand (dropped after the test); return their URLs."""
    made: list[str] = []
    base = require_postgres_url() if request.param == "postgresql" else None
    if request.param == "postgresql" and base is None:
        pytest.skip("PostgreSQL not started (run the suite through scripts/test)")

    def make() -> str:
        if base is None:
            url = f"sqlite:///{tmp_path / f'twin{len(made)}.db'}"
        else:
            url = fresh_postgres_database(base)
        made.append(url)
        return url

    yield make
    for url in made:
        if url.startswith("postgresql"):
            drop_postgres_database(url)


@contextmanager
def serve_app(store: Store, **settings: Any) -> Iterator[str]:
    """Serve the twin over `store` with these settings on a free loopback port; yield its URL."""
    port = free_port()
    app = create_app(loopback_settings(port=port, **settings), store=store)
    with serve_any(app, port=port, access_log=False) as url:
        yield url
