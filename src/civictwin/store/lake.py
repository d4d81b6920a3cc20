"""What the lake export reads from the store: history rows and entity documents, by the time
they were recorded, so an export can take only what is new since its watermark."""

from __future__ import annotations

import json
from collections.abc import Generator, Sequence
from typing import Any

from sqlalchemy import Engine, func, select

from civictwin.store.schema import attribute_instances, entities, temporal_entities

HISTORY_COLUMNS = ("entity_id", "attr", "dataset_id", "instance_id", "observed_at",
                   "observed_s", "observed", "created_at", "kind", "num", "value")


class LakeSource:
    """Reads history and entities recorded in a time window (lower bound excluded)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def count_history(self, tenant: str, after: str, until: str) -> int:
        """Return how many history rows were recorded in (after, until]."""
        ai = attribute_instances.c
        stmt = select(func.count()).where(ai.tenant == tenant, ai.created_at > after,
                                          ai.created_at <= until)
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar() or 0)

    def history(self, tenant: str, after: str, until: str,
                batch: int = 20_000) -> Generator[list[dict[str, Any]], None, None]:
        """Yield batches of history rows recorded in (after, until]."""
        ai = attribute_instances.c
        stmt = select(*[ai[c] for c in HISTORY_COLUMNS]).where(
            ai.tenant == tenant, ai.created_at > after, ai.created_at <= until)
        with self.engine.connect().execution_options(stream_results=True,
                                                     yield_per=batch) as conn, \
                conn.execute(stmt) as result:
            for part in result.mappings().partitions(batch):
                yield [dict(r) for r in part]

    def entity_types(self, tenant: str, ids: Sequence[str]) -> dict[str, list[str]]:
        """Return the recorded types of entities with history."""
        te = temporal_entities.c
        found: dict[str, list[str]] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                stmt = select(te.entity_id, te.type).where(
                    te.tenant == tenant, te.entity_id.in_(ids[start: start + 500])
                ).order_by(te.entity_id, te.type)
                for r in conn.execute(stmt):
                    found.setdefault(r.entity_id, []).append(r.type)
        return found

    def count_entities(self, tenant: str, after: str, until: str) -> int:
        """Return how many entities were modified in (after, until]."""
        e = entities.c
        stmt = select(func.count()).where(e.tenant == tenant, e.modified_at > after,
                                          e.modified_at <= until)
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar() or 0)

    def entities(self, tenant: str, after: str, until: str,
                 batch: int = 2_000) -> Generator[list[dict[str, Any]], None, None]:
        """Yield batches of entities modified in (after, until] as id, times and document."""
        e = entities.c
        stmt = select(e.id, e.doc, e.created_at, e.modified_at).where(
            e.tenant == tenant, e.modified_at > after, e.modified_at <= until).order_by(e.id)
        with self.engine.connect().execution_options(stream_results=True,
                                                     yield_per=batch) as conn, \
                conn.execute(stmt) as result:
            for part in result.partitions(batch):
                yield [{"id": r.id, "doc": json.loads(r.doc), "created_at": r.created_at,
                        "modified_at": r.modified_at} for r in part]
