"""The NGSI-LD temporal API over HTTP (in-process), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from civictwin.ngsild.jsonld import CORE_CONTEXT_URL

ERR = "https://uri.etsi.org/ngsi-ld/errors/"
T = "/ngsi-ld/v1/temporal/entities"
M1 = "urn:ngsi-ld:Meter:1"


def problem(response: Any, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["type"] == ERR + kind and body["status"] == status and body["detail"]
    return body


def reading(value: float, day: int, hour: int = 0) -> dict[str, Any]:
    return {"type": "Property", "value": value, "unitCode": "KWH",
            "observedAt": f"2025-01-{day:02d}T{hour:02d}:00:00Z"}


def meter_with_history(client: TestClient, values: list[float]) -> None:
    """Create meter 1 and patch its power once per day: day n holds values[n - 1]."""
    body = {"id": M1, "type": "Meter", "power": reading(values[0], 1), "name": "north"}
    assert client.post("/ngsi-ld/v1/entities", json=body).status_code == 201
    for day, value in enumerate(values[1:], start=2):
        patched = client.patch(f"/ngsi-ld/v1/entities/{M1}/attrs/power",
                               json={"value": value, "observedAt": f"2025-01-{day:02d}T00:00:00Z"})
        assert patched.status_code == 204, patched.text


def values_of(response: Any, attr: str = "power") -> list[Any]:
    assert response.status_code == 200, response.text
    return [v[0] for v in response.json()[attr]["values"]]


def test_entity_writes_are_kept_as_history(client: TestClient) -> None:
    meter_with_history(client, [1, 2, 3, 4])
    client.patch(f"/ngsi-ld/v1/entities/{M1}/attrs/name", json={"value": "north"})  # no change
    got = client.get(f"{T}/{M1}")
    assert got.status_code == 200 and CORE_CONTEXT_URL in got.headers["Link"]
    body = got.json()
    assert body["id"] == M1 and body["type"] == "Meter"
    assert [i["value"] for i in body["power"]] == [1, 2, 3, 4]
    assert body["power"][1]["observedAt"] == "2025-01-02T00:00:00Z"
    assert body["power"][1]["unitCode"] == "KWH"
    assert all(i["instanceId"].startswith("urn:ngsi-ld:attribute:instance:")
               for i in body["power"])
    assert [i["value"] for i in body["name"]] == ["north"]
    assert "createdAt" not in body["power"][0]
    sys = client.get(f"{T}/{M1}", params={"options": "sysAttrs"}).json()
    assert sys["power"][0]["createdAt"] and sys["power"][0]["modifiedAt"]


def test_timerel_lastn_and_temporal_values(client: TestClient) -> None:
    meter_with_history(client, [1, 2, 3, 4, 5])
    url = f"{T}/{M1}"
    simple = {"options": "temporalValues", "attrs": "power"}
    after = client.get(url, params={**simple, "timerel": "after", "timeAt": "2025-01-04"})
    assert values_of(after) == [4, 5] and "name" not in after.json()
    assert after.json()["power"]["values"][0] == [4, "2025-01-04T00:00:00Z"]
    before = client.get(url, params={**simple, "timerel": "before",
                                     "timeAt": "2025-01-03T00:00:00Z"})
    assert values_of(before) == [1, 2]
    between = client.get(url, params={**simple, "timerel": "between",
                                      "timeAt": "2025-01-02T00:00:00Z",
                                      "endTimeAt": "2025-01-04T00:00:00+00:00"})
    assert values_of(between) == [2, 3]
    assert values_of(client.get(url, params={**simple, "lastN": "2"})) == [4, 5]
    created = client.get(url, params={**simple, "timeproperty": "createdAt", "timerel": "after",
                                      "timeAt": "2020-01-01T00:00:00Z"})
    assert values_of(created) == [1, 2, 3, 4, 5]
    assert not client.get(url, params={**simple, "timeproperty": "modifiedAt",
                                       "timerel": "before",
                                       "timeAt": "2020-01-01T00:00:00Z"}).json().get("power")


def test_aggregation_by_period(client: TestClient) -> None:
    meter_with_history(client, [1, 2, 3, 4, 6, 6])
    got = client.get(f"{T}/{M1}", params={
        "aggrMethods": ",".join(["totalCount", "distinctCount", "sum", "avg", "min", "max",
                                 "stddev", "sumsq"]),
        "aggrPeriodDuration": "P2D", "timerel": "between", "timeAt": "2025-01-01T00:00:00Z",
        "endTimeAt": "2025-01-07T00:00:00Z", "attrs": "power"})
    assert got.status_code == 200, got.text
    power = got.json()["power"]
    assert power["type"] == "Property"
    assert power["sum"] == [[3, "2025-01-01T00:00:00Z", "2025-01-03T00:00:00Z"],
                            [7, "2025-01-03T00:00:00Z", "2025-01-05T00:00:00Z"],
                            [12, "2025-01-05T00:00:00Z", "2025-01-07T00:00:00Z"]]
    assert [v[0] for v in power["totalCount"]] == [2, 2, 2]
    assert [v[0] for v in power["distinctCount"]] == [2, 2, 1]
    assert [v[0] for v in power["avg"]] == [1.5, 3.5, 6]
    assert [v[0] for v in power["min"]] == [1, 3, 6]
    assert [v[0] for v in power["max"]] == [2, 4, 6]
    assert [v[0] for v in power["stddev"]] == [0.5, 0.5, 0]
    assert [v[0] for v in power["sumsq"]] == [5, 25, 72]
    whole = client.get(f"{T}/{M1}", params={"aggrMethods": "sum", "attrs": "power"}).json()
    assert whole["power"]["sum"] == [[22, "2025-01-01T00:00:00Z", "2025-01-06T00:00:00Z"]]
    hours = client.get(f"{T}/{M1}", params={"aggrMethods": "totalCount", "attrs": "power",
                                            "aggrPeriodDuration": "PT12H", "timerel": "after",
                                            "timeAt": "2025-01-05T00:00:00Z"}).json()
    assert hours["power"]["totalCount"] == [[1, "2025-01-05T00:00:00Z", "2025-01-05T12:00:00Z"],
                                            [1, "2025-01-06T00:00:00Z", "2025-01-06T12:00:00Z"]]


def test_aggregation_by_calendar_month(client: TestClient) -> None:
    instances = [reading(v, d) for v, d in ((1, 5), (2, 31))]
    instances += [{**reading(10, 1), "observedAt": "2025-02-01T00:00:00Z"},
                  {**reading(20, 1), "observedAt": "2025-03-15T00:00:00Z"}]
    body = {"id": M1, "type": "Meter", "power": instances}
    assert client.post(T, json=body).status_code == 201
    got = client.get(f"{T}/{M1}", params={"aggrMethods": "sum", "aggrPeriodDuration": "P1M",
                                          "timerel": "between", "timeAt": "2025-01-01T00:00:00Z",
                                          "endTimeAt": "2026-01-01T00:00:00Z"})
    assert got.json()["power"]["sum"] == [[3, "2025-01-01T00:00:00Z", "2025-02-01T00:00:00Z"],
                                          [10, "2025-02-01T00:00:00Z", "2025-03-01T00:00:00Z"],
                                          [20, "2025-03-01T00:00:00Z", "2025-04-01T00:00:00Z"]]
    year = client.get(f"{T}/{M1}", params={"aggrMethods": "avg", "aggrPeriodDuration": "P1Y",
                                           "timerel": "after", "timeAt": "2025-01-01T00:00:00Z"})
    assert year.json()["power"]["avg"] == [[8.25, "2025-01-01T00:00:00Z",
                                            "2026-01-01T00:00:00Z"]]


def test_temporal_create_and_append_many_instances(client: TestClient) -> None:
    body = {"id": M1, "type": "Meter",
            "power": [reading(3, 3), reading(1, 1), reading(2, 2)],
            "status": {"type": "Property", "value": "ok", "observedAt": "2025-01-01T00:00:00Z"}}
    created = client.post(T, json=body)
    assert created.status_code == 201, created.text
    assert created.headers["Location"] == f"{T}/{M1}"
    current = client.get(f"/ngsi-ld/v1/entities/{M1}").json()
    assert current["power"]["value"] == 3 and current["status"]["value"] == "ok"
    url = f"{T}/{M1}"
    assert values_of(client.get(url, params={"options": "temporalValues"})) == [1, 2, 3]
    # Older instances go to history only; a newer one also becomes the current value.
    appended = client.post(f"{url}/attrs", json={"power": [reading(0, 1, 12), reading(9, 9)]})
    assert appended.status_code == 204, appended.text
    assert values_of(client.get(url, params={"options": "temporalValues"})) == [1, 0, 2, 3, 9]
    assert client.get(f"/ngsi-ld/v1/entities/{M1}").json()["power"]["value"] == 9
    backfill = client.post(f"{url}/attrs", json={"power": reading(7, 4)})
    assert backfill.status_code == 204
    assert client.get(f"/ngsi-ld/v1/entities/{M1}").json()["power"]["value"] == 9
    assert values_of(client.get(url, params={"options": "temporalValues"})) == [1, 0, 2, 3, 7, 9]
    again = client.post(T, json={"id": M1, "type": "Meter", "power": reading(5, 5)})
    assert again.status_code == 204
    assert len(client.get(url).json()["power"]) == 7


def test_delete_and_modify_instances(client: TestClient) -> None:
    meter_with_history(client, [1, 2, 3])
    url = f"{T}/{M1}"
    ids = [i["instanceId"] for i in client.get(url).json()["power"]]
    patched = client.patch(f"{url}/attrs/power/{ids[1]}",
                           json={"power": {"value": 20, "observedAt": "2025-02-02T00:00:00Z"}})
    assert patched.status_code == 204, patched.text
    got = client.get(url, params={"options": "sysAttrs"}).json()["power"]
    assert [(i["value"], i["instanceId"]) for i in got] == [(1, ids[0]), (3, ids[2]),
                                                            (20, ids[1])]
    assert got[2]["observedAt"] == "2025-02-02T00:00:00Z"
    assert got[2]["modifiedAt"] > got[2]["createdAt"]
    assert client.delete(f"{url}/attrs/power/{ids[0]}").status_code == 204
    assert [i["value"] for i in client.get(url).json()["power"]] == [3, 20]
    problem(client.delete(f"{url}/attrs/power/{ids[0]}"), 404, "ResourceNotFound")
    problem(client.patch(f"{url}/attrs/power/{ids[0]}", json={"value": 1}),
            404, "ResourceNotFound")
    assert client.delete(f"{url}/attrs/power").status_code == 204
    assert "power" not in client.get(url).json()
    problem(client.delete(f"{url}/attrs/power"), 404, "ResourceNotFound")
    assert client.delete(url).status_code == 204
    problem(client.get(url), 404, "ResourceNotFound")
    problem(client.delete(url), 404, "ResourceNotFound")
    # The current entity is not touched by deleting its temporal representation.
    assert client.get(f"/ngsi-ld/v1/entities/{M1}").status_code == 200


def test_dataset_ids_are_kept_apart(client: TestClient) -> None:
    ds = "urn:ngsi-ld:dataset:backup"
    body = {"id": M1, "type": "Meter",
            "power": [reading(1, 1), {**reading(100, 1), "datasetId": ds},
                      {**reading(200, 2), "datasetId": ds}]}
    assert client.post(T, json=body).status_code == 201
    got = client.get(f"{T}/{M1}", params={"options": "temporalValues"}).json()["power"]
    assert got == [{"type": "Property", "values": [[1, "2025-01-01T00:00:00Z"]]},
                   {"type": "Property", "datasetId": ds,
                    "values": [[100, "2025-01-01T00:00:00Z"], [200, "2025-01-02T00:00:00Z"]]}]
    assert client.delete(f"{T}/{M1}/attrs/power", params={"datasetId": ds}).status_code == 204
    left = client.get(f"{T}/{M1}", params={"options": "temporalValues"}).json()["power"]
    assert left == {"type": "Property", "values": [[1, "2025-01-01T00:00:00Z"]]}


def test_query_temporal_entities(client: TestClient) -> None:
    for n in (1, 2, 3):
        body = {"id": f"urn:ngsi-ld:Meter:{n}", "type": "Meter",
                "power": [reading(n, 1), reading(n * 10, 2)]}
        assert client.post(T, json=body).status_code == 201
    client.post(T, json={"id": "urn:ngsi-ld:Lamp:1", "type": "Lamp", "lit": reading(1, 1)})
    page = client.get(T, params={"type": "Meter", "limit": "2", "count": "true",
                                 "options": "temporalValues", "lastN": "1"})
    assert page.status_code == 200, page.text
    assert page.headers["NGSILD-Results-Count"] == "3"
    assert [(e["id"], e["power"]["values"]) for e in page.json()] == [
        ("urn:ngsi-ld:Meter:1", [[10, "2025-01-02T00:00:00Z"]]),
        ("urn:ngsi-ld:Meter:2", [[20, "2025-01-02T00:00:00Z"]])]
    by_q = client.get(T, params={"type": "Meter", "q": "power>15", "timerel": "before",
                                 "timeAt": "2025-01-02T00:00:00Z"})
    assert [(e["id"], [i["value"] for i in e["power"]]) for e in by_q.json()] == [
        ("urn:ngsi-ld:Meter:2", [2]), ("urn:ngsi-ld:Meter:3", [3])]
    by_attr = client.get(T, params={"attrs": "lit"})
    assert [e["id"] for e in by_attr.json()] == ["urn:ngsi-ld:Lamp:1"]
    pattern = client.get(T, params={"idPattern": ".*Meter:[13]$", "options": "temporalValues"})
    assert [e["id"] for e in pattern.json()] == ["urn:ngsi-ld:Meter:1", "urn:ngsi-ld:Meter:3"]
    ld = client.get(T, params={"type": "Lamp"}, headers={"Accept": "application/ld+json"})
    assert ld.json()[0]["@context"] == CORE_CONTEXT_URL


def test_history_is_per_tenant(client: TestClient) -> None:
    meter_with_history(client, [1, 2])
    other = {"NGSILD-Tenant": "someoneelse"}
    problem(client.get(f"{T}/{M1}", headers=other), 404, "ResourceNotFound")
    assert client.get(T, params={"type": "Meter"}, headers=other).json() == []


def test_bad_input_is_refused_and_changes_nothing(client: TestClient) -> None:
    meter_with_history(client, [1, 2])
    url = f"{T}/{M1}"
    bad_params = [{"timerel": "around", "timeAt": "2025-01-01T00:00:00Z"},
                  {"timerel": "after"},
                  {"timerel": "between", "timeAt": "2025-01-01T00:00:00Z"},
                  {"timerel": "between", "timeAt": "2025-01-02T00:00:00Z",
                   "endTimeAt": "2025-01-01T00:00:00Z"},
                  {"timerel": "after", "timeAt": "yesterday"},
                  {"timeAt": "2025-01-01T00:00:00Z"},
                  {"timeproperty": "deletedAt"},
                  {"lastN": "0"}, {"lastN": "x"},
                  {"aggrMethods": "median"},
                  {"aggrMethods": "sum", "aggrPeriodDuration": "1 day"},
                  {"aggrMethods": "sum", "aggrPeriodDuration": "P1M1D"},
                  {"aggrMethods": "sum", "aggrPeriodDuration": "PT"},
                  {"aggrPeriodDuration": "P1D"},
                  {"options": "aggregatedValues"},
                  {"options": "temporalValues", "aggrMethods": "sum"},
                  {"options": "fancy"}]
    for params in bad_params:
        problem(client.get(url, params=params), 400, "BadRequestData")
    problem(client.get(T), 400, "BadRequestData")
    problem(client.get(f"{T}/not-a-uri"), 400, "BadRequestData")
    problem(client.get(f"{T}/urn:ngsi-ld:Meter:404"), 404, "ResourceNotFound")
    bad_bodies = [{"type": "Meter", "power": reading(1, 1)},
                  {"id": M1, "type": "Meter", "power": []},
                  {"id": M1, "type": "Meter", "power": [reading(5, 5), {"type": "Property"}]},
                  {"id": M1, "type": "Meter",
                   "power": [reading(5, 5), {**reading(6, 6), "observedAt": "soon"}]},
                  {"id": M1, "type": "Meter"}]
    for body in bad_bodies:
        problem(client.post(T, json=body), 400, "BadRequestData")
    problem(client.post(f"{url}/attrs", json=[reading(1, 1)]), 400, "BadRequestData")
    problem(client.post(f"{T}/urn:ngsi-ld:Meter:404/attrs", json={"power": reading(1, 1)}),
            404, "ResourceNotFound")
    first = client.get(url).json()["power"][0]["instanceId"]
    problem(client.patch(f"{url}/attrs/power/{first}", json={"value": None}),
            400, "BadRequestData")
    problem(client.delete(f"{url}/attrs/power", params={"deleteAll": "maybe"}),
            400, "BadRequestData")
    assert values_of(client.get(url, params={"options": "temporalValues"})) == [1, 2]
    assert client.get(f"/ngsi-ld/v1/entities/{M1}").json()["power"]["value"] == 2
