"""An aggregates-only agreement: no raw reading by any route, aggregates through /privacy."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from civictwin.app import create_app
from civictwin.config import Settings
from civictwin.store import Store
from tests.conftest import operator_key
from tests.privacy import city
from tests.privacy.agreements import AGGREGATES_MIN_10, Grant, c, grant

BODY = {"quantity": "electricity", "groupBy": ["district"], "period": "month",
        "start": "2024-01-01", "end": "2024-03-01"}


@pytest.fixture
def twin(store: Store, tenant: str) -> Iterator[TestClient]:
    """A provider twin with 12 meters in d1 and d2 and 3 in d3, two months of readings."""
    meters = [city.Meter(n, f"d{(n - 1) // 12 + 1}",
                         readings=city.monthly(2024, [float(n), float(n + 1)]))
              for n in range(1, 28)]
    city.build(store, tenant, meters)
    with TestClient(create_app(Settings(database_url="sqlite://"), store=store)) as client:
        yield client


@pytest.fixture
def held(store: Store, tenant: str) -> Grant:
    """A consumer holding an "aggregates only, at least 10" agreement."""
    return grant(store, tenant, AGGREGATES_MIN_10)


RAW_ROUTES = [
    ("GET", "/ngsi-ld/v1/entities", {"type": "SmartMeteringObservation"}),
    ("GET", "/ngsi-ld/v1/entities/urn:ngsi-ld:SmartMeteringObservation:1", {}),
    ("GET", "/ngsi-ld/v1/entities", {"type": "SmartMeteringObservation", "count": "true",
                                     "limit": "0"}),
    ("GET", "/ngsi-ld/v1/entities", {"q": "refBuilding==\"urn:ngsi-ld:Building:1\""}),
    ("GET", "/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:SmartMeteringObservation:1", {}),
    ("GET", "/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:SmartMeteringObservation:1",
     {"aggrMethods": "sum", "aggrPeriodDuration": "P1Y"}),
    ("GET", "/ngsi-ld/v1/temporal/entities", {"type": "SmartMeteringObservation",
                                              "aggrMethods": "sum,avg",
                                              "timerel": "after", "timeAt": "2020-01-01"}),
    ("GET", "/ngsi-ld/v1/types", {}),
    ("GET", "/ngsi-ld/v1/attributes", {}),
    ("HEAD", "/ngsi-ld/v1/entities", {"type": "SmartMeteringObservation"}),
    ("POST", "/ngsi-ld/v1/entityOperations/query", {}),
    ("GET", "/ngsi-ld/v1/subscriptions", {}),
    ("POST", "/ngsi-ld/v1/subscriptions", {}),
    ("GET", "/tiles/buildings/14/8385/5494.mvt", {}),
    ("GET", "/catalog/datasets", {}),
]


@pytest.mark.parametrize("method, path, params", RAW_ROUTES)
def test_no_route_returns_a_raw_reading(twin: TestClient, held: Grant, method: str, path: str,
                                        params: dict[str, str]) -> None:
    body = {"type": "Query", "entities": [{"type": "SmartMeteringObservation"}]} \
        if method == "POST" else None
    answer = twin.request(method, path, params=params, headers=held.headers, json=body)
    assert answer.status_code == 403, (path, answer.status_code, answer.text)
    assert "Electricity" not in answer.text and "1.0" not in answer.text


def test_the_aggregate_endpoint_respects_the_agreement(twin: TestClient, held: Grant,
                                                       tenant: str) -> None:
    made = twin.post("/privacy/aggregates", json=BODY, headers=held.headers)
    assert made.status_code == 201, made.text
    release = made.json()
    assert release["method"]["rules"]["minContributors"] == 10
    cells = {(x["keys"]["district"][-2:], x["keys"]["period"]): x for x in release["cells"]}
    assert cells[("d2", "2024-01")]["status"] == "released"
    assert cells[("d2", "2024-01")]["value"] == pytest.approx(sum(range(13, 25)))
    # d3 has 3 meters: merged with its smallest neighbour, both showing the pooled value.
    assert cells[("d3", "2024-01")]["status"] == "merged"
    assert "fewer than 10 contributors" in cells[("d3", "2024-01")]["reason"]
    assert cells[("d1", "2024-01")]["status"] == "merged"
    assert cells[("d1", "2024-01")]["contributors"] == 15
    assert cells[("d1", "2024-01")]["value"] == pytest.approx(sum(range(1, 13)) + 25 + 26 + 27)
    listed = twin.get("/privacy/releases", headers=held.headers).json()
    assert [r["id"] for r in listed] == [release["id"]]
    one = twin.get(f"/privacy/releases/{release['id']}", headers=held.headers)
    assert one.json()["cells"] == release["cells"]
    # Another agreement's id, or rules of the consumer's own, are not accepted.
    other = twin.post("/privacy/aggregates", json={**BODY, "agreement": "urn:agreement:x"},
                      headers=held.headers)
    assert other.status_code == 403
    loose = twin.post("/privacy/aggregates", headers=held.headers,
                      json={**BODY, "rules": {"minContributors": 1}})
    assert loose.status_code == 400
    wrong_tenant = twin.post("/privacy/aggregates", json=BODY,
                             headers={**held.headers, "NGSILD-Tenant": "elsewhere"})
    assert wrong_tenant.status_code == 403


def test_the_agreement_can_refuse_aggregates_too(twin: TestClient, store: Store,
                                                 tenant: str) -> None:
    expired = grant(store, tenant, [*AGGREGATES_MIN_10,
                                    c("dateTime", "lteq", "2025-12-31T23:59:59Z")])
    answer = twin.post("/privacy/aggregates", json=BODY, headers=expired.headers)
    assert answer.status_code == 403 and "31 December 2025" in answer.json()["detail"]
    buildings_only = grant(store, tenant, AGGREGATES_MIN_10,
                           types=("https://smartdatamodels.org/dataModel.Building/Building",))
    answer = twin.post("/privacy/aggregates", json=BODY, headers=buildings_only.headers)
    assert answer.status_code == 403 and "no meter data" in answer.json()["detail"]


def test_an_operator_releases_under_an_agreement_it_provides(twin: TestClient, store: Store,
                                                             tenant: str, held: Grant) -> None:
    headers = {"Authorization": f"Bearer {operator_key(store)}", "NGSILD-Tenant": tenant}
    made = twin.post("/privacy/aggregates", headers=headers,
                     json={**BODY, "agreement": held.agreement})
    assert made.status_code == 201, made.text
    assert made.json()["consumer"] == held.consumer
    mine = twin.post("/privacy/aggregates", headers=headers,
                     json={**BODY, "rules": {"minContributors": 3}})
    assert {x["status"] for x in mine.json()["cells"]} == {"released"}
    strict = twin.post("/privacy/aggregates", headers=headers, json={
        **BODY, "consumer": "urn:strict", "rules": {"minContributors": 13, "onFail": "suppress"}})
    assert {x["status"] for x in strict.json()["cells"]} == {"suppressed"}
    assert len(twin.get("/privacy/releases", headers=headers).json()) == 3
    bad = twin.post("/privacy/aggregates", headers=headers, json={**BODY, "quantity": "air"})
    assert bad.status_code == 400 and "quantity" in bad.json()["detail"]
