"""Temporal representation of entities (ETSI GS CIM 009 v1.8 5.6.11-5.6.16, 5.7.3-5.7.4).

History is recorded by a store write listener (store/temporal.py). Temporal create and append
take many instances per attribute: the newest instance per attribute and datasetId becomes the
entity's current value (when it is newer than the current one) and is recorded by that listener;
the others are handed to the same transaction through `pending_instances()`.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine

from civictwin.errors import BadRequestData, ResourceNotFound
from civictwin.ngsild.attributes import (
    check_name,
    check_uri,
    expand_instance,
    normalize_datetime,
    now_iso,
)
from civictwin.ngsild.broker import ContextBroker
from civictwin.ngsild.entities import entity_types
from civictwin.ngsild.jsonld import Context
from civictwin.ngsild.params import entity_query, split
from civictwin.ngsild.render import RenderOptions, render_entity
from civictwin.ngsild.temporal_paging import ContentRange, page_rows
from civictwin.store.base import Entity, EntityQuery, Instance, Store
from civictwin.store.temporal import (
    TIME_COLUMNS,
    AggregateRow,
    HistoryQuery,
    Period,
    TemporalStore,
    TimeFilter,
    instance_row,
    new_instance_id,
    pending_instances,
    sortable,
    stddev,
)

if TYPE_CHECKING:
    from civictwin.samplecity.city import SampleCity

AGGR_METHODS = ("totalCount", "distinctCount", "sum", "avg", "min", "max", "stddev", "sumsq")
OPTIONS = {"temporalValues", "aggregatedValues", "sysAttrs", "normalized"}
TIMERELS = {"before", "after", "between"}
RESERVED = {"id", "type", "@context", "scope", "createdAt", "modifiedAt", "deletedAt"}
VALUES_MEMBER = {"Property": ("value", "values"), "GeoProperty": ("value", "values"),
                 "Relationship": ("object", "objects"),
                 "LanguageProperty": ("languageMap", "languageMaps"),
                 "VocabProperty": ("vocab", "vocabs"), "ListProperty": ("valueList", "valueLists"),
                 "ListRelationship": ("objectList", "objectLists"),
                 "JsonProperty": ("json", "jsons")}
_DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
                       r"(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")
_HISTORIES: weakref.WeakKeyDictionary[Any, TemporalStore] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class TemporalQuery:
    """A temporal retrieval or query: time filter, lastN, projection and representation."""

    time: TimeFilter = field(default_factory=TimeFilter)
    attrs: tuple[str, ...] = ()
    last_n: int | None = None
    representation: str = "normalized"  # or temporalValues, aggregatedValues
    sys_attrs: bool = False
    aggr_methods: tuple[str, ...] = ()
    period: Period = field(default_factory=Period)


def history_for(store: Store) -> TemporalStore:
    """Return the store's TemporalStore, registering its write listener once."""
    found = _HISTORIES.get(store)
    if found is None:
        engine = getattr(store, "engine", None)
        if not isinstance(engine, Engine):
            raise TypeError("temporal history needs an SQL store")
        found = TemporalStore(engine)
        store.add_listener(found.record)
        _HISTORIES[store] = found
    return found


# -- parameters -------------------------------------------------------------------------------
def parse_duration(text: str) -> Period:
    """Parse an ISO 8601 duration (P1Y, P1M, P1W, P1D, PT15M, P1DT12H) into a Period."""
    match = _DURATION.match(text)
    if not match or text in ("P", "PT") or text.endswith("T"):
        raise BadRequestData(f"aggrPeriodDuration: {text!r} is not an ISO 8601 duration "
                             "such as P1D, PT15M, P1M or P1Y")
    years, months, weeks, days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    calendar = years * 12 + months
    fixed = (((weeks * 7 + days) * 24 + hours) * 60 + minutes) * 60 + seconds
    if calendar and fixed:
        raise BadRequestData(f"aggrPeriodDuration: {text!r} mixes months or years with days "
                             "or hours; use one or the other")
    return Period(months=calendar, seconds=fixed)


