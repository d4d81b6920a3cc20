"""The civictwin JSON-LD context maps every term the sample city and the insight jobs use,
and no core term."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from civictwin.analytics.forecast import Forecast, Scores
from civictwin.analytics.forecast_runs import Target, forecast_entity
from civictwin.analytics.indicators import Grade, IndicatorValue, kpi_entity
from civictwin.ngsild.temporal import ELECTRICITY
from civictwin.samplecity import CONTEXT, SampleCity, iter_entities

CONTEXTS = Path(__file__).parents[2] / "src" / "civictwin" / "ngsild" / "contexts"
CIVICTWIN_NS = "https://civictwin.org/ns/"
SDM = "https://smartdatamodels.org/"
UNIT_CODES = {"MTK", "KWH", "CEL", "GQ", "MTS", "A97", "D54", "DD", "C62"}
ATTRIBUTE_MEMBERS = {"type", "value", "object", "unitCode", "observedAt"}


def _terms(name: str) -> dict[str, Any]:
    terms: dict[str, Any] = json.loads((CONTEXTS / name).read_text("utf-8"))["@context"]
    return terms


@pytest.fixture(scope="module")
def civictwin_terms() -> dict[str, Any]:
    """Return the term definitions of the bundled civictwin context."""
    return _terms("civictwin-context.jsonld")


@pytest.fixture(scope="module")
def core_terms() -> dict[str, Any]:
    """Return the term definitions of the bundled NGSI-LD core context."""
    return _terms("ngsi-ld-core-context-v1.8.jsonld")


def _used_terms(city: SampleCity) -> set[str]:
    """Collect entity types, attribute names and the keys of object values."""
    used: set[str] = set()
    for entity in iter_entities(city):
        used.add(entity["type"])
        for name, attribute in entity.items():
            if name in ("id", "type"):
                continue
            used.add(name)
            assert set(attribute) <= ATTRIBUTE_MEMBERS
            value = attribute.get("value")
            if isinstance(value, dict) and attribute["type"] == "Property":
                used.update(value)
    return used


def test_context_is_the_one_the_broker_bundles() -> None:
    assert CONTEXT == "https://civictwin.org/ns/civictwin-context.jsonld"


def test_every_term_used_is_defined(
    city: SampleCity, civictwin_terms: dict[str, Any], core_terms: dict[str, Any]
) -> None:
    undefined = {t for t in _used_terms(city) - set(civictwin_terms) - set(core_terms)
                 if not t.startswith("@")}
    assert undefined == set()


def test_no_core_term_is_redefined(
    civictwin_terms: dict[str, Any], core_terms: dict[str, Any]
) -> None:
    assert set(civictwin_terms) & set(core_terms) == set()


def _analytics_terms(civictwin_terms: dict[str, Any]) -> set[str]:
    """Collect the types and attribute names of what the insight jobs write into the twin."""
    grade = Grade("B", 1.0, 0.9, "measured", "")
    kpi = kpi_entity(IndicatorValue("energy-per-capita", "urn:ngsi-ld:CityDistrict:x:1", "X",
                                    "2024", 1.0, grade), "x", "2026-01-01T00:00:00Z")
    scores = Scores(1, 5.0, 1.0, 6.0, 1.2)
    result = Forecast(pd.Timestamp("2024-01-01T00:00:00Z"), 3600, np.ones(24), scores, True)
    forecasts = [forecast_entity(Target(f"urn:ngsi-ld:{kind}:x", kind, []), result, "PT1H", 1)
                 for kind in ("meter", "building", "district")]
    by_iri = {iri: term for term, iri in civictwin_terms.items()}
    iris = {i for f in forecasts for i in f if i not in ("id", "type")} | {
        f["type"] for f in forecasts}
    assert iris <= set(by_iri), iris - set(by_iri)  # every name the forecasts write is a term
    return {by_iri[i] for i in iris} | {n for n in kpi if n not in ("id", "type")} | {kpi["type"]}


def test_every_defined_term_is_used(city: SampleCity, civictwin_terms: dict[str, Any]) -> None:
    """Each term names something the sample city or the insight jobs (KPIs, forecasts) write."""
    history_terms = {ELECTRICITY}  # used by the meters' temporal history, not their entities
    used = _used_terms(city) | _analytics_terms(civictwin_terms) | history_terms
    assert set(civictwin_terms) - used == set()


def test_terms_map_to_smart_data_models_or_civictwin(civictwin_terms: dict[str, Any]) -> None:
    for term, iri in civictwin_terms.items():
        assert isinstance(iri, str)
        assert iri.startswith((SDM, CIVICTWIN_NS))
        assert iri.endswith("/" + term)
    assert civictwin_terms["floorsAboveGround"] == SDM + "dataModel.Building/floorsAboveGround"
    assert civictwin_terms["address"] == SDM + "address"
    assert civictwin_terms["pm25"] == SDM + "dataModel.Environment/pm25"
    assert civictwin_terms["temperature"] == SDM + "dataModel.Weather/temperature"
    assert civictwin_terms["totalConsumption"] == SDM + "dataModel.Device/totalConsumption"
    assert civictwin_terms["floorArea"] == CIVICTWIN_NS + "floorArea"


def test_measurements_carry_unit_codes(city: SampleCity) -> None:
    for entity in iter_entities(city):
        for attribute in entity.values():
            if isinstance(attribute, dict) and "unitCode" in attribute:
                assert attribute["unitCode"] in UNIT_CODES
                assert isinstance(attribute["value"], float)
    for station in city.stations:
        observed = station["dateObserved"]["value"]["@value"]
        measured = [a for a in station.values() if isinstance(a, dict) and "unitCode" in a]
        assert len(measured) in (4, 5)
        assert all(a["observedAt"] == observed for a in measured)
