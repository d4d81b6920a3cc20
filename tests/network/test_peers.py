"""Peer configuration, the network offer and who may use /network, on both stores."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from civictwin.app import create_app
from civictwin.cli import app as cli
from civictwin.config import Settings
from civictwin.dataspace.participants import Participants
from civictwin.errors import BadRequestData, ResourceNotFound
from civictwin.network.discovery import PeerDataset
from civictwin.network.offers import OFFER_ID, energy_offer, offer_energy
from civictwin.network.peers import peer, peers
from civictwin.store import Store
from tests.servers import loopback_settings

PEM = ("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n"
       "-----END PUBLIC KEY-----\n")


def _url(store: Store) -> str:
    return store.engine.url.render_as_string(hide_password=False)  # type: ignore[attr-defined]


def test_peers_must_be_registered_with_endpoint_and_key(store: Store, tenant: str) -> None:
    registry = Participants(store)
    ok, bare, keyless = (f"urn:test:{tenant}:{n}" for n in ("ok", "bare", "keyless"))
    registry.add(ok, "City of Ok", {"provider"}, f"{tenant}-ok", "city", PEM,
                 "http://127.0.0.1:9/dsp")
    registry.add(bare, "City of Bare", {"provider"}, f"{tenant}-bare", "city", PEM)
    registry.add(keyless, "City of Keyless", {"provider"}, f"{tenant}-k", "city", None,
                 "http://127.0.0.1:9/dsp")
    found = peers(store, Settings(network_peers=(ok,)))
    assert [(p.id, p.name, p.base_url) for p in found] == [(ok, "City of Ok",
                                                            "http://127.0.0.1:9")]
    with pytest.raises(BadRequestData, match="has no Dataspace Protocol endpoint"):
        peers(store, Settings(network_peers=(ok, bare)))
    with pytest.raises(BadRequestData, match="has no public key registered"):
        peers(store, Settings(network_peers=(keyless,)))
    with pytest.raises(ResourceNotFound, match="is not a registered participant"):
        peers(store, Settings(network_peers=("urn:test:nobody",)))
    with pytest.raises(ResourceNotFound, match="is not a peer of this twin's network"):
        peer(store, Settings(network_peers=(ok,)), bare)
    ran = CliRunner().invoke(cli, ["network", "peers", "--database-url", _url(store)],
                             env={"CIVICTWIN_NETWORK_PEERS": f"{ok},urn:test:nobody"})
    assert ran.exit_code == 2
    assert ran.stderr.strip() == ("error: network peer urn:test:nobody is not a registered "
                                  "participant (register it with `civictwin participants add`)")


def test_the_network_offer_needs_meter_history(store: Store, tenant: str) -> None:
    with pytest.raises(ResourceNotFound, match="holds no meter history in tenant"):
        offer_energy(store, Settings(), tenant)
    rules = energy_offer(12)["permission"][0]["constraint"]
    assert {"leftOperand": "civictwin:aggregation", "operator": "gteq",
            "rightOperand": "12"} in rules


def test_an_offer_allows_aggregates_only_when_every_permission_says_so() -> None:
    purpose = {"@id": "urn:o:p", "permission": [{"action": "use", "constraint": [
        {"leftOperand": "purpose", "operator": "eq", "rightOperand": "research"}]}]}
    both = {"@id": "urn:o:b", "permission": [*energy_offer()["permission"],
                                             *purpose["permission"]]}
    assert PeerDataset("p", "d", "", (), (energy_offer(),)).aggregates_only
    assert not PeerDataset("p", "d", "", (), (purpose,)).aggregates_only
    assert not PeerDataset("p", "d", "", (), (both,)).aggregates_only
    assert not PeerDataset("p", "d", "", (), ()).aggregates_only
    assert energy_offer()["@id"] == OFFER_ID


def test_only_operators_ask_and_only_peers_read_shared_indicators(store: Store,
                                                                  tenant: str) -> None:
    registry = Participants(store)
    outsider = registry.add(f"urn:test:{tenant}:ngo", "NGO", {"consumer"}, f"{tenant}-ngo")
    key = registry.issue_key(outsider.id).key
    app = create_app(loopback_settings(auth_required=True), store=store)
    with TestClient(app) as client:
        headers = {"Authorization": f"Bearer {key}"}
        for method, path in (("POST", "/network/answers"), ("GET", "/network/peers"),
                             ("GET", "/network/benchmark"), ("GET", "/network/answers"),
                             ("GET", "/network/indicators")):
            answer = client.request(method, path, headers=headers, json={})
            assert answer.status_code == 403, (path, answer.text)
        asked = client.post("/network/questions/energy-per-m2", headers=headers,
                            json={"start": "2024-01-01", "end": "2025-01-01",
                                  "agreement": "urn:uuid:nope"})
        assert asked.status_code == 404 and "no agreement urn:uuid:nope" in asked.text
        assert client.get("/network/peers").status_code == 401