def temporal_query(params: Mapping[str, str], ctx: Context) -> TemporalQuery:
    """Return the TemporalQuery of a temporal GET request's parameters."""
    flags = set(split(params.get("options")))
    unknown = flags - OPTIONS
    if unknown:
        raise BadRequestData(f"options: unknown value(s) {', '.join(sorted(unknown))} for the "
                             "temporal API")
    methods = tuple(split(params.get("aggrMethods")))
    bad = [m for m in methods if m not in AGGR_METHODS]
    if bad:
        raise BadRequestData(f"aggrMethods: {', '.join(bad)} not one of {', '.join(AGGR_METHODS)}")
    representation = "normalized"
    if "temporalValues" in flags or params.get("format") in ("temporalValues", "simplified"):
        representation = "temporalValues"
    if "aggregatedValues" in flags or methods:
        if representation == "temporalValues":
            raise BadRequestData("options: temporalValues and aggregatedValues exclude each other")
        if not methods:
            raise BadRequestData("aggregatedValues needs aggrMethods")
        representation = "aggregatedValues"
    period = Period()
    if params.get("aggrPeriodDuration"):
        if representation != "aggregatedValues":
            raise BadRequestData("aggrPeriodDuration is only meaningful with aggrMethods")
        period = parse_duration(params["aggrPeriodDuration"])
    return TemporalQuery(
        time=time_filter(params), attrs=tuple(ctx.expand(a) for a in split(params.get("attrs"))),
        last_n=_last_n(params.get("lastN")), representation=representation,
        sys_attrs="sysAttrs" in flags, aggr_methods=methods, period=period)


def time_filter(params: Mapping[str, str]) -> TimeFilter:
    """Return the timerel/timeAt/endTimeAt/timeproperty filter, validated."""
    timerel = params.get("timerel") or None
    prop = params.get("timeproperty") or "observedAt"
    if prop not in ("observedAt", "createdAt", "modifiedAt"):
        raise BadRequestData(f"timeproperty: {prop!r} is not observedAt, createdAt or modifiedAt")
    if timerel is None:
        if params.get("timeAt") or params.get("endTimeAt"):
            raise BadRequestData("timeAt and endTimeAt need timerel")
        return TimeFilter(timeproperty=prop)
    if timerel not in TIMERELS:
        raise BadRequestData(f"timerel: {timerel!r} is not before, after or between")
    if not params.get("timeAt"):
        raise BadRequestData(f"timerel={timerel} needs timeAt")
    start = sortable(normalize_datetime(params["timeAt"], "timeAt"))
    end = None
    if timerel == "between":
        if not params.get("endTimeAt"):
            raise BadRequestData("timerel=between needs endTimeAt")
        end = sortable(normalize_datetime(params["endTimeAt"], "endTimeAt"))
        if end <= start:
            raise BadRequestData("endTimeAt must be later than timeAt")
    return TimeFilter(timerel, start, end, prop)


def _last_n(raw: str | None) -> int | None:
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise BadRequestData(f"lastN: {raw!r} is not a positive whole number")
    return int(raw)


