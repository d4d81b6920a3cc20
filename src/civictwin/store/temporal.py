"""Attribute history: recorded from store writes, queried and aggregated in SQL on both stores.

Every attribute instance that is new, or whose value or observedAt changed, is written to
`attribute_instances` by a store write listener, inside the entity's own transaction. Times are
kept as sortable text (`YYYY-MM-DDTHH:MM:SS.ffffffZ`), so ranges, ordering and month buckets are
the same SQL on both databases; only "seconds since the epoch" differs per dialect. PostgreSQL
range-partitions the table by month of `observed_at`; a month's partition is created (under an
advisory lock, in the writing transaction) before its first row, so the default partition only
catches what nobody planned for.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Engine,
    Integer,
    cast,
    delete,
    extract,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.types import TIMESTAMP

from civictwin.store.base import Entity, EntityWrite, Instance
from civictwin.store.consent import withheld_filter
from civictwin.store.schema import (
    attribute_instances,
    temporal_deletions,
    temporal_entities,
    temporal_series,
)

SYSTEM_KEYS = ("createdAt", "modifiedAt", "observedAt", "instanceId")
VALUE_MEMBERS = {"Property": "value", "GeoProperty": "value", "Relationship": "object",
                 "LanguageProperty": "languageMap", "VocabProperty": "vocab",
                 "ListProperty": "valueList", "ListRelationship": "objectList",
                 "JsonProperty": "json"}
TIME_COLUMNS = {"observedAt": "observed_at", "createdAt": "created_at",
                "modifiedAt": "modified_at"}
NGSI_LD_NULL = "urn:ngsi-ld:null"
PARTITION_LOCK = 7_310_221  # pg_advisory_xact_lock key serialising partition creation

TEMPORAL_POSTGRES_DDL = (
    """CREATE TABLE attribute_instances (
        tenant varchar NOT NULL,
        entity_id varchar COLLATE "C" NOT NULL,
        attr varchar COLLATE "C" NOT NULL,
        dataset_id varchar COLLATE "C" NOT NULL,
        instance_id varchar NOT NULL,
        observed_at varchar COLLATE "C" NOT NULL,
        observed_s bigint NOT NULL,
        observed boolean NOT NULL,
        created_at varchar COLLATE "C" NOT NULL,
        modified_at varchar COLLATE "C" NOT NULL,
        kind varchar NOT NULL,
        num double precision,
        value text NOT NULL
    ) PARTITION BY RANGE (observed_at)""",
    "CREATE TABLE attribute_instances_default PARTITION OF attribute_instances DEFAULT",
    "CREATE INDEX ix_attribute_instances_series ON attribute_instances "
    "(tenant, entity_id, attr, dataset_id, observed_at) INCLUDE (observed_s, num)",
    "CREATE INDEX ix_attribute_instances_instance ON attribute_instances (instance_id)",
)

_PENDING: ContextVar[list[dict[str, Any]] | None] = ContextVar("temporal_pending", default=None)


@dataclass(frozen=True)
class TimeFilter:
    """Which instances by time: timerel with timeAt/endTimeAt on one time property."""

    timerel: str | None = None
    time_at: str | None = None
    end_time_at: str | None = None
    timeproperty: str = "observedAt"


@dataclass(frozen=True)
class HistoryQuery:
    """Which history to read: entities, attributes, time range, last N per attribute."""

    entity_ids: tuple[str, ...]
    attrs: tuple[str, ...] = ()
    time: TimeFilter = field(default_factory=TimeFilter)
    last_n: int | None = None


@dataclass(frozen=True)
class Period:
    """An aggregation period: whole months, or a fixed number of seconds (0: the whole range)."""

    months: int = 0
    seconds: int = 0


@dataclass(frozen=True)
class AggregateRow:
    """The aggregates of one attribute instance series over one period."""

    entity_id: str
    attr: str
    dataset_id: str
    kind: str
    bucket: int
    count: int
    distinct: int
    numbers: int
    total: float | None
    smallest: float | None
    largest: float | None
    squares: float | None


def instance_row(tenant: str, entity_id: str, attr: str, inst: Instance,
                 recorded_at: str) -> dict[str, Any]:
    """Return the history row of one attribute instance."""
    observed_at = inst.get("observedAt")
    kept = {k: v for k, v in inst.items() if k not in SYSTEM_KEYS}
    member = inst.get(VALUE_MEMBERS.get(str(inst.get("type")), "value"))
    num = None
    if isinstance(member, bool):
        num = 1.0 if member else 0.0
    elif isinstance(member, int | float):
        num = float(member)
    created = str(inst.get("modifiedAt") or recorded_at)
    moment = sortable(observed_at) if observed_at else sortable(created)
    return {"tenant": tenant, "entity_id": entity_id, "attr": attr,
            "dataset_id": str(inst.get("datasetId", "")),
            "instance_id": inst.get("instanceId") or new_instance_id(),
            "observed_at": moment, "observed_s": epoch_seconds(moment),
            "observed": observed_at is not None, "created_at": created, "modified_at": created,
            "kind": str(inst.get("type", "Property")), "num": num,
            "value": json.dumps(kept, sort_keys=True, separators=(",", ":"))}


def new_instance_id() -> str:
    """Return a fresh instanceId URN."""
    return f"urn:ngsi-ld:attribute:instance:{uuid.uuid4()}"


def sortable(moment: str) -> str:
    """Return an ISO date-time ending in Z in the store's sortable microsecond form."""
    head = moment.removesuffix("Z")
    if "." in head:
        main, frac = head.split(".", 1)
        return f"{main}.{frac[:6].ljust(6, '0')}Z"
    if len(head) == 16:
        head += ":00"
    return head + ".000000Z"


