"""The Parquet lake: hive partitions, incremental and idempotent export, on both stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest

from civictwin.analytics.lake import Lake, export_lake
from civictwin.ngsild.jsonld import CIVICTWIN_CONTEXT_URL
from civictwin.store.lake import LakeSource
from civictwin.twin import Twin
from tests.analytics.conftest import BILLING, prop


def _export(twin: Twin, lake: Lake, **kwargs: Any) -> Any:
    ctx = twin.broker.context(CIVICTWIN_CONTEXT_URL)
    return export_lake(LakeSource(getattr(twin.store, "engine")), lake, ctx.compact,  # noqa: B009
                       **{"settle": 0, **kwargs})


def _history(lake: Lake) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = lake.dataset("history").to_table().to_pylist()
    return rows


def test_export_writes_hive_partitions_by_type_and_day(city_twin: Twin, tenant: str,
                                                       tmp_path: Path) -> None:
    lake = Lake.at(str(tmp_path / "lake"), tenant)
    report = _export(city_twin, lake)
    history = {t.kind: t for t in report.tables}["history"]
    root = tmp_path / "lake" / "tenants" / tenant
    days = sorted(p.name for p in (root / "history" / "entity_type=AirQualityObserved").iterdir())
    assert days[:3] == ["day=2024-01-01", "day=2024-01-02", "day=2024-01-03"]
    assert (root / "entities" / "entity_type=Building").is_dir()
    rows = _history(lake)
    assert len(rows) == history.rows
    pm25 = [r for r in rows if r["name"] == "pm25" and r["day"] == "2024-01-03"]
    assert len(pm25) == 6 and {r["num"] for r in pm25} == {90.0}
    assert {r["unit"] for r in pm25} == {"GQ"}
    assert pm25[0]["observed_at"].tzinfo is not None
    billed = [r for r in rows if r["dataset_id"] == BILLING and r["entity_type"]
              == "SmartMeteringObservation" and r["name"] == "heatConsumption"]
    assert sum(r["num"] for r in billed) == 10000 + 8000 + 4000 + 3000 + 7000 + 6000 + 2000
    snapshot = lake.dataset("entities").to_table(
        filter=ds.field("entity_type") == "Building").to_pylist()
    category = {r["entity_id"]: r["json"] for r in snapshot if r["name"] == "category"}
    assert category["urn:ngsi-ld:Building:t:4"] == '["residential","commercial"]'
    refs = {r["text"] for r in snapshot if r["name"] == "refCityDistrict"}
    assert refs == {"urn:ngsi-ld:CityDistrict:t:1", "urn:ngsi-ld:CityDistrict:t:2"}


def test_export_is_incremental_and_idempotent(city_twin: Twin, tenant: str,
                                              tmp_path: Path) -> None:
    lake = Lake.at(str(tmp_path / "lake"), tenant)
    first = _export(city_twin, lake)
    files = set(lake.files("history")) | set(lake.files("entities"))
    state = lake.read_state()
    again = _export(city_twin, lake)
    assert again.rows == 0 and all(t.files == 0 for t in again.tables)
    assert set(lake.files("history")) | set(lake.files("entities")) == files
    assert lake.read_state() == state
    ctx = city_twin.broker.context(CIVICTWIN_CONTEXT_URL)
    city_twin.temporal.append(tenant, "urn:ngsi-ld:AirQualityObserved:t:1", {
        "pm25": [prop(12.0, "GQ", observedAt="2024-03-01T10:00:00Z")]}, ctx)
    third = _export(city_twin, lake)
    tables = {t.kind: t for t in third.tables}
    assert tables["history"].rows == 1 and tables["entities"].rows >= 1
    rows = _history(lake)
    assert len(rows) == {t.kind: t for t in first.tables}["history"].rows + 1
    assert len({r["instance_id"] for r in rows}) == len(rows)
    assert [r["num"] for r in rows if r["day"] == "2024-03-01"] == [12.0]


def test_a_crashed_export_is_redone_without_duplicates(city_twin: Twin, tenant: str,
                                                       tmp_path: Path) -> None:
    lake = Lake.at(str(tmp_path / "lake"), tenant)

    def crash(stage: str, done: int, total: int) -> None:
        if stage == "history":
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        _export(city_twin, lake, on_progress=crash)
    assert lake.read_state()["watermarks"] == {}
    report = _export(city_twin, lake)
    rows = _history(lake)
    assert len(rows) == {t.kind: t for t in report.tables}["history"].rows
    assert len({r["instance_id"] for r in rows}) == len(rows)
    versions = lake.dataset("entities").to_table().to_pylist()
    keys = {(r["entity_id"], r["version"], r["name"], r["dataset_id"]) for r in versions}
    assert len(keys) == len(versions)


def test_settle_window_leaves_the_newest_rows_for_the_next_export(
        city_twin: Twin, tenant: str, tmp_path: Path) -> None:
    lake = Lake.at(str(tmp_path / "lake"), tenant)
    early = _export(city_twin, lake, now=datetime.now(UTC) - timedelta(days=1))
    assert early.rows == 0
    assert _export(city_twin, lake).rows > 0


def test_an_fsspec_url_lake_works_like_a_folder(city_twin: Twin, tenant: str) -> None:
    import fsspec

    lake = Lake.at(f"memory://lake-{tenant}", tenant)
    report = _export(city_twin, lake)
    assert not lake.is_local
    assert len(_history(lake)) == {t.kind: t for t in report.tables}["history"].rows
    assert _export(city_twin, lake).rows == 0
    fsspec.filesystem("memory").rm(f"/lake-{tenant}", recursive=True)


def test_tenants_get_separate_lakes(city_twin: Twin, tenant: str, tmp_path: Path) -> None:
    assert _export(city_twin, Lake.at(str(tmp_path / "lake"), tenant)).rows > 0
    assert _export(city_twin, Lake.at(str(tmp_path / "lake"), tenant + "x")).rows == 0


def test_a_tenant_cannot_escape_the_lake(tmp_path: Path) -> None:
    from civictwin.errors import BadRequestData

    with pytest.raises(BadRequestData, match="tenant"):
        Lake.at(str(tmp_path / "lake"), "../other")
