"""Fuzzing: every operation of the OpenAPI document, and the query languages over HTTP.

No generated request may get a 500; a bad query gets a precise 400 ProblemDetails.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from civictwin.app import create_app
from civictwin.errors import BadRequestData, CivicTwinError
from civictwin.ngsild.qlang import parse_q, parse_scope_q
from civictwin.store import Store
from tests.conftest import operator_key
from tests.servers import loopback_settings

QUERY_CHARS = 'abcT.[]()*"\\;|,=!<>~0123456789-+:Z #/e\t%'
QUERY_TEXT = st.text(QUERY_CHARS, min_size=1, max_size=80) | st.text(min_size=1, max_size=40)
EXAMPLES_PER_OPERATION = 8
FUZZ_BUDGET_SECONDS = 240  # the whole schemathesis run, per store, on a loaded CI machine
PROBLEM_TYPES = {"BadRequestData", "InvalidRequest", "TooComplexQuery"}
FUZZ = settings(max_examples=60, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@pytest.fixture
def seeded(client: TestClient) -> Iterator[TestClient]:
    """The client, with a few entities to query."""
    batch = [{"id": f"urn:ngsi-ld:Sensor:f{n}", "type": "Sensor",
              "noise": {"type": "Property", "value": 50 + n, "unitCode": "2N"},
              "name": {"type": "Property", "value": f"s{n}"}} for n in range(3)]
    assert client.post("/ngsi-ld/v1/entityOperations/upsert", json=batch).status_code == 201
    yield client


def _precise(response: Any, expected: CivicTwinError | None) -> None:
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        body = response.json()
        assert body["type"].rsplit("/", 1)[1] in PROBLEM_TYPES and body["detail"]
    if expected is not None:  # a syntax error the parser finds is the error the client sees
        assert response.status_code == 400
        assert response.json()["detail"] == expected.detail


def _same(name: str) -> str:
    return name


@FUZZ
@given(text=QUERY_TEXT)
def test_any_q_gets_results_or_a_precise_400(seeded: TestClient, text: str) -> None:
    try:
        parse_q(text, _same)
        expected = None
    except BadRequestData as exc:
        expected = exc
    except CivicTwinError:
        expected = None
    _precise(seeded.get("/ngsi-ld/v1/entities", params={"type": "Sensor", "q": text}),
             expected)


@FUZZ
@given(text=QUERY_TEXT)
def test_any_scope_q_and_type_get_results_or_a_precise_400(seeded: TestClient,
                                                           text: str) -> None:
    try:
        parse_scope_q(text)
        expected = None
    except BadRequestData as exc:
        expected = exc
    except CivicTwinError:
        expected = None
    _precise(seeded.get("/ngsi-ld/v1/entities", params={"type": "Sensor", "scopeQ": text}),
             expected)
    _precise(seeded.get("/ngsi-ld/v1/entities", params={"type": text}), None)


@FUZZ
@given(georel=QUERY_TEXT, coordinates=QUERY_TEXT,
       geometry=st.sampled_from(["Point", "Polygon", "LineString", "Nope"]))
def test_any_geo_query_gets_results_or_a_400(seeded: TestClient, georel: str,
                                             coordinates: str, geometry: str) -> None:
    _precise(seeded.get("/ngsi-ld/v1/entities", params={
        "type": "Sensor", "georel": georel, "geometry": geometry,
        "coordinates": coordinates}), None)


def test_the_openapi_document_declares_query_parameters_and_bodies(store: Store) -> None:
    document = create_app(loopback_settings(), store=store).openapi()
    paths = document["paths"]

    def declared(path: str, method: str) -> set[str]:
        return {p["name"] for p in paths[path][method].get("parameters", [])}

    assert {"q", "type", "idPattern", "georel", "coordinates", "limit", "count", "options",
            "scopeQ"} <= declared("/ngsi-ld/v1/entities", "get")
    assert {"timerel", "timeAt", "lastN", "aggrMethods", "q"} <= declared(
        "/ngsi-ld/v1/temporal/entities", "get")
    assert {"details"} <= declared("/ngsi-ld/v1/types", "get")
    for path, operations in paths.items():
        for method, operation in operations.items():
            if path.startswith(("/ngsi-ld/", "/catalog", "/dsp/", "/consents")) \
                    and method in ("post", "put", "patch") \
                    and not path.endswith(("/withdraw", "/refresh")):
                assert "requestBody" in operation, f"{method.upper()} {path} has no body"


@pytest.mark.slow
def test_no_operation_of_the_openapi_document_answers_500(store: Store, tenant: str) -> None:
    app = create_app(loopback_settings(auth_required=True), store=store)
    headers = {"NGSILD-Tenant": tenant, "Authorization": f"Bearer {operator_key(store)}"}
    with TestClient(app, headers=headers) as seeding:
        batch = [{"id": f"urn:ngsi-ld:Sensor:s{n}", "type": "Sensor",
                  "temperature": {"type": "Property", "value": 20 + n}} for n in range(3)]
        assert seeding.post("/ngsi-ld/v1/entityOperations/upsert", json=batch).status_code == 201
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 60
    started = time.monotonic()
    for operation in operations:
        _fuzz(operation, headers, failures)
    assert not failures, "\n".join(failures)
    assert time.monotonic() - started < FUZZ_BUDGET_SECONDS


def _fuzz(operation: Any, headers: dict[str, str], failures: list[str]) -> None:
    """Send a few generated requests to one operation, authenticated; note every 5xx."""

    @settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, deadline=None,
              database=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def check(case: Any) -> None:
        case.headers = {**(case.headers or {}), **headers}
        response = case.call()
        if response.status_code >= 500:
            failures.append(f"{operation.label}: {response.status_code} "
                            f"{case.as_curl_command()} -> {response.text[:300]}")

    check()


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8) | st.sampled_from(["Property", "Relationship", "GeoProperty",
                                             "urn:ngsi-ld:Sensor:f1", "Point", "@context"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["id", "type", "value", "object", "noise", "location", "coordinates",
                         "observedAt", "datasetId", "unitCode", "@context", "entities",
                         "notification", "endpoint", "uri", "q", "languageMap", "x"]),
        inner, max_size=5),
    max_leaves=12)
ENTITYISH = st.fixed_dictionaries(
    {"id": st.sampled_from(["urn:ngsi-ld:Sensor:f1", "urn:ngsi-ld:Sensor:new", "not a uri"]),
     "type": st.sampled_from(["Sensor", "", "a b"]) | JSON},
    optional={"noise": JSON, "location": JSON, "observedAt": JSON})
BODIES = JSON | ENTITYISH | st.lists(ENTITYISH, max_size=3)
WRITES = [("POST", "/ngsi-ld/v1/entities"), ("POST", "/ngsi-ld/v1/entityOperations/upsert"),
          ("POST", "/ngsi-ld/v1/entityOperations/update"),
          ("POST", "/ngsi-ld/v1/entityOperations/merge"),
          ("POST", "/ngsi-ld/v1/entityOperations/query"),
          ("PATCH", "/ngsi-ld/v1/entities/urn:ngsi-ld:Sensor:f1/attrs"),
          ("PATCH", "/ngsi-ld/v1/entities/urn:ngsi-ld:Sensor:f1"),
          ("PUT", "/ngsi-ld/v1/entities/urn:ngsi-ld:Sensor:f1"),
          ("POST", "/ngsi-ld/v1/entities/urn:ngsi-ld:Sensor:f1/attrs"),
          ("POST", "/ngsi-ld/v1/subscriptions"), ("POST", "/ngsi-ld/v1/csourceRegistrations"),
          ("POST", "/ngsi-ld/v1/temporal/entities"),
          ("POST", "/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:Sensor:f1/attrs")]


@settings(max_examples=150, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(write=st.sampled_from(WRITES), body=BODIES)
def test_any_json_body_gets_an_answer_not_a_500(seeded: TestClient, write: tuple[str, str],
                                                body: Any) -> None:
    method, path = write
    response = seeded.request(method, path, json=body)
    assert response.status_code < 500, f"{method} {path} {body!r}: {response.text}"


NUMBERED = ["/ngsi-ld/v1/entities?type=Sensor&offset=", "/ngsi-ld/v1/entities?type=Sensor&limit=",
            "/ngsi-ld/v1/subscriptions?offset=", "/ngsi-ld/v1/subscriptions?limit=",
            "/ngsi-ld/v1/csourceRegistrations?offset=",
            "/ngsi-ld/v1/temporal/entities?type=Sensor&lastN=",
            "/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:Sensor:f1?lastN=", "/catalog?page=",
            "/catalog/datasets?offset=", "/audit?offset=", "/consent?offset="]


@pytest.mark.parametrize("number", [str(10**20), "9" * 400, "-1", "²", "١٢"])
def test_huge_negative_or_non_ascii_numbers_get_an_answer_not_a_500(seeded: TestClient,
                                                                   number: str) -> None:
    for path in NUMBERED:
        answer = seeded.get(path + number)
        assert answer.status_code in (200, 400), f"{path}{number}: {answer.text}"
        if number in (str(10**20), "9" * 400) and "lastN" not in path:  # lastN: all of them
            assert answer.status_code == 400, f"{path}{number}: {answer.text}"


DEEP = {"arrays": "[" * 100_000 + "]" * 100_000,
        "a value": '{"id": "urn:ngsi-ld:Sensor:d", "type": "Sensor", "noise": {"type": '
                   '"Property", "value": ' + "[" * 5000 + "]" * 5000 + "}}",
        "a context": '{"@context": ' + '{"@context": ' * 3000 + "{}" + "}" * 3000
                     + ', "id": "urn:ngsi-ld:Sensor:d", "type": "Sensor"}'}


@pytest.mark.parametrize("path", ["/ngsi-ld/v1/entities", "/ngsi-ld/v1/entityOperations/upsert",
                                  "/ngsi-ld/v1/subscriptions", "/ngsi-ld/v1/jsonldContexts",
                                  "/catalog/harvests", "/catalog/datasets", "/consent",
                                  "/dsp/catalog/request"])
def test_deeply_nested_bodies_get_a_400(seeded: TestClient, path: str) -> None:
    for what, body in DEEP.items():
        media = "application/ld+json" if what == "a context" else "application/json"
        answer = seeded.post(path, content=body, headers={"Content-Type": media})
        assert answer.status_code == 400, f"{path} with deep {what}: {answer.text[:300]}"
