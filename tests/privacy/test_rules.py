"""Disclosure rules as data in the agreement: read, written, described and evaluated."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from civictwin.dataspace.odrl import AccessRequest, describe, evaluate, parse_policy
from civictwin.errors import BadRequestData
from civictwin.privacy.rules import DisclosureRules, policy_constraints
from tests.privacy.agreements import c


def offer(*constraints: dict[str, object]) -> dict[str, object]:
    """Return an offer whose one permission carries the constraints."""
    return {"@id": "urn:offer:1", "@type": "Offer",
            "permission": [{"action": "use", "constraint": list(constraints)}]}


def test_the_15_15_rule_is_read_from_the_policy() -> None:
    rules = DisclosureRules.from_policy(offer(
        c("civictwin:aggregation", "gteq", 15), c("civictwin:dominanceCount", "eq", 1),
        c("civictwin:dominanceShare", "lteq", 0.15),
        c("civictwin:disclosureHierarchy", "eq", "block district city"),
        c("civictwin:onFail", "eq", "suppress")))
    assert rules == DisclosureRules(min_contributors=15, dominance_n=1, dominance_k=0.15,
                                    hierarchy=("block", "district", "city"),
                                    on_fail="suppress")
    assert rules.check([10.0] * 15) is None
    assert rules.check([10.0] * 14) == "fewer than 15 contributors"
    assert "more than 15%" in (rules.check([30.0] + [10.0] * 14) or "")


def test_rules_nested_in_and_and_an_n_k_rule_round_trip() -> None:
    rules = DisclosureRules(min_contributors=100, dominance_n=2, dominance_k=0.6,
                            dp_epsilon=0.5, dp_budget=3.0, dp_bound=5000.0)
    doc = offer({"and": policy_constraints(rules)})
    assert DisclosureRules.from_policy(doc) == rules
    assert DisclosureRules.from_policy(offer(c("civictwin:aggregation", "gt", 9))) \
        .min_contributors == 10
    assert DisclosureRules.from_policy(offer(c("purpose", "eq", "planning"))) \
        == DisclosureRules()
    text = describe(parse_policy(doc))
    assert "at most 60% of a cell" in text and "privacy budget of epsilon 3.0" in text


@pytest.mark.parametrize("constraint, fault", [
    (c("civictwin:dominanceShare", "lteq", 1.5), "share above 0"),
    (c("civictwin:dominanceCount", "eq", 0), "at least 1"),
    (c("civictwin:onFail", "eq", "drop"), "merge' or 'suppress"),
    (c("civictwin:dominanceShare", "gteq", 0.5), "does not apply"),
    (c("civictwin:epsilon", "lteq", "lots"), "a number above 0"),
])
def test_bad_rules_are_refused_with_the_fault(constraint: dict[str, object],
                                              fault: str) -> None:
    with pytest.raises(BadRequestData, match=fault):
        parse_policy(offer(constraint))


def test_hierarchy_and_dp_need_sound_values() -> None:
    with pytest.raises(BadRequestData, match="hierarchy"):
        DisclosureRules(hierarchy=("district", "building", "city"))
    with pytest.raises(BadRequestData, match="contribution bound"):
        DisclosureRules(dp_epsilon=1.0)


def test_disclosure_rules_admit_only_a_controlled_release() -> None:
    policy = parse_policy(offer(c("civictwin:aggregation", "gteq", 10),
                                c("civictwin:dominanceShare", "lteq", 0.85)))
    now = datetime.now(UTC)
    raw = AccessRequest(at=now)
    one_series = AccessRequest(at=now, form="aggregate", group_size=1)
    uncontrolled = AccessRequest(at=now, form="aggregate", group_size=50)
    controlled = AccessRequest(at=now, form="aggregate", group_size=10, controlled=True)
    assert not evaluate(policy, raw).allowed
    assert not evaluate(policy, one_series).allowed
    assert not evaluate(policy, uncontrolled).allowed
    assert evaluate(policy, controlled).allowed
