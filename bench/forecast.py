"""Day-ahead forecast accuracy against seasonal-naive, on generated meter data.

data      the sample city's generator (seed 7): a year of quarter-hour electricity of the first
          `--meters` meters, summed to hours, and the city's hourly temperature; each meter
          alone, and all of them summed (a "district").
ours      civictwin.analytics.forecast.backtest: a day-ahead forecast at each of the last
          `--days` midnights of the year, fitted on the 56 days before each, calendar in
          Europe/Brussels, temperature by persistence.
baseline  seasonal-naive: the same hour one week earlier, scored on the same days.

Prints MAPE and RMSE of both and their ratio (ours / baseline; below 1 is better). Target:
the ratio of the district's MAPE below 0.9. The time per forecast (fit + predict, backtest
included) is printed beside it.
Run:  .venv/bin/python bench/forecast.py [--meters N] [--days N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd
from rich.table import Table

from bench.workload import console, verdict
from civictwin.analytics.forecast import Scores, backtest
from civictwin.samplecity import SampleCity, generate_city
from civictwin.samplecity.weather import weather_year

TARGET = 0.9
YEAR = 2024


def hourly(times: object, values: object) -> pd.Series:
    """Return a generator series (UTC datetime64 stamps) summed to hours."""
    index = pd.DatetimeIndex(pd.to_datetime(times)).tz_localize("UTC")
    return pd.Series(values, index=index).resample("1h").sum()


def run(meters: int = 8, days: int = 28) -> dict[str, float]:
    """Backtest each meter and their sum; print the table; return the district's figures."""
    city = generate_city(seed=7, buildings=max(meters, 10))
    weather = weather_year(7, YEAR)
    temperature = pd.Series(weather.temperature,
                            index=pd.DatetimeIndex(pd.to_datetime(weather.time)).tz_localize("UTC"))
    loads = {m["id"]: hourly(*_readings(city, m["id"])) for m in city.meters[:meters]}
    loads["district (sum)"] = sum(loads.values(), start=pd.Series(0.0, index=next(
        iter(loads.values())).index))
    table = Table("series", "MAPE ours %", "MAPE naive %", "ratio", "RMSE ours", "RMSE naive",
                  "ratio", "s per backtest")
    district: Scores | None = None
    seconds: list[float] = []
    for name, load in loads.items():
        start = time.perf_counter()
        scores = backtest(load, temperature, days=days, timezone="Europe/Brussels")
        seconds.append(time.perf_counter() - start)
        table.add_row(name.rsplit(":", 2)[-1] if name.startswith("urn") else name,
                      f"{scores.mape:.1f}", f"{scores.naive_mape:.1f}",
                      f"{scores.mape_ratio:.2f}", f"{scores.rmse:.3f}",
                      f"{scores.naive_rmse:.3f}", f"{scores.rmse_ratio:.2f}",
                      f"{seconds[-1]:.3f}")
        district = scores
    console.print(table)
    assert district is not None
    console.print(f"{days} day-ahead forecasts per series; median time per backtest "
                  f"{statistics.median(seconds):.3f} s")
    verdict(f"district MAPE ratio < {TARGET}", district.mape_ratio < TARGET,
            f"{district.mape_ratio:.2f} (RMSE ratio {district.rmse_ratio:.2f})")
    return {"mape_ratio": district.mape_ratio, "rmse_ratio": district.rmse_ratio,
            "mape": district.mape, "naive_mape": district.naive_mape}


def _readings(city: SampleCity, meter_id: str) -> tuple[object, object]:
    series = city.meter_readings(meter_id)
    return series.electricity_time, series.electricity_kwh


def main() -> None:
    """Run the benchmark from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=8)
    parser.add_argument("--days", type=int, default=28)
    args = parser.parse_args()
    figures = run(args.meters, args.days)
    sys.exit(0 if figures["mape_ratio"] < TARGET else 1)


if __name__ == "__main__":
    main()
