"""Saved scenarios and their results, in SQL shared by both stores."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select

from civictwin.store.base import Store
from civictwin.store.schema import scenario_results, scenarios


@dataclass(frozen=True)
class ScenarioRecord:
    """A saved scenario: who ran what, under which assumptions, on how many buildings."""

    tenant: str
    id: str
    name: str
    description: str
    assumptions: dict[str, Any]
    base_year: int
    end_year: int
    buildings: int
    weather_source: str
    model_version: str
    created_at: str


@dataclass(frozen=True)
class ResultRow:
    """One result: a metric of a district in a year, with its DPSIR tag."""

    district: str
    metric: str
    year: int
    dpsir: str
    value: float


class ScenarioStore:
    """Scenario rows and result rows over a SQL store's engine."""

    def __init__(self, store: Store) -> None:
        engine = getattr(store, "engine", None)
        if not isinstance(engine, Engine):
            raise TypeError("scenarios need a SQL store (SQLite or PostgreSQL)")
        self.engine = engine

    def _write(self) -> Connection:
        return self.engine.connect().execution_options(write=True)

    def save(self, record: ScenarioRecord, results: Sequence[ResultRow]) -> None:
        """Store a scenario and its results, replacing a saved one of the same id at once."""
        with self._write() as conn, conn.begin():
            self._delete(conn, record.tenant, record.id)
            conn.execute(insert(scenarios).values(
                tenant=record.tenant, id=record.id, name=record.name,
                description=record.description, assumptions=json.dumps(record.assumptions),
                base_year=record.base_year, end_year=record.end_year,
                buildings=record.buildings, weather_source=record.weather_source,
                model_version=record.model_version, created_at=record.created_at))
            if results:
                conn.execute(insert(scenario_results), [
                    {"tenant": record.tenant, "scenario_id": record.id, "district": r.district,
                     "metric": r.metric, "year": r.year, "dpsir": r.dpsir, "value": r.value}
                    for r in results])

    def get(self, tenant: str, scenario_id: str) -> ScenarioRecord | None:
        """Return one saved scenario, or None."""
        c = scenarios.c
        with self.engine.connect() as conn:
            row = conn.execute(select(scenarios).where(
                c.tenant == tenant, c.id == scenario_id)).first()
        return _record(row) if row is not None else None

    def saved(self, tenant: str) -> list[ScenarioRecord]:
        """Return a tenant's saved scenarios by id."""
        c = scenarios.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(scenarios).where(c.tenant == tenant).order_by(c.id))
            return [_record(r) for r in rows]

    def results(self, tenant: str, scenario_id: str,
                metrics: Sequence[str] = ()) -> list[ResultRow]:
        """Return a scenario's results ordered by district, metric and year."""
        c = scenario_results.c
        stmt = select(scenario_results).where(c.tenant == tenant, c.scenario_id == scenario_id)
        if metrics:
            stmt = stmt.where(c.metric.in_(list(metrics)))
        with self.engine.connect() as conn:
            rows = conn.execute(stmt.order_by(c.district, c.metric, c.year))
            return [ResultRow(r.district, r.metric, r.year, r.dpsir, r.value) for r in rows]

    def delete(self, tenant: str, scenario_id: str) -> bool:
        """Delete a scenario and its results; return whether it existed."""
        with self._write() as conn, conn.begin():
            return self._delete(conn, tenant, scenario_id)

    def _delete(self, conn: Connection, tenant: str, scenario_id: str) -> bool:
        conn.execute(delete(scenario_results).where(
            scenario_results.c.tenant == tenant, scenario_results.c.scenario_id == scenario_id))
        gone = conn.execute(delete(scenarios).where(
            scenarios.c.tenant == tenant, scenarios.c.id == scenario_id))
        return bool(gone.rowcount)


def _record(row: Any) -> ScenarioRecord:
    return ScenarioRecord(row.tenant, row.id, row.name, row.description,
                          json.loads(row.assumptions), row.base_year, row.end_year,
                          row.buildings, row.weather_source, row.model_version, row.created_at)
