"""Charts of scenario trajectories and forecasts, drawn with matplotlib's Agg backend."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib
import pandas as pd

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from civictwin.analytics.scenario import METRICS
from civictwin.analytics.scenario_runs import Trajectory
from civictwin.errors import BadRequestData

FORMATS = (".png", ".svg")
PANELS = (("emissions", 1.0, "emissions, tCO2e"), ("electricity_demand", 1e-6,
                                                  "electricity demand, GWh"),
          ("heat_demand", 1e-6, "useful heat demand, GWh"),
          ("pv_generation", 1e-6, "rooftop solar, GWh"),
          ("energy_cost", 1e-6, "energy cost, million EUR"),
          ("investment", 1e-6, "investment, million EUR"))


def _check(path: Path) -> None:
    if path.suffix.lower() not in FORMATS:
        raise BadRequestData(f"plot file {path}: give a .png or .svg name")


def plot_trajectories(trajectories: Sequence[Trajectory], path: Path) -> Path:
    """Draw the headline metrics of one or more scenarios by year into a PNG or SVG file."""
    _check(path)
    figure, axes = plt.subplots(2, 3, figsize=(13, 7), sharex=True)
    for axis, (metric, scale, label) in zip(axes.flat, PANELS, strict=True):
        for item in trajectories:
            axis.plot(item.years, [v * scale for v in item.totals[metric]],
                      label=item.record.name, linewidth=2)
        axis.set_title(f"{label} ({METRICS[metric][1]})", fontsize=10)
        axis.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=9)
    figure.suptitle("Scenario pathways: " + " vs ".join(t.record.name for t in trajectories))
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def plot_forecast(history: pd.Series, forecast: pd.Series, title: str, unit: str,
                  path: Path) -> Path:
    """Draw recent history and the forecast after it into a PNG or SVG file."""
    _check(path)
    figure, axis = plt.subplots(figsize=(11, 4))
    axis.plot(history.index, history.to_numpy(), label="measured", color="#555555",
              linewidth=1)
    axis.plot(forecast.index, forecast.to_numpy(), label="forecast", color="#d62728",
              linewidth=2)
    axis.set_ylabel(unit)
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path
