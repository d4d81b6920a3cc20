"""Batch upsert throughput: ContextBroker.batch_upsert against a raw bulk insert of the same rows.

ours      broker.batch_upsert(tenant, chunk, ctx) in chunks of 1000 into a fresh store.
baseline  the rows our store writes for the same entities (entities, entity_types,
          attribute_values, geometries, plus the R-tree on SQLite or the PostGIS `geom` column
          on PostgreSQL), computed before the clock starts with civictwin.store.index.index_rows
          and json.dumps, then inserted with the raw driver into a fresh database of the same
          schema, one transaction per chunk: sqlite3 `executemany` on SQLite, psycopg `COPY ...
          FROM STDIN` on PostgreSQL (with `geom` as hex EWKB made by shapely before the clock).
          COPY was measured faster than psycopg's pipelined executemany (~6,900 vs ~5,000
          entities/s), so it is the stronger baseline.
The two sides take turns chunk by chunk, so load from elsewhere on the machine hits both alike,
and afterwards both databases are checked to hold the same rows (counts and column sums).

Run:  .venv/bin/python bench/ingest.py [--entities N] [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import shapely
from rich.table import Table

from bench.workload import (
    TENANT,
    Database,
    buildings,
    chunks,
    console,
    fresh_database,
    postgres_base_url,
    quiet_heap,
    sqlite_connect,
    verdict,
)
from civictwin.config import Settings
from civictwin.ngsild.attributes import now_iso
from civictwin.ngsild.broker import ContextBroker
from civictwin.ngsild.entities import build_entity
from civictwin.store.base import Entity
from civictwin.store.factory import open_store
from civictwin.store.index import index_rows

CHUNK = 1000
TARGET_RATIO = 0.5
TABLES = ("entities", "entity_types", "attribute_values", "geometries")
BASELINE_METHOD = {
    "sqlite": "sqlite3 executemany, explicit pks, 1 txn/chunk, store's pragmas",
    "postgresql": "psycopg COPY FROM STDIN, explicit pks, geom as hex EWKB, 1 txn/chunk",
}


@dataclass
class ChunkRows:
    """The rows one chunk of entities puts into each table, ready for a raw driver."""

    entities: list[tuple[Any, ...]] = field(default_factory=list)
    types: list[tuple[Any, ...]] = field(default_factory=list)
    values: list[tuple[Any, ...]] = field(default_factory=list)
    geometries: list[tuple[Any, ...]] = field(default_factory=list)
    rtree: list[tuple[Any, ...]] = field(default_factory=list)


def expanded_entities(bodies: list[dict[str, Any]], db: Database) -> list[Entity]:
    """Expand the bodies with the core @context, as the broker does (not timed)."""
    store = open_store(db.url)
    try:
        ctx = ContextBroker(store, Settings(database_url=db.url)).context(None)
    finally:
        store.close()
    now = now_iso()
    return [build_entity(body, ctx, now) for body in bodies]


def precompute_rows(entities: list[Entity], dialect: str) -> list[ChunkRows]:
    """Return, per chunk, the rows the store writes for these entities (pks assigned here)."""
    out: list[ChunkRows] = []
    pk = gk = 0
    for batch in chunks(entities, CHUNK):
        rows = ChunkRows()
        for entity in batch:
            pk += 1
            doc = json.dumps(entity.document(), separators=(",", ":"))
            rows.entities.append((pk, TENANT, entity.id, doc, entity.created_at,
                                  entity.modified_at))
            index = index_rows(entity, TENANT, pk)
            rows.types += index.types
            rows.values += index.values
            for g in index.geometries:
                gk += 1
                row: tuple[Any, ...] = (gk, *g)
                if dialect == "postgresql":
                    geom = shapely.set_srid(shapely.from_geojson(row[5]), 4326)
                    row = (*row, shapely.to_wkb(geom, hex=True, include_srid=True))
                rows.geometries.append(row)
                # (gk, entity_pk, tenant, name, dataset_id, geojson, minx, miny, maxx, maxy)
                rows.rtree.append((gk, row[6], row[8], row[7], row[9]))
        out.append(rows)
    return out


class RawSqlite:
    """The baseline on SQLite: sqlite3 executemany, one transaction per chunk."""

    def __init__(self, db: Database) -> None:
        self.conn = sqlite_connect(db.raw)

    def write(self, rows: ChunkRows) -> None:
        """Insert one chunk's rows."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO entities (pk, tenant, id, doc, created_at, modified_at) "
                         "VALUES (?, ?, ?, ?, ?, ?)", rows.entities)
        conn.executemany("INSERT INTO entity_types (entity_pk, type, tenant) VALUES (?, ?, ?)",
                         rows.types)
        conn.executemany("INSERT INTO attribute_values (entity_pk, tenant, name, sub, "
                         "dataset_id, kind, num, text, flag, json) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows.values)
        conn.executemany("INSERT INTO geometries (gk, entity_pk, tenant, name, dataset_id, "
                         "geojson, minx, miny, maxx, maxy) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows.geometries)
        conn.executemany("INSERT INTO geometries_rtree (gk, minx, maxx, miny, maxy) "
                         "VALUES (?, ?, ?, ?, ?)", rows.rtree)
        conn.execute("COMMIT")

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


class RawPostgres:
    """The baseline on PostgreSQL: psycopg COPY FROM STDIN, one transaction per chunk."""

    COPIES = (
        ("COPY entities (pk, tenant, id, doc, created_at, modified_at) FROM STDIN", "entities"),
        ("COPY entity_types (entity_pk, type, tenant) FROM STDIN", "types"),
        ("COPY attribute_values (entity_pk, tenant, name, sub, dataset_id, kind, num, text, "
         "flag, json) FROM STDIN", "values"),
        ("COPY geometries (gk, entity_pk, tenant, name, dataset_id, geojson, minx, miny, maxx, "
         "maxy, geom) FROM STDIN", "geometries"),
    )

    def __init__(self, db: Database) -> None:
        import psycopg

        self.conn = psycopg.connect(db.raw)

    def write(self, rows: ChunkRows) -> None:
        """Copy one chunk's rows in."""
        with self.conn.transaction(), self.conn.cursor() as cur:
            for statement, attr in self.COPIES:
                with cur.copy(statement) as copy:
                    for row in getattr(rows, attr):
                        copy.write_row(row)

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


class Ours:
    """Our side: ContextBroker.batch_upsert on a store of our own."""

    def __init__(self, db: Database, validate_models: bool = True) -> None:
        self.store = open_store(db.url)
        self.broker = ContextBroker(self.store, Settings(database_url=db.url,
                                                         validate_models=validate_models))
        self.ctx = self.broker.context(None)

    def write(self, chunk: list[dict[str, Any]]) -> None:
        """Upsert one chunk of entity bodies."""
        result = self.broker.batch_upsert(TENANT, chunk, self.ctx)
        if result.errors:
            raise RuntimeError(f"batch_upsert failed: {result.errors[:3]}")

    def close(self) -> None:
        """Release the store."""
        self.store.close()


def fingerprint(db: Database) -> dict[str, Any]:
    """Return row counts and column checks of the tables, to show both sides wrote the same."""
    checks = {f"rows in {t}": f"SELECT count(*) FROM {t}" for t in TABLES}
    checks["attribute_values num/text/flag/json set"] = (
        "SELECT count(num), count(text), count(flag), count(json) FROM attribute_values")
    checks["sum of num"] = "SELECT round(sum(num)) FROM attribute_values"
    checks["length of docs"] = "SELECT sum(length(doc)) FROM entities"
    if db.dialect == "sqlite":
        checks["rows in geometries_rtree"] = "SELECT count(*) FROM geometries_rtree"
        conn = sqlite_connect(db.raw)
        try:
            return {k: tuple(conn.execute(q).fetchone()) for k, q in checks.items()}
        finally:
            conn.close()
    import psycopg

    checks["geometries with geom"] = "SELECT count(geom) FROM geometries"
    with psycopg.connect(db.raw) as pg:
        return {k: tuple(pg.execute(q).fetchone() or ()) for k, q in checks.items()}


def measure(dialect: str, bodies: list[dict[str, Any]], pg_url: str | None,
            validate_models: bool = True) -> tuple[float, float, int]:
    """Return the seconds ours and the baseline spent writing, chunk by chunk in turn.

    Taking turns per chunk spreads whatever else the machine does over both sides evenly.
    """
    with fresh_database(dialect, pg_url) as ours_db, fresh_database(dialect, pg_url) as raw_db:
        open_store(raw_db.url).close()  # the same schema, by the same migrations
        prepared = precompute_rows(expanded_entities(bodies, raw_db), dialect)
        ours = Ours(ours_db, validate_models)
        raw = RawSqlite(raw_db) if dialect == "sqlite" else RawPostgres(raw_db)
        ours_s = raw_s = 0.0
        try:
            with quiet_heap():
                for chunk, rows in zip(chunks(bodies, CHUNK), prepared, strict=True):
                    start = time.perf_counter()
                    ours.write(chunk)
                    middle = time.perf_counter()
                    raw.write(rows)
                    ours_s, raw_s = ours_s + middle - start, raw_s + time.perf_counter() - middle
        finally:
            ours.close()
            raw.close()
        ours_rows, raw_rows = fingerprint(ours_db), fingerprint(raw_db)
    if ours_rows != raw_rows:
        raise RuntimeError(f"{dialect}: the baseline wrote other rows than ours: "
                           f"{raw_rows} != {ours_rows}")
    rows = sum(v[0] for k, v in ours_rows.items() if k.startswith("rows in"))
    return ours_s, raw_s, rows


def profile_ours(dialect: str, bodies: list[dict[str, Any]], pg_url: str | None,
                 path: str) -> None:
    """Run our side once more under cProfile and write the stats to `path`."""
    profiler = cProfile.Profile()
    with fresh_database(dialect, pg_url) as db:
        ours = Ours(db)
        try:
            with quiet_heap():
                profiler.enable()
                for chunk in chunks(bodies, CHUNK):
                    ours.write(chunk)
                profiler.disable()
        finally:
            ours.close()
    profiler.dump_stats(path)


def run(entities: int = 20_000, database_url: str | None = None, seed: int = 7,
        dialects: Sequence[str] | None = None, profile: str | None = None,
        validate_models: bool = True) -> dict[str, Any]:
    """Measure ours and the baseline on each store; return entities/s and ratios per dialect."""
    bodies = buildings(entities, seed)
    pg_url = postgres_base_url(database_url)
    if dialects is None:
        dialects = ["sqlite"] + (["postgresql"] if pg_url else [])
    results: dict[str, Any] = {}
    for dialect in dialects:
        ours_s, raw_s, rows = measure(dialect, bodies, pg_url, validate_models)
        if profile:  # a separate pass: the profiler would slow the measured one
            profile_ours(dialect, bodies, pg_url, f"{profile}.{dialect}.pstats")
        results[dialect] = {
            "entities": entities,
            "rows": rows,
            "ours_per_s": entities / ours_s,
            "baseline_per_s": entities / raw_s,
            "ratio": raw_s / ours_s,
            "baseline_method": BASELINE_METHOD[dialect],
            "validate_models": validate_models,
        }
    return results


def report(results: dict[str, Any]) -> None:
    """Print the table and one verdict line per store."""
    table = Table(title=f"Batch upsert throughput ({CHUNK} entities per call)")
    for column in ("store", "entities", "rows written", "ours ent/s", "baseline ent/s",
                   "ours / baseline"):
        table.add_column(column, justify="left" if column == "store" else "right")
    for dialect, r in results.items():
        table.add_row(dialect, f"{r['entities']:,}", f"{r['rows']:,}",
                      f"{r['ours_per_s']:,.0f}", f"{r['baseline_per_s']:,.0f}",
                      f"{r['ratio']:.2f}")
    console.print(table)
    for dialect, r in results.items():
        console.print(f"baseline on {dialect}: {r['baseline_method']}")
    for dialect, r in results.items():
        state = "on" if r["validate_models"] else "off"
        console.print(f"ours on {dialect}: Smart Data Models validation {state}")
    for dialect, r in results.items():
        verdict(f"ingest {dialect}", r["ratio"] >= TARGET_RATIO,
                f"ours/baseline = {r['ratio']:.2f} (target >= {TARGET_RATIO})")


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run the benchmark and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=20_000)
    parser.add_argument("--database-url", help="a PostgreSQL server to create databases on "
                        "(default: $CIVICTWIN_TEST_DATABASE_URL; SQLite always runs)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    parser.add_argument("--no-validate-models", action="store_true",
                        help="measure ours with Smart Data Models validation off")
    parser.add_argument("--profile", metavar="PREFIX",
                        help="cProfile our side; write PREFIX.<store>.pstats and print hot spots")
    args = parser.parse_args(argv)
    dialects = [args.only] if args.only else None
    results = run(args.entities, args.database_url, args.seed, dialects, args.profile,
                  not args.no_validate_models)
    report(results)
    if args.profile:
        for dialect in results:
            console.rule(f"cProfile of ours on {dialect} (top 25 by own time)")
            pstats.Stats(f"{args.profile}.{dialect}.pstats").sort_stats("tottime").print_stats(25)
    return 0 if all(r["ratio"] >= TARGET_RATIO for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
