"""The lake gives the same contributions and releases as the store's history (DuckDB, Spark)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from civictwin.analytics.engine import DuckDBEngine, SparkEngine
from civictwin.analytics.lake import Lake, export_lake
from civictwin.config import Settings
from civictwin.ngsild.jsonld import CIVICTWIN_CONTEXT_URL
from civictwin.privacy import AggregateRequest, DisclosureRules, aggregate
from civictwin.privacy.sources import LakeSource, StoreSource
from civictwin.store import Store
from civictwin.store.lake import LakeSource as StoreRows
from civictwin.twin import open_twin
from tests.privacy import city


def hourly(meter: int) -> list[tuple[str, float]]:
    """Return two days of hourly readings, plus a monthly bill-like one."""
    return [(f"2024-03-0{1 + h // 24}T{h % 24:02d}:00:00Z", float(meter + h % 5))
            for h in range(48)]


def lake_of(store: Store, tenant: str, folder: Path) -> Lake:
    """Export the tenant to a lake under `folder`."""
    twin = open_twin(Settings(database_url="sqlite://"), store)
    ctx = twin.broker.context(CIVICTWIN_CONTEXT_URL)
    lake = Lake.at(str(folder), tenant)
    export_lake(StoreRows(getattr(store, "engine")), lake, ctx.compact, settle=0)  # noqa: B009
    return lake


@pytest.fixture
def metered(store: Store, tenant: str, tmp_path: Path) -> Lake:
    """Twelve meters over two streets of two districts, hourly readings, exported."""
    meters = [city.Meter(n, f"d{n % 2}", street=("Elm", "Oak")[n % 3 == 0],
                         use=("residential", "office")[n % 4 == 0], year=1900 + 9 * n,
                         readings=hourly(n)) for n in range(1, 13)]
    city.build(store, tenant, meters)
    return lake_of(store, tenant, tmp_path / "lake")


REQUESTS = [("district", "construction_period"), ("block",)]


@pytest.mark.parametrize("period", ["hour", "day", "month", None])
def test_store_and_lake_give_the_same_contributions(store: Store, tenant: str, metered: Lake,
                                                    period: str | None) -> None:
    request = AggregateRequest(tenant, "electricity", ("district",), period, "2024-03-01",
                               "2024-03-02T12:00:00Z")
    engine = DuckDBEngine(metered)
    try:
        lake = sorted(LakeSource(engine).contributions(request), key=lambda c: (c.meter, c.bucket))
        profiles = LakeSource(engine).profiles(tenant)
    finally:
        engine.close()
    ours = StoreSource(store)
    assert sorted(ours.contributions(request), key=lambda c: (c.meter, c.bucket)) == lake
    assert ours.profiles(tenant) == profiles
    assert {c.readings for c in lake} == ({1} if period == "hour" else {36} if period is None
                                          else {24, 12} if period == "day" else {36})


@pytest.mark.slow
def test_spark_releases_what_duckdb_releases(store: Store, tenant: str, metered: Lake,
                                             spark: Any) -> None:
    rules = DisclosureRules(min_contributors=3)
    answers = []
    for n, engine in enumerate((DuckDBEngine(metered), SparkEngine(metered, session=spark))):
        try:
            for group_by in REQUESTS:
                request = AggregateRequest(tenant, "electricity", group_by, "day",
                                           "2024-03-01", "2024-03-03")
                release = aggregate(store, request, rules, f"urn:c:{n}:{group_by}",
                                    source=LakeSource(engine))
                answers.append((n, group_by, [(c.keys, c.status, c.contributors,
                                               round(c.value or 0.0, 6)) for c in release.cells]))
        finally:
            engine.close()
    duck = [a[1:] for a in answers if a[0] == 0]
    sparked = [a[1:] for a in answers if a[0] == 1]
    assert duck == sparked and all(cells for _, cells in duck)
