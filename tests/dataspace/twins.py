"""Two civictwin instances on loopback, a provider and a consumer, that know each other.

Each runs under real uvicorn with authentication on, signs its protocol messages with its own
Ed25519 key, and records every Dataspace Protocol message it receives and answers, so tests
can validate them against the official JSON Schemas.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from civictwin.catalog import Catalogue, Dataset
from civictwin.config import Settings
from civictwin.dataspace.auth import ensure_identity
from civictwin.dataspace.participants import Participants
from civictwin.store import Store
from tests.servers import free_port, serve_twin

DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"
BUILDING = DEFAULT + "Building"
OFFER = {"@id": "urn:civictwin:offer:buildings-for-research", "@type": "Offer",
         "permission": [{"action": "use", "constraint": [
             {"leftOperand": "purpose", "operator": "eq", "rightOperand": "climate-research"}]}]}


@dataclass
class Recorder:
    """An ASGI wrapper keeping every /dsp and /.well-known exchange: request and answer."""

    app: Any
    exchanges: list[dict[str, Any]] = field(default_factory=list)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self.records(scope):
            await self.app(scope, receive, send)
            return
        sent: list[bytes] = []
        got: list[bytes] = []
        status: list[int] = []

        async def receive_recorded() -> Any:
            message = await receive()
            got.append(message.get("body", b""))
            return message

        async def send_recorded(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            elif message["type"] == "http.response.body":
                sent.append(message.get("body", b""))
            await send(message)

        await self.app(scope, receive_recorded, send_recorded)
        self.exchanges.append(self.exchange(scope, status[0] if status else None,
                                            b"".join(got), b"".join(sent)))

    def records(self, scope: dict[str, Any]) -> bool:
        """Whether to keep this request: the protocol's paths."""
        return bool(scope["path"].startswith(("/dsp", "/.well-known")))

    def exchange(self, scope: dict[str, Any], status: int | None, request: bytes,
                 answer: bytes) -> dict[str, Any]:
        """Return what is kept of one exchange: the bodies as JSON."""
        return {"path": scope["path"], "method": scope["method"], "status": status,
                "request": _json(request), "answer": _json(answer)}


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw.strip() else None
    except ValueError:
        return None


@dataclass
class Side:
    """One running twin: its URL, settings (as a TOML file too), store and operator key."""

    url: str
    settings: Settings
    config: Path
    store: Store
    operator_key: str
    recorder: Recorder


def _toml(path: Path, values: dict[str, Any]) -> Path:
    lines = [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


@contextmanager
def two_twins(provider_store: Store, consumer_store: Store, consumer_db: str, tmp_path: Path,
              tenant: str, **provider_settings: Any) -> Iterator[tuple[Side, Side]]:
    """Serve a provider (data in `tenant`) and a consumer that have registered each other."""
    suffix = uuid.uuid4().hex[:8]
    ports = {"provider": free_port(), "consumer": free_port()}
    values = {side: {"participant_id": f"urn:civictwin:participant:{side}-{suffix}",
                     "signing_key_file": str(tmp_path / f"{side}.pem"),
                     "host": "127.0.0.1", "port": ports[side]}
              for side in ports}
    values["provider"].update(provider_settings)
    keys = {side: ensure_identity(Settings(**v)) for side, v in values.items()}
    p_id, c_id = values["provider"]["participant_id"], values["consumer"]["participant_id"]
    at_provider, at_consumer = Participants(provider_store), Participants(consumer_store)
    at_provider.add(c_id, "Climate NGO", {"consumer"}, f"ngo-{suffix}", "ngo", keys["consumer"])
    at_provider.add(f"energy-{suffix}", "Energy department", {"provider"}, tenant, "department")
    at_consumer.add(p_id, "Lumen city", {"provider"}, "", "city", keys["provider"],
                    f"http://127.0.0.1:{ports['provider']}/dsp")
    sides = []
    with ExitStack() as stack:
        for side, store in (("provider", provider_store), ("consumer", consumer_store)):
            participants = Participants(store)
            operator = participants.add(f"op-{side}-{suffix}", "Operator", {"operator"})
            key = participants.issue_key(operator.id).key
            recorder: list[Recorder] = []

            def wrap(app: Any, keep: list[Recorder] = recorder) -> Recorder:
                keep.append(Recorder(app))
                return keep[0]

            served = {k: v for k, v in values[side].items() if k != "port"}
            url = stack.enter_context(serve_twin(store, ports[side], wrap, auth_required=True,
                                                 **served))
            database = consumer_db if side == "consumer" else \
                store.engine.url.render_as_string(hide_password=False)  # type: ignore[attr-defined]
            config = _toml(tmp_path / f"{side}.toml", {**values[side], "database_url": database})
            sides.append(Side(url, Settings(**values[side]), config, store, key, recorder[0]))
        yield sides[0], sides[1]


def offer_buildings(store: Store, settings: Settings, tenant: str, publisher: str,
                    temporal: bool = True, offers: list[dict[str, Any]] | None = None) -> str:
    """Put a dataset of the tenant's buildings, with an offer, in the provider's catalogue."""
    dataset_id = f"urn:civictwin:dataset:{tenant}:buildings"
    Catalogue(store, settings).put_dataset(tenant, Dataset(
        id=dataset_id, title="Buildings of Lumen", description="Footprints and energy use.",
        publisher=publisher, offers=offers if offers is not None else [OFFER],
        ngsi_tenant=tenant, ngsi_types=[BUILDING], temporal=temporal))
    return dataset_id
