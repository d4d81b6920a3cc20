"""Concurrent readers and writers against a real `civictwin serve` on loopback.

ours      R readers (GET /ngsi-ld/v1/entities?type=Sensor&q=noise>N&limit=20, and GET of one
          entity by id) and W writers (POST /entityOperations/upsert of 10 Sensors) at once,
          each a task of one httpx.AsyncClient keeping its connection.
baseline  the same number of clients, all asking GET /health (no I/O): what the HTTP stack,
          the middleware and the client cost on this machine right now.
After an uncounted warm-up the two take turns in rounds of --round seconds, so load from
elsewhere hits both alike; the run stops after --rounds rounds. Reported: requests/s, p50
and p99 latency of each side, and ours/baseline ratios. Every response must be a 2xx: any
other status is an error and fails the run.

Run:  .venv/bin/python bench/load.py [--readers 8] [--writers 2] [--rounds 4] [--round 2]
                                     [--database-url postgresql://...] [--only sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from rich.table import Table

from bench.workload import console, fresh_database, postgres_base_url, verdict
from civictwin.store import open_store

TENANT = "load"
SEED_ENTITIES = 200
Call = Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]


@dataclass
class Side:
    """Latencies and errors of one side (ours or the baseline) over all its rounds."""

    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict[str, float]:
        """Return requests/s, p50 and p99 in milliseconds."""
        ordered = sorted(self.latencies) or [0.0]
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return {"requests": len(self.latencies), "rps": len(self.latencies) / self.seconds,
                "p50_ms": statistics.median(ordered) * 1000, "p99_ms": p99 * 1000}


def _sensor(n: int) -> dict[str, Any]:
    return {"id": f"urn:ngsi-ld:Sensor:{n}", "type": "Sensor",
            "noise": {"type": "Property", "value": 40 + n % 50, "unitCode": "2N"},
            "location": {"type": "GeoProperty", "value": {
                "type": "Point", "coordinates": [4.3 + (n % 100) / 1000, 50.8 + n / 100000]}}}


async def _read(http: httpx.AsyncClient, n: int) -> httpx.Response:
    if n % 2:
        return await http.get(f"/ngsi-ld/v1/entities/urn:ngsi-ld:Sensor:{n % SEED_ENTITIES}")
    return await http.get("/ngsi-ld/v1/entities",
                          params={"type": "Sensor", "q": f"noise>{40 + n % 40}", "limit": "20"})


async def _write(http: httpx.AsyncClient, n: int) -> httpx.Response:
    batch = [_sensor(SEED_ENTITIES + (n * 10 + i) % 5000) for i in range(10)]
    return await http.post("/ngsi-ld/v1/entityOperations/upsert", json=batch)


async def _health(http: httpx.AsyncClient, _n: int) -> httpx.Response:
    return await http.get("/health")


async def _client(base: str, call: Call, until: float, side: Side, offset: int) -> None:
    async with httpx.AsyncClient(base_url=base, headers={"NGSILD-Tenant": TENANT},
                                 timeout=30) as http:
        n = offset
        while time.monotonic() < until:
            started = time.perf_counter()
            response = await call(http, n)
            side.latencies.append(time.perf_counter() - started)
            if not 200 <= response.status_code < 300:
                side.errors.append(f"{response.request.method} {response.request.url.path}: "
                                   f"{response.status_code} {response.text[:200]}")
            n += 1


async def _round(base: str, calls: list[Call], seconds: float, side: Side) -> None:
    started = time.monotonic()
    until = started + seconds
    await asyncio.gather(*[_client(base, call, until, side, i * 1000)
                           for i, call in enumerate(calls)])
    side.seconds += time.monotonic() - started


@contextmanager
def serve(url: str, port: int) -> Iterator[str]:
    """Run `civictwin serve` on `url` in a subprocess; yield its base URL once ready."""
    store = open_store(url)  # migrated before the server opens it
    store.close()
    command = [sys.executable, "-c", "from civictwin.cli import main; main()", "serve",
               "--database-url", url, "--port", str(port)]
    env = {**os.environ, "CIVICTWIN_MAX_CONCURRENT_REQUESTS": "256",
           "CIVICTWIN_AUTH_REQUIRED": "false"}  # measured without credentials
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,  # noqa: S603
                            env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("civictwin serve did not become ready")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(20)


def run(url: str, readers: int = 8, writers: int = 2, rounds: int = 4,
        round_seconds: float = 2.0) -> dict[str, Any]:
    """Measure ours and the baseline on a fresh database at `url`; return both summaries."""
    with serve(url, _free_port()) as base:
        seed = httpx.post(f"{base}/ngsi-ld/v1/entityOperations/upsert", timeout=60,
                          json=[_sensor(n) for n in range(SEED_ENTITIES)],
                          headers={"NGSILD-Tenant": TENANT})
        seed.raise_for_status()
        ours, baseline = Side(), Side()
        mixed: list[Call] = [_read] * readers + [_write] * writers
        warmup = Side()  # connections, caches and the first query plans; not counted
        asyncio.run(_round(base, [_health] * len(mixed), 0.5, warmup))
        asyncio.run(_round(base, mixed, 0.5, warmup))
        for _ in range(rounds):
            asyncio.run(_round(base, [_health] * len(mixed), round_seconds, baseline))
            asyncio.run(_round(base, mixed, round_seconds, ours))
    result = {"ours": ours.summary(), "baseline": baseline.summary(),
              "errors": warmup.errors + ours.errors + baseline.errors}
    result["rps_ratio"] = result["ours"]["rps"] / result["baseline"]["rps"]
    result["p99_ratio"] = result["ours"]["p99_ms"] / max(result["baseline"]["p99_ms"], 1e-9)
    return result


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _report(dialect: str, result: dict[str, Any]) -> bool:
    table = Table(title=f"load on {dialect}")
    for column in ("side", "requests", "req/s", "p50 ms", "p99 ms"):
        table.add_column(column, justify="right")
    for side in ("ours", "baseline"):
        s = result[side]
        table.add_row(side, f"{s['requests']:.0f}", f"{s['rps']:.0f}", f"{s['p50_ms']:.1f}",
                      f"{s['p99_ms']:.1f}")
    console.print(table)
    ok = not result["errors"]
    verdict(f"{dialect} no errors under load", ok,
            f"{len(result['errors'])} errors; ours/baseline req/s {result['rps_ratio']:.2f}, "
            f"p99 {result['p99_ratio']:.1f}x")
    for error in result["errors"][:5]:
        console.print(f"  {error}")
    return ok


def main() -> None:
    """Run the load benchmark on SQLite and, when configured, PostgreSQL."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=8)
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--round", type=float, default=2.0, dest="round_seconds")
    parser.add_argument("--database-url")
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    pg = postgres_base_url(args.database_url)
    dialects = [d for d in ("sqlite", "postgresql") if args.only in (None, d)]
    ok = True
    for dialect in dialects:
        if dialect == "postgresql" and pg is None:
            console.print("postgresql: skipped (no --database-url)")
            continue
        with fresh_database(dialect, pg) as db:
            ok &= _report(dialect, run(db.url, args.readers, args.writers, args.rounds,
                                       args.round_seconds))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
