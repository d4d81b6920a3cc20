"""The command line: real runs of `civictwin` in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from civictwin.app import create_app
from civictwin.config import Settings
from civictwin.ngsild.broker import ContextBroker
from civictwin.ngsild.jsonld import CIVICTWIN_CONTEXT_URL
from civictwin.ngsild.params import entity_query
from civictwin.store import open_store
from civictwin.store.migrations import MIGRATIONS


def civictwin(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from civictwin.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def test_demo_loads_a_queryable_city(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    run = civictwin("demo", "--database-url", url, "--buildings", "60", "--load-only",
                    "--history-meters", "2", "--no-insight")
    assert run.returncode == 0, run.stderr
    assert "loaded" in run.stderr
    (key,) = [line.removeprefix("export KEY=") for line in run.stdout.splitlines()
              if line.startswith("export KEY=ctk_")]
    auth = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(Settings(database_url=url)), headers=auth) as http:
        link = f'<{CIVICTWIN_CONTEXT_URL}>; rel="http://www.w3.org/ns/json-ld#context"'
        meter = http.get("/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:SmartMeteringObservation:"
                         "lumen:1", params={"attrs": "electricityConsumption",
                                            "aggrMethods": "totalCount"},
                         headers={"Link": link})
        assert meter.status_code == 200, meter.text
        assert meter.json()["electricityConsumption"]["totalCount"][0][0] >= 35_040
        http.app.state.store.close()  # type: ignore[attr-defined]
    store = open_store(url)
    broker = ContextBroker(store, Settings(database_url=url))
    ctx = broker.context(CIVICTWIN_CONTEXT_URL)
    types = {ctx.compact(t): n for t, n in broker.types("").items()}
    assert types["Building"] == 60 and types["SmartMeteringObservation"] == 60
    assert types["AirQualityObserved"] >= 6 and types["CityDistrict"] >= 4
    query = entity_query({"type": "Building", "q": "floorArea>0;yearBuilt>1800",
                          "count": "true", "limit": "0"}, ctx, 20)
    assert broker.query("", query).count == 60
    store.close()
    again = civictwin("demo", "--database-url", url, "--buildings", "60", "--load-only",
                      "--no-insight")
    assert again.returncode == 0, again.stderr  # loading twice is idempotent


def test_bad_input_gets_one_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    run = civictwin("migrate", "--database-url", "mysql://nope")
    assert run.returncode == 2
    assert run.stderr.strip().count("\n") == 0 and "expected sqlite" in run.stderr
    config = tmp_path / "bad.toml"
    config.write_text("port = 'x'\n")
    bad = civictwin("settings", "--config", str(config))
    assert bad.returncode == 2 and "port" in bad.stderr


def test_migrate_and_settings(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    run = civictwin("migrate", "--database-url", url)
    newest = MIGRATIONS[-1][0]
    assert run.returncode == 0 and f"schema at version {newest}" in run.stdout
    shown = civictwin("settings")
    assert shown.returncode == 0 and "database_url" in shown.stdout
    assert json.dumps("sqlite:///civictwin.db")[1:-1] in shown.stdout
