"""Consent over HTTP on both stores: records, receipts, withdrawal, and data withheld after it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from civictwin.dataspace.audit import AuditLog
from civictwin.dataspace.consent import ConsentRegistry, parse_consent
from civictwin.errors import BadRequestData, Conflict
from civictwin.store import Store
from civictwin.store.schema import notification_outbox

METER = "urn:ngsi-ld:Meter:home-{}"
ENTITIES = "/ngsi-ld/v1/entities"
TEMPORAL = "/ngsi-ld/v1/temporal/entities"
ACTOR = {"Civictwin-Actor": "urn:subject:p-1"}


def consent_body(*entity_ids: str, **extra: Any) -> dict[str, Any]:
    """Return a complete consent body covering the given entities."""
    return {"subject": "p-1",
            "controller": {"id": "urn:participant:lumen-energy", "name": "Lumen Energy",
                           "contact": "Privacy office", "email": "privacy@energy.example",
                           "address": "1 Grid Street, Lumen", "phone": "+32 2 000 00 00"},
            "purposes": ["energy planning"], "dataCategories": ["electricity consumption"],
            "recipients": ["urn:participant:city-of-lumen"],
            "notice": {"url": "https://energy.example/privacy", "version": "2026-01"},
            "jurisdiction": "BE", "collectionMethod": "web form with opt-in",
            "entities": list(entity_ids), **extra}


def _meters(client: TestClient, n: int = 3) -> list[str]:
    ids = [METER.format(i) for i in range(1, n + 1)]
    for entity_id in ids:
        body = {"id": entity_id, "type": "Meter",
                "power": {"type": "Property", "value": 1.0,
                          "observedAt": "2026-01-01T00:00:00Z"}}
        assert client.post(ENTITIES, json=body).status_code == 201
        patch = {"power": {"type": "Property", "value": 2.0,
                           "observedAt": "2026-01-01T00:15:00Z"}}
        assert client.patch(f"{ENTITIES}/{entity_id}/attrs", json=patch).status_code == 204
    return ids


def _visible(client: TestClient) -> tuple[list[str], int, list[str], int]:
    page = client.get(ENTITIES, params={"type": "Meter", "count": "true"})
    history = client.get(TEMPORAL, params={"type": "Meter", "count": "true",
                                            "timerel": "after", "timeAt": "2025-01-01T00:00:00Z"})
    assert page.status_code == 200 and history.status_code == 200, history.text
    return ([e["id"] for e in page.json()], int(page.headers["NGSILD-Results-Count"]),
            [e["id"] for e in history.json()], int(history.headers["NGSILD-Results-Count"]))


def test_withdrawn_consent_withholds_its_data_everywhere(client: TestClient) -> None:
    ids = _meters(client)
    given = client.post("/consent", json=consent_body(ids[1]), headers=ACTOR)
    assert given.status_code == 201, given.text
    record, receipt = given.json()["record"], given.json()["receipt"]
    assert record["status"] == "given" and given.headers["Location"].endswith(record["id"])
    assert receipt["consentReceiptID"] == record["id"] and receipt["piiPrincipalId"] == "p-1"
    assert _visible(client) == (ids, 3, ids, 3)

    withdrawn = client.post(f"/consent/{record['id']}/withdraw", headers=ACTOR)
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    rest = [ids[0], ids[2]]
    assert _visible(client) == (rest, 2, rest, 2)
    assert client.get(f"{ENTITIES}/{ids[1]}").status_code == 404
    assert client.get(f"{TEMPORAL}/{ids[1]}").status_code == 404
    assert client.get(f"{ENTITIES}/{ids[0]}").status_code == 200
    by_id = client.get(ENTITIES, params={"id": ids[1], "count": "true"})
    assert by_id.json() == [] and by_id.headers["NGSILD-Results-Count"] == "0"
    posted = client.post("/ngsi-ld/v1/entityOperations/query",
                         json={"type": "Query", "entities": [{"type": "Meter"}]})
    assert [e["id"] for e in posted.json()] == rest

    again = client.post(f"/consent/{record['id']}/withdraw", headers=ACTOR)
    assert [e["event"] for e in again.json()["events"]] == ["given", "withdrawn"]
    audit = client.get("/audit", params={"action": "consent.withdrawn"}).json()
    assert audit["total"] == 1 and audit["entries"][0]["subject"] == record["id"]
    assert audit["entries"][0]["actor"] == "urn:subject:p-1"
    assert client.get("/audit/verify").json()["ok"] is True


def test_expired_consent_withholds_and_is_marked(client: TestClient, store: Store,
                                                 tenant: str) -> None:
    ids = _meters(client, 2)
    past = datetime.now(UTC) - timedelta(days=2)
    registry = ConsentRegistry(store, clock=lambda: past)
    terms = parse_consent(consent_body(ids[0], expiresAt=(past + timedelta(days=1)).isoformat()),
                          past)
    record = registry.give(tenant, "urn:subject:p-1", terms)
    assert _visible(client) == ([ids[1]], 1, [ids[1]], 1)
    shown = client.get(f"/consent/{record.id}").json()
    assert shown["status"] == "expired"
    assert [e["event"] for e in shown["events"]] == ["given", "expired"]
    renewed = client.post(f"/consent/{record.id}/renew", headers=ACTOR,
                          json={"expiresAt": (datetime.now(UTC) + timedelta(days=30)).isoformat()})
    assert renewed.status_code == 200 and renewed.json()["status"] == "given"
    assert _visible(client)[1] == 2


def test_consent_list_receipt_and_errors(client: TestClient) -> None:
    first = client.post("/consent", json=consent_body(), headers=ACTOR).json()["record"]
    client.post("/consent", json={**consent_body(), "subject": "p-2"})
    listed = client.get("/consent", params={"subject": "p-1"})
    assert [r["id"] for r in listed.json()] == [first["id"]]
    receipt = client.get(f"/consent/{first['id']}/receipt").json()
    assert receipt["version"] == "KI-CR-v1.1.0" and receipt["policyUrl"].endswith("/privacy")
    purpose = receipt["services"][0]["purposes"][0]
    assert purpose["purpose"] == "energy planning" and purpose["thirdPartyDisclosure"] is True
    assert receipt["piiControllers"][0]["piiController"] == "Lumen Energy"
    bad = client.post("/consent", json={**consent_body(), "purposes": []})
    assert bad.status_code == 400 and "purposes" in bad.json()["detail"]
    missing = client.post("/consent/urn:uuid:nope/withdraw")
    assert missing.status_code == 404
    client.post(f"/consent/{first['id']}/withdraw")
    refused = client.post(f"/consent/{first['id']}/renew", json={})
    assert refused.status_code == 409


@pytest.mark.parametrize("change, fault", [
    ({"subject": ""}, "subject"), ({"controller": {"id": "x"}}, "controller.name"),
    ({"notice": {"url": "u"}}, "notice.version"), ({"expiresAt": "2000-01-01T00:00:00Z"},
                                                   "not in the future"),
    ({"entities": "urn:x"}, "entities"), ({"sensitive": "yes"}, "sensitive")])
def test_bad_consents_name_the_fault(change: dict[str, Any], fault: str) -> None:
    with pytest.raises(BadRequestData, match=fault):
        parse_consent({**consent_body(), **change}, datetime.now(UTC))


def test_every_consent_event_is_audited(store: Store, tenant: str) -> None:
    registry = ConsentRegistry(store)
    record = registry.give(tenant, "urn:a", parse_consent(consent_body("urn:x"),
                                                           datetime.now(UTC)))
    registry.renew(tenant, "urn:a", record.id, None)
    registry.withdraw(tenant, "urn:b", record.id)
    with pytest.raises(Conflict):
        registry.renew(tenant, "urn:a", record.id, None)
    entries, total = AuditLog(store).entries(tenant)
    assert total == 3
    assert [e.action for e in reversed(entries)] == ["consent.given", "consent.renewed",
                                                     "consent.withdrawn"]
    assert registry.withheld(tenant) == {"urn:x"}
    assert AuditLog(store).verify(tenant).ok


def test_withheld_entities_are_not_counted_or_notified(client: TestClient, store: Store,
                                                       tenant: str) -> None:
    ids = _meters(client, 2)
    subscription = {"type": "Subscription", "entities": [{"type": "Meter"}],
                    "notificationTrigger": ["attributeUpdated", "entityDeleted"],
                    "notification": {"endpoint": {"uri": "http://127.0.0.1:9/notify"}}}
    assert client.post("/ngsi-ld/v1/subscriptions", json=subscription).status_code == 201
    record = client.post("/consent", json=consent_body(ids[0])).json()["record"]
    client.post(f"/consent/{record['id']}/withdraw")
    assert sum(store.type_counts(tenant).values()) == 1
    assert all(v["count"] == 1 for v in store.attribute_summary(tenant).values())
    for entity_id in ids:
        patch = {"power": {"type": "Property", "value": 9.0}}
        assert client.patch(f"{ENTITIES}/{entity_id}/attrs", json=patch).status_code == 204
    for entity_id in ids:
        assert client.delete(f"{ENTITIES}/{entity_id}").status_code == 204
    with store.engine.connect() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(select(notification_outbox.c.data).where(
            notification_outbox.c.tenant == tenant)).all()
    notified = [e["id"] for row in rows for e in json.loads(row.data)]
    assert notified == [ids[1], ids[1]]  # its update and its deletion; nothing of ids[0]