# -- the domain -------------------------------------------------------------------------------
class TemporalBroker:
    """Temporal operations of one twin, beside the ContextBroker of its current state."""

    def __init__(self, broker: ContextBroker) -> None:
        self.broker = broker
        self.store = broker.store
        self.history = history_for(broker.store)

    def retrieve(self, tenant: str, entity_id: str, query: TemporalQuery,
                 ctx: Context) -> dict[str, Any]:
        """Return one entity's temporal representation (5.7.3), its first page if long."""
        return self.retrieve_page(tenant, entity_id, query, ctx)[0]

    def retrieve_page(self, tenant: str, entity_id: str, query: TemporalQuery,
                      ctx: Context) -> tuple[dict[str, Any], ContentRange | None]:
        """Return one entity's temporal representation and, if it was cut, the range held."""
        check_uri(entity_id, "entity id")
        types = self.history.entity_types(tenant, [entity_id])
        if entity_id not in types:
            raise ResourceNotFound(f"entity {entity_id} has no temporal representation")
        bodies, page = self._render([entity_id], types, query, ctx, tenant)
        return bodies[0], page

    def query(self, tenant: str, params: Mapping[str, str], query: TemporalQuery,
              ctx: Context) -> tuple[list[dict[str, Any]], int]:
        """Return a page of temporal entities matching a query (5.7.4) and the total count."""
        bodies, total, _ = self.query_page(tenant, params, query, ctx)
        return bodies, total

    def query_page(self, tenant: str, params: Mapping[str, str], query: TemporalQuery,
                   ctx: Context) -> tuple[list[dict[str, Any]], int, ContentRange | None]:
        """Return temporal entities matching a query, the total, and the range if cut."""
        selector = entity_query(params, ctx, self.broker.settings.default_limit)
        if selector.limit > self.broker.settings.max_limit:
            raise BadRequestData(f"limit {selector.limit} is above the maximum of "
                                 f"{self.broker.settings.max_limit}")
        ids = list(selector.ids)
        if selector.q is not None or selector.geo is not None or selector.scope_q is not None:
            # q, scopeQ and geo-queries select by the entities' current state.
            current = self.store.query_entities(tenant, replace(selector, limit=100_000,
                                                                offset=0))
            ids = [e.id for e in current.entities if not ids or e.id in ids]
            if not ids:
                return [], 0, None
        types = [ctx.expand(t) for t in re.split(r"[,|]", params.get("type") or "") if t]
        found, total = self.history.find_entities(
            tenant, ids, selector.id_pattern, types, selector.attrs, selector.limit,
            selector.offset)
        if not found:
            return [], total, None
        bodies, page = self._render(found, self.history.entity_types(tenant, found), query,
                                    ctx, tenant)
        return bodies, total, page

    def _render(self, ids: list[str], types: dict[str, list[str]], query: TemporalQuery,
                ctx: Context, tenant: str) -> tuple[list[dict[str, Any]], ContentRange | None]:
        history = HistoryQuery(tuple(ids), query.attrs, query.time, query.last_n)
        bodies = {i: {"id": i, "type": _short_types(types.get(i, []), ctx)} for i in ids}
        for entity_id, deleted_at in self._deleted(tenant, ids).items():
            bodies[entity_id]["deletedAt"] = deleted_at
        page = None
        if query.representation == "aggregatedValues":
            anchor = query.time.time_at if query.time.timerel in ("after", "between") else None
            last = query.time.end_time_at if query.time.timerel == "between" else (
                query.time.time_at if query.time.timerel == "before" else None)
            if anchor is None or last is None:
                first, final = self.history.time_bounds(tenant, history)
                anchor, last = anchor or first, last or final
            if anchor is not None:
                rows = self.history.aggregate(tenant, history, query.period, anchor,
                                              query.aggr_methods)
                for entity_id, attrs in _aggregated(rows, query, anchor, last or anchor, ctx):
                    bodies[entity_id].update(attrs)
        else:
            limit = self.broker.settings.temporal_max_instances
            rows, page = page_rows(self.history.instances(tenant, history, limit + 1), limit,
                                   query.last_n, TIME_COLUMNS[query.time.timeproperty])
            for entity_id, attrs in _instances(rows, query, ctx):
                bodies[entity_id].update(attrs)
        return [bodies[i] for i in ids], page

    def _deleted(self, tenant: str, ids: list[str]) -> dict[str, str]:
        """Return when each of these entities was deleted, if it is gone (not re-created)."""
        deleted = self.history.deletions(tenant, ids)
        if not deleted:
            return {}
        alive = self.store.query_entities(tenant, EntityQuery(
            ids=tuple(deleted), limit=len(deleted))).entities
        return {i: at for i, at in deleted.items() if i not in {e.id for e in alive}}

    def create(self, tenant: str, body: Any, ctx: Context) -> bool:
        """Create or add to an entity's temporal representation (5.6.11); True if created."""
        if not isinstance(body, dict) or "id" not in body or "type" not in body:
            raise BadRequestData("a temporal entity needs an id and a type")
        entity_id = check_uri(body["id"], "entity id")
        types = entity_types(body["type"], ctx)
        now = now_iso()
        attrs = temporal_attributes(body, ctx, now)
        rows, latest = _split(tenant, entity_id, attrs, now)
        pending = pending_instances()
        token = pending.set(list(rows))
        try:
            outcome = self.store.change_entities(
                tenant, [entity_id], lambda e: _absorb(e, types, latest, tenant, now))
            if entity_id not in outcome.errors:
                return False
            error = outcome.errors[entity_id]
            if not isinstance(error, ResourceNotFound):
                raise error
            pending.set(list(rows))
            entity = Entity(entity_id, types, {a: list(i.values()) for a, i in latest.items()},
                            created_at=now, modified_at=now)
            for error in self.store.create_entities(tenant, [entity]).errors.values():
                raise error
            return True
        finally:
            pending.reset(token)

    def append(self, tenant: str, entity_id: str, body: Any, ctx: Context) -> None:
        """Add attribute instances to an existing entity's temporal representation (5.6.12)."""
        check_uri(entity_id, "entity id")
        if not isinstance(body, dict):
            raise BadRequestData("the request body must be a JSON object")
        now = now_iso()
        attrs = temporal_attributes(body, ctx, now)
        rows, latest = _split(tenant, entity_id, attrs, now)
        token = pending_instances().set(list(rows))
        try:
            outcome = self.store.change_entities(
                tenant, [entity_id], lambda e: _absorb(e, [], latest, tenant, now))
        finally:
            pending_instances().reset(token)
        for error in outcome.errors.values():
            raise error

    def delete_entity(self, tenant: str, entity_id: str) -> None:
        """Delete an entity's temporal representation (5.6.16); the current entity stays."""
        check_uri(entity_id, "entity id")
        with self._write() as conn, conn.begin():
            if not self.history.delete_history(conn, tenant, entity_id):
                raise ResourceNotFound(f"entity {entity_id} has no temporal representation")

    def delete_attribute(self, tenant: str, entity_id: str, name: str, ctx: Context,
                         dataset_id: str | None = None, delete_all: bool = False) -> None:
        """Delete an attribute's history (5.6.13): one datasetId, the default one, or all."""
        check_uri(entity_id, "entity id")
        dataset = None if delete_all else (check_uri(dataset_id, "datasetId")
                                           if dataset_id else "")
        with self._write() as conn, conn.begin():
            if not self.history.delete_history(conn, tenant, entity_id, ctx.expand(name),
                                               dataset):
                raise ResourceNotFound(f"entity {entity_id} has no history of {name}")

    def modify_instance(self, tenant: str, entity_id: str, name: str, instance_id: str,
                        body: Any, ctx: Context) -> None:
        """Replace one attribute instance of the history (5.6.14)."""
        check_uri(entity_id, "entity id")
        check_uri(instance_id, "instanceId")
        if isinstance(body, dict) and name in body:
            body = body[name]
        if not isinstance(body, dict):
            raise BadRequestData(f"the body must be an instance of {name!r} or a fragment "
                                 "holding one")
        now = now_iso()
        inst = expand_instance(name, body, ctx, now)
        row = instance_row(tenant, entity_id, ctx.expand(name), inst, now)
        with self._write() as conn, conn.begin():
            if not self.history.update_instance(conn, tenant, entity_id, ctx.expand(name),
                                                instance_id, row):
                raise ResourceNotFound(f"no instance {instance_id} of {name} in {entity_id}")

    def delete_instance(self, tenant: str, entity_id: str, name: str, instance_id: str,
                        ctx: Context) -> None:
        """Delete one attribute instance of the history (5.6.15)."""
        check_uri(entity_id, "entity id")
        with self._write() as conn, conn.begin():
            if not self.history.delete_history(conn, tenant, entity_id, ctx.expand(name),
                                               instance_id=instance_id):
                raise ResourceNotFound(f"no instance {instance_id} of {name} in {entity_id}")

    def _write(self) -> Connection:
        return self.history.engine.connect().execution_options(write=True)


