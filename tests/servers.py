"""Real servers on loopback for tests: free ports and the twin served by uvicorn in a thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from civictwin.app import create_app
from civictwin.config import Settings
from civictwin.store import Store

LOOPBACK = ("127.0.0.1", "::1", "localhost")
"""Tests call receivers on loopback, which the twin refuses unless allow-listed."""


def loopback_settings(**values: Any) -> Settings:
    """Return Settings for a test twin whose notifications may go to loopback receivers.

    Authentication is off unless `auth_required=True` is given (every request acts as the
    operator), so NGSI-LD tests need no credentials; the `client` fixture and the data space
    tests turn it on.
    """
    values.setdefault("database_url", "sqlite://")
    values.setdefault("auth_required", False)
    return Settings(notification_allowlist=LOOPBACK, **values)


def free_port() -> int:
    """Return a TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextmanager
def serve_twin(store: Store, port: int | None = None, wrap: Callable[[Any], Any] | None = None,
               **values: Any) -> Iterator[str]:
    """Serve the twin over `store` on a free loopback port; yield its base URL.

    Unless `auth_required=True` is given the server runs with authentication off (see
    `loopback_settings`). `wrap` wraps the ASGI app (e.g. to record the messages it receives).
    """
    port = port or free_port()
    app: Any = create_app(loopback_settings(port=port, **values), store=store)
    if wrap is not None:
        app = wrap(app)
    with serve_app(app, port) as url:
        yield url


@contextmanager
def serve_app(app: Any, port: int | None = None, access_log: bool = True) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on a loopback port (lifespan included); yield its URL."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", access_log=access_log))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
