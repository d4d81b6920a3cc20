"""The catalogue's tables in SQL shared by both stores: datasets, refresh times, harvest runs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from civictwin.store.base import Store
from civictwin.store.schema import (
    attribute_instances,
    catalog_datasets,
    catalog_harvests,
    catalog_refreshes,
    entities,
    entity_types,
    geometries,
    temporal_entities,
    temporal_series,
)


@dataclass(frozen=True)
class DatasetRow:
    """One stored dataset: its JSON document and the columns kept beside it."""

    tenant: str
    id: str
    origin: str
    source: str | None
    doc: dict[str, Any]
    stored_at: str


@dataclass(frozen=True)
class SeriesFamily:
    """The history the twin keeps of one attribute of one entity type."""

    type: str
    attr: str
    entities: int
    first: str | None
    last: str | None


@dataclass(frozen=True)
class TypeExtent:
    """Where and when the entities of one type are: bounding box and latest change."""

    type: str
    bbox: tuple[float, float, float, float] | None
    modified: str | None


class CatalogStore:
    """Dataset rows, refresh times and harvest runs over a SQL store's engine."""

    def __init__(self, store: Store) -> None:
        engine = getattr(store, "engine", None)
        if not isinstance(engine, Engine):
            raise TypeError("the catalogue needs a SQL store (SQLite or PostgreSQL)")
        self.engine = engine

    def _write(self) -> Connection:
        # `write` makes SQLite take its write lock at BEGIN (see SqliteStore); others ignore it.
        return self.engine.connect().execution_options(write=True)

    # -- datasets ------------------------------------------------------------------------
    def put(self, rows: list[DatasetRow]) -> None:
        """Insert or replace datasets, all in one transaction."""
        try:
            self._put(rows)
        except IntegrityError:  # a concurrent writer inserted one of them first: now update
            self._put(rows)

    def _put(self, rows: list[DatasetRow]) -> None:
        c = catalog_datasets.c
        with self._write() as conn, conn.begin():
            for row in rows:
                values = {"origin": row.origin, "source": row.source,
                          "doc": json.dumps(row.doc), "stored_at": row.stored_at}
                done = conn.execute(update(catalog_datasets).where(
                    c.tenant == row.tenant, c.id == row.id).values(**values))
                if not done.rowcount:
                    conn.execute(insert(catalog_datasets).values(
                        tenant=row.tenant, id=row.id, **values))

    def get(self, tenant: str, dataset_id: str) -> DatasetRow | None:
        """Return one dataset, or None."""
        c = catalog_datasets.c
        stmt = select(catalog_datasets).where(c.tenant == tenant, c.id == dataset_id)
        with self.engine.connect() as conn:
            found = conn.execute(stmt).first()
        return _row(found) if found is not None else None

    def page(self, tenant: str, limit: int, offset: int) -> tuple[list[DatasetRow], int]:
        """Return a page of a tenant's datasets, ordered by id, and their total number."""
        where = catalog_datasets.c.tenant == tenant
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(catalog_datasets).where(where))
            stmt = (select(catalog_datasets).where(where).order_by(catalog_datasets.c.id)
                    .limit(limit).offset(offset))
            rows = [_row(r) for r in conn.execute(stmt)]
        return rows, int(total.scalar() or 0)

    def by_origin(self, tenant: str, origin: str) -> list[DatasetRow]:
        """Return a tenant's datasets of one origin (twin, published, harvested), by id."""
        c = catalog_datasets.c
        stmt = (select(catalog_datasets).where(c.tenant == tenant, c.origin == origin)
                .order_by(c.id))
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(stmt)]

    def from_source(self, tenant: str, source: str) -> list[DatasetRow]:
        """Return the datasets harvested from `source`, by id."""
        c = catalog_datasets.c
        stmt = (select(catalog_datasets).where(c.tenant == tenant, c.source == source)
                .order_by(c.id))
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(stmt)]

    def delete(self, tenant: str, ids: list[str]) -> int:
        """Delete datasets by id; return how many existed."""
        if not ids:
            return 0
        c = catalog_datasets.c
        with self._write() as conn, conn.begin():
            gone = conn.execute(delete(catalog_datasets).where(c.tenant == tenant,
                                                               c.id.in_(ids)))
            return int(gone.rowcount)

    # -- the twin's own datasets ---------------------------------------------------------
    def replace_derived(self, tenant: str, origin: str, rows: list[DatasetRow],
                        now: str) -> None:
        """Make `rows` the tenant's datasets of `origin` and note the refresh time, at once."""
        c = catalog_datasets.c
        keep = [r.id for r in rows]
        with self._write() as conn, conn.begin():
            conn.execute(delete(catalog_datasets).where(
                c.tenant == tenant, c.origin == origin, c.id.not_in(keep)))
            for row in rows:
                values = {"origin": row.origin, "source": row.source,
                          "doc": json.dumps(row.doc), "stored_at": row.stored_at}
                done = conn.execute(update(catalog_datasets).where(
                    c.tenant == tenant, c.id == row.id).values(**values))
                if not done.rowcount:
                    conn.execute(insert(catalog_datasets).values(tenant=tenant, id=row.id,
                                                                 **values))
            r = catalog_refreshes.c
            done = conn.execute(update(catalog_refreshes).where(r.tenant == tenant)
                                .values(refreshed_at=now))
            if not done.rowcount:
                conn.execute(insert(catalog_refreshes).values(tenant=tenant, refreshed_at=now))

    def refreshed_at(self, tenant: str) -> str | None:
        """Return when the tenant's own datasets were last derived from the twin."""
        stmt = select(catalog_refreshes.c.refreshed_at).where(
            catalog_refreshes.c.tenant == tenant)
        with self.engine.connect() as conn:
            found = conn.execute(stmt).scalar()
        return str(found) if found is not None else None

    def type_extents(self, tenant: str) -> dict[str, TypeExtent]:
        """Return per entity type its entities' bounding box and latest modification."""
        et, e, g = entity_types.c, entities.c, geometries.c
        latest = (select(et.type, func.max(e.modified_at)).join(entities, e.pk == et.entity_pk)
                  .where(et.tenant == tenant).group_by(et.type))
        boxes = (select(et.type, func.min(g.minx), func.min(g.miny), func.max(g.maxx),
                        func.max(g.maxy))
                 .join(geometries, g.entity_pk == et.entity_pk)
                 .where(et.tenant == tenant).group_by(et.type))
        with self.engine.connect() as conn:
            box = {t: (x0, y0, x1, y1) for t, x0, y0, x1, y1 in conn.execute(boxes)}
            return {t: TypeExtent(t, box.get(t), m) for t, m in conn.execute(latest)}

    def series_families(self, tenant: str) -> list[SeriesFamily]:
        """Return per (entity type, attribute) with history: entities and time span."""
        ts, te, ai = temporal_series.c, temporal_entities.c, attribute_instances.c
        # Each series' first and last instant is one seek on the series index, so the span
        # costs one pair of seeks per series rather than a scan of every instance.
        same = ((ai.tenant == ts.tenant) & (ai.entity_id == ts.entity_id)
                & (ai.attr == ts.attr) & (ai.dataset_id == ts.dataset_id))
        first = select(func.min(ai.observed_at)).where(same).scalar_subquery()
        last = select(func.max(ai.observed_at)).where(same).scalar_subquery()
        stmt = (select(te.type, ts.attr, func.count(ts.entity_id.distinct()), func.min(first),
                       func.max(last))
                .join(temporal_series, (ts.tenant == te.tenant) & (ts.entity_id == te.entity_id))
                .where(te.tenant == tenant).group_by(te.type, ts.attr)
                .order_by(te.type, ts.attr))
        with self.engine.connect() as conn:
            return [SeriesFamily(t, a, int(n), lo, hi) for t, a, n, lo, hi in conn.execute(stmt)]

    # -- harvest runs --------------------------------------------------------------------
    def record_harvest(self, tenant: str, source: str, started_at: str, finished_at: str,
                       report: dict[str, Any]) -> int:
        """Keep a harvest run's report; return its number."""
        with self._write() as conn, conn.begin():
            done = conn.execute(insert(catalog_harvests).values(
                tenant=tenant, source=source, started_at=started_at, finished_at=finished_at,
                report=json.dumps(report)).returning(catalog_harvests.c.pk))
            return int(done.scalar_one())

    def harvests(self, tenant: str, limit: int = 20) -> list[dict[str, Any]]:
        """Return the tenant's latest harvest runs, newest first."""
        h = catalog_harvests.c
        stmt = (select(catalog_harvests).where(h.tenant == tenant).order_by(h.pk.desc())
                .limit(limit))
        with self.engine.connect() as conn:
            return [{"run": r.pk, "source": r.source, "startedAt": r.started_at,
                     "finishedAt": r.finished_at, **json.loads(r.report)}
                    for r in conn.execute(stmt)]


def _row(found: Any) -> DatasetRow:
    return DatasetRow(found.tenant, found.id, found.origin, found.source,
                      json.loads(found.doc), found.stored_at)
