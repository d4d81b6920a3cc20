"""What withholding data of withdrawn consents costs a query, against the same query without.

data      `buildings(N)` loaded into two tenants of one database, identically.
ours      tenant "withheld": consents covering every tenth building, then withdrawn, so the
          store adds its NOT EXISTS on consent_exclusions to every query.
baseline  tenant "open": the same entities, nothing withheld (the store's one LIMIT 1 probe
          finds nothing and the query runs as before).
query     type=Building, q=floorsAboveGround>=3, count=true, limit=100, through broker.query,
          and a retrieval of a random entity; the two tenants take turns, query by query. "check"
          times store.consent.withheld_filter alone: what every query pays to find out.

Target: ours/baseline p50 <= 1.5 for the query on SQLite. Counts are checked (N - N/10).
Run:  .venv/bin/python bench/consent.py [--entities N] [--repeat R] [--database-url URL]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.table import Table

from bench.workload import (
    buildings,
    chunks,
    console,
    fresh_database,
    postgres_base_url,
    quiet_heap,
    verdict,
)
from civictwin.config import Settings
from civictwin.dataspace.consent import ConsentRegistry, ConsentTerms
from civictwin.ngsild.broker import ContextBroker
from civictwin.ngsild.params import entity_query
from civictwin.store.consent import withheld_filter
from civictwin.store.factory import open_store
from civictwin.store.schema import entities as entity_table

TARGET_RATIO = 1.5
TENANTS = ("open", "withheld")
CONTROLLER = {"id": "urn:bench:controller", "name": "Bench", "contact": "c", "email": "e",
              "address": "a", "phone": "p"}


def _terms(ids: list[str]) -> ConsentTerms:
    return ConsentTerms(subject="bench", controller=CONTROLLER, purposes=("bench",),
                        data_categories=("bench",), notice_url="https://bench.example",
                        notice_version="1", jurisdiction="BE", collection_method="bench",
                        entities=tuple(ids))


def measure(dialect: str, entities: int, repeat: int, pg_url: str | None) -> dict[str, Any]:
    """Load both tenants, withhold a tenth of one, then time queries taking turns."""
    with fresh_database(dialect, pg_url) as database:
        store = open_store(database.url)
        broker = ContextBroker(store, Settings(database_url=database.url))
        ctx = broker.context(None)
        bodies = buildings(entities)
        for tenant in TENANTS:
            for chunk in chunks(bodies, 1000):
                broker.batch_upsert(tenant, chunk, ctx)
        ids = [b["id"] for b in bodies]
        withheld = ids[::10]
        registry = ConsentRegistry(store)
        for chunk in chunks(withheld, 500):
            record = registry.give("withheld", "bench", _terms(chunk))
            registry.withdraw("withheld", "bench", record.id)
        query = entity_query({"type": "Building", "q": "floorsAboveGround>=3",
                              "count": "true", "limit": "100"}, ctx, 20)
        counts = {t: broker.query(t, query).count for t in TENANTS}
        everything = entity_query({"type": "Building", "count": "true", "limit": "1"}, ctx, 20)
        totals = {t: broker.query(t, everything).count for t in TENANTS}
        rng = random.Random(5)
        ms: dict[str, dict[str, list[float]]] = {
            t: {"query": [], "retrieve": [], "check": []} for t in TENANTS}
        with quiet_heap():
            for n in range(repeat + 3):
                entity_id = rng.choice(ids)
                for tenant in TENANTS if n % 2 else reversed(TENANTS):
                    start = time.perf_counter()
                    broker.query(tenant, query)
                    mid = time.perf_counter()
                    store.get_entity(tenant, entity_id)
                    end = time.perf_counter()
                    with store.engine.connect() as conn:  # type: ignore[attr-defined]
                        probe = time.perf_counter()
                        withheld_filter(conn, tenant, entity_table.c.id)
                        probed = time.perf_counter()
                    if n >= 3:  # warm-up
                        ms[tenant]["query"].append((mid - start) * 1000)
                        ms[tenant]["retrieve"].append((end - mid) * 1000)
                        ms[tenant]["check"].append((probed - probe) * 1000)
        store.close()
    return {"ms": ms, "counts": counts, "totals": totals, "withheld": len(withheld)}


def report(dialect: str, entities: int, result: dict[str, Any]) -> bool:
    """Print the table and the verdict; return whether the target and the counts hold."""
    table = Table(title=f"{dialect}: {entities} buildings, {result['withheld']} withheld")
    for column in ("operation", "baseline p50 ms", "ours p50 ms", "ours/baseline"):
        table.add_column(column)
    ratios = {}
    for operation in ("query", "retrieve", "check"):
        base = statistics.median(result["ms"]["open"][operation])
        ours = statistics.median(result["ms"]["withheld"][operation])
        ratios[operation] = ours / base
        table.add_row(operation, f"{base:.2f}", f"{ours:.2f}", f"{ours / base:.2f}")
    console.print(table)
    check = statistics.median(result["ms"]["open"]["check"])
    query = statistics.median(result["ms"]["open"]["query"])
    console.print(f"the check itself (a tenant with nothing withheld): {check:.3f} ms, "
                  f"{check / query:.2%} of that tenant's query")
    totals = result["totals"]
    counted = totals["withheld"] == totals["open"] - result["withheld"]
    console.print(f"matching entities: open {result['counts']['open']}, "
                  f"withheld {result['counts']['withheld']}; all: {totals}")
    ok = ratios["query"] <= TARGET_RATIO and counted
    if dialect == "sqlite":
        verdict("consent exclusion on SQLite", ok,
                f"query p50 ratio {ratios['query']:.2f} (target <= {TARGET_RATIO}), "
                f"counts {'exact' if counted else 'WRONG'}")
    return ok or dialect != "sqlite"


def main(argv: list[str] | None = None) -> int:
    """Run on SQLite and, when a server is known, PostgreSQL."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--database-url", help="a PostgreSQL server to create databases on "
                        "(default: $CIVICTWIN_TEST_DATABASE_URL)")
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    args = parser.parse_args(argv)
    pg_url = postgres_base_url(args.database_url)
    ok = True
    for dialect in ("sqlite", "postgresql"):
        if args.only not in (None, dialect):
            continue
        if dialect == "postgresql" and pg_url is None:
            console.print("PostgreSQL: skipped (no --database-url or "
                          "$CIVICTWIN_TEST_DATABASE_URL)")
            continue
        result = measure(dialect, args.entities, args.repeat, pg_url)
        ok = report(dialect, args.entities, result) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
