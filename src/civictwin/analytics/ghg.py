"""A GPC BASIC greenhouse-gas inventory from the twin's metered energy, with a target path.

Activity data are the monthly bills in the lake (``energy_use`` job, datasetId billing),
per building use class and carrier; emissions are activity times the factor table shipped in the
package (``emission_factors.toml``), which a city overrides with its own TOML. Fuel burnt in
the city's buildings is scope 1, grid electricity and district heat are scope 2. The GPC
BASIC sectors the twin holds no data for (transport, waste, the rest of stationary energy) are
reported with the GPC notation key NE (not estimated), never as zero.
"""

from __future__ import annotations

import csv
import tomllib
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from civictwin.analytics.engine import JOBS, AnalyticsEngine
from civictwin.errors import BadRequestData

BILLING = "urn:ngsi-ld:Dataset:billing"
SECTORS = {"residential": ("I.1", "Residential buildings"),
           "commercial": ("I.2", "Commercial and institutional buildings and facilities"),
           "industrial": ("I.3", "Manufacturing industries and construction")}
NOT_ESTIMATED: tuple[tuple[str, str, str, str], ...] = (
    ("I.1.3 / I.2.3 / I.3.3", "Stationary energy", "Transmission and distribution losses", "3"),
    ("I.4", "Stationary energy", "Energy industries", "1, 2"),
    ("I.5", "Stationary energy", "Agriculture, forestry and fishing activities", "1, 2"),
    ("I.6", "Stationary energy", "Non-specified sources", "1, 2"),
    ("I.7 / I.8", "Stationary energy", "Fugitive emissions (coal, oil and natural gas)", "1"),
    ("II.1", "Transportation", "On-road transportation", "1, 2"),
    ("II.2", "Transportation", "Railways", "1, 2"),
    ("II.3 / II.4", "Transportation", "Waterborne navigation, aviation", "1, 2"),
    ("II.5", "Transportation", "Off-road transportation", "1, 2"),
    ("III.1", "Waste", "Solid waste disposal", "1, 3"),
    ("III.2", "Waste", "Biological treatment of waste", "1, 3"),
    ("III.3", "Waste", "Incineration and open burning", "1, 3"),
    ("III.4", "Waste", "Wastewater treatment and discharge", "1, 3"),
)
WHY_NOT = {"Stationary energy": "no data in the twin for this sub-sector",
           "Transportation": "the twin holds no vehicle-kilometre or fuel-sales data",
           "Waste": "the twin holds no waste tonnage or wastewater data"}


@dataclass(frozen=True)
class Factor:
    """One carrier's emission factor (t CO2e per MWh), its scope and where it comes from."""

    carrier: str
    factor: float
    scope: int
    source: str
    confirmed: bool
    biogenic_co2: float = 0.0
    renewable_share: float = 0.0  # renewable fraction of the energy the carrier delivers
    year: int | None = None  # the data year of the published figure
    default: bool = False  # a shipped default the city is expected to replace


@dataclass(frozen=True)
class FactorTable:
    """A versioned emission factor table, plus the grid's renewable share and the targets."""

    version: str
    carriers: dict[str, Factor]
    grid_renewable_share: float | None = None
    targets: dict[str, Any] = field(default_factory=dict)
    sources: tuple[str, ...] = ("package",)
    grid: dict[str, Any] = field(default_factory=dict)  # share, year, source, default
    heat_pump_spf: float | None = None
    heat_pumps: dict[str, Any] = field(default_factory=dict)  # spf, source, default

    def renewable_share(self, carrier: str) -> float:
        """Return the renewable fraction of a carrier (grid electricity from [grid])."""
        if carrier == "electricity":
            return self.grid_renewable_share or 0.0
        found = self.carriers.get(carrier)
        return found.renewable_share if found is not None else 0.0


def default_factors() -> FactorTable:
    """Return the factor table shipped with civictwin."""
    text = resources.files("civictwin.analytics").joinpath("emission_factors.toml")
    return _table(tomllib.loads(text.read_text("utf-8")), ("package",))


