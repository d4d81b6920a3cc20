"""Properties of policy evaluation that must hold for every policy and request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from civictwin.dataspace.odrl import AccessRequest, describe, evaluate, parse_policy

PURPOSES = ["energy planning", "research", "marketing", "energy planning/heat"]
PARTIES = ["urn:p:lumen", "urn:p:utility", "urn:p:other"]
ACTIONS = ["use", "distribute", "aggregate", "transfer", "read"]


def _constraint() -> st.SearchStrategy[dict[str, Any]]:
    purpose = st.builds(lambda op, v: {"leftOperand": "purpose", "operator": op,
                                       "rightOperand": v},
                        st.sampled_from(["eq", "neq", "isA", "isPartOf"]),
                        st.sampled_from(PURPOSES))
    purposes = st.builds(lambda op, v: {"leftOperand": "purpose", "operator": op,
                                        "rightOperand": v},
                         st.sampled_from(["isAnyOf", "isNoneOf", "isAllOf"]),
                         st.lists(st.sampled_from(PURPOSES), min_size=1, max_size=3))
    when = st.builds(lambda op, d: {"leftOperand": "dateTime", "operator": op,
                                    "rightOperand": d.strftime("%Y-%m-%dT%H:%M:%SZ")},
                     st.sampled_from(["lt", "lteq", "gt", "gteq"]),
                     st.datetimes(datetime(2024, 1, 1), datetime(2028, 1, 1)))
    count = st.builds(lambda op, n: {"leftOperand": "count", "operator": op, "rightOperand": n},
                      st.sampled_from(["lt", "lteq", "gt", "gteq", "eq", "neq"]),
                      st.integers(0, 20))
    size = st.builds(lambda op, n: {"leftOperand": "civictwin:aggregation", "operator": op,
                                    "rightOperand": n},
                     st.sampled_from(["gt", "gteq", "eq"]), st.integers(1, 30))
    elapsed = st.builds(lambda op, d: {"leftOperand": "elapsedTime", "operator": op,
                                       "rightOperand": f"P{d}D"},
                        st.sampled_from(["lt", "lteq", "gt", "gteq"]), st.integers(0, 90))
    atomic = st.one_of(purpose, purposes, when, count, size, elapsed)
    return st.recursive(atomic, lambda inner: st.builds(
        lambda op, members: {op: members}, st.sampled_from(["and", "or", "xone"]),
        st.lists(inner, min_size=1, max_size=3)), max_leaves=6)


def _rule() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"action": st.sampled_from(ACTIONS),
         "constraint": st.lists(_constraint(), max_size=3)},
        optional={"assignee": st.sampled_from(PARTIES)})


def _policy() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"@id": st.just("urn:policy:p"), "@type": st.sampled_from(["Offer", "Set"]),
         "permission": st.lists(_rule(), min_size=1, max_size=3)},
        optional={"prohibition": st.lists(_rule(), min_size=1, max_size=2)})


def _request() -> st.SearchStrategy[AccessRequest]:
    return st.builds(
        lambda at, action, party, purpose, count, form, size, days: AccessRequest(
            at=at.replace(tzinfo=UTC), action=action, assignee=party, purpose=purpose,
            count=count, form=form, group_size=size,
            elapsed=None if days is None else timedelta(days=days)),
        st.datetimes(datetime(2024, 1, 1), datetime(2028, 1, 1)), st.sampled_from(ACTIONS),
        st.none() | st.sampled_from(PARTIES), st.none() | st.sampled_from(PURPOSES),
        st.integers(0, 25), st.sampled_from(["raw", "aggregate"]),
        st.none() | st.integers(1, 40), st.none() | st.integers(0, 100))


@settings(max_examples=150, deadline=None)
@given(_policy(), _rule(), _request())
def test_adding_a_prohibition_never_turns_a_deny_into_an_allow(
        doc: dict[str, Any], prohibition: dict[str, Any], request: AccessRequest) -> None:
    before = evaluate(parse_policy(doc), request)
    stricter = {**doc, "prohibition": [*doc.get("prohibition", []), prohibition]}
    after = evaluate(parse_policy(stricter), request)
    if not before.allowed:
        assert not after.allowed
    if after.allowed:
        assert before.allowed


@settings(max_examples=150, deadline=None)
@given(_policy(), _request(), st.sampled_from(["partner", "odrl:industry", "ex:foo"]),
       st.sampled_from(["permission", "prohibition"]), st.data())
def test_an_unknown_operand_always_denies(doc: dict[str, Any], request: AccessRequest,
                                          operand: str, kind: str, data: st.DataObject) -> None:
    rules = [dict(r) for r in doc.get(kind, [])] or [{"action": "use"}]
    index = data.draw(st.integers(0, len(rules) - 1))
    rules[index] = {**rules[index], "action": request.action, "constraint": [
        *rules[index].get("constraint", []),
        {"leftOperand": operand, "operator": "eq", "rightOperand": "x"}]}
    decision = evaluate(parse_policy({**doc, kind: rules}), request)
    assert not decision.allowed
    assert "cannot evaluate" in decision.reason


@settings(max_examples=100, deadline=None)
@given(_policy(), _request())
def test_decisions_name_a_real_rule_and_round_trip(doc: dict[str, Any],
                                                   request: AccessRequest) -> None:
    policy = parse_policy(doc)
    assert parse_policy(policy.to_jsonld()) == policy
    decision = evaluate(policy, request)
    labels = {r.label for r in policy.rules()} | {"no-permission"}
    assert decision.rule in labels
    if decision.allowed:
        assert decision.rule in {r.label for r in policy.permissions}
    assert decision.reason
    text = describe(policy)
    assert text.count("\n  ") >= len(policy.rules())


@settings(max_examples=100, deadline=None)
@given(_policy(), _request())
def test_a_permission_without_conditions_for_everyone_allows_unless_prohibited(
        doc: dict[str, Any], request: AccessRequest) -> None:
    opened = {**doc, "permission": [*doc["permission"], {"action": request.action}]}
    decision = evaluate(parse_policy(opened), request)
    closed = {**opened, "permission": [{"action": request.action}]}
    assert decision.allowed == evaluate(parse_policy(closed), request).allowed
