"""The GPC BASIC inventory: factors, overrides, notation keys, trajectory and report."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from civictwin.analytics.engine import DuckDBEngine
from civictwin.analytics.ghg import (
    build_inventory,
    default_factors,
    gpc_summary,
    load_factors,
    trajectory,
    write_report,
)
from civictwin.analytics.indicators import compute
from civictwin.analytics.lake import Lake
from civictwin.errors import BadRequestData
from tests.analytics.conftest import district

YEAR = ("2024-01-01", "2025-01-01")

GRID = default_factors().carriers["electricity"].factor  # t CO2 per MWh


@pytest.fixture(scope="module")
def duck(city_lake: Lake) -> Any:
    engine = DuckDBEngine(city_lake)
    yield engine
    engine.close()


def test_the_shipped_table_cites_a_source_for_every_factor() -> None:
    table = default_factors()
    assert table.version and {"electricity", "NaturalGas", "HeatingOil", "DistrictHeat",
                              "Biomass"} <= set(table.carriers)
    for factor in table.carriers.values():
        assert factor.source, factor.carrier
    assert table.carriers["NaturalGas"].factor == pytest.approx(56.1 * 0.0036, abs=5e-4)
    assert table.carriers["electricity"].scope == 2
    grid = table.carriers["electricity"]
    assert (grid.factor, grid.year, grid.default) == (0.281, 2018, True)  # EEA EU-27 average
    assert "EEA" in grid.source
    assert table.grid_renewable_share == 0.453 and table.grid["year"] == 2023
    heat = table.carriers["DistrictHeat"]
    assert heat.default and not heat.confirmed and "EFH" in heat.source
    assert all(f.source and f.year for f in table.carriers.values())  # every default cited


def test_inventory_lines_follow_the_gpc_layout(duck: DuckDBEngine) -> None:
    inventory = build_inventory(duck, default_factors(), *YEAR)
    assert inventory.years == ["2024"]
    by_ref = {(x.gpc_ref, x.carrier, x.district_id): x for x in inventory.lines}
    gas = by_ref[("I.1.1", "NaturalGas", district(1))]
    assert (gas.scope, gas.activity_mwh, gas.emissions_t) == ("1", 18.0, pytest.approx(3.636))
    office_power = by_ref[("I.2.2", "electricity", district(1))]
    assert office_power.emissions_t == pytest.approx(11.0 * GRID)
    assert by_ref[("I.3.1", "HeatingOil", district(2))].emissions_t == pytest.approx(13 * 0.267)
    biomass = by_ref[("I.1.1", "Biomass", district(2))]
    assert biomass.emissions_t == 0 and "biogenic CO2 (memo): 0.8 t" in biomass.note
    transport = by_ref[("II.1", "", "")]
    assert transport.notation == "NE" and transport.emissions_t is None
    assert "vehicle" in transport.note
    assert inventory.total("2024") == pytest.approx(18 * 0.202 + 7 * 0.224 + 13 * 0.267
                                                    + 38 * GRID)


def test_a_city_file_overrides_factors_and_targets(duck: DuckDBEngine, tmp_path: Path) -> None:
    path = tmp_path / "city.toml"
    path.write_text('version = "city-2024"\n[carriers.electricity]\nfactor = 0.1\n'
                    'source = "supplier 2024 disclosure"\n[grid]\nrenewable_share = 0.5\n'
                    "[targets]\nbase_year = 1990\nbase_emissions_t = 40.0\n")
    table = load_factors(path)
    assert table.version == "city-2024" and table.carriers["electricity"].factor == 0.1
    assert table.carriers["NaturalGas"].factor == pytest.approx(0.202)  # untouched
    inventory = build_inventory(duck, table, *YEAR)
    assert inventory.total("2024") == pytest.approx(18 * 0.202 + 7 * 0.224 + 13 * 0.267 + 3.8)
    values = {(v.key, v.area_id): v for v in compute(duck, table, *YEAR)}
    ambient = (1500 + 1200 - 2 * 500 * 28 / 12) * 2  # the heat pump's, at the default SPF 3
    assert values[("renewable-share", "")].value == pytest.approx(
        100 * (2000 + 38000 * 0.5 + ambient) / (78000 + ambient))
    assert table.grid == {"renewable_share": 0.5, "default": False, "year": None,
                          "source": "city file city.toml"}
    assert not table.carriers["electricity"].default
    points = {p.year: p for p in trajectory(inventory)}
    assert points[1990].target_t == 40.0
    assert points[2030].target_t == pytest.approx(40.0 * 0.45)
    assert points[2050].target_t == 0.0
    assert points[2024].emissions_t == pytest.approx(inventory.total("2024"))


@pytest.mark.parametrize("text, message", [
    ("[carriers.electricity]\nfactor = -1\n", "factor >= 0"),
    ("[carriers.electricity]\nfactor = 'a lot'\n", "numeric factor"),
    ("[grid]\nrenewable_share = 2\n", "between 0 and 1"),
    ("carriers = [", "emission factors"),
])
def test_bad_factor_files_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(BadRequestData, match=message):
        load_factors(path)


def test_trajectory_needs_a_known_base(duck: DuckDBEngine, tmp_path: Path) -> None:
    path = tmp_path / "city.toml"
    path.write_text("[targets]\nbase_year = 1990\n")
    with pytest.raises(BadRequestData, match="base_emissions_t"):
        trajectory(build_inventory(duck, load_factors(path), *YEAR))
    points = trajectory(build_inventory(duck, default_factors(), *YEAR))
    assert points[0].year == 2024 and points[0].target_t == points[0].emissions_t


def test_report_writes_gpc_csv_trajectory_and_plot(duck: DuckDBEngine, tmp_path: Path) -> None:
    inventory = build_inventory(duck, default_factors(), *YEAR)
    paths = write_report(inventory, trajectory(inventory), tmp_path / "report", 1500)
    names = {p.name for p in paths}
    assert names == {"ghg_inventory_gpc.csv", "ghg_summary_gpc.csv", "emission_factors_used.csv",
                     "ghg_trajectory.csv", "ghg_trajectory.png"}
    with (tmp_path / "report" / "ghg_inventory_gpc.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    total = next(r for r in rows if r["gpc_ref"] == "BASIC")
    assert float(total["emissions_tco2e"]) == pytest.approx(inventory.total("2024"), abs=1e-3)
    assert {r["notation_key"] for r in rows if r["sector"] == "Waste"} == {"NE"}
    png = (tmp_path / "report" / "ghg_trajectory.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_the_gpc_summary_has_every_sector_and_scope(duck: DuckDBEngine, tmp_path: Path) -> None:
    inventory = build_inventory(duck, default_factors(), *YEAR)
    rows = {r["gpc_ref"]: r for r in gpc_summary(inventory, "2024")}
    assert list(rows) == ["I", "II", "III", "IV", "V"]
    scope1 = 18 * 0.202 + 13 * 0.267  # gas and oil burnt in the buildings (biomass counts 0)
    assert rows["I"]["scope1"] == pytest.approx(scope1)
    assert rows["I"]["scope2"] == pytest.approx(7 * 0.224 + 38 * GRID)
    assert rows["I"]["basic"] == pytest.approx(inventory.total("2024"))
    assert rows["I"]["scope3"] == "NE"  # T&D losses
    assert (rows["II"]["scope1"], rows["III"]["basic"]) == ("NE", "NE")
    assert rows["IV"]["basic"] == "not in BASIC"
    paths = write_report(inventory, trajectory(inventory), tmp_path)
    with (tmp_path / "ghg_summary_gpc.csv").open(encoding="utf-8") as fh:
        written = list(csv.DictReader(fh))
    assert tmp_path / "ghg_summary_gpc.csv" in paths
    assert written[0]["scope1"] == f"{scope1:.3f}" and written[1]["scope1"] == "NE"