def load_factors(path: Path | None = None) -> FactorTable:
    """Return the shipped table with a city's TOML overrides applied."""
    base = default_factors()
    if path is None:
        return base
    try:
        override = tomllib.loads(path.read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BadRequestData(f"emission factors {path}: {exc}") from exc
    merged: dict[str, Any] = {
        "version": override.get("version", f"{base.version}+{path.stem}"),
        "carriers": {c: {**vars(f)} for c, f in base.carriers.items()},
        "grid": dict(base.grid), "heat_pumps": dict(base.heat_pumps),
        "targets": dict(base.targets)}
    for carrier, values in dict(override.get("carriers", {})).items():
        if not isinstance(values, dict):
            raise BadRequestData(f"emission factors {path}: carriers.{carrier} is not a table")
        entry = merged["carriers"].setdefault(carrier, {"scope": 1, "confirmed": True,
                                                        "source": f"city file {path.name}"})
        entry.update(values)
        entry.setdefault("source", f"city file {path.name}")
        if "factor" in values and "source" not in values:
            entry["source"] = f"city file {path.name}"
        if "factor" in values:
            entry["default"] = bool(values.get("default", False))
            entry["year"] = values.get("year")
    for section in ("grid", "heat_pumps"):
        given = dict(override.get(section, {}))
        if given:  # the city's figure: its source is the city's file unless it names one
            merged[section].update({"default": False, "source": f"city file {path.name}",
                                    "year": None, **given})
    merged["targets"].update(dict(override.get("targets", {})))
    return _table(merged, ("package", str(path)))


def _table(doc: Mapping[str, Any], sources: tuple[str, ...]) -> FactorTable:
    carriers: dict[str, Factor] = {}
    for name, raw in dict(doc.get("carriers", {})).items():
        try:
            factor = float(raw["factor"])
            scope = int(raw.get("scope", 1))
        except (KeyError, TypeError, ValueError) as exc:
            raise BadRequestData(f"emission factor {name}: needs a numeric factor") from exc
        if factor < 0 or scope not in (1, 2, 3):
            raise BadRequestData(f"emission factor {name}: factor >= 0 and scope 1, 2 or 3")
        carriers[name] = Factor(name, factor, scope, str(raw.get("source", "")),
                                bool(raw.get("confirmed", True)),
                                float(raw.get("biogenic_co2", 0.0)),
                                _fraction(raw.get("renewable_share", 0.0),
                                          f"carriers.{name}.renewable_share"),
                                _year(raw.get("year")), bool(raw.get("default", False)))
    grid = dict(doc.get("grid", {}))
    share = grid.get("renewable_share")
    heat_pumps = dict(doc.get("heat_pumps", {}))
    spf = heat_pumps.get("spf")
    try:
        spf = None if spf is None else float(spf)
    except (TypeError, ValueError) as exc:
        raise BadRequestData("heat_pumps.spf must be a number") from exc
    if spf is not None and spf < 1.0:
        raise BadRequestData("heat_pumps.spf must be at least 1")
    return FactorTable(str(doc.get("version", "unversioned")), carriers,
                       None if share is None else _fraction(share, "grid.renewable_share"),
                       dict(doc.get("targets", {})), sources, grid, spf, heat_pumps)


def _fraction(value: Any, what: str) -> float:
    try:
        share = float(value)
    except (TypeError, ValueError) as exc:
        raise BadRequestData(f"{what} must be a number between 0 and 1") from exc
    if not 0.0 <= share <= 1.0:
        raise BadRequestData(f"{what} must be between 0 and 1")
    return share


def _year(value: Any) -> int | None:
    try:
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError) as exc:
        raise BadRequestData(f"emission factor year {value!r} is not a year") from exc


@dataclass(frozen=True)
class InventoryLine:
    """One line of the GPC report: a sub-sector, scope and carrier, or a notation key."""

    year: str
    gpc_ref: str
    sector: str
    sub_sector: str
    scope: str
    carrier: str
    activity_mwh: float | None
    factor: float | None
    emissions_t: float | None
    notation: str = ""
    district_id: str = ""
    note: str = ""


@dataclass(frozen=True)
class Inventory:
    """A GPC BASIC inventory per year, and the factor table it used."""

    lines: list[InventoryLine]
    factors: FactorTable

    def total(self, year: str, district_id: str | None = None) -> float:
        """Return the year's BASIC total in t CO2e (a district's part when given)."""
        return sum(line.emissions_t or 0.0 for line in self.lines
                   if line.year == year and (district_id is None
                                             or line.district_id == district_id))

    @property
    def years(self) -> list[str]:
        """Return the inventory years."""
        return sorted({line.year for line in self.lines})