def changed_rows(tenant: str, writes: Sequence[EntityWrite], now: str) -> list[dict[str, Any]]:
    """Return history rows for instances that are new or whose value or observedAt changed."""
    rows: list[dict[str, Any]] = []
    for write in writes:
        entity = write.after or write.before
        if entity is None:
            continue
        before = write.before.attrs if write.before is not None else {}
        current = write.after.attrs if write.after is not None else {}
        for attr, instances in current.items():
            old = {str(i.get("datasetId", "")): i for i in before.get(attr, [])}
            for inst in instances:
                previous = old.get(str(inst.get("datasetId", "")))
                if previous is None or _essence(previous) != _essence(inst):
                    rows.append(instance_row(tenant, entity.id, attr, inst, now))
        if before:
            rows += deletion_rows(tenant, entity.id, before, current, now)
    return rows


def deletion_rows(tenant: str, entity_id: str, before: dict[str, list[Instance]],
                  after: dict[str, list[Instance]], now: str) -> list[dict[str, Any]]:
    """Return the NGSI-LD Null instances that mark attribute instances deleted at `now`."""
    rows: list[dict[str, Any]] = []
    for attr, instances in before.items():
        kept = {str(i.get("datasetId", "")) for i in after.get(attr, [])}
        for inst in instances:
            if str(inst.get("datasetId", "")) in kept:
                continue
            kind = str(inst.get("type", "Property"))
            marker: Instance = {"type": kind, VALUE_MEMBERS.get(kind, "value"): NGSI_LD_NULL,
                                "deletedAt": now}
            if "datasetId" in inst:
                marker["datasetId"] = inst["datasetId"]
            rows.append(instance_row(tenant, entity_id, attr, marker, now))
    return rows


def _essence(inst: Instance) -> dict[str, Any]:
    return {k: v for k, v in inst.items() if k not in ("createdAt", "modifiedAt", "instanceId")}


