"""A deleted entity's history stays queryable; deletions are part of the history (NGSI-LD 1.8)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

T = "/ngsi-ld/v1/temporal/entities"
E = "/ngsi-ld/v1/entities"
M1 = "urn:ngsi-ld:Meter:1"
NULL = "urn:ngsi-ld:null"


def reading(value: float, day: int) -> dict[str, Any]:
    return {"type": "Property", "value": value, "observedAt": f"2025-01-{day:02d}T00:00:00Z"}


def test_deleted_entity_keeps_its_history_with_deleted_at(client: TestClient) -> None:
    body = {"id": M1, "type": "Meter", "power": reading(1, 1),
            "name": {"type": "Property", "value": "north"},
            "feeds": {"type": "Relationship", "object": "urn:ngsi-ld:Grid:a"}}
    assert client.post(E, json=body).status_code == 201
    assert client.patch(f"{E}/{M1}/attrs/power", json=reading(2, 2)).status_code == 204
    assert client.delete(f"{E}/{M1}/attrs/name").status_code == 204
    assert client.delete(f"{E}/{M1}").status_code == 204
    assert client.get(f"{E}/{M1}").status_code == 404

    got = client.get(f"{T}/{M1}")
    assert got.status_code == 200, got.text
    history = got.json()
    assert history["id"] == M1 and history["type"] == "Meter"
    assert history["deletedAt"].endswith("Z")
    assert [i["value"] for i in history["power"]] == [1, 2, NULL]
    assert history["power"][-1]["deletedAt"] == history["deletedAt"]
    name = history["name"]
    assert [i["value"] for i in name] == ["north", NULL]
    assert name[1]["deletedAt"] <= history["deletedAt"]
    assert [i["object"] for i in history["feeds"]] == ["urn:ngsi-ld:Grid:a", NULL]

    listed = client.get(T, params={"type": "Meter"}).json()
    assert [e["id"] for e in listed] == [M1] and "deletedAt" in listed[0]
    sums = client.get(f"{T}/{M1}", params={"aggrMethods": "sum,max", "attrs": "power"}).json()
    assert sums["power"]["sum"][0][0] == 3 and sums["power"]["max"][0][0] == 2


def test_a_recreated_entity_is_not_deleted_and_its_history_goes_on(client: TestClient) -> None:
    body = {"id": M1, "type": "Meter", "power": reading(1, 1)}
    assert client.post(E, json=body).status_code == 201
    assert client.delete(f"{E}/{M1}").status_code == 204
    again = {"id": M1, "type": "Meter", "power": {"type": "Property", "value": 5}}
    assert client.post(E, json=again).status_code == 201  # placed when recorded: after
    history = client.get(f"{T}/{M1}").json()
    assert "deletedAt" not in history
    assert [i["value"] for i in history["power"]] == [1, NULL, 5]


def test_deleting_the_temporal_representation_removes_it_all(client: TestClient) -> None:
    assert client.post(E, json={"id": M1, "type": "Meter",
                                "power": reading(1, 1)}).status_code == 201
    assert client.delete(f"{E}/{M1}").status_code == 204
    assert client.delete(f"{T}/{M1}").status_code == 204
    assert client.get(f"{T}/{M1}").status_code == 404
    assert client.get(T, params={"type": "Meter"}).json() == []