def build_inventory(engine: AnalyticsEngine, factors: FactorTable, start: str,
                    end: str) -> Inventory:
    """Compile the inventory of every year in [start, end) from the lake's bills."""
    rows = engine.run(JOBS["energy_use"], {"period": "year", "dataset": BILLING,
                                           "start": start, "end": end})
    grouped: dict[tuple[str, str, str, str], float] = defaultdict(float)
    for r in rows:
        grouped[(r["period"], r["district_id"], r["use_class"], r["carrier"])] += r["kwh"]
    lines: list[InventoryLine] = []
    for (year, district, use, carrier), kwh in sorted(grouped.items()):
        ref, sub_sector = SECTORS.get(use, ("I.6", "Non-specified sources"))
        found = factors.carriers.get(carrier)
        mwh = kwh / 1000.0
        if found is None:
            lines.append(InventoryLine(year, f"{ref}.?", "Stationary energy", sub_sector, "?",
                                       carrier, mwh, None, None, "NE", district,
                                       f"no emission factor for carrier {carrier}"))
            continue
        note = "" if found.confirmed else "factor not confirmed against its source"
        if found.biogenic_co2:
            note = f"biogenic CO2 (memo): {mwh * found.biogenic_co2:.1f} t"
        lines.append(InventoryLine(year, f"{ref}.{found.scope}", "Stationary energy",
                                   sub_sector, str(found.scope), carrier, mwh, found.factor,
                                   mwh * found.factor, "", district, note))
    for year in sorted({line.year for line in lines}):
        for ref, sector, sub_sector, scope in NOT_ESTIMATED:
            lines.append(InventoryLine(year, ref, sector, sub_sector, scope, "", None, None,
                                       None, "NE", "", WHY_NOT[sector]))
    return Inventory(lines, factors)


@dataclass(frozen=True)
class TrajectoryPoint:
    """A year's emissions (when inventoried) and the target path's value."""

    year: int
    emissions_t: float | None
    target_t: float


def trajectory(inventory: Inventory, until: int = 2050) -> list[TrajectoryPoint]:
    """Return emissions against the path: -reduction_2030 by 2030, zero by neutral_year."""
    targets = inventory.factors.targets
    years = [int(y) for y in inventory.years]
    if not years:
        raise BadRequestData("no inventory year: the lake holds no metered energy bills")
    base_year = int(targets.get("base_year", years[0]))
    if "base_emissions_t" in targets:
        base = float(targets["base_emissions_t"])
    elif str(base_year) in inventory.years:
        base = inventory.total(str(base_year))
    else:
        raise BadRequestData(f"base year {base_year} is not in the inventory: set "
                             "targets.base_emissions_t in the factor file")
    cut = float(targets.get("reduction_2030", 0.55))
    neutral = int(targets.get("neutral_year", 2050))
    if not base_year < 2030 < neutral:
        raise BadRequestData("targets need base_year < 2030 < neutral_year")
    points = []
    for year in range(base_year, max(until, neutral) + 1):
        if year <= 2030:
            target = base * (1 - cut * (year - base_year) / (2030 - base_year))
        else:
            target = max(base * (1 - cut) * (1 - (year - 2030) / (neutral - 2030)), 0.0)
        actual = inventory.total(str(year)) if str(year) in inventory.years else None
        points.append(TrajectoryPoint(year, actual, target))
    return points


GPC_SECTORS = (("I", "Stationary energy", True), ("II", "Transportation", True),
               ("III", "Waste", True), ("IV", "Industrial processes and product use", False),
               ("V", "Agriculture, forestry and other land use", False))


def gpc_summary(inventory: Inventory, year: str) -> list[dict[str, Any]]:
    """Return the GPC / CDP summary of a year: each sector's scope 1, 2 and 3 and BASIC total.

    A cell is t CO2e when any line of that sector and scope was estimated, else its notation
    key: NE (not estimated) for BASIC sectors, and for IPPU and AFOLU (BASIC+ only) as well.
    Gases: CO2 only (CH4 and N2O from combustion are not estimated).
    """
    rows = []
    for roman, sector, basic in GPC_SECTORS:
        lines = [x for x in inventory.lines if x.year == year
                 and x.gpc_ref.split(".")[0].split(" ")[0] == roman]
        cells: dict[str, float | str] = {}
        for scope in ("1", "2", "3"):
            mine = [x for x in lines if scope in x.scope.replace(" ", "").split(",")]
            estimated = [x.emissions_t for x in mine if x.emissions_t is not None]
            cells[scope] = sum(estimated) if estimated else "NE"
        in_basic = [v for k, v in cells.items() if k in ("1", "2") or roman == "III"]
        total = sum(v for v in in_basic if isinstance(v, float))
        rows.append({"year": year, "gpc_ref": roman, "sector": sector, "scope1": cells["1"],
                     "scope2": cells["2"], "scope3": cells["3"],
                     "basic": total if basic and any(isinstance(v, float) for v in in_basic)
                     else ("NE" if basic else "not in BASIC"),
                     "gases": "CO2"})
    return rows


