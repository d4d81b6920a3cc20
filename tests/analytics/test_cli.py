"""`civictwin lake export`, `indicators` and `ghg`: real runs in a subprocess."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from civictwin.config import Settings
from civictwin.store import open_store
from civictwin.twin import open_twin
from tests.analytics.conftest import load_city


def civictwin(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from civictwin.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.slow
def test_export_indicators_and_ghg_from_the_command_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'twin.db'}"
    store = open_store(url)
    load_city(open_twin(Settings(database_url=url), store), "")
    store.close()
    lake = str(tmp_path / "lake")
    first = civictwin("lake", "export", "--database-url", url, "--lake", lake, "--settle", "0")
    assert first.returncode == 0, first.stderr
    assert "history" in first.stdout
    state = json.loads((tmp_path / "lake" / "_state.json").read_text())
    again = civictwin("lake", "export", "--database-url", url, "--lake", lake, "--settle", "0")
    assert again.returncode == 0 and "nothing new" in again.stdout
    assert json.loads((tmp_path / "lake" / "_state.json").read_text()) == state

    run = civictwin("indicators", "--database-url", url, "--lake", lake, "--csv",
                    str(tmp_path / "ind.csv"), "--plot", str(tmp_path / "ind.png"))
    assert run.returncode == 0, run.stderr
    assert "published" in run.stdout and "2024" in run.stdout
    with (tmp_path / "ind.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    energy = next(r for r in rows if r["indicator"] == "energy-per-capita"
                  and r["area_id"] == "city")
    assert float(energy["value"]) == pytest.approx(78000 * 0.0036 / 1500, rel=1e-4)
    assert (tmp_path / "ind.png").read_bytes()[:4] == b"\x89PNG"

    report = civictwin("ghg", "--lake", lake, "--report", str(tmp_path / "report"))
    assert report.returncode == 0, report.stderr
    assert "GPC BASIC" in report.stdout
    assert (tmp_path / "report" / "ghg_trajectory.png").is_file()

    series = civictwin("indicators", "--lake", lake, "--since", "2023", "--period", "2024-02",
                       "--by", "month", "--no-publish", "--csv", str(tmp_path / "months.csv"))
    assert series.returncode == 0, series.stderr
    with (tmp_path / "months.csv").open(encoding="utf-8") as fh:
        months = {(r["area_id"], r["period"]) for r in csv.DictReader(fh)
                  if r["indicator"] == "electricity-per-capita"}
    assert len(months) == 14 * 3 and ("city", "2023-01") in months  # city and two districts
    with (tmp_path / "report" / "emission_factors_used.csv").open(encoding="utf-8") as fh:
        factors = {r["carrier"]: r for r in csv.DictReader(fh)}
    assert factors["electricity"]["data_year"] == "2018"
    assert factors["electricity"]["default_to_override"] == "True"
    assert "Eurostat" in factors["grid renewable share"]["source"]

    bad = civictwin("indicators", "--lake", lake, "--period", "24", "--no-publish")
    assert bad.returncode == 2 and "use YYYY or YYYY-MM" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    empty = civictwin("ghg", "--lake", str(tmp_path / "nowhere"))
    assert empty.returncode == 2 and "lake export" in empty.stderr
