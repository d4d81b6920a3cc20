"""Fixtures for ingestion tests: a mapping like a city's, a broker, the dead-letter box."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from civictwin.config import Settings
from civictwin.ingest.deadletter import DeadLetterBox
from civictwin.ingest.mapping import Mapping, load_mapping
from civictwin.ngsild.broker import ContextBroker
from civictwin.store import Store

MAPPING_TOML = """
tenant = "{tenant}"

[mqtt]
client_id = "{client_id}"
batch_size = 200

[[rules]]
name = "meter-json"
topic = "lumen/{tenant}/meters/{{meterId}}/reading"
entity_id = "urn:ngsi-ld:SmartMeter:{{meterId}}"
entity_type = "SmartMeteringObservation"
observed_at = "ts"
time_format = "epoch_ms"
attributes = [
  {{ source = "energy_wh", name = "activeEnergyImport", from_unit = "Wh", to_unit = "kWh" }},
  {{ source = "power.w", name = "activePower", from_unit = "W", to_unit = "kW" }},
  {{ source = "status", kind = "text", required = false }},
]

[[rules]]
name = "meter-compact"
topic = "lumen/{tenant}/meters/{{meterId}}/compact"
payload = "csv"
csv_fields = ["ts", "energy_mwh", "gas_m3"]
entity_id = "urn:ngsi-ld:SmartMeter:{{meterId}}"
entity_type = "SmartMeteringObservation"
observed_at = "ts"
time_format = "%Y%m%dT%H%M%S"

[[rules.attributes]]
source = "energy_mwh"
name = "activeEnergyImport"
from_unit = "MWh"
to_unit = "kWh"

[[rules.attributes]]
source = "gas_m3"
name = "gasEnergy"
from_unit = "m3"
to_unit = "kWh"
calorific_value = 10.5

[[rules]]
name = "billing"
entity_id = "urn:ngsi-ld:SmartMeter:{{meter}}"
entity_type = "SmartMeteringObservation"
observed_at = "period_end"
time_format = "%d/%m/%Y"
attributes = [
  {{ source = "consumption_mwh", name = "billedEnergy", from_unit = "MWh", to_unit = "kWh" }},
  {{ source = "account", name = "account", kind = "text" }},
]

[[rules]]
name = "footprints"
entity_id = "urn:ngsi-ld:Building:{{ref}}"
entity_type = "Building"
geometry = "location"
attributes = [
  {{ source = "floors", name = "floorsAboveGround", kind = "integer" }},
]
"""


def write_mapping(path: Path, tenant: str, client_id: str = "ct-test") -> Path:
    """Write the test mapping file for a tenant; return its path."""
    path.write_text(MAPPING_TOML.format(tenant=tenant, client_id=client_id))
    return path


@pytest.fixture
def mapping(tmp_path: Path, tenant: str) -> Mapping:
    """The test mapping, aimed at this test's tenant."""
    return load_mapping(write_mapping(tmp_path / "mapping.toml", tenant, f"ct-{tenant}"))


@pytest.fixture
def broker(store: Store) -> ContextBroker:
    """A context broker over the store of each kind."""
    return ContextBroker(store, Settings(database_url="sqlite://"))


@pytest.fixture
def box(store: Store) -> DeadLetterBox:
    """The dead-letter box of the store."""
    return DeadLetterBox(store)


@pytest.fixture
def publisher(mqtt_url: str) -> Iterator[paho.Client]:
    """A connected paho client for publishing test messages."""
    parts = urlsplit(mqtt_url)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    client.connect(parts.hostname or "127.0.0.1", parts.port or 1883)
    client.loop_start()
    yield client
    client.disconnect()
    client.loop_stop()