def write_report(inventory: Inventory, points: list[TrajectoryPoint], folder: Path,
                 population: float | None = None) -> list[Path]:
    """Write the GPC report (CSV), the trajectory (CSV) and its plot (PNG); return the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    report = folder / "ghg_inventory_gpc.csv"
    with report.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["year", "gpc_ref", "sector", "sub_sector", "scope", "carrier",
                      "district_id", "activity_mwh", "factor_t_per_mwh", "emissions_tco2e",
                      "notation_key", "note"])
        for line in sorted(inventory.lines, key=lambda x: (x.year, x.gpc_ref, x.district_id,
                                                           x.carrier)):
            out.writerow([line.year, line.gpc_ref, line.sector, line.sub_sector, line.scope,
                          line.carrier, line.district_id, _num(line.activity_mwh),
                          _num(line.factor), _num(line.emissions_t), line.notation, line.note])
        for year in inventory.years:
            total = inventory.total(year)
            out.writerow([year, "BASIC", "Total", "all estimated sub-sectors", "1+2", "", "",
                          "", "", _num(total), "", "per capita: " + (
                              f"{total / population:.3f} t" if population else "n/a")])
    summary = folder / "ghg_summary_gpc.csv"
    with summary.open("w", newline="", encoding="utf-8") as fh:
        sheet = csv.DictWriter(fh, fieldnames=["year", "gpc_ref", "sector", "scope1", "scope2",
                                               "scope3", "basic", "gases"])
        sheet.writeheader()
        for year in inventory.years:
            sheet.writerows({k: (_num(v) if isinstance(v, float) else v) for k, v in r.items()}
                            for r in gpc_summary(inventory, year))
    factors = folder / "emission_factors_used.csv"
    with factors.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["table_version", "carrier", "factor_t_per_mwh", "scope",
                      "renewable_share", "data_year", "default_to_override", "confirmed",
                      "source"])
        table = inventory.factors
        for f in table.carriers.values():
            out.writerow([table.version, f.carrier, f.factor, f.scope,
                          table.renewable_share(f.carrier), f.year or "", f.default,
                          f.confirmed, f.source])
        out.writerow([table.version, "grid renewable share", "", "",
                      table.grid_renewable_share if table.grid_renewable_share is not None
                      else "", table.grid.get("year") or "", table.grid.get("default", ""),
                      "", table.grid.get("source", "")])
        out.writerow([table.version, f"heat pumps, SPF {table.heat_pump_spf}", "", "", "",
                      table.heat_pumps.get("year") or "", table.heat_pumps.get("default", ""),
                      "", table.heat_pumps.get("source", "")])
    path = folder / "ghg_trajectory.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["year", "emissions_tco2e", "target_path_tco2e"])
        for p in points:
            out.writerow([p.year, _num(p.emissions_t), _num(p.target_t)])
    targets = inventory.factors.targets
    label = (f"target path (-{float(targets.get('reduction_2030', 0.55)):.0%} by 2030, "
             f"neutral by {int(targets.get('neutral_year', 2050))})")
    return [report, summary, factors, path,
            plot_trajectory(points, folder / "ghg_trajectory.png", label)]


def plot_trajectory(points: list[TrajectoryPoint], path: Path,
                    label: str = "target path") -> Path:
    """Draw emissions against the target path as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    ax.plot([p.year for p in points], [p.target_t / 1000 for p in points], "--",
            color="tab:green", label=label)
    done = [p for p in points if p.emissions_t is not None]
    ax.plot([p.year for p in done], [(p.emissions_t or 0.0) / 1000 for p in done], "o-",
            color="tab:red", label="inventory (GPC BASIC, estimated sub-sectors)")
    ax.set_xlabel("year")
    ax.set_ylabel("kt CO2e")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("Greenhouse-gas emissions and target trajectory")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"
