"""Forecasts of the twin's meters, buildings and districts, written back, on both stores."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from civictwin.analytics.forecast_runs import FORECAST_TYPE, forecast_id, resolve, run_forecast
from civictwin.cli import app
from civictwin.config import Settings
from civictwin.demo import load_sample_city
from civictwin.errors import BadRequestData, ResourceNotFound
from civictwin.ngsild.attributes import now_iso
from civictwin.ngsild.jsonld import CIVICTWIN_CONTEXT_URL
from civictwin.ngsild.temporal import TemporalQuery, history_for
from civictwin.samplecity.history import billing_rows
from civictwin.store import Store, open_store
from civictwin.store.temporal import new_instance_id
from civictwin.twin import Twin, open_twin
from tests.analytics.conftest import load_generated

CT = "https://civictwin.org/ns/"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def metered(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Twin, str, str, str]]:
    """Thirty buildings with meters, the first meter with a year of quarter-hour readings.

    Loaded once per store for the module (a year of readings takes seconds); tests use
    different targets, so they do not see each other's forecasts.
    """
    if request.param == "postgresql":
        store: Store = request.getfixturevalue("postgres_store")
    else:
        store = open_store(f"sqlite:///{tmp_path_factory.mktemp('forecast') / 'twin.db'}")
        request.addfinalizer(store.close)
    twin = open_twin(Settings(database_url="sqlite://"), store)
    tenant = f"t{uuid.uuid4().hex[:12]}"
    city = load_generated(twin, tenant, 30,
                          ("CityDistrict", "Building", "SmartMeteringObservation"),
                          meters_with_history=1)
    # Monthly bills (another datasetId) for the first meters: forecasts must not read them.
    bills = billing_rows(city, twin.broker.context(CIVICTWIN_CONTEXT_URL).expand,
                         new_instance_id, now_iso(), tenant)
    history = history_for(twin.store)
    for rows, meter_entity in zip(bills, city.meters[:3], strict=False):
        with history.engine.connect().execution_options(write=True) as conn, conn.begin():
            history.insert(conn, rows, [twin.store.get_entity(tenant, meter_entity["id"])],
                           tenant)
    meter = city.meters[0]
    building = meter["refBuilding"]["object"]
    district = next(b["refCityDistrict"]["object"] for b in city.buildings
                    if b["id"] == building)
    yield twin, tenant, building, district


def test_a_buildings_forecast_is_written_back(metered: tuple[Twin, str, str, str]) -> None:
    twin, tenant, building, _ = metered
    target = resolve(twin.broker, tenant, entity=building)
    assert target.kind == "building" and len(target.meters) == 1
    run = run_forecast(twin.broker, tenant, target, backtest_days=7)
    assert run.meters_with_history == 1 and run.forecast.values.size == 24
    assert run.forecast.scores is not None and run.forecast.scores.origins == 7
    assert run.forecast.scores.mape_ratio < 1.0  # beats seasonal-naive on the sample meter
    assert "no temperature" in run.temperature_source
    stored = twin.store.get_entity(tenant, forecast_id(building))
    assert stored is not None and stored.types == [FORECAST_TYPE]
    values = stored.attrs[CT + "electricityConsumptionForecast"][0]
    assert values["type"] == "ListProperty" and len(values["valueList"]) == 24
    assert values["unitCode"] == "KWH"
    ref = stored.attrs["https://smartdatamodels.org/dataModel.Building/refBuilding"][0]
    assert ref["object"] == building
    valid_from = stored.attrs["https://smartdatamodels.org/validFrom"][0]["value"]
    assert valid_from["@value"] == "2025-01-01T00:00:00Z"  # the day after the history
    assert stored.attrs[CT + "backtestMAPE"][0]["value"] == pytest.approx(
        run.forecast.scores.mape, abs=1e-3)
    assert stored.attrs[CT + "forecastModel"][0]["value"]["algorithm"] == \
        "energy-demand-forecast"


def test_forecasting_again_keeps_the_earlier_forecast_in_history(
        metered: tuple[Twin, str, str, str]) -> None:
    twin, tenant, building, _ = metered
    meter = resolve(twin.broker, tenant, entity=building).meters[0]
    target = resolve(twin.broker, tenant, entity=meter)
    run_forecast(twin.broker, tenant, target, backtest_days=0, train_days=14)
    run_forecast(twin.broker, tenant, target, backtest_days=0, train_days=28)
    ctx = twin.broker.context(CIVICTWIN_CONTEXT_URL)
    history = twin.temporal.retrieve(tenant, forecast_id(meter), TemporalQuery(), ctx)
    kept = history["electricityConsumptionForecast"]
    assert len(kept) == 2


def test_a_district_is_forecast_at_quarter_hours(metered: tuple[Twin, str, str, str]) -> None:
    twin, tenant, _, district = metered
    target = resolve(twin.broker, tenant, district=district)
    assert target.kind == "district" and len(target.meters) >= 1
    run = run_forecast(twin.broker, tenant, target, resolution="PT15M", backtest_days=0)
    assert run.forecast.values.size == 96 and run.meters_with_history == 1
    stored = twin.store.get_entity(tenant, forecast_id(district))
    assert stored is not None
    assert stored.attrs[CT + "refCityDistrict"][0]["object"] == district


def test_what_cannot_be_forecast_is_refused(metered: tuple[Twin, str, str, str]) -> None:
    twin, tenant, building, district = metered
    with pytest.raises(ResourceNotFound):
        resolve(twin.broker, tenant, entity="urn:ngsi-ld:Building:none")
    with pytest.raises(BadRequestData, match="exactly one"):
        resolve(twin.broker, tenant, entity=building, district=district)
    with pytest.raises(BadRequestData, match="not a CityDistrict"):
        resolve(twin.broker, tenant, district=building)
    with pytest.raises(BadRequestData, match="neither"):
        resolve(twin.broker, tenant, entity=district)
    billed_only = "urn:ngsi-ld:SmartMeteringObservation:lumen:2"  # bills, no readings
    with pytest.raises(BadRequestData, match="no electricityConsumption history"):
        run_forecast(twin.broker, tenant, resolve(twin.broker, tenant, entity=billed_only))
    with pytest.raises(BadRequestData, match="resolution"):
        run_forecast(twin.broker, tenant, resolve(twin.broker, tenant, entity=building),
                     resolution="P1D")


@pytest.mark.slow
def test_the_forecast_command_prints_writes_and_plots(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'twin.db'}"
    load_sample_city(Settings(database_url=url), buildings=20, history_meters=1,
                     insight=False)
    png = tmp_path / "f.png"
    runner = CliRunner()
    done = runner.invoke(app, ["forecast", "--entity", "urn:ngsi-ld:Building:lumen:1",
                               "--database-url", url, "--plot", str(png), "--backtest-days",
                               "7"], env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.stderr
    assert "backtest over 7 days: MAPE" in done.stdout
    assert "written: urn:ngsi-ld:EnergyForecast:Building:lumen:1" in done.stdout
    assert png.read_bytes()[:4] == b"\x89PNG"
    refused = runner.invoke(app, ["forecast", "--database-url", url])
    assert refused.exit_code == 2 and "exactly one" in refused.stderr
