"""The algorithm register: complete entries, one per model module, served as JSON and HTML."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import civictwin.analytics
from civictwin.analytics import algorithms
from civictwin.analytics.algorithms import Algorithm, entries, register
from civictwin.app import create_app
from civictwin.config import Settings


@pytest.fixture
def http(tmp_path: Path) -> Iterator[TestClient]:
    """A client of an app over a fresh SQLite twin."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'twin.db'}")
    with TestClient(create_app(settings)) as client:
        yield client


def test_every_entry_is_complete() -> None:
    found = entries()
    assert found, "the register is empty"
    for algorithm in found:
        assert algorithm.missing() == [], algorithm.id
        assert len(algorithm.description_short) <= 150


def test_every_model_module_of_analytics_has_an_entry() -> None:
    package = Path(civictwin.analytics.__file__).parent
    modules = {p.stem for p in package.glob("*.py")}
    registered = {a.module for a in entries()}
    for stem in sorted(modules - set(algorithms.INFRASTRUCTURE)):
        assert f"civictwin.analytics.{stem}" in algorithms.MODEL_MODULES, stem
        assert f"civictwin.analytics.{stem}" in registered, stem


def test_the_named_algorithms_are_registered() -> None:
    ids = {a.id for a in entries()}
    assert {"energy-demand-forecast", "climate-scenario-model", "odrl-policy-evaluation",
            "statistical-disclosure-control", "city-indicators", "ghg-inventory"} <= ids
    built = {"civictwin.analytics.forecast", "civictwin.analytics.scenario"}
    for algorithm in entries():
        if algorithm.module in built:
            assert algorithm.status == "in use", algorithm.id


def test_a_tabled_entry_says_in_development_until_its_module_exists() -> None:
    for algorithm in entries():
        exists = algorithms._exists(algorithm.module)
        assert (algorithm.status == "in use") == exists, algorithm.id


def test_an_incomplete_or_conflicting_entry_is_refused() -> None:
    good = entries()[0]
    with pytest.raises(ValueError, match="human_oversight"):
        register(Algorithm(**{**good.to_json(), "id": "x-test", "human_oversight": "",
                              "data_used": tuple(good.data_used)}))
    assert "x-test" not in algorithms.REGISTER
    with pytest.raises(ValueError, match="other content"):
        register(Algorithm(**{**good.to_json(), "version": "99",
                              "data_used": tuple(good.data_used)}))
    assert register(good) is good


def test_the_register_is_served_as_json(http: TestClient) -> None:
    response = http.get("/algorithms")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["count"] == len(body["algorithms"]) == len(entries())
    forecast = http.get("/algorithms/energy-demand-forecast").json()
    assert forecast["module"] == "civictwin.analytics.forecast"
    assert forecast["data_used"]
    missing = http.get("/algorithms/no-such-thing")
    assert missing.status_code == 404
    assert missing.json()["type"].endswith("ResourceNotFound")


def test_the_register_is_served_as_html_to_browsers(http: TestClient) -> None:
    response = http.get("/algorithms", headers={"Accept": "text/html,application/xhtml+xml,"
                                                          "application/json;q=0.9"})
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    for algorithm in entries():
        assert f'id="{algorithm.id}"' in page
        assert "Human oversight" in page
    assert http.get("/algorithms?format=html").headers["content-type"].startswith("text/html")