def temporal_attributes(body: dict[str, Any], ctx: Context,
                        now: str) -> dict[str, list[Instance]]:
    """Expand a temporal fragment: every attribute maps to one instance or an array of them."""
    out: dict[str, list[Instance]] = {}
    for name, raw in body.items():
        if name in RESERVED:
            continue
        check_name(name)
        items = raw if isinstance(raw, list) else [raw]
        if not items:
            raise BadRequestData(f"attribute {name!r}: an empty array of instances")
        out[ctx.expand(name)] = [expand_instance(name, i, ctx, now) for i in items]
    if not out:
        raise BadRequestData("the temporal fragment holds no attribute")
    return out


def _split(tenant: str, entity_id: str, attrs: dict[str, list[Instance]],
           now: str) -> tuple[list[dict[str, Any]], dict[str, dict[str, Instance]]]:
    """Return history rows of all but the newest instance per (attribute, datasetId), and those."""
    rows: list[dict[str, Any]] = []
    latest: dict[str, dict[str, Instance]] = {}
    for attr, instances in attrs.items():
        newest: dict[str, Instance] = {}
        for inst in instances:
            key = str(inst.get("datasetId", ""))
            if key in newest and _moment(newest[key], now) > _moment(inst, now):
                rows.append(instance_row(tenant, entity_id, attr, inst, now))
                continue
            if key in newest:
                rows.append(instance_row(tenant, entity_id, attr, newest[key], now))
            newest[key] = inst
        latest[attr] = newest
    return rows, latest


