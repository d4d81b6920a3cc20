"""ODRL policies: parsing the Dataspace Protocol's examples, evaluation, plain language."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import Point, box

from civictwin.dataspace.odrl import AccessRequest, describe, evaluate, parse_policy
from civictwin.errors import BadRequestData

AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
LUMEN = "urn:civictwin:participant:lumen"
UTILITY = "urn:civictwin:participant:utility"


def _c(left: str, op: str, right: Any, **extra: Any) -> dict[str, Any]:
    return {"leftOperand": left, "operator": op, "rightOperand": right, **extra}


def offer(*constraints: dict[str, Any], **policy: Any) -> dict[str, Any]:
    """Return an Offer with one `use` permission under the given constraints."""
    return {"@id": "urn:offer:1", "@type": "Offer", "assigner": UTILITY,
            "permission": [{"action": "use", "constraint": list(constraints)}], **policy}


def ask(**facts: Any) -> AccessRequest:
    """Return a request at AT with the given facts."""
    return AccessRequest(at=facts.pop("at", AT), **facts)


def _policies(specs: Path) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(specs.glob("dataspace-protocol-2025-1/**/example/*.json")):
        doc = json.loads(path.read_text())
        for key in ("offer", "agreement"):
            if isinstance(doc.get(key), dict):
                found.append((f"{path.name}:{key}", doc[key]))
        for i, item in enumerate(doc.get("hasPolicy", [])):
            found.append((f"{path.name}:hasPolicy[{i}]", item))
    return found


def test_every_dsp_example_policy_parses_and_round_trips(specs_dir: Path) -> None:
    policies = _policies(specs_dir)
    assert len(policies) >= 5
    for name, doc in policies:
        policy = parse_policy(doc)
        assert policy.to_jsonld() == doc, name
        assert parse_policy(policy.to_jsonld()) == policy, name
        assert describe(policy).endswith("Anything not permitted here is refused."), name


def test_dsp_agreement_with_unknown_operands_denies(specs_dir: Path) -> None:
    path = specs_dir / "dataspace-protocol-2025-1/negotiation/example"
    doc = json.loads((path / "contract-agreement-message-full.json").read_text())["agreement"]
    policy = parse_policy(doc)
    decision = evaluate(policy, ask(assignee="http://example.com/Consumer",
                                    at=datetime(2023, 6, 1, tzinfo=UTC)))
    assert not decision.allowed
    assert decision.rule == "permission[1]" and "'partner'" in decision.reason
    assert "leftOperand 'partner'; requests those rules concern are refused" in describe(policy)


def test_dsp_offer_allows_until_its_date(specs_dir: Path) -> None:
    path = specs_dir / "dataspace-protocol-2025-1/negotiation/example/contract-offer-message.json"
    policy = parse_policy(json.loads(path.read_text())["offer"])
    assert evaluate(policy, ask(at=datetime(2023, 12, 31, 6, 0, tzinfo=UTC))).allowed
    late = evaluate(policy, ask(at=datetime(2023, 12, 31, 6, 1, tzinfo=UTC)))
    assert not late.allowed and late.rule == "no-permission"


def test_the_city_example_reads_plainly_and_decides() -> None:
    doc = offer(_c("purpose", "eq", "energy planning"),
                _c("civictwin:aggregation", "gteq", 10, unit="civictwin:households"),
                _c("dateTime", "lteq", "2027-12-31"), assignee=LUMEN)
    doc["permission"][0]["duty"] = [{"action": "delete", "constraint": [
        _c("elapsedTime", "lteq", "P30D")]}]
    doc["prohibition"] = [{"@id": "urn:rule:no-resale", "action": "distribute"}]
    policy = parse_policy(doc)
    text = describe(policy, {LUMEN: "The City of Lumen", UTILITY: "Lumen Energy"})
    assert ("The City of Lumen may use this dataset for the purpose 'energy planning', only as "
            "aggregates of at least 10 households, until 31 December 2027.") in text
    assert "delete the data within 30 days (P30D) after the agreement" in text
    assert "The City of Lumen may not distribute this dataset." in text
    good = ask(assignee=LUMEN, purpose="energy planning", form="aggregate", group_size=12)
    decision = evaluate(policy, good)
    assert decision.allowed and decision.rule == "permission[0]"
    assert decision.duties == ("delete the data within 30 days (P30D) after the agreement",)
    assert not evaluate(policy, ask(assignee=LUMEN, purpose="energy planning")).allowed
    small = evaluate(policy, ask(assignee=LUMEN, purpose="energy planning", form="aggregate",
                                 group_size=9))
    assert not small.allowed and "at least 10 households" in small.reason
    other = evaluate(policy, ask(assignee=UTILITY, purpose="energy planning", form="aggregate",
                                 group_size=50))
    assert not other.allowed
    resale = evaluate(policy, ask(action="distribute", assignee=LUMEN, purpose="energy planning",
                                  form="aggregate", group_size=12))
    assert not resale.allowed and resale.rule == "urn:rule:no-resale"
    late = evaluate(policy, ask(at=datetime(2028, 1, 1, tzinfo=UTC), assignee=LUMEN,
                                purpose="energy planning", form="aggregate", group_size=12))
    assert not late.allowed


@pytest.mark.parametrize("constraint, facts, allowed", [
    (_c("purpose", "isAnyOf", ["research", "energy planning"]), {"purpose": "research"}, True),
    (_c("purpose", "isNoneOf", ["marketing"]), {"purpose": "marketing"}, False),
    (_c("purpose", "isNoneOf", ["marketing"]), {}, False),
    (_c("purpose", "isA", "energy-planning"), {"purpose": "energy-planning/heat"}, True),
    (_c("purpose", "neq", "marketing"), {"purpose": "research"}, True),
    (_c("dateTime", "gt", "2026-06-01T12:00:00Z"), {}, False),
    (_c("dateTime", "gteq", "2026-06-01T12:00:00Z"), {}, True),
    (_c("dateTime", "eq", "2026-06-01"), {}, True),
    (_c("dateTime", "lt", "2026-06-01"), {}, False),
    (_c("count", "lteq", 3), {"count": 2}, True),
    (_c("count", "lteq", 3), {"count": 3}, False),
    (_c("recipient", "eq", LUMEN), {"assignee": LUMEN}, True),
    (_c("recipient", "isNoneOf", [UTILITY]), {"recipient": UTILITY}, False),
    (_c("elapsedTime", "lteq", "P1M"), {"elapsed": timedelta(days=29)}, True),
    (_c("elapsedTime", "lteq", "PT12H"), {"elapsed": timedelta(hours=13)}, False),
    (_c("elapsedTime", "lteq", "PT12H"), {}, False),
    (_c("civictwin:aggregation", "eq", "aggregate"), {"form": "aggregate"}, True),
    (_c("civictwin:aggregation", "eq", "aggregate"), {"form": "raw"}, False),
    (_c("civictwin:retention", "lteq", "P30D"), {"retention": timedelta(days=30)}, True),
    (_c("civictwin:retention", "lteq", "P30D"), {"retention": timedelta(days=31)}, False),
    (_c("spatial", "eq", "urn:district:3"), {"within": frozenset({"urn:district:3"})}, True),
    (_c("spatial", "eq", "urn:district:3"), {"location": Point(0.5, 0.5)}, True),
    (_c("spatial", "eq", "urn:district:3"), {"location": Point(5, 5)}, False),
    (_c("spatial", "eq", "urn:district:9"), {"location": Point(0.5, 0.5)}, False),
    (_c("spatial", "isPartOf", {"type": "Polygon", "coordinates": [
        [[0, 0], [2, 0], [2, 2], [0, 2], [0, 0]]]}), {"location": box(0.5, 0.5, 1, 1)}, True),
    (_c("spatial", "isNoneOf", ["urn:district:3"]), {"location": Point(5, 5)}, True),
    ({"or": [_c("purpose", "eq", "a"), _c("purpose", "eq", "b")]}, {"purpose": "b"}, True),
    ({"xone": [_c("purpose", "eq", "a"), _c("purpose", "isA", "a")]}, {"purpose": "a"}, False),
    ({"and": [_c("purpose", "eq", "a"), _c("count", "lt", 2)]}, {"purpose": "a"}, True),
])
def test_operands_and_operators(constraint: dict[str, Any], facts: dict[str, Any],
                                allowed: bool) -> None:
    places = {"urn:district:3": box(0, 0, 1, 1)}
    decision = evaluate(parse_policy(offer(constraint)), ask(**facts), places)
    assert decision.allowed is allowed, decision.reason


@pytest.mark.parametrize("constraint", [
    _c("partner", "eq", "gold"), _c("purpose", "term-lteq", "x"), _c("odrl:industry", "eq", "x")])
def test_unknown_terms_deny(constraint: dict[str, Any]) -> None:
    policy = parse_policy(offer(_c("purpose", "eq", "a"), constraint))
    decision = evaluate(policy, ask(purpose="a"))
    assert not decision.allowed and "cannot evaluate" in decision.reason


def test_a_prohibition_that_might_apply_denies() -> None:
    doc = offer()
    doc["prohibition"] = [{"action": "use", "constraint": [_c("purpose", "eq", "marketing")]}]
    policy = parse_policy(doc)
    assert not evaluate(policy, ask()).allowed
    assert evaluate(policy, ask(purpose="research")).allowed
    assert not evaluate(policy, ask(purpose="marketing")).allowed


def test_remedies_of_prohibitions_are_described() -> None:
    doc = offer()
    doc["prohibition"] = [{"action": "distribute", "remedy": [{"action": "delete"}]}]
    text = describe(parse_policy(doc))
    assert "Nobody may distribute this dataset.\n     If they do, they must delete the data." \
        in text


def test_actions_use_covers_all_but_transfer() -> None:
    policy = parse_policy(offer())
    assert evaluate(policy, ask(action="aggregate")).allowed
    assert not evaluate(policy, ask(action="transfer")).allowed
    refined = offer()
    refined["permission"][0]["action"] = {"rdf:value": {"@id": "odrl:use"}, "refinement": [
        _c("purpose", "eq", "a")]}
    assert not evaluate(parse_policy(refined), ask()).allowed
    assert evaluate(parse_policy(refined), ask(purpose="a")).allowed


@pytest.mark.parametrize("doc, fault", [
    ({"@type": "Offer", "permission": [{"action": "use"}]}, "no @id"),
    ({"@id": "x", "@type": "Ticket", "permission": [{"action": "use"}]}, "@type"),
    ({"@id": "x", "@type": "Offer"}, "no permission"),
    ({"@id": "x", "@type": "Agreement", "permission": [{"action": "use"}]}, "needs a target"),
    ({"@id": "x", "@type": "Offer", "permission": [{}]}, "permission[0]: a rule needs an action"),
    ({"@id": "x", "@type": "Offer", "permission": ["use"]}, "must be a JSON object"),
    (offer({"leftOperand": "purpose", "operator": "eq"}), "needs rightOperand"),
    (offer(_c("dateTime", "lteq", "2023-13-01")), "constraint[0].rightOperand: '2023-13-01'"),
    (offer(_c("dateTime", "isA", "2023-12-01")), "does not apply to 'dateTime'"),
    (offer(_c("elapsedTime", "lteq", "30 days")), "ISO 8601 duration"),
    (offer(_c("count", "lteq", -1)), "whole number"),
    (offer(_c("count", "lteq", "²")), "whole number"),
    (offer(_c("purpose", "eq", ["a", "b"])), "use isAnyOf"),
    (offer(_c("civictwin:aggregation", "neq", 10)), "aggregation takes"),
    (offer(_c("spatial", "eq", {"type": "Polygon", "coordinates": []})), "GeoJSON"),
    (offer({"and": []}), "non-empty list"),
    (offer({"and": [_c("purpose", "eq", "a")], "or": [_c("purpose", "eq", "a")]}),
     "exactly one of"),
])
def test_invalid_policies_name_the_fault(doc: dict[str, Any], fault: str) -> None:
    with pytest.raises(BadRequestData, match=fault.replace("[", r"\[").replace("]", r"\]")):
        parse_policy(doc)


def test_every_operand_reads_plainly() -> None:
    doc = offer(_c("spatial", "isAnyOf", ["urn:district:1", "urn:district:2"]),
                _c("count", "lteq", 3), _c("recipient", "eq", LUMEN),
                _c("civictwin:retention", "lteq", "P1Y6M"),
                _c("elapsedTime", "gt", "PT12H"),
                _c("dateTime", "gteq", "2026-01-01T08:00:00Z"),
                {"or": [_c("purpose", "isAnyOf", ["research", "teaching"]),
                        _c("civictwin:aggregation", "eq", "aggregate")]},
                {"xone": [_c("purpose", "neq", "marketing"), _c("count", "gt", 1)]})
    text = describe(parse_policy(doc), {"urn:district:1": "the Old Town", LUMEN: "the city"})
    for phrase in ("only within the Old Town or urn:district:2", "at most 3 times in all",
                   "only passing results to the city",
                   "keeping the data no longer than 1 year and 6 months",
                   "only more than 12 hours (PT12H) after the agreement",
                   "from 1 January 2026, 08:00 UTC on",
                   "either (for one of the purposes 'research', 'teaching') or "
                   "(only as aggregates)",
                   "exactly one of: (for any purpose other than 'marketing'); "
                   "(more than 1 time in all)"):
        assert phrase in text, phrase


def test_district_areas_come_from_twin_entities() -> None:
    from civictwin.dataspace.odrl import NGSI_LD_LOCATION, places_from_entities
    from civictwin.store.base import Entity

    square = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}
    district = Entity(id="urn:ngsi-ld:CityDistrict:lumen:1", types=["CityDistrict"],
                      attrs={NGSI_LD_LOCATION: [{"type": "GeoProperty", "value": square}]})
    places = places_from_entities([district, Entity(id="urn:x", types=["Thing"])])
    assert list(places) == [district.id]
    policy = parse_policy(offer(_c("spatial", "eq", district.id)))
    assert evaluate(policy, ask(location=Point(0.5, 0.5)), places).allowed
    assert not evaluate(policy, ask(location=Point(1.5, 0.5)), places).allowed
