"""The load benchmark, run small: concurrent readers and writers get no errors, both stores."""

from __future__ import annotations

import pytest

from bench import load
from tests.ops.conftest import NewDatabase


@pytest.mark.slow
def test_concurrent_readers_and_writers_get_no_errors(new_database: NewDatabase) -> None:
    result = load.run(new_database(), readers=4, writers=2, rounds=1, round_seconds=1.5)
    assert result["errors"] == []
    assert result["ours"]["requests"] > 0 and result["baseline"]["requests"] > 0
    assert result["ours"]["p99_ms"] >= result["ours"]["p50_ms"] > 0
