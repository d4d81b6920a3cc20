"""`civictwin ingest ...` run for real in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from civictwin.config import Settings
from civictwin.ngsild.broker import ContextBroker
from civictwin.store import open_store
from tests.ingest.conftest import write_mapping
from tests.ingest.test_files import BILLING_CSV
from tests.ingest.test_mqtt import forget_session
from tests.services import require_mqtt_url

COMMAND = [sys.executable, "-c", "from civictwin.cli import main; main()"]


def civictwin(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=120,
                          check=False)


def test_bad_mapping_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rules]]\nname = "x"\nentity_type = "T"\nattributes = [{ source = "v" }]\n')
    data = tmp_path / "data.csv"
    data.write_text("v\n1\n")
    run = civictwin("ingest", "csv", str(data), "--mapping", str(bad),
                    "--database-url", f"sqlite:///{tmp_path / 'db.db'}")
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip().count("\n") == 0
    assert "rules.0.entity_id: Field required" in run.stderr


def test_csv_ingest_with_report_twice_then_dead_letters(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'twin.db'}"
    mapping = write_mapping(tmp_path / "mapping.toml", "")
    data = tmp_path / "billing.csv"
    data.write_text(BILLING_CSV)
    report = tmp_path / "report.json"
    for _ in range(2):
        run = civictwin("ingest", "csv", str(data), "--mapping", str(mapping), "--rule",
                        "billing", "--report", str(report), "--database-url", url)
        assert run.returncode == 0, run.stderr
        assert "6 rows: 3 accepted, 3 rejected; 2 entities written" in run.stdout
        assert "is not a number" in run.stdout
        assert json.loads(report.read_text())["rejected"][0] == {
            "row": 4, "reason": "time '2026-01-31' does not match the format '%d/%m/%Y'"}
    store = open_store(url)
    assert sorted(ContextBroker(store, Settings(database_url=url)).types("").values()) == [2]
    store.close()
    letters = civictwin("ingest", "dead-letters", "--json", "--database-url", url)
    assert letters.returncode == 0, letters.stderr
    rows = [json.loads(line) for line in letters.stdout.splitlines()]
    assert len(rows) == 6 and {r["position"] for r in rows} == {"row 4", "row 5", "row 6"}
    no_rule = civictwin("ingest", "csv", str(data), "--mapping", str(mapping),
                        "--database-url", url)
    assert no_rule.returncode == 2 and "choose one with --rule" in no_rule.stderr


def test_mqtt_command_runs_the_bridge(tmp_path: Path) -> None:
    mqtt_url = require_mqtt_url()
    if mqtt_url is None:
        pytest.skip("Mosquitto not started (run the suite through scripts/test)")
    url = f"sqlite:///{tmp_path / 'twin.db'}"
    tenant = f"cli{uuid.uuid4().hex[:8]}"
    client_id = f"ct-{tenant}"
    mapping = write_mapping(tmp_path / "mapping.toml", tenant, client_id)
    proc = subprocess.Popen([*COMMAND, "ingest", "mqtt", "--mapping", str(mapping), "--url",
                             mqtt_url, "--database-url", url, "--max-messages", "3"],
                            stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        assert "listening on" in proc.stderr.readline()
        time.sleep(0.5)  # the subscription is made right after that line
        parts = urlsplit(mqtt_url)
        pub = paho.Client(CallbackAPIVersion.VERSION2)
        pub.connect(parts.hostname or "127.0.0.1", parts.port or 1883)
        pub.loop_start()
        base = f"lumen/{tenant}/meters"
        for topic, payload in [(f"{base}/M1/reading",
                                '{"ts": 1767225600000, "energy_wh": 5, "power": {"w": 1}}'),
                               (f"{base}/G1/compact", "20260301T120000,1,1"),
                               (f"{base}/M1/reading", "nonsense")]:
            pub.publish(topic, payload, qos=1).wait_for_publish(10)
        pub.disconnect()
        pub.loop_stop()
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
        forget_session(mqtt_url, client_id)
    assert proc.returncode == 0, stderr
    assert "received 3, written 2, dead-lettered 1" in stderr
    store = open_store(url)
    assert store.get_entity(tenant, "urn:ngsi-ld:SmartMeter:G1") is not None
    store.close()
