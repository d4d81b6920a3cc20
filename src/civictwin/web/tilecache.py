"""Encoded tiles kept in memory until their tenant's data changes.

The change feed clears a tenant's tiles when a change to its map entities commits in this
process; writers in other processes (a CLI ingest on the same database) are caught by the
entry's age limit, `MAX_AGE_SECONDS`. The cache is bounded in bytes, least recently used first.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

MAX_BYTES = 64 * 1024 * 1024
MAX_AGE_SECONDS = 30.0

TileKey = tuple[str, str, int, int, int]
"""(tenant, layer, z, x, y)"""


class TileCache:
    """A bounded, thread-safe LRU of encoded tiles with their ETags."""

    def __init__(self, max_bytes: int = MAX_BYTES, max_age: float = MAX_AGE_SECONDS) -> None:
        self.max_bytes = max_bytes
        self.max_age = max_age
        self._tiles: OrderedDict[TileKey, tuple[float, bytes, str]] = OrderedDict()
        self._bytes = 0
        self._generations: dict[str, int] = {}
        self._lock = threading.Lock()

    def generation(self, tenant: str) -> int:
        """Return a number that grows each time the tenant's tiles are cleared."""
        with self._lock:
            return self._generations.get(tenant, 0)

    def get(self, key: TileKey) -> tuple[bytes, str] | None:
        """Return a fresh cached tile and its ETag, or None."""
        with self._lock:
            found = self._tiles.get(key)
            if found is None:
                return None
            if time.monotonic() - found[0] > self.max_age:
                self._drop(key)
                return None
            self._tiles.move_to_end(key)
            return found[1], found[2]

    def put(self, key: TileKey, data: bytes, etag: str, generation: int) -> None:
        """Keep a tile rendered at `generation` (dropped if the tenant changed since)."""
        with self._lock:
            if self._generations.get(key[0], 0) != generation:
                return
            if key in self._tiles:
                self._drop(key)
            self._tiles[key] = (time.monotonic(), data, etag)
            self._bytes += len(data)
            while self._bytes > self.max_bytes and self._tiles:
                self._drop(next(iter(self._tiles)))

    def clear_tenant(self, tenant: str) -> None:
        """Forget every tile of a tenant."""
        with self._lock:
            self._generations[tenant] = self._generations.get(tenant, 0) + 1
            for key in [k for k in self._tiles if k[0] == tenant]:
                self._drop(key)

    def _drop(self, key: TileKey) -> None:
        self._bytes -= len(self._tiles.pop(key)[1])
