"""Three cities on loopback, each its own twin, that have registered each other as peers.

Each city is a generated sample city (buildings, meters, a year of monthly bills; no weather
stations, to keep the test short) in its own store, served by real uvicorn with
authentication on; every request it receives from another city is recorded with its answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from civictwin.config import Settings
from civictwin.dataspace.auth import ensure_identity
from civictwin.dataspace.participants import Participants
from civictwin.ngsild.attributes import now_iso
from civictwin.ngsild.jsonld import CIVICTWIN_CONTEXT_URL
from civictwin.ngsild.temporal import history_for
from civictwin.samplecity import generate_city, iter_entities
from civictwin.samplecity.history import billing_rows
from civictwin.store import Store
from civictwin.store.base import Entity
from civictwin.store.temporal import new_instance_id
from civictwin.twin import open_twin
from tests.dataspace.twins import Recorder as DspRecorder
from tests.servers import free_port, serve_twin

YEAR = ("2024-01-01", "2025-01-01")


class Recorder(DspRecorder):
    """Keeps every HTTP exchange a city serves: path, status, credential and both bodies."""

    def records(self, scope: dict[str, Any]) -> bool:
        """Keep every request."""
        return True

    def exchange(self, scope: dict[str, Any], status: int | None, request: bytes,
                 answer: bytes) -> dict[str, Any]:
        """Return the exchange with the credential and the bodies as text."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        return {"path": scope["path"], "method": scope["method"], "status": status,
                "authorization": headers.get("authorization", ""),
                "request": request.decode("utf-8", "replace"),
                "answer": answer.decode("utf-8", "replace")}


@dataclass
class City:
    """One running city: its name, URL, settings, store, operator key and recorder."""

    name: str
    url: str
    settings: Settings
    store: Store
    operator_key: str
    recorder: Recorder


def load_city(store: Store, tenant: str, seed: int, buildings: int) -> None:
    """Load a generated city's entities and a year of monthly bills into `store`."""
    twin = open_twin(Settings(database_url="sqlite://"), store)
    ctx = twin.broker.context(CIVICTWIN_CONTEXT_URL)
    city = generate_city(seed=seed, buildings=buildings)
    entities = [e for e in iter_entities(city) if e["type"] in ("Building", "CityDistrict",
                                                                "SmartMeteringObservation")]
    for start in range(0, len(entities), 500):
        result = twin.broker.batch_upsert(tenant, entities[start:start + 500], ctx)
        assert not result.errors, result.errors
    history = history_for(store)
    meter_type = ctx.expand("SmartMeteringObservation")
    rows: list[dict[str, Any]] = []
    touched = []
    for bills in billing_rows(city, ctx.expand, new_instance_id, now_iso(), tenant):
        if bills:
            rows += bills
            touched.append(Entity(bills[0]["entity_id"], [meter_type]))
    with history.engine.connect().execution_options(write=True) as conn, conn.begin():
        history.insert(conn, rows, touched, tenant)


@contextmanager
def three_cities(stores: list[Store], tmp_path: Path, tenant: str,
                 names: tuple[str, ...] = ("Lumen", "Brisa", "Cardo")) -> Iterator[list[City]]:
    """Serve one city per store; each knows the others as network peers."""
    suffix = uuid.uuid4().hex[:8]
    ports = [free_port() for _ in names]
    ids = [f"urn:civictwin:participant:{n.lower()}-{suffix}" for n in names]
    values = [{"participant_id": ids[i], "signing_key_file": str(tmp_path / f"{n}.pem"),
               "host": "127.0.0.1", "port": ports[i], "network_city_name": n,
               "network_tenant": tenant, "network_peers": tuple(p for p in ids if p != ids[i]),
               "network_wait_seconds": 20.0}
              for i, n in enumerate(names)]
    keys = [ensure_identity(Settings(**v)) for v in values]
    for i, store in enumerate(stores):
        registry = Participants(store)
        registry.add(f"energy-{names[i].lower()}-{suffix}", f"{names[i]} energy office",
                     {"provider"}, tenant, "department")
        for j, other in enumerate(names):
            if j != i:
                registry.add(ids[j], f"City of {other}", {"provider", "consumer"},
                             f"peer-{other.lower()}-{suffix}", "city", keys[j],
                             f"http://127.0.0.1:{ports[j]}/dsp")
    cities = []
    with ExitStack() as stack:
        for i, store in enumerate(stores):
            registry = Participants(store)
            operator = registry.add(f"op-{names[i].lower()}-{suffix}", "Operator", {"operator"})
            key = registry.issue_key(operator.id).key
            kept: list[Recorder] = []

            def wrap(app: Any, keep: list[Recorder] = kept) -> Recorder:
                keep.append(Recorder(app))
                return keep[0]

            served = {k: v for k, v in values[i].items() if k != "port"}
            url = stack.enter_context(serve_twin(store, ports[i], wrap, auth_required=True,
                                                 **served))
            cities.append(City(names[i], url, Settings(**values[i]), store, key, kept[0]))
        yield cities
