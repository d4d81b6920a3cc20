"""Temporal aggregation latency: a year of one meter's quarter-hour readings summed by day.

load      the reference year of `generate_city(buildings=10)`'s first meter (35,136 quarter-hour
          instances; 2024 is a leap year) with civictwin.ngsild.temporal.load_meter_history.
domain    TemporalBroker.retrieve(...) with aggrMethods=sum,avg, aggrPeriodDuration=P1D,
          timerel=between the year's bounds: SQL GROUP BY plus rendering.
http      GET /ngsi-ld/v1/temporal/entities/{id}?... through the in-process HTTP client.
baseline  the plain SQL a hand-written client would run on the same table in the same run:
          SELECT day, sum(num), avg(num) ... GROUP BY substr(observed_at, 1, 10).

Target: the HTTP request below 100 ms (median) on SQLite; p99 is printed beside it.
Run:  .venv/bin/python bench/temporal.py [--repeat N] [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi.testclient import TestClient
from rich.table import Table
from sqlalchemy import text

from bench.workload import console, fresh_database, postgres_base_url, quiet_heap, verdict
from civictwin.app import create_app
from civictwin.config import Settings
from civictwin.dataspace.participants import demo_operator_key
from civictwin.ngsild.jsonld import CIVICTWIN_CONTEXT_URL
from civictwin.ngsild.temporal import load_meter_history, temporal_query
from civictwin.samplecity import generate_city
from civictwin.store.factory import open_store

TARGET_MS = 100.0
TENANT = ""
BASELINE = text(
    "SELECT substr(observed_at, 1, 10) AS day, sum(num), avg(num), count(*) "
    "FROM attribute_instances WHERE tenant = :tenant AND entity_id = :entity AND attr = :attr "
    "AND observed_at >= :start AND observed_at < :end GROUP BY substr(observed_at, 1, 10) "
    "ORDER BY day")


def timings(fn: Callable[[], Any], repeat: int) -> list[float]:
    """Return `repeat` wall-clock durations of `fn` in milliseconds, after two warm-up runs."""
    fn()
    fn()
    out = []
    with quiet_heap():
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            out.append((time.perf_counter() - start) * 1000)
    return out


def percentile(values: list[float], q: float) -> float:
    """Return the q-quantile (0..1) of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(dialect: str, repeat: int, pg_url: str | None) -> dict[str, Any]:
    """Load one meter's year into a fresh database and time the three ways to aggregate it."""
    city = generate_city(buildings=10)
    meter = city.meters[0]["id"]
    year = city.reference_year
    with fresh_database(dialect, pg_url) as db:
        store = open_store(db.url)
        try:
            app = create_app(Settings(database_url=db.url), store=store)
            auth = {"Authorization": f"Bearer {demo_operator_key(store)}"}
            broker, temporal = app.state.broker, app.state.temporal
            ctx = broker.context(CIVICTWIN_CONTEXT_URL)
            broker.batch_upsert(TENANT, [city.meters[0]], ctx)
            started = time.perf_counter()
            rows = load_meter_history(broker, city, ctx, tenant=TENANT, meters=1)
            load_s = time.perf_counter() - started
            params = {"aggrMethods": "sum,avg", "aggrPeriodDuration": "P1D",
                      "timerel": "between", "timeAt": f"{year}-01-01T00:00:00Z",
                      "endTimeAt": f"{year + 1}-01-01T00:00:00Z"}
            link = f'<{CIVICTWIN_CONTEXT_URL}>; rel="http://www.w3.org/ns/json-ld#context"'
            query = temporal_query(params, ctx)
            result = temporal.retrieve(TENANT, meter, query, ctx)
            days = len(result["electricityConsumption"]["sum"])
            sql_args = {"tenant": TENANT, "entity": meter,
                        "attr": ctx.expand("electricityConsumption"),
                        "start": f"{year}-01-01", "end": f"{year + 1}-01-01"}

            def baseline() -> None:
                with store.engine.connect() as conn:  # type: ignore[attr-defined]
                    conn.execute(BASELINE, sql_args).fetchall()

            with TestClient(app) as client:
                def http() -> None:
                    response = client.get(f"/ngsi-ld/v1/temporal/entities/{meter}",
                                          params=params, headers={"Link": link, **auth})
                    assert response.status_code == 200, response.text

                measured = {
                    "baseline": timings(baseline, repeat),
                    "domain": timings(lambda: temporal.retrieve(TENANT, meter, query, ctx),
                                      repeat),
                    "http": timings(http, repeat),
                }
        finally:
            store.close()
    return {"rows": rows, "days": days, "load_s": load_s, "ms": measured}


def report(results: dict[str, dict[str, Any]]) -> None:
    """Print the table and one verdict line per store."""
    table = Table(title="GET temporal/entities/{id}: a year of 15-minute readings, sum+avg by day")
    for column in ("store", "path", "p50 ms", "p99 ms", "x baseline (p50)"):
        table.add_column(column, justify="right" if column != "path" else "left")
    for dialect, r in results.items():
        base = statistics.median(r["ms"]["baseline"])
        for path, values in r["ms"].items():
            p50 = statistics.median(values)
            table.add_row(dialect, path, f"{p50:.1f}", f"{percentile(values, 0.99):.1f}",
                          f"{p50 / base:.2f}")
    console.print(table)
    for dialect, r in results.items():
        console.print(f"{dialect}: {r['rows']} instances loaded in {r['load_s']:.2f} s, "
                      f"{r['days']} daily periods")
        p50 = statistics.median(r["ms"]["http"])
        p99 = percentile(r["ms"]["http"], 0.99)
        if dialect == "sqlite":
            verdict("temporal aggregation on SQLite", p50 < TARGET_MS,
                    f"HTTP p50 {p50:.1f} ms, p99 {p99:.1f} ms (target: p50 < {TARGET_MS:.0f} ms)")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark on SQLite and, when a server is known, PostgreSQL."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--database-url", help="a PostgreSQL server to create databases on "
                        "(default: $CIVICTWIN_TEST_DATABASE_URL)")
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    args = parser.parse_args(argv)
    pg_url = postgres_base_url(args.database_url)
    dialects = [d for d in ("sqlite", "postgresql") if args.only in (None, d)]
    results = {}
    for dialect in dialects:
        if dialect == "postgresql" and pg_url is None:
            console.print("PostgreSQL: skipped (no --database-url or $CIVICTWIN_TEST_DATABASE_URL)")
            continue
        results[dialect] = measure(dialect, args.repeat, pg_url)
    report(results)
    sqlite = results.get("sqlite")
    return 0 if sqlite is None or statistics.median(sqlite["ms"]["http"]) < TARGET_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
