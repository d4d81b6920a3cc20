"""Fixtures for the NGSI-LD tests: a loopback notification receiver."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ngsild.test_subscriptions import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A loopback HTTP server recording the notifications POSTed to it."""
    server = Receiver()
    yield server
    server.close()