class TemporalStore:
    """Attribute history over the same database as the entity store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._partitions: set[str] = set()

    # -- writing -------------------------------------------------------------------------
    def record(self, conn: Connection, tenant: str, writes: list[EntityWrite]) -> None:
        """Record the history of a batch of entity writes (a store write listener)."""
        from civictwin.ngsild.attributes import now_iso

        now = now_iso()
        rows = changed_rows(tenant, writes, now)
        pending = _PENDING.get()
        if pending:
            rows += pending
            pending.clear()
        self.insert(conn, rows, [w.after for w in writes if w.after is not None], tenant)
        gone = sorted({w.before.id for w in writes if w.after is None and w.before is not None})
        if gone:
            self.remember_deletions(conn, tenant, gone, now)

    def remember_deletions(self, conn: Connection, tenant: str, ids: Sequence[str],
                           now: str) -> None:
        """Record when entities with history were deleted (the latest deletion wins)."""
        td = temporal_deletions.c
        for start in range(0, len(ids), 500):
            chunk = ids[start: start + 500]
            conn.execute(delete(temporal_deletions).where(td.tenant == tenant,
                                                          td.entity_id.in_(chunk)))
            conn.execute(insert(temporal_deletions), [
                {"tenant": tenant, "entity_id": i, "deleted_at": now} for i in chunk])

    def deletions(self, tenant: str, ids: Sequence[str]) -> dict[str, str]:
        """Return when each of these entities was last deleted (those that were)."""
        td = temporal_deletions.c
        found: dict[str, str] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                stmt = select(td.entity_id, td.deleted_at).where(
                    td.tenant == tenant, td.entity_id.in_(ids[start: start + 500]))
                found.update({r.entity_id: r.deleted_at for r in conn.execute(stmt)})
        return found

    def insert(self, conn: Connection, rows: list[dict[str, Any]],
               entities: Iterable[Entity] = (), tenant: str = "") -> None:
        """Insert history rows (creating partitions first) and remember entity types."""
        if rows:
            self._ensure_partitions(conn, {r["observed_at"][:7] for r in rows})
            for start in range(0, len(rows), 5000):
                conn.execute(insert(attribute_instances), rows[start: start + 5000])
            self._remember_series(conn, rows)
        self.remember_types(conn, tenant, entities)

    def _remember_series(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        ts = temporal_series.c
        wanted = {(r["tenant"], r["entity_id"], r["attr"], r["dataset_id"]): r["kind"]
                  for r in rows}
        known: dict[tuple[str, str, str, str], str] = {}
        for tenant, entity_id in {k[:2] for k in wanted}:
            stmt = select(temporal_series).where(ts.tenant == tenant, ts.entity_id == entity_id)
            known.update({(r.tenant, r.entity_id, r.attr, r.dataset_id): r.kind
                          for r in conn.execute(stmt)})
        fresh = [{"tenant": k[0], "entity_id": k[1], "attr": k[2], "dataset_id": k[3],
                  "kind": kind} for k, kind in wanted.items() if k not in known]
        if fresh:
            conn.execute(insert(temporal_series), fresh)
        for key, kind in wanted.items():
            if key in known and known[key] != kind:
                conn.execute(update(temporal_series).values(kind=kind).where(
                    ts.tenant == key[0], ts.entity_id == key[1], ts.attr == key[2],
                    ts.dataset_id == key[3]))

    def remember_types(self, conn: Connection, tenant: str, entities: Iterable[Entity]) -> None:
        """Keep the types of entities that have history."""
        te = temporal_entities.c
        wanted = {(e.id, t) for e in entities for t in e.types}
        if not wanted:
            return
        ids = sorted({i for i, _ in wanted})
        known: set[tuple[str, str]] = set()
        for start in range(0, len(ids), 500):
            stmt = select(te.entity_id, te.type).where(
                te.tenant == tenant, te.entity_id.in_(ids[start: start + 500]))
            known.update((r.entity_id, r.type) for r in conn.execute(stmt))
        fresh = [{"tenant": tenant, "entity_id": i, "type": t} for i, t in sorted(wanted - known)]
        if fresh:
            conn.execute(insert(temporal_entities), fresh)

    def _ensure_partitions(self, conn: Connection, months: set[str]) -> None:
        if self.dialect != "postgresql" or months <= self._partitions:
            return
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PARTITION_LOCK})")
        existing = {r[0] for r in conn.exec_driver_sql(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'attribute_instances'")}
        for month in sorted(months - self._partitions):
            name = f"attribute_instances_{month.replace('-', '_')}"
            if name not in existing and len(month) == 7 and month[:4].isdigit():
                year, number = int(month[:4]), int(month[5:7])
                upper = f"{year + number // 12:04d}-{number % 12 + 1:02d}"
                conn.exec_driver_sql(
                    f"CREATE TABLE {name} PARTITION OF attribute_instances "
                    f"FOR VALUES FROM ('{month}') TO ('{upper}')")
        # Only after commit would these be certain; a rollback merely costs a re-check.
        self._partitions |= months

    def update_instance(self, conn: Connection, tenant: str, entity_id: str, attr: str,
                        instance_id: str, row: dict[str, Any]) -> bool:
        """Replace one instance's value and times; return whether it existed."""
        ai = attribute_instances.c
        where = (ai.tenant == tenant, ai.entity_id == entity_id, ai.attr == attr,
                 ai.instance_id == instance_id)
        old = conn.execute(select(ai.created_at).where(*where)).first()
        if old is None:
            return False
        # Delete and insert, since a new observedAt may belong in another partition.
        conn.execute(delete(attribute_instances).where(*where))
        self.insert(conn, [{**row, "instance_id": instance_id, "created_at": old.created_at}])
        return True

    def delete_history(self, conn: Connection, tenant: str, entity_id: str,
                       attr: str | None = None, dataset_id: str | None = None,
                       instance_id: str | None = None) -> int:
        """Delete history rows of an entity (one attribute, dataset or instance); return count."""
        ai = attribute_instances.c
        where = [ai.tenant == tenant, ai.entity_id == entity_id]
        if attr is not None:
            where.append(ai.attr == attr)
        if dataset_id is not None:
            where.append(ai.dataset_id == dataset_id)
        if instance_id is not None:
            where.append(ai.instance_id == instance_id)
        count = conn.execute(delete(attribute_instances).where(*where)).rowcount
        ts = temporal_series.c
        left = select(ai.entity_id).where(
            ai.tenant == ts.tenant, ai.entity_id == ts.entity_id, ai.attr == ts.attr,
            ai.dataset_id == ts.dataset_id).exists()
        conn.execute(delete(temporal_series).where(
            ts.tenant == tenant, ts.entity_id == entity_id, ~left))
        if attr is None:
            te, td = temporal_entities.c, temporal_deletions.c
            count += conn.execute(delete(temporal_entities).where(
                te.tenant == tenant, te.entity_id == entity_id)).rowcount
            conn.execute(delete(temporal_deletions).where(
                td.tenant == tenant, td.entity_id == entity_id))
        return int(count)

    # -- reading -------------------------------------------------------------------------
    def entity_types(self, tenant: str, ids: Sequence[str]) -> dict[str, list[str]]:
        """Return the recorded types of entities with history."""
        te = temporal_entities.c
        found: dict[str, list[str]] = {}
        with self.engine.connect() as conn:
            hidden = withheld_filter(conn, tenant, te.entity_id, ids)  # consent lapsed
            for start in range(0, len(ids), 500):
                stmt = select(te.entity_id, te.type).where(
                    te.tenant == tenant, te.entity_id.in_(ids[start: start + 500]), *hidden
                ).order_by(te.entity_id, te.type)
                for r in conn.execute(stmt):
                    found.setdefault(r.entity_id, []).append(r.type)
        return found

    def find_entities(self, tenant: str, ids: Sequence[str], id_pattern: str | None,
                      types: Sequence[str], attrs: Sequence[str], limit: int,
                      offset: int) -> tuple[list[str], int]:
        """Return a page of ids of entities with history matching the filters, and the total."""
        te, ts = temporal_entities.c, temporal_series.c
        stmt = select(te.entity_id).where(te.tenant == tenant).distinct()
        if ids:
            stmt = stmt.where(te.entity_id.in_(ids))
        if id_pattern:
            stmt = stmt.where(te.entity_id.regexp_match(id_pattern))
        if types:
            stmt = stmt.where(te.type.in_(types))
        if attrs:
            stmt = stmt.where(select(ts.entity_id).where(
                ts.tenant == tenant, ts.entity_id == te.entity_id, ts.attr.in_(attrs)).exists())
        with self.engine.connect() as conn:
            stmt = stmt.where(*withheld_filter(conn, tenant, te.entity_id, ids))  # consent
            total = conn.execute(select(func.count()).select_from(stmt.subquery())).scalar()
            page = conn.execute(stmt.order_by(te.entity_id).limit(limit).offset(offset))
            return [r.entity_id for r in page], int(total or 0)

    def instances(self, tenant: str, query: HistoryQuery,
                  per_series: int | None = None) -> list[Any]:
        """Return history rows in (entity, attribute, dataset, time) order.

        With lastN, the newest lastN of each series; with `per_series`, at most that many of
        each series (the newest with lastN, else the oldest).
        """
        column: Any = attribute_instances.c[TIME_COLUMNS[query.time.timeproperty]]
        stmt = select(attribute_instances).where(*self._where(tenant, query))
        ai = attribute_instances.c
        keys: tuple[Any, ...] = (ai.entity_id, ai.attr, ai.dataset_id, column)
        limits = [n for n in (query.last_n, per_series) if n is not None]
        if limits:
            order = column.desc() if query.last_n is not None else column.asc()
            rank = func.row_number().over(
                partition_by=(ai.entity_id, ai.attr, ai.dataset_id), order_by=order)
            ranked = select(attribute_instances, rank.label("rank")).where(
                *self._where(tenant, query)).subquery()
            stmt = select(*[ranked.c[c.name] for c in attribute_instances.c]).where(
                ranked.c.rank <= min(limits))
            column = ranked.c[column.name]
            keys = (ranked.c.entity_id, ranked.c.attr, ranked.c.dataset_id, column)
        with self.engine.connect() as conn:
            return list(conn.execute(stmt.order_by(*keys)))

    def time_bounds(self, tenant: str, query: HistoryQuery) -> tuple[str | None, str | None]:
        """Return the first and last time of the selected history."""
        column: Any = attribute_instances.c[TIME_COLUMNS[query.time.timeproperty]]
        stmt = select(func.min(column), func.max(column)).where(*self._where(tenant, query))
        with self.engine.connect() as conn:
            row = conn.execute(stmt).one()
        return row[0], row[1]

    def aggregate(self, tenant: str, query: HistoryQuery, period: Period, anchor: str,
                  methods: Sequence[str] = ()) -> list[AggregateRow]:
        """Return per series and period the aggregates `methods` need (all when empty)."""
        ai, ts = attribute_instances.c, temporal_series.c
        wanted = set(methods) or {"distinctCount", "sum", "min", "max", "sumsq"}
        measures: list[Any] = [func.count().label("count")]
        if "distinctCount" in wanted:
            measures.append(func.count(ai.value.distinct()).label("distinct"))
        if wanted & {"sum", "avg", "stddev", "sumsq"}:
            measures += [func.count(ai.num).label("numbers"), func.sum(ai.num).label("total")]
        if "min" in wanted:
            measures.append(func.min(ai.num).label("smallest"))
        if "max" in wanted:
            measures.append(func.max(ai.num).label("largest"))
        if wanted & {"stddev", "sumsq"}:
            measures.append(func.sum(ai.num * ai.num).label("squares"))
        column = ai[TIME_COLUMNS[query.time.timeproperty]]
        series_stmt = select(temporal_series).where(
            ts.tenant == tenant, ts.entity_id.in_(query.entity_ids)).order_by(
            ts.entity_id, ts.attr, ts.dataset_id)
        if query.attrs:
            series_stmt = series_stmt.where(ts.attr.in_(query.attrs))
        out: list[AggregateRow] = []
        with self.engine.connect() as conn:
            for series in conn.execute(series_stmt).all():
                # One index range scan per series, grouped by an integer period number.
                stmt = select(*measures).where(
                    ai.tenant == tenant, ai.entity_id == series.entity_id,
                    ai.attr == series.attr, ai.dataset_id == series.dataset_id,
                    column >= anchor, *self._time_where(query.time))
                if period.months or period.seconds:
                    bucket = self.bucket(query.time.timeproperty, period, anchor).label("b")
                    stmt = stmt.add_columns(bucket).group_by(bucket).order_by(bucket)
                for row in conn.execute(stmt):
                    values = row._mapping
                    if not values["count"]:
                        continue
                    out.append(AggregateRow(
                        series.entity_id, series.attr, series.dataset_id, series.kind,
                        int(values.get("b", 0)), int(values["count"]),
                        int(values.get("distinct", 0)), int(values.get("numbers", 0)),
                        _float(values.get("total")), _float(values.get("smallest")),
                        _float(values.get("largest")), _float(values.get("squares"))))
        return out

    def bucket(self, timeproperty: str, period: Period, anchor: str) -> ColumnElement[Any]:
        """Return the SQL period number of an instance's time, counted from `anchor`."""
        column = attribute_instances.c[TIME_COLUMNS[timeproperty]]
        if period.months:
            months = (cast(func.substr(column, 1, 4), Integer) * 12
                      + cast(func.substr(column, 6, 2), Integer))
            start = int(anchor[:4]) * 12 + int(anchor[5:7])
            return (months - start) // period.months
        if period.seconds:
            seconds = (attribute_instances.c.observed_s if timeproperty == "observedAt"
                       else self._epoch(column))
            return (seconds - epoch_seconds(anchor)) // period.seconds
        raise ValueError("a whole-range period has no bucket")

    def _epoch(self, column: Any) -> ColumnElement[Any]:
        """Return whole seconds since 1970 of a sortable time column (the one dialect hook)."""
        head = func.substr(column, 1, 19)
        if self.dialect == "postgresql":
            return cast(extract("epoch", cast(head, TIMESTAMP)), BigInteger)
        return cast(func.strftime("%s", head), Integer)

    def _where(self, tenant: str, query: HistoryQuery) -> list[ColumnElement[bool]]:
        ai = attribute_instances.c
        where = [ai.tenant == tenant, ai.entity_id.in_(query.entity_ids)]
        if query.attrs:
            where.append(ai.attr.in_(query.attrs))
        return where + self._time_where(query.time)

    def _time_where(self, time: TimeFilter) -> list[ColumnElement[bool]]:
        column = attribute_instances.c[TIME_COLUMNS[time.timeproperty]]
        where: list[ColumnElement[bool]] = []
        if time.timerel == "before" and time.time_at:
            where.append(column < time.time_at)
        elif time.timerel == "after" and time.time_at:
            where.append(column >= time.time_at)
        elif time.timerel == "between" and time.time_at and time.end_time_at:
            where += [column >= time.time_at, column < time.end_time_at]
        return where


def pending_instances() -> ContextVar[list[dict[str, Any]] | None]:
    """Return the per-call list of extra history rows the next recorded write carries."""
    return _PENDING


def stddev(count: int, total: float | None, squares: float | None) -> float | None:
    """Return the population standard deviation from count, sum and sum of squares."""
    if not count or total is None or squares is None:
        return None
    mean = total / count
    return math.sqrt(max(squares / count - mean * mean, 0.0))


def epoch_seconds(moment: str) -> int:
    """Return whole seconds since 1970 of a sortable UTC time."""
    return int(datetime.fromisoformat(moment[:19]).replace(tzinfo=UTC).timestamp())


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
