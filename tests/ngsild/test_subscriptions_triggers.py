"""notificationTrigger and showChanges (NGSI-LD 1.8) over HTTP, to real loopback receivers."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.ngsild.test_subscriptions import (
    SUBS,
    Receiver,
    meter,
    problem,
    set_power,
    subscribe,
    subscription,
)

ENTITY = "/ngsi-ld/v1/entities/urn:ngsi-ld:Meter:1"


def notes(receiver: Receiver, count: int) -> list[dict[str, Any]]:
    """Wait for `count` notifications; make sure no more arrive soon after."""
    found = receiver.wait(count)
    time.sleep(0.4)
    assert len(receiver.received) == count, [b.get("triggerReason") for b in receiver.wait(0)]
    return found


def test_default_triggers_notify_creation_and_updates_not_deletion(
        client: TestClient, receiver: Receiver) -> None:
    subscribe(client, subscription(receiver.url))
    assert client.post("/ngsi-ld/v1/entities", json=meter(1)).status_code == 201
    set_power(client, 1, 20)
    assert client.delete(f"{ENTITY}/attrs/name").status_code == 204
    assert client.delete(ENTITY).status_code == 204
    first, second = notes(receiver, 2)
    assert first["triggerReason"] == "attributeCreated"
    assert second["triggerReason"] == "attributeUpdated"
    assert second["data"][0]["power"]["value"] == 20


def test_entity_deleted_notifies_id_type_and_deleted_at(client: TestClient,
                                                        receiver: Receiver) -> None:
    location = subscribe(client, subscription(receiver.url, notificationTrigger=["entityDeleted"],
                                              q="power>5"))
    client.post("/ngsi-ld/v1/entities", json=meter(1))
    set_power(client, 1, 30)
    before = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 1))
    assert client.delete(ENTITY).status_code == 204
    (note,) = notes(receiver, 1)
    assert note["triggerReason"] == "entityDeleted"
    assert note["subscriptionId"] == location.rsplit("/", 1)[1]
    (gone,) = note["data"]
    assert set(gone) == {"id", "type", "deletedAt"}
    assert gone["id"] == "urn:ngsi-ld:Meter:1" and gone["type"] == "Meter"
    assert gone["deletedAt"] >= before and gone["deletedAt"].endswith("Z")


def test_batch_delete_notifies_every_entity_once(client: TestClient,
                                                 receiver: Receiver) -> None:
    subscribe(client, subscription(receiver.url, notificationTrigger=["entityDeleted"]))
    for n in (1, 2, 3):
        client.post("/ngsi-ld/v1/entities", json=meter(n))
    deleted = client.post("/ngsi-ld/v1/entityOperations/delete",
                          json=["urn:ngsi-ld:Meter:1", "urn:ngsi-ld:Meter:3"])
    assert deleted.status_code == 204, deleted.text
    (note,) = notes(receiver, 1)
    assert sorted(e["id"] for e in note["data"]) == ["urn:ngsi-ld:Meter:1",
                                                     "urn:ngsi-ld:Meter:3"]


def test_entity_created_only(client: TestClient, receiver: Receiver) -> None:
    subscribe(client, subscription(receiver.url, notificationTrigger=["entityCreated"]))
    client.post("/ngsi-ld/v1/entities", json=meter(1))
    set_power(client, 1, 40)
    client.delete(ENTITY)
    (note,) = notes(receiver, 1)
    assert note["triggerReason"] == "entityCreated"
    assert note["data"][0]["id"] == "urn:ngsi-ld:Meter:1"


def test_attribute_deleted_shows_the_ngsi_ld_null(client: TestClient,
                                                  receiver: Receiver) -> None:
    subscribe(client, subscription(receiver.url, notificationTrigger=["attributeDeleted"],
                                   watchedAttributes=["name"]))
    client.post("/ngsi-ld/v1/entities", json=meter(1))
    set_power(client, 1, 50)  # not watched
    assert client.delete(f"{ENTITY}/attrs/power").status_code == 204  # not watched
    assert client.delete(f"{ENTITY}/attrs/name").status_code == 204
    (note,) = notes(receiver, 1)
    assert note["triggerReason"] == "attributeDeleted"
    name = note["data"][0]["name"]
    assert name["type"] == "Property" and name["value"] == "urn:ngsi-ld:null"
    assert name["deletedAt"].endswith("Z")
    assert "power" not in note["data"][0]


def test_entity_updated_covers_created_updated_and_deleted_attributes(
        client: TestClient, receiver: Receiver) -> None:
    subscribe(client, subscription(receiver.url, notificationTrigger=["entityUpdated"]))
    client.post("/ngsi-ld/v1/entities", json=meter(1))  # a creation: not an update
    set_power(client, 1, 11)
    assert client.post(f"{ENTITY}/attrs", json={
        "status": {"type": "Property", "value": "on"}}).status_code == 204
    assert client.delete(f"{ENTITY}/attrs/status").status_code == 204
    found = notes(receiver, 3)
    assert {n["triggerReason"] for n in found} == {"entityUpdated"}
    assert found[1]["data"][0]["status"]["value"] == "on"
    assert found[2]["data"][0]["status"]["value"] == "urn:ngsi-ld:null"


def test_show_changes_gives_previous_values(client: TestClient, receiver: Receiver) -> None:
    subscribe(client, subscription(
        receiver.url, showChanges=True,
        notification={"format": "concise", "endpoint": {"uri": receiver.url}}))
    client.post("/ngsi-ld/v1/entities", json={
        **meter(1), "feeds": {"type": "Relationship", "object": "urn:ngsi-ld:Grid:a"}})
    assert client.patch(f"{ENTITY}/attrs", json={
        "power": {"type": "Property", "value": 12.5},
        "feeds": {"type": "Relationship", "object": "urn:ngsi-ld:Grid:b"}}).status_code == 204
    created, updated = notes(receiver, 2)
    assert created["data"][0]["power"] == 10  # a creation has no previous value
    data = updated["data"][0]
    assert data["power"] == {"value": 12.5, "previousValue": 10}
    assert data["feeds"] == {"object": "urn:ngsi-ld:Grid:b",
                             "previousObject": "urn:ngsi-ld:Grid:a"}
    assert data["name"] == "meter 1"  # unchanged: no previous value


@pytest.mark.parametrize("change", [
    {"notificationTrigger": []},
    {"notificationTrigger": ["entityChanged"]},
    {"notificationTrigger": "entityCreated"},
    {"showChanges": "yes"},
    {"showChanges": True, "notification": {"format": "keyValues",
                                           "endpoint": {"uri": "http://127.0.0.1:9/"}}},
])
def test_invalid_triggers_are_refused(client: TestClient, change: dict[str, Any]) -> None:
    problem(client.post(SUBS, json={**subscription("http://127.0.0.1:9/"), **change}), 400,
            "BadRequestData")
    assert client.get(SUBS).json() == []


def test_triggers_are_kept_and_shown(client: TestClient) -> None:
    location = subscribe(client, subscription(
        "http://127.0.0.1:9/", notificationTrigger=["entityDeleted", "attributeUpdated"],
        showChanges=True))
    got = client.get(location).json()
    assert got["notificationTrigger"] == ["entityDeleted", "attributeUpdated"]
    assert got["showChanges"] is True
