"""A twin with entities, history and subscriptions is backed up and restored whole, both stores."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from civictwin.app import create_app
from civictwin.store import open_store
from tests.ops.conftest import NewDatabase
from tests.servers import loopback_settings

TENANT = "lumen"
SUB = {"id": "urn:ngsi-ld:Subscription:loud", "type": "Subscription",
       "entities": [{"type": "Sensor"}], "watchedAttributes": ["noise"], "q": "noise>60",
       "notification": {"endpoint": {"uri": "http://127.0.0.1:9/notify"}}}


def civictwin(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from civictwin.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def _snapshot(url: str) -> dict[str, Any]:
    store = open_store(url)
    app = create_app(loopback_settings(), store=store)
    http = TestClient(app, headers={"NGSILD-Tenant": TENANT})  # no lifespan: nothing delivered
    entities = http.get("/ngsi-ld/v1/entities?type=Sensor&options=sysAttrs&limit=100").json()
    history = http.get("/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:Sensor:0",
                       params={"timerel": "after", "timeAt": "2000-01-01T00:00:00Z",
                               "options": "temporalValues"}).json()
    subs = http.get("/ngsi-ld/v1/subscriptions").json()
    store.close()
    return {"entities": entities, "history": history, "subscriptions": subs}


def _make_twin(url: str) -> None:
    store = open_store(url)
    http = TestClient(create_app(loopback_settings(), store=store),
                      headers={"NGSILD-Tenant": TENANT})
    assert http.post("/ngsi-ld/v1/subscriptions", json=SUB).status_code == 201
    batch = [{"id": f"urn:ngsi-ld:Sensor:{n}", "type": "Sensor",
              "noise": {"type": "Property", "value": 50 + n},
              "location": {"type": "GeoProperty",
                           "value": {"type": "Point", "coordinates": [4.35 + n / 100, 50.85]}}}
             for n in range(20)]
    assert http.post("/ngsi-ld/v1/entityOperations/upsert", json=batch).status_code in (200, 201)
    for value in (70, 71, 72):
        assert http.patch("/ngsi-ld/v1/entities/urn:ngsi-ld:Sensor:0/attrs",
                          json={"noise": {"type": "Property", "value": value}}
                          ).status_code == 204
    store.close()


@pytest.mark.slow
def test_backup_then_restore_into_an_empty_database(new_database: NewDatabase,
                                                    tmp_path: Path) -> None:
    source, target = new_database(), new_database()
    _make_twin(source)
    before = _snapshot(source)
    assert len(before["entities"]) == 20
    assert [v[0] for v in before["history"]["noise"]["values"]] == [50, 70, 71, 72]
    assert before["subscriptions"][0]["id"] == SUB["id"]

    out = tmp_path / "twin.backup"
    made = civictwin("backup", "--out", str(out), "--database-url", source)
    assert made.returncode == 0, made.stderr
    assert "backed up" in made.stderr
    again = civictwin("backup", "--out", str(out), "--database-url", source)
    assert again.returncode != 0 and "exists already" in again.stderr

    restored = civictwin("restore", str(out), "--database-url", target)
    assert restored.returncode == 0, restored.stderr
    assert _snapshot(target) == before
    near = open_store(target)
    http = TestClient(create_app(loopback_settings(), store=near),
                      headers={"NGSILD-Tenant": TENANT})
    found = http.get("/ngsi-ld/v1/entities", params={
        "type": "Sensor", "georel": "near;maxDistance==500", "geometry": "Point",
        "coordinates": "[4.35,50.85]"}).json()
    near.close()
    assert [e["id"] for e in found] == ["urn:ngsi-ld:Sensor:0"]  # spatial index came back

    twice = civictwin("restore", str(out), "--database-url", target)
    assert twice.returncode != 0 and "holds a twin already" in twice.stderr
