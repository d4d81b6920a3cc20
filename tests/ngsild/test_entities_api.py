"""The NGSI-LD entity API over HTTP (in-process), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from civictwin.ngsild.jsonld import CORE_CONTEXT_URL

LD = {"Content-Type": "application/ld+json"}
ERR = "https://uri.etsi.org/ngsi-ld/errors/"
CTX = {"@context": {"Building": "https://smartdatamodels.org/dataModel.Building/Building",
                    "floors": "https://smartdatamodels.org/dataModel.Building/floorsAboveGround"}}
# What Smart Data Models requires of every Building (validate_models is on by default).
SDM_BUILDING = {"category": {"type": "Property", "value": ["office"]},
                "address": {"type": "Property", "value": {"addressLocality": "Lumen"}}}


def meter(n: int, power: float = 10.0, **extra: Any) -> dict[str, Any]:
    return {"id": f"urn:ngsi-ld:Meter:{n}", "type": "Meter",
            "power": {"type": "Property", "value": power, "unitCode": "KWT",
                      "observedAt": "2026-03-01T10:00:00Z"},
            "location": {"type": "GeoProperty",
                         "value": {"type": "Point", "coordinates": [4.35, 50.85 + n / 1000]}},
            **extra}


def problem(response: Any, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["type"] == ERR + kind and body["status"] == status and body["detail"]
    return body


def test_create_retrieve_delete(client: TestClient) -> None:
    created = client.post("/ngsi-ld/v1/entities", json=meter(1))
    assert created.status_code == 201, created.text
    assert created.headers["Location"] == "/ngsi-ld/v1/entities/urn:ngsi-ld:Meter:1"
    got = client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:Meter:1")
    assert got.status_code == 200
    assert got.json()["power"] == meter(1)["power"]
    assert CORE_CONTEXT_URL in got.headers["Link"]
    assert client.delete("/ngsi-ld/v1/entities/urn:ngsi-ld:Meter:1").status_code == 204
    problem(client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:Meter:1"), 404, "ResourceNotFound")


def test_duplicate_and_bad_entities_are_refused_and_change_nothing(client: TestClient) -> None:
    client.post("/ngsi-ld/v1/entities", json=meter(1))
    problem(client.post("/ngsi-ld/v1/entities", json=meter(1, power=99)), 409, "AlreadyExists")
    assert client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:Meter:1").json()["power"]["value"] == 10
    problem(client.post("/ngsi-ld/v1/entities", json={"id": "not a uri", "type": "T"}),
            400, "BadRequestData")
    problem(client.post("/ngsi-ld/v1/entities", content=b"{oops",
                        headers={"Content-Type": "application/json"}), 400, "InvalidRequest")
    bad_geo = meter(2, location={"type": "GeoProperty",
                                 "value": {"type": "Point", "coordinates": [200, 0]}})
    problem(client.post("/ngsi-ld/v1/entities", json=bad_geo), 400, "BadRequestData")
    problem(client.post("/ngsi-ld/v1/entities", json={"id": "urn:x:1", "type": "T",
                                                        "p": {"type": "Property"}}),
            400, "BadRequestData")
    assert client.get("/ngsi-ld/v1/entities", params={"type": "Meter", "count": "true"}) \
        .headers["NGSILD-Results-Count"] == "1"


def test_json_ld_body_and_link_header_expand_the_same(client: TestClient) -> None:
    body = {"id": "urn:ngsi-ld:Building:1", "type": "Building",
            "floors": {"type": "Property", "value": 4}, **SDM_BUILDING, **CTX}
    assert client.post("/ngsi-ld/v1/entities", json=body, headers=LD).status_code == 201
    plain = client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:Building:1").json()
    assert plain["type"] == "https://smartdatamodels.org/dataModel.Building/Building"
    assert "https://smartdatamodels.org/dataModel.Building/floorsAboveGround" in plain
    # Without that @context the short names mean other IRIs, so nothing matches.
    unknown = client.get("/ngsi-ld/v1/entities", params={"type": "Building", "q": "floors==4"})
    assert unknown.status_code == 200 and unknown.json() == []
    short = client.post("/ngsi-ld/v1/entityOperations/query",
                        json={"type": "Query", "entities": [{"type": "Building"}],
                              "q": "floors==4", **CTX},
                        headers={**LD, "Accept": "application/ld+json"})
    assert short.status_code == 200, short.text
    assert short.json()[0]["floors"]["value"] == 4 and short.json()[0]["@context"] == CTX[
        "@context"]


def test_context_in_json_body_or_remote_is_refused(client: TestClient) -> None:
    problem(client.post("/ngsi-ld/v1/entities", json={**meter(1), "@context": {}}),
            400, "BadRequestData")
    link = '<https://example.org/ctx.jsonld>; rel="http://www.w3.org/ns/json-ld#context"'
    problem(client.get("/ngsi-ld/v1/entities", params={"type": "Meter"},
                       headers={"Link": link}), 503, "LdContextNotAvailable")
    problem(client.post("/ngsi-ld/v1/entities", content=b"{}",
                        headers={"Content-Type": "text/plain"}), 415, "UnsupportedMediaType")
    problem(client.get("/ngsi-ld/v1/entities/urn:x:1", headers={"Accept": "text/html"}),
            406, "NotAcceptable")


def test_hosted_context_is_used_through_link_header(client: TestClient) -> None:
    hosted = client.post("/ngsi-ld/v1/jsonldContexts", json=CTX)
    assert hosted.status_code == 201, hosted.text
    url = hosted.headers["Location"]
    link = {"Link": f'<{url}>; rel="http://www.w3.org/ns/json-ld#context"'}
    body = {"id": "urn:ngsi-ld:Building:2", "type": "Building",
            "floors": {"type": "Property", "value": 7}, **SDM_BUILDING}
    assert client.post("/ngsi-ld/v1/entities", json=body, headers=link).status_code == 201
    found = client.get("/ngsi-ld/v1/entities", params={"type": "Building", "q": "floors>5"},
                       headers=link)
    assert [e["id"] for e in found.json()] == ["urn:ngsi-ld:Building:2"]
    assert found.json()[0]["type"] == "Building" and url in found.headers["Link"]
    assert url in client.get("/ngsi-ld/v1/jsonldContexts").json()
    assert client.get(url.split("testserver")[1]).json() == CTX


def test_attribute_operations(client: TestClient) -> None:
    client.post("/ngsi-ld/v1/entities", json=meter(1))
    base = "/ngsi-ld/v1/entities/urn:ngsi-ld:Meter:1"
    assert client.post(base + "/attrs", json={"status": "ok"}).status_code == 204
    kept = client.post(base + "/attrs?options=noOverwrite", json={"status": "changed"})
    assert kept.status_code == 207 and kept.json()["notUpdated"][0]["attributeName"] == "status"
    partial = client.patch(base + "/attrs", json={"status": "busy", "nothere": 1})
    assert partial.status_code == 207 and partial.json()["updated"] == ["status"]
    assert client.patch(base + "/attrs/power", json={"value": 42}).status_code == 204
    entity = client.get(base, params={"options": "keyValues"}).json()
    assert entity["power"] == 42 and entity["status"] == "busy"
    assert client.get(base).json()["power"]["unitCode"] == "KWT"
    assert client.delete(base + "/attrs/status").status_code == 204
    problem(client.delete(base + "/attrs/status"), 404, "ResourceNotFound")
    assert client.put(base + "/attrs/power", json={"type": "Property", "value": 1})\
        .status_code == 204
    assert client.get(base, params={"options": "concise"}).json()["power"] == 1


def test_replace_and_merge_patch(client: TestClient) -> None:
    client.post("/ngsi-ld/v1/entities", json=meter(1, status="ok"))
    base = "/ngsi-ld/v1/entities/urn:ngsi-ld:Meter:1"
    before = client.get(base, params={"options": "sysAttrs"}).json()
    assert client.patch(base, json={"status": "urn:ngsi-ld:null",
                                    "power": {"value": 5, "note": "checked"}}).status_code == 204
    merged = client.get(base).json()
    assert "status" not in merged and merged["power"]["value"] == 5
    assert merged["power"]["unitCode"] == "KWT" and merged["power"]["note"]["value"] == "checked"
    assert client.put(base, json={"type": "Meter", "only": 1}).status_code == 204
    after = client.get(base, params={"options": "sysAttrs"}).json()
    assert set(after) == {"id", "type", "only", "createdAt", "modifiedAt"}
    assert after["createdAt"] == before["createdAt"] and after["modifiedAt"] > before["modifiedAt"]


def test_batch_operations_report_per_entity(client: TestClient) -> None:
    batch = [meter(n) for n in range(5)] + [{"id": "bad", "type": "Meter"}]
    created = client.post("/ngsi-ld/v1/entityOperations/create", json=batch)
    assert created.status_code == 207
    assert len(created.json()["success"]) == 5
    assert created.json()["errors"][0]["entityId"] == "bad"
    assert created.json()["errors"][0]["error"]["type"] == ERR + "BadRequestData"
    upsert = client.post("/ngsi-ld/v1/entityOperations/upsert", json=[meter(1, 7.0), meter(9)])
    assert upsert.status_code == 201 and upsert.json() == ["urn:ngsi-ld:Meter:9"]
    update = client.post("/ngsi-ld/v1/entityOperations/update",
                         json=[{"id": "urn:ngsi-ld:Meter:2", "status": "x"},
                               {"id": "urn:ngsi-ld:Meter:77", "status": "x"}])
    assert update.status_code == 207
    assert update.json()["errors"][0]["error"]["type"] == ERR + "ResourceNotFound"
    merge = client.post("/ngsi-ld/v1/entityOperations/merge",
                        json=[{"id": "urn:ngsi-ld:Meter:3", "power": 3}])
    assert merge.status_code == 204
    deleted = client.post("/ngsi-ld/v1/entityOperations/delete",
                          json=["urn:ngsi-ld:Meter:0", "urn:ngsi-ld:Meter:404"])
    assert deleted.status_code == 207 and deleted.json()["success"] == ["urn:ngsi-ld:Meter:0"]
    values = {e["id"]: e.get("power") for e in client.get(
        "/ngsi-ld/v1/entities", params={"type": "Meter", "options": "keyValues"}).json()}
    assert values == {"urn:ngsi-ld:Meter:1": 7.0, "urn:ngsi-ld:Meter:2": 10.0,
                      "urn:ngsi-ld:Meter:3": 3, "urn:ngsi-ld:Meter:4": 10.0,
                      "urn:ngsi-ld:Meter:9": 10.0}


def test_query_language_geo_and_paging(client: TestClient) -> None:
    client.post("/ngsi-ld/v1/entityOperations/create",
                json=[meter(n, power=float(n)) for n in range(20)])
    get = lambda **p: client.get("/ngsi-ld/v1/entities", params={"type": "Meter", **p})  # noqa: E731
    assert [e["id"] for e in get(q="power>=17").json()] == [
        f"urn:ngsi-ld:Meter:{n}" for n in (17, 18, 19)]
    assert len(get(q="power==1..3|power==15").json()) == 4
    assert len(get(q="power.unitCode==\"KWT\";power<5").json()) == 5
    assert len(get(q="power.observedAt>2026-01-01T00:00:00Z").json()) == 20
    # The meters stand about 111 m apart going north from the reference point.
    near = get(georel="near;maxDistance==250", geometry="Point", coordinates="[4.35,50.85]")
    assert [e["id"] for e in near.json()] == [f"urn:ngsi-ld:Meter:{n}" for n in (0, 1, 2)]
    page = get(limit="5", offset="5", count="true")
    assert page.headers["NGSILD-Results-Count"] == "20" and len(page.json()) == 5
    problem(get(q="power>>1"), 400, "BadRequestData")
    problem(get(limit="-1"), 400, "BadRequestData")
    problem(get(georel="near", geometry="Point", coordinates="[4.35,50.85]"), 400,
            "BadRequestData")
    problem(client.get("/ngsi-ld/v1/entities"), 400, "BadRequestData")
    geo = get(georel="within", geometry="Polygon",
              coordinates="[[[4.3,50.8],[4.4,50.8],[4.4,50.8535],[4.3,50.8535],[4.3,50.8]]]")
    assert len(geo.json()) == 4
    features = client.get("/ngsi-ld/v1/entities", params={"type": "Meter", "limit": "2"},
                          headers={"Accept": "application/geo+json"})
    assert features.headers["content-type"].startswith("application/geo+json")
    assert features.json()["features"][0]["geometry"]["type"] == "Point"


def test_types_and_attributes(client: TestClient) -> None:
    client.post("/ngsi-ld/v1/entityOperations/create", json=[meter(1), meter(2)])
    types = client.get("/ngsi-ld/v1/types").json()
    assert types["type"] == "EntityTypeList" and types["typeList"] == ["Meter"]
    info = client.get("/ngsi-ld/v1/types/Meter").json()
    assert info["entityCount"] == 2
    assert {a["attributeName"] for a in info["attributeDetails"]} == {"power", "location"}
    attrs = client.get("/ngsi-ld/v1/attributes").json()
    assert set(attrs["attributeList"]) == {"power", "location"}
    power = client.get("/ngsi-ld/v1/attributes/power").json()
    assert power["attributeCount"] == 2 and power["typeNames"] == ["Meter"]
    problem(client.get("/ngsi-ld/v1/types/Nope"), 404, "ResourceNotFound")


def test_multi_attributes_by_dataset_id(client: TestClient) -> None:
    entity = {"id": "urn:ngsi-ld:Meter:m", "type": "Meter",
              "power": [{"type": "Property", "value": 1},
                        {"type": "Property", "value": 2, "datasetId": "urn:ngsi-ld:Dataset:b"}]}
    assert client.post("/ngsi-ld/v1/entities", json=entity).status_code == 201
    base = "/ngsi-ld/v1/entities/urn:ngsi-ld:Meter:m"
    assert len(client.get(base).json()["power"]) == 2
    found = client.get("/ngsi-ld/v1/entities", params={"type": "Meter", "q": "power==2"})
    assert len(found.json()) == 1
    assert client.delete(base + "/attrs/power",
                         params={"datasetId": "urn:ngsi-ld:Dataset:b"}).status_code == 204
    assert client.get(base).json()["power"]["value"] == 1


def test_language_vocab_list_and_json_properties(client: TestClient) -> None:
    entity = {"id": "urn:ngsi-ld:Street:1", "type": "Street",
              "name": {"type": "LanguageProperty", "languageMap": {"en": "Main", "fr": "Grand"}},
              "category": {"type": "VocabProperty", "vocab": "residential"},
              "lanes": {"type": "ListProperty", "valueList": [1, 2]},
              "raw": {"type": "JsonProperty", "json": {"a": {"b": 3}}},
              "near": {"type": "Relationship", "object": "urn:ngsi-ld:Street:2"}}
    assert client.post("/ngsi-ld/v1/entities", json=entity).status_code == 201
    base = "/ngsi-ld/v1/entities/urn:ngsi-ld:Street:1"
    assert client.get(base).json() == entity
    french = client.get(base, params={"lang": "fr"}).json()["name"]
    assert french == {"type": "Property", "value": "Grand", "lang": "fr"}
    q = lambda expr: client.get("/ngsi-ld/v1/entities", params={"type": "Street", "q": expr})  # noqa: E731
    assert len(q("raw[a.b]==3").json()) == 1
    assert len(q('near=="urn:ngsi-ld:Street:2"').json()) == 1
    assert len(q("lanes==2").json()) == 1
    assert len(q('name=="Grand"').json()) == 1
    concise = client.get(base, params={"format": "concise"}).json()
    assert concise["near"] == {"object": "urn:ngsi-ld:Street:2"}
    assert client.post("/ngsi-ld/v1/entities",
                       json={**concise, "id": "urn:ngsi-ld:Street:3"}).status_code == 201
    assert client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:Street:3").json()["near"] == \
        entity["near"]


def test_pick_omit_attrs(client: TestClient) -> None:
    client.post("/ngsi-ld/v1/entities", json=meter(1, status="ok"))
    base = "/ngsi-ld/v1/entities/urn:ngsi-ld:Meter:1"
    assert set(client.get(base, params={"attrs": "power"}).json()) == {"id", "type", "power"}
    assert set(client.get(base, params={"pick": "id,status"}).json()) == {"id", "status"}
    assert "location" not in client.get(base, params={"omit": "location"}).json()
    problem(client.get(base, params={"pick": "id", "omit": "type"}), 400, "BadRequestData")


def test_tenants_are_isolated(client: TestClient) -> None:
    client.post("/ngsi-ld/v1/entities", json=meter(1))
    other = {"NGSILD-Tenant": "someone-else"}
    problem(client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:Meter:1", headers=other), 404,
            "ResourceNotFound")
    assert client.get("/ngsi-ld/v1/types", headers=other).json()["typeList"] == []
    problem(client.get("/ngsi-ld/v1/types", headers={"NGSILD-Tenant": "bad tenant!"}), 400,
            "BadRequestData")


def test_scope_queries(client: TestClient) -> None:
    for n, scope in enumerate(["/Lumen/Centrum", "/Lumen/Haven/North", "/Other"]):
        client.post("/ngsi-ld/v1/entities", json={**meter(n), "scope": scope})
    scoped = lambda q: sorted(e["id"] for e in client.get(  # noqa: E731
        "/ngsi-ld/v1/entities", params={"type": "Meter", "scopeQ": q}).json())
    assert scoped("/Lumen/#") == ["urn:ngsi-ld:Meter:0", "urn:ngsi-ld:Meter:1"]
    assert scoped("/Lumen/+/North") == ["urn:ngsi-ld:Meter:1"]
    assert scoped("/Other,/Lumen/Centrum") == ["urn:ngsi-ld:Meter:0", "urn:ngsi-ld:Meter:2"]
    assert client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:Meter:2").json()["scope"] == "/Other"
    problem(client.get("/ngsi-ld/v1/entities", params={"type": "Meter", "scopeQ": "Lumen"}),
            400, "BadRequestData")