def _absorb(entity: Entity, types: list[str], latest: dict[str, dict[str, Instance]],
            tenant: str, now: str) -> Entity:
    """Make each newest instance current where it is newer; queue the rest for history."""
    pending = pending_instances().get()
    entity.types = [*entity.types, *[t for t in types if t not in entity.types]]
    for attr, by_dataset in latest.items():
        current = {str(i.get("datasetId", "")): i for i in entity.attrs.get(attr, [])}
        for key, inst in by_dataset.items():
            old = current.get(key)
            if old is not None and _moment(old, now) > _moment(inst, now):
                if pending is not None:
                    pending.append(instance_row(tenant, entity.id, attr, inst, now))
                continue
            if old is not None:
                inst = {**inst, "createdAt": old.get("createdAt", now)}
            current[key] = inst
        entity.attrs[attr] = list(current.values())
    entity.modified_at = now
    return entity


def _moment(inst: Instance, now: str) -> str:
    return sortable(str(inst.get("observedAt") or inst.get("modifiedAt") or now))


# -- rendering --------------------------------------------------------------------------------
def _short_types(types: list[str], ctx: Context) -> Any:
    short = [ctx.compact(t) for t in types]
    return short[0] if len(short) == 1 else short


def display_time(moment: str) -> str:
    """Return a stored sortable time as NGSI-LD shows it (no zero microseconds)."""
    return moment.replace(".000000Z", "Z")


def _instances(rows: list[Any], query: TemporalQuery,
               ctx: Context) -> Iterator[tuple[str, dict[str, Any]]]:
    import json

    by_entity: dict[str, dict[str, list[Instance]]] = {}
    time_column = {"observedAt": "observed_at", "createdAt": "created_at",
                   "modifiedAt": "modified_at"}[query.time.timeproperty]
    for row in rows:
        inst: Instance = json.loads(row.value)
        if row.observed:
            inst["observedAt"] = display_time(row.observed_at)
        inst["instanceId"] = row.instance_id
        if query.sys_attrs:
            inst["createdAt"] = row.created_at
            inst["modifiedAt"] = row.modified_at
        inst["@time"] = display_time(getattr(row, time_column))
        by_entity.setdefault(row.entity_id, {}).setdefault(row.attr, []).append(inst)
    for entity_id, attrs in by_entity.items():
        if query.representation == "temporalValues":
            yield entity_id, {ctx.compact(a): _values(i, ctx) for a, i in attrs.items()}
            continue
        for instances in attrs.values():
            for inst in instances:
                inst.pop("@time")
        rendered = render_entity(Entity(entity_id, [], attrs), ctx,
                                 RenderOptions(sys_attrs=query.sys_attrs))
        rendered.pop("id", None)
        rendered.pop("type", None)
        rendered.pop("createdAt", None)
        rendered.pop("modifiedAt", None)
        yield entity_id, {k: v if isinstance(v, list) else [v] for k, v in rendered.items()}


