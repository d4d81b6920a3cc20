"""Two twins over real HTTP: catalogue, negotiation, transfer, enforced access, audit, schemas."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from civictwin.cli import app as cli
from civictwin.dataspace.audit import AuditLog
from civictwin.dataspace.negotiation import Negotiations
from civictwin.dataspace.transfer import Transfers
from civictwin.errors import InvalidStateTransition
from civictwin.store import Store, open_store
from tests.dataspace.dsp_schemas import DspSchemas
from tests.dataspace.twins import Side, offer_buildings, two_twins

PURPOSE = {"CivicTwin-Purpose": "climate-research"}


def _entity(n: int, kind: str, **attrs: Any) -> dict[str, Any]:
    body = {"id": f"urn:ngsi-ld:{kind}:{n}", "type": kind}
    body.update({k: {"type": "Property", "value": v} for k, v in attrs.items()})
    return body


def _fill(provider: Side, tenant: str) -> None:
    headers = {"Authorization": f"Bearer {provider.operator_key}", "NGSILD-Tenant": tenant}
    batch = [_entity(n, "Building", floors=n + 2, energy=100 * n) for n in (1, 2, 3)]
    batch.append(_entity(1, "Streetlight", lampStatus="on"))
    made = httpx.post(f"{provider.url}/ngsi-ld/v1/entityOperations/create", json=batch,
                      headers=headers)
    assert made.status_code == 201, made.text
    changed = httpx.patch(f"{provider.url}/ngsi-ld/v1/entities/urn:ngsi-ld:Building:1/attrs",
                          json={"energy": {"type": "Property", "value": 150}}, headers=headers)
    assert changed.status_code == 204, changed.text


def _cli(side: Side, *args: str) -> dict[str, Any]:
    run = CliRunner().invoke(cli, [*args, "--config", str(side.config)])
    assert run.exit_code == 0, run.stderr or run.output
    found: dict[str, Any] = json.loads(run.stdout)
    return found


def _until(check: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.slow
def test_negotiate_transfer_read_suspend_and_revoke(store: Store, tmp_path: Path,
                                                    tenant: str, specs_dir: Path) -> None:
    consumer_db = f"sqlite:///{tmp_path / 'consumer.db'}"
    consumer_store = open_store(consumer_db)
    try:
        with two_twins(store, consumer_store, consumer_db, tmp_path, tenant) as (prov, cons):
            _fill(prov, tenant)
            dataset = offer_buildings(store, prov.settings, tenant, "urn:lumen:energy")
            agreement, data = _negotiate_and_transfer(prov, cons, dataset)
            _read_within_the_dataset(data)
            _stop_and_resume(prov, cons, data, agreement)
            _audit_trail(store, tenant, agreement)
            _every_message_is_valid(DspSchemas(specs_dir), prov, cons)
    finally:
        consumer_store.close()


def _negotiate_and_transfer(prov: Side, cons: Side, dataset: str) -> tuple[str, dict[str, Any]]:
    provider_id = prov.settings.participant_id
    catalog = _cli(cons, "dsp", "catalog", "--provider", provider_id)
    (listed,) = [d for d in catalog["dataset"] if d["@id"] == dataset]
    assert listed["hasPolicy"][0]["@id"] == "urn:civictwin:offer:buildings-for-research"
    negotiated = _cli(cons, "dsp", "negotiate", "--provider", provider_id, "--dataset", dataset)
    assert negotiated["state"] == "FINALIZED" and negotiated["agreementStatus"] == "active"
    agreement = negotiated["agreement"]
    assert agreement["assignee"] == cons.settings.participant_id
    assert agreement["assigner"] == provider_id and agreement["target"] == dataset
    provider_side = Negotiations(prov.store, prov.settings).agreement(agreement["@id"])
    assert provider_side.state == "FINALIZED" and provider_side.counterparty == \
        cons.settings.participant_id
    transfer = _cli(cons, "dsp", "transfer", "--agreement", agreement["@id"])
    assert transfer["state"] == "STARTED"
    address = transfer["dataAddress"]
    token = {p["name"]: p["value"] for p in address["endpointProperties"]}["authorization"]
    assert address["endpoint"] == f"{prov.url}/ngsi-ld/v1"
    return agreement["@id"], {"endpoint": address["endpoint"], "token": token,
                              "consumer_pid": transfer["pid"],
                              "provider_pid": transfer["providerPid"]}


def _get(data: dict[str, Any], path: str, purpose: bool = True,
         **params: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {data['token']}", **(PURPOSE if purpose else {})}
    return httpx.get(f"{data['endpoint']}{path}", params=params, headers=headers)


def _read_within_the_dataset(data: dict[str, Any]) -> None:
    everything = _get(data, "/entities", count="true", limit="50")
    assert everything.status_code == 200, everything.text
    assert sorted(e["id"] for e in everything.json()) == [
        f"urn:ngsi-ld:Building:{n}" for n in (1, 2, 3)]
    assert everything.headers["NGSILD-Results-Count"] == "3"
    assert _get(data, "/entities", type="Building", q="floors>3").json()[0]["id"] == \
        "urn:ngsi-ld:Building:2"
    outside = _get(data, "/entities", type="Streetlight")
    assert outside.status_code == 403 and "Streetlight is not in dataset" in \
        outside.json()["detail"]
    assert _get(data, "/entities", type="Building|Streetlight").status_code == 403
    assert _get(data, "/entities/urn:ngsi-ld:Streetlight:1").status_code == 404
    assert _get(data, "/entities/urn:ngsi-ld:Building:1").json()["energy"]["value"] == 150
    assert _get(data, "/types").json()["typeList"] == ["Building"]
    attributes = _get(data, "/attributes").json()["attributeList"]
    assert "lampStatus" not in attributes and {"energy", "floors"} <= set(attributes)
    assert _get(data, "/types/Streetlight").status_code == 404
    assert _get(data, "/attributes/lampStatus").status_code == 404
    history = _get(data, "/temporal/entities/urn:ngsi-ld:Building:1", attrs="energy",
                   options="temporalValues")
    assert history.status_code == 200, history.text
    assert [v[0] for v in history.json()["energy"]["values"]] == [100, 150]
    assert _get(data, "/temporal/entities/urn:ngsi-ld:Streetlight:1").status_code == 404
    no_purpose = _get(data, "/entities", purpose=False)
    assert no_purpose.status_code == 403 and "purpose" in no_purpose.json()["detail"]
    wrong = httpx.get(f"{data['endpoint']}/entities", headers={
        "Authorization": f"Bearer {data['token']}", "CivicTwin-Purpose": "marketing"})
    assert wrong.status_code == 403 and wrong.json()["rule"] == "no-permission"
    write = httpx.post(f"{data['endpoint']}/entities", json=_entity(9, "Building"),
                       headers={"Authorization": f"Bearer {data['token']}", **PURPOSE})
    assert write.status_code == 403 and "cannot change" in write.json()["detail"]
    other_tenant = httpx.get(f"{data['endpoint']}/entities", headers={
        "Authorization": f"Bearer {data['token']}", "NGSILD-Tenant": "elsewhere", **PURPOSE})
    assert other_tenant.status_code == 403
    assert _get(data, "/subscriptions").status_code == 403
    forged = httpx.get(f"{data['endpoint']}/entities", headers={
        "Authorization": f"Bearer {data['token'][:-3]}abc", **PURPOSE})
    assert forged.status_code == 401


def _stop_and_resume(prov: Side, cons: Side, data: dict[str, Any], agreement: str) -> None:
    provider = Transfers(prov.store, prov.settings)
    consumer = Transfers(cons.store, cons.settings)
    provider.suspend(data["provider_pid"], "audit of the buildings register")
    refused = _get(data, "/entities")
    assert refused.status_code == 403 and "SUSPENDED" in refused.json()["detail"]
    assert consumer.get(data["consumer_pid"]).state == "SUSPENDED"
    resume = CliRunner().invoke(cli, ["dsp", "start", data["consumer_pid"],
                                      "--config", str(cons.config)])
    assert resume.exit_code != 0 and "only the provider restarts it" in resume.stderr
    provider.start(data["provider_pid"])
    restarted = consumer.get(data["consumer_pid"])
    assert restarted.state == "STARTED" and restarted.data_address is not None
    old = dict(data)
    data["token"] = {p["name"]: p["value"] for p in
                     restarted.data_address["endpointProperties"]}["authorization"]
    assert data["token"] != old["token"] and _get(old, "/entities").status_code == 401
    assert _get(data, "/entities").status_code == 200
    provider.set_agreement_status(agreement, "suspended", "licence review")
    assert "suspended" in _get(data, "/entities").json()["detail"]
    provider.set_agreement_status(agreement, "active")
    assert _get(data, "/entities").status_code == 200
    stopped = _cli(cons, "dsp", "stop", data["consumer_pid"], "--reason", "study finished")
    assert stopped["state"] == "TERMINATED"
    assert provider.get(data["provider_pid"]).state == "TERMINATED"
    assert "TERMINATED" in _get(data, "/entities").json()["detail"]
    provider.set_agreement_status(agreement, "revoked", "contract ended")
    again = CliRunner().invoke(cli, ["dsp", "transfer", "--agreement", agreement,
                                     "--config", str(cons.config)])
    assert again.exit_code != 0 and "revoked" in again.stderr


def _audit_trail(store: Store, tenant: str, agreement: str) -> None:
    log = AuditLog(store)
    entries, _ = log.entries(tenant, limit=500)
    actions = [e.action for e in reversed(entries)]
    for step in ("negotiation.requested", "negotiation.agreed", "negotiation.verified",
                 "negotiation.finalized", "transfer.requested", "transfer.started",
                 "access.allowed", "access.denied", "transfer.suspended",
                 "agreement.suspended", "agreement.resumed", "transfer.terminated",
                 "agreement.revoked"):
        assert step in actions, step
    assert actions.index("negotiation.requested") < actions.index("negotiation.finalized") \
        < actions.index("transfer.started") < actions.index("access.allowed")
    denied = [e for e in entries if e.action == "access.denied"]
    assert any("purpose" in json.dumps(e.detail) for e in denied)
    assert all(e.subject == agreement for e in entries if e.action.startswith("access."))
    assert log.verify(tenant).ok


def _every_message_is_valid(schemas: DspSchemas, prov: Side, cons: Side,
                            expected: set[str] | None = None) -> None:
    seen: set[str] = set()
    for side in (prov, cons):
        for exchange in side.recorder.exchanges:
            for doc in (exchange["request"], exchange["answer"]):
                if isinstance(doc, dict) and "@type" in doc:
                    assert schemas.errors(doc) == [], (exchange["path"], doc)
                    seen.add(doc["@type"])
    assert (expected or {"CatalogRequestMessage", "Catalog", "Dataset", "ContractRequestMessage",
                         "ContractNegotiation", "ContractAgreementMessage",
                         "ContractAgreementVerificationMessage",
                         "ContractNegotiationEventMessage", "TransferRequestMessage",
                         "TransferProcess", "TransferStartMessage", "TransferSuspensionMessage",
                         "TransferTerminationMessage", "TransferError"}) <= seen, seen


@pytest.mark.slow
def test_a_counter_offer_is_accepted_then_agreed_by_hand(store: Store, tmp_path: Path,
                                                        tenant: str, specs_dir: Path) -> None:
    consumer_db = f"sqlite:///{tmp_path / 'consumer.db'}"
    consumer_store = open_store(consumer_db)
    try:
        with two_twins(store, consumer_store, consumer_db, tmp_path, tenant,
                       dsp_auto_agree=False) as (prov, cons):
            dataset = offer_buildings(store, prov.settings, tenant, "urn:lumen:energy")
            provider = Negotiations(prov.store, prov.settings)
            consumer = Negotiations(cons.store, cons.settings)
            offered = _cli(cons, "dsp", "catalog", "--provider", prov.settings.participant_id,
                           "--dataset", dataset)["hasPolicy"][0]
            asked = consumer.request(prov.settings.participant_id, dataset, offered)
            _until(lambda: provider.all("provider") != [] and any(
                n.consumer_pid == asked.pid for n in provider.all("provider")))
            (mine,) = [n for n in provider.all("provider") if n.consumer_pid == asked.pid]
            assert mine.state == "REQUESTED"
            counter = {"@id": "urn:civictwin:offer:counter", "@type": "Offer",
                       "permission": [{"action": "use", "constraint": [
                           {"leftOperand": "purpose", "operator": "eq",
                            "rightOperand": "climate-research"},
                           {"leftOperand": "count", "operator": "lteq", "rightOperand": "3"}]}]}
            assert provider.offer(mine.pid, counter).state == "OFFERED"
            assert consumer.get(asked.pid).state == "OFFERED"
            assert consumer.get(asked.pid).offer["@id"] == "urn:civictwin:offer:counter"
            accepted = _cli(cons, "dsp", "accept", asked.pid)
            assert accepted["state"] == "ACCEPTED" and provider.get(mine.pid).state == "ACCEPTED"
            assert _cli(prov, "dsp", "agree", mine.pid)["state"] == "AGREED"
            _until(lambda: provider.get(mine.pid).state == "FINALIZED")
            _until(lambda: consumer.get(asked.pid).state == "FINALIZED")
            agreement = consumer.get(asked.pid).agreement
            assert agreement is not None and agreement["permission"] == counter["permission"]
            _at_most_three_reads(prov, cons, tenant, agreement["@id"])
            with pytest.raises(InvalidStateTransition):
                consumer.terminate(asked.pid, "too late")
            second = consumer.request(prov.settings.participant_id, dataset, offered)
            _until(lambda: any(n.consumer_pid == second.pid for n in provider.all("provider")))
            assert _cli(cons, "dsp", "terminate", second.pid, "--reason", "not needed")[
                "state"] == "TERMINATED"
            (other,) = [n for n in provider.all("provider") if n.consumer_pid == second.pid]
            assert other.state == "TERMINATED"
            _every_message_is_valid(DspSchemas(specs_dir), prov, cons, {
                "ContractOfferMessage", "ContractNegotiationTerminationMessage"})
    finally:
        consumer_store.close()


def _at_most_three_reads(prov: Side, cons: Side, tenant: str, agreement: str) -> None:
    _fill(prov, tenant)
    transfers = Transfers(cons.store, cons.settings)
    started = transfers.request(agreement)
    _until(lambda: transfers.get(started.pid).state == "STARTED")
    address = transfers.get(started.pid).data_address
    assert address is not None
    token = {p["name"]: p["value"] for p in address["endpointProperties"]}["authorization"]
    data = {"endpoint": address["endpoint"], "token": token}
    geojson = httpx.get(f"{data['endpoint']}/entities", headers={
        "Authorization": f"Bearer {token}", "Accept": "application/geo+json", **PURPOSE})
    assert geojson.status_code == 200 and geojson.json()["type"] == "FeatureCollection"
    assert len(geojson.json()["features"]) == 3
    assert _get(data, "/types").status_code == 200
    assert _get(data, "/entities/urn:ngsi-ld:Building:2").status_code == 200
    fourth = _get(data, "/entities")
    assert fourth.status_code == 403 and "3 prior uses" in fourth.json()["detail"], fourth.text
