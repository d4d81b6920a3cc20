"""Attribute history in the store: durations, periods, partitions and bulk loading."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from civictwin.config import Settings
from civictwin.errors import BadRequestData
from civictwin.ngsild.broker import ContextBroker
from civictwin.ngsild.jsonld import CIVICTWIN_CONTEXT_URL
from civictwin.ngsild.temporal import (
    TemporalBroker,
    load_meter_history,
    parse_duration,
    period_bounds,
    temporal_query,
)
from civictwin.samplecity import generate_city
from civictwin.store import Store
from civictwin.store.temporal import HistoryQuery, Period, TimeFilter, instance_row, sortable


@pytest.mark.parametrize(("text", "period"), [
    ("P1D", Period(seconds=86_400)), ("PT15M", Period(seconds=900)),
    ("P1DT12H", Period(seconds=129_600)), ("P2W", Period(seconds=1_209_600)),
    ("PT30S", Period(seconds=30)), ("P1M", Period(months=1)), ("P1Y", Period(months=12)),
    ("P1Y6M", Period(months=18)), ("P0D", Period()),
])
def test_durations(text: str, period: Period) -> None:
    assert parse_duration(text) == period


@pytest.mark.parametrize("text", ["", "P", "PT", "P1", "1D", "P1H", "PT1D", "P1.5D", "P1M1D",
                                  "P1YT1H", "p1d"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(BadRequestData, match="aggrPeriodDuration"):
        parse_duration(text)


def test_period_bounds() -> None:
    anchor = "2025-01-15T06:00:00.000000Z"
    assert period_bounds(anchor, anchor, Period(months=1), 0) == (
        "2025-01-15T06:00:00Z", "2025-02-01T00:00:00Z")
    assert period_bounds(anchor, anchor, Period(months=1), 11) == (
        "2025-12-01T00:00:00Z", "2026-01-01T00:00:00Z")
    assert period_bounds(anchor, anchor, Period(seconds=900), 2) == (
        "2025-01-15T06:30:00Z", "2025-01-15T06:45:00Z")
    assert period_bounds(anchor, "2025-03-01T00:00:00.000000Z", Period(), 0) == (
        "2025-01-15T06:00:00Z", "2025-03-01T00:00:00Z")


def test_sortable_times() -> None:
    assert sortable("2025-01-01T00:00:00Z") == "2025-01-01T00:00:00.000000Z"
    assert sortable("2025-01-01T00:00:00.5Z") == "2025-01-01T00:00:00.500000Z"
    assert sortable("2025-01-01T00:00Z") == "2025-01-01T00:00:00.000000Z"


def test_history_rows_split_numbers_and_values() -> None:
    row = instance_row("t", "urn:x:1", "https://x/p", {
        "type": "Property", "value": True, "observedAt": "2025-01-01T00:00:00Z",
        "createdAt": "c", "modifiedAt": "m"}, "now")
    assert row["num"] == 1.0 and row["observed"] is True and row["created_at"] == "m"
    assert row["value"] == '{"type":"Property","value":true}'
    plain = instance_row("t", "urn:x:1", "https://x/p", {"type": "Property", "value": "a"},
                         "2025-01-01T00:00:00.000000Z")
    assert plain["num"] is None and plain["observed"] is False
    assert plain["observed_at"] == "2025-01-01T00:00:00.000000Z"


def test_postgres_history_is_partitioned_by_month(store: Store, tenant: str) -> None:
    if store.dialect != "postgresql":
        pytest.skip("partitions are a PostgreSQL feature")
    broker = ContextBroker(store, Settings(database_url="sqlite://"))
    temporal = TemporalBroker(broker)
    ctx = broker.context(None)
    body = {"id": "urn:ngsi-ld:Meter:p", "type": "Meter",
            "power": [{"type": "Property", "value": v, "observedAt": f"2031-{m:02d}-03T00:00:00Z"}
                      for v, m in ((1, 11), (2, 12))]}
    assert temporal.create(tenant, body, ctx)
    with temporal.history.engine.connect() as conn:
        names = {r[0] for r in conn.execute(text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'attribute_instances'"))}
        stray = conn.execute(text("SELECT count(*) FROM ONLY attribute_instances_default "
                                  "WHERE tenant = :t"), {"t": tenant}).scalar()
        december = conn.execute(text("SELECT count(*) FROM attribute_instances_2031_12 "
                                     "WHERE tenant = :t"), {"t": tenant}).scalar()
    assert {"attribute_instances_2031_11", "attribute_instances_2031_12",
            "attribute_instances_default"} <= names
    assert stray == 0 and december == 1


def test_meter_history_loads_and_aggregates_by_day(store: Store, tenant: str) -> None:
    broker = ContextBroker(store, Settings(database_url="sqlite://"))
    temporal = TemporalBroker(broker)
    ctx = broker.context(CIVICTWIN_CONTEXT_URL)
    city = generate_city(buildings=3)
    meter = city.meters[0]["id"]
    series = city.meter_readings(meter)
    year = city.reference_year  # a leap year: 366 days of 96 quarter hours
    assert load_meter_history(broker, city, ctx, tenant=tenant, meters=2) == 2 * 366 * 96
    query = temporal_query({"aggrMethods": "sum,totalCount", "aggrPeriodDuration": "P1D",
                            "timerel": "between", "timeAt": f"{year}-01-01T00:00:00Z",
                            "endTimeAt": f"{year + 1}-01-01T00:00:00Z"}, ctx)
    body = temporal.retrieve(tenant, meter, query, ctx)
    days = body["electricityConsumption"]["sum"]
    assert len(days) == 366 and body["type"] == "SmartMeteringObservation"
    assert {c[0] for c in body["electricityConsumption"]["totalCount"]} == {96}
    assert days[0][1:] == [f"{year}-01-01T00:00:00Z", f"{year}-01-02T00:00:00Z"]
    assert sum(d[0] for d in days) == pytest.approx(float(series.electricity_kwh.sum()),
                                                    rel=1e-6)
    rows = temporal.history.instances(tenant, HistoryQuery(
        (meter,), time=TimeFilter("before", f"{year}-01-01T01:00:00.000000Z")))
    assert [r.observed_at for r in rows] == [f"{year}-01-01T00:{m:02d}:00.000000Z"
                                             for m in (0, 15, 30, 45)]
