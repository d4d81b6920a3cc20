"""Context source registrations over HTTP (in-process), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

ERR = "https://uri.etsi.org/ngsi-ld/errors/"
PATH = "/ngsi-ld/v1/csourceRegistrations"


def registration(n: int, **extra: Any) -> dict[str, Any]:
    return {"id": f"urn:ngsi-ld:ContextSourceRegistration:{n}",
            "type": "ContextSourceRegistration",
            "information": [{"entities": [{"type": "Meter"}], "propertyNames": ["power"]}],
            "endpoint": f"http://twin-{n}.example:1026", **extra}


def problem(response: Any, status: int, kind: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == ERR + kind
    detail: str = body["detail"]
    return detail


def test_create_retrieve_update_delete(client: TestClient) -> None:
    created = client.post(PATH, json=registration(1, tenant="city", contextSourceInfo=[
        {"key": "Authorization", "value": "Bearer x"}], registrationName="meters"))
    assert created.status_code == 201, created.text
    location = created.headers["Location"]
    assert location == f"{PATH}/urn:ngsi-ld:ContextSourceRegistration:1"
    got = client.get(location).json()
    assert got["information"] == [{"entities": [{"type": "Meter"}], "propertyNames": ["power"]}]
    assert got["mode"] == "inclusive" and got["tenant"] == "city"
    assert got["contextSourceInfo"] == [{"key": "Authorization", "value": "Bearer x"}]
    assert got["registrationName"] == "meters"
    assert client.patch(location, json={"mode": "auxiliary"}).status_code == 204
    patched = client.get(location, params={"options": "sysAttrs"}).json()
    assert patched["mode"] == "auxiliary" and patched["tenant"] == "city"
    assert patched["createdAt"] <= patched["modifiedAt"]
    assert client.delete(location).status_code == 204
    problem(client.get(location), 404, "ResourceNotFound")
    problem(client.delete(location), 404, "ResourceNotFound")
    problem(client.patch(location, json={"mode": "inclusive"}), 404, "ResourceNotFound")


def test_names_are_kept_expanded(client: TestClient) -> None:
    ctx = {"@context": {"Meter": "https://example.org/Meter",
                        "power": "https://example.org/power"}}
    body = {**registration(1), **ctx}
    assert client.post(PATH, json=body, headers={"Content-Type": "application/ld+json"}) \
        .status_code == 201
    plain = client.get(f"{PATH}/urn:ngsi-ld:ContextSourceRegistration:1").json()
    assert plain["information"][0] == {"entities": [{"type": "https://example.org/Meter"}],
                                       "propertyNames": ["https://example.org/power"]}
    assert client.get(PATH, params={"type": "Meter"}).json() == []
    found = client.get(PATH, params={"type": "https://example.org/Meter"}).json()
    assert [r["id"] for r in found] == ["urn:ngsi-ld:ContextSourceRegistration:1"]


def test_query_by_type_attrs_and_id_with_paging(client: TestClient) -> None:
    client.post(PATH, json=registration(1))
    client.post(PATH, json=registration(2, information=[
        {"entities": [{"type": "Bus", "id": "urn:ngsi-ld:Bus:7"}]}]))
    client.post(PATH, json=registration(3, information=[{"propertyNames": ["noise"]}]))

    def ids(**params: str) -> list[str]:
        response = client.get(PATH, params=params)
        assert response.status_code == 200, response.text
        return [r["id"].rsplit(":", 1)[1] for r in response.json()]

    assert ids() == ["1", "2", "3"]
    assert ids(type="Meter") == ["1", "3"]
    assert ids(type="Bus,Meter", attrs="noise") == ["2", "3"]
    assert ids(attrs="power") == ["1", "2"]
    assert ids(id="urn:ngsi-ld:Bus:7") == ["1", "2", "3"]
    assert ids(id="urn:ngsi-ld:Bus:8", type="Bus") == ["3"]
    paged = client.get(PATH, params={"limit": "1", "offset": "1", "count": "true"})
    assert paged.headers["NGSILD-Results-Count"] == "3"
    assert [r["id"][-1] for r in paged.json()] == ["2"]


@pytest.mark.parametrize(("change", "fragment"), [
    ({"endpoint": "ftp://twin.example"}, "http(s) URL"),
    ({"endpoint": None}, "'endpoint' is required"),
    ({"endpoint": "http://twin.example/?x=1"}, "query or fragment"),
    ({"information": []}, "non-empty array"),
    ({"information": [{}]}, "needs entities, propertyNames or relationshipNames"),
    ({"information": [{"entities": [{"id": "urn:x:1"}]}]}, "needs a 'type' string"),
    ({"information": [{"entities": [{"type": "T", "idPattern": "("}]}]}, "idPattern"),
    ({"information": [{"entities": [{"type": "T"}], "colours": ["red"]}]}, "colours"),
    ({"information": [{"propertyNames": "power"}]}, "propertyNames must be"),
    ({"mode": "sometimes"}, "mode 'sometimes'"),
    ({"mode": "exclusive", "information": [{"entities": [{"type": "T"}]}]}, "exclusive"),
    ({"tenant": "no spaces allowed"}, "tenant"),
    ({"contextSourceInfo": [{"key": "Bad Header", "value": "x"}]}, "contextSourceInfo"),
    ({"contextSourceInfo": [{"key": "X-A", "value": "a\r\nX-B: b"}]}, "newlines"),
    ({"expiresAt": "tomorrow"}, "expiresAt"),
    ({"type": "Subscription"}, "'type' must be"),
    ({"id": "not a uri"}, "registration id"),
    ({"colour": "red"}, "unknown member(s) colour"),
])
def test_bad_registrations_are_refused_precisely(client: TestClient, change: dict[str, Any],
                                                  fragment: str) -> None:
    body = {k: v for k, v in {**registration(1), **change}.items() if v is not None}
    detail = problem(client.post(PATH, json=body), 400, "BadRequestData")
    assert fragment in detail
    assert client.get(PATH).json() == []


def test_duplicates_ids_and_patches_that_break_rules(client: TestClient) -> None:
    assert client.post(PATH, json=registration(1)).status_code == 201
    problem(client.post(PATH, json=registration(1)), 409, "AlreadyExists")
    location = f"{PATH}/urn:ngsi-ld:ContextSourceRegistration:1"
    problem(client.patch(location, json={"endpoint": "gopher://x"}), 400, "BadRequestData")
    problem(client.patch(location, json={"id": "urn:other:1"}), 400, "BadRequestData")
    assert client.get(location).json()["endpoint"] == "http://twin-1.example:1026"
    generated = client.post(PATH, json={k: v for k, v in registration(2).items() if k != "id"})
    assert generated.status_code == 201
    assert "urn:ngsi-ld:ContextSourceRegistration:" in generated.headers["Location"]


def test_registrations_belong_to_their_tenant(client: TestClient) -> None:
    client.post(PATH, json=registration(1))
    other = client.get(PATH, headers={"NGSILD-Tenant": "someone-else"})
    assert other.status_code == 200 and other.json() == []