def _values(instances: list[Instance], ctx: Context) -> Any:
    series: dict[str, dict[str, Any]] = {}
    for inst in instances:
        kind = str(inst["type"])
        member, plural = VALUES_MEMBER.get(kind, ("value", "values"))
        key = str(inst.get("datasetId", ""))
        out = series.setdefault(key, {"type": kind, plural: []})
        if key:
            out["datasetId"] = key
        value = inst.get(member)
        if kind == "VocabProperty":
            value = ([ctx.compact(v) for v in value] if isinstance(value, list)
                     else ctx.compact(str(value)))
        out[plural].append([value, inst["@time"]])
    found = list(series.values())
    return found[0] if len(found) == 1 else found


def _aggregated(rows: list[AggregateRow], query: TemporalQuery, anchor: str, last: str,
                ctx: Context) -> Iterator[tuple[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
    for row in rows:
        series = out.setdefault(row.entity_id, {}).setdefault(row.attr, {})
        attr = series.setdefault(row.dataset_id, {"type": row.kind,
                                                   **({"datasetId": row.dataset_id}
                                                      if row.dataset_id else {})})
        start, end = period_bounds(anchor, last, query.period, row.bucket)
        values = aggregate_values(row)
        for method in query.aggr_methods:
            attr.setdefault(method, []).append([values[method], start, end])
    for entity_id, attrs in out.items():
        yield entity_id, {ctx.compact(a): (list(s.values()) if len(s) > 1
                                           else next(iter(s.values())))
                          for a, s in attrs.items()}


def aggregate_values(row: AggregateRow) -> dict[str, Any]:
    """Return every aggregation method's value for one period."""
    average = row.total / row.numbers if row.numbers and row.total is not None else None
    return {"totalCount": row.count, "distinctCount": row.distinct, "sum": row.total,
            "avg": average, "min": row.smallest, "max": row.largest,
            "stddev": stddev(row.numbers, row.total, row.squares), "sumsq": row.squares}


def period_bounds(anchor: str, last: str, period: Period, bucket: int) -> tuple[str, str]:
    """Return the start and end (exclusive) of aggregation period `bucket` from `anchor`."""
    start = datetime.fromisoformat(anchor[:19]).replace(tzinfo=UTC)
    if period.months:
        total = start.year * 12 + start.month - 1 + bucket * period.months
        begin = start if bucket == 0 else start.replace(
            year=total // 12, month=total % 12 + 1, day=1, hour=0, minute=0, second=0)
        total += period.months
        end = start.replace(year=total // 12, month=total % 12 + 1, day=1, hour=0, minute=0,
                            second=0)
    elif period.seconds:
        begin = start + timedelta(seconds=bucket * period.seconds)
        end = begin + timedelta(seconds=period.seconds)
    else:
        return _iso(start), display_time(last)
    return _iso(begin), _iso(end)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- sample history ---------------------------------------------------------------------------
ELECTRICITY = "electricityConsumption"


def load_meter_history(broker: ContextBroker, city: SampleCity, ctx: Context, *,
                       tenant: str = "", meters: int = 20) -> int:
    """Bulk-load a year of quarter-hour electricity readings of the first meters; return rows."""
    import numpy as np

    history = history_for(broker.store)
    attr = ctx.expand(ELECTRICITY)
    now = now_iso()
    total = 0
    for meter in city.meters[:meters]:
        series = city.meter_readings(meter["id"])
        stamps = np.datetime_as_string(series.electricity_time, unit="us")
        entity = Entity(meter["id"], [ctx.expand(meter["type"])])
        rows = [{"tenant": tenant, "entity_id": meter["id"], "attr": attr, "dataset_id": "",
                 "instance_id": new_instance_id(), "observed_at": f"{stamp}Z",
                 "observed_s": seconds, "observed": True,
                 "created_at": now, "modified_at": now, "kind": "Property", "num": kwh,
                 "value": f'{{"type":"Property","unitCode":"KWH","value":{kwh!r}}}'}
                for stamp, seconds, kwh in zip(
                    stamps.tolist(), series.electricity_time.astype("int64").tolist(),
                    np.round(series.electricity_kwh, 4).tolist(), strict=True)]
        with history.engine.connect().execution_options(write=True) as conn, conn.begin():
            history.insert(conn, rows, [entity], tenant)
        total += len(rows)
    return total
