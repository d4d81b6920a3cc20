"""What the dashboard's climate views read, made the way the insight CLIs make it.

The default tenant holds the insight tests' tiny city (known meter bills) exported to a lake,
with its indicators computed and published; `lumen`, the generated city, gets two saved
scenarios and a forecast of one building from a year of its meter's readings.
"""

from __future__ import annotations

from pathlib import Path

from civictwin.analytics.engine import DuckDBEngine
from civictwin.analytics.forecast_runs import resolve, run_forecast
from civictwin.analytics.ghg import load_factors
from civictwin.analytics.indicators import compute, publish
from civictwin.analytics.lake import Lake
from civictwin.analytics.scenario import parse_assumptions
from civictwin.analytics.scenario_runs import run_on_twin
from civictwin.config import Settings
from civictwin.ngsild.jsonld import CIVICTWIN_CONTEXT_URL
from civictwin.ngsild.temporal import load_meter_history
from civictwin.samplecity import SampleCity
from civictwin.store import Store
from civictwin.twin import open_twin
from tests.analytics.conftest import export_all, load_city

SCENARIOS = (("slow", 0.01), ("fast", 0.05))


def seed_insight(store: Store, lake_root: Path, city: SampleCity, tenant: str) -> str:
    """Fill both tenants; return the building whose consumption is forecast."""
    twin = open_twin(Settings(database_url="sqlite://"), store)
    load_city(twin, "")
    lake = Lake.at(str(lake_root))
    export_all(twin, lake)
    engine = DuckDBEngine(lake)
    try:
        values = [*compute(engine, load_factors(), "2024-01-01", "2025-01-01"),
                  *compute(engine, load_factors(), "2024-01-01", "2024-03-01", by="month")]
    finally:
        engine.close()
    publish(twin.broker, "", values, "testville", "2026-01-01T00:00:00Z")
    for name, rate in SCENARIOS:
        run_on_twin(twin.broker, tenant, parse_assumptions({
            "name": name, "end_year": 2035, "heat_pumps": {"rate": rate},
            "solar": {"weather": "clear-sky", "rate": rate}}))
    load_meter_history(twin.broker, city, twin.broker.context(CIVICTWIN_CONTEXT_URL),
                       tenant=tenant, meters=1)
    building = str(city.meters[0]["refBuilding"]["object"])
    run_forecast(twin.broker, tenant, resolve(twin.broker, tenant, entity=building),
                 backtest_days=3)
    return building
