"""`civictwin demo` computes what /insight serves: indicators, GHG, scenarios, forecasts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from civictwin.app import create_app
from civictwin.config import Settings


@pytest.mark.slow
def test_the_demo_city_answers_every_insight_question(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    lake = str(tmp_path / "lake")
    run = subprocess.run(
        [sys.executable, "-c", "from civictwin.cli import main; main()", "demo",
         "--database-url", url, "--buildings", "40", "--history-meters", "2", "--load-only"],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "CIVICTWIN_LAKE_PATH": lake}, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    (key,) = [line.removeprefix("export KEY=") for line in run.stdout.splitlines()
              if line.startswith("export KEY=ctk_")]
    settings = Settings(database_url=url, lake_path=lake)
    with TestClient(create_app(settings), headers={"Authorization": f"Bearer {key}"}) as http:
        indicators = {i["id"]: i for i in http.get("/insight/indicators").json()["indicators"]}
        assert indicators["energy-per-capita"]["value"] > 0
        assert indicators["renewable-share"]["isoConfirmed"]
        monthly = http.get("/insight/indicators", params={"period": "2024-06"}).json()
        assert len(next(i for i in monthly["indicators"]
                        if i["id"] == "electricity-per-capita")["series"]) == 12
        ghg = http.get("/insight/ghg").json()
        assert ghg["year"] == "2024" and ghg["total_tco2e"] > 0
        scenarios = http.get("/insight/scenarios").json()["scenarios"]
        assert {s["id"] for s in scenarios} == {"baseline", "net-zero-2050"}
        compared = http.get("/insight/scenarios/compare",
                            params={"ids": "baseline,net-zero-2050"}).json()
        assert compared["difference"][-1]["tco2e"] < 0
        forecasts = http.get("/insight/forecasts").json()["forecasts"]
        assert {f["kind"] for f in forecasts} == {"building", "district"}
        one = http.get("/insight/forecasts", params={"entity": forecasts[0]["entity"]}).json()
        assert len(one["points"]) == 24 and one["mape"] is not None
        http.app.state.store.close()  # type: ignore[attr-defined]
    assert not (tmp_path / "civictwin-lake").exists()  # the lake went where the setting says
