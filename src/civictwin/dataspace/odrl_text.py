"""Plain-language English for ODRL policies, for the people who agree to them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from shapely.geometry.base import BaseGeometry

from civictwin.dataspace.durations import Duration, describe_duration
from civictwin.dataspace.odrl_model import (
    Constraint,
    ConstraintNode,
    Policy,
    Rule,
)

_KINDS = {"Offer": "an offer: what a party may do with the data once it agrees to it",
          "Agreement": "an agreement between the two parties named below",
          "Set": "a set of rules"}
_COMPARE = {"eq": "exactly", "neq": "other than", "lt": "fewer than", "lteq": "at most",
            "gt": "more than", "gteq": "at least"}


def describe(policy: Policy, names: Mapping[str, str] | None = None) -> str:
    """Return every rule and constraint of a policy as plain English, one rule per paragraph."""
    names = names or {}
    lines = [f"{policy.type} {policy.uid} ({_KINDS[policy.type]})."]
    if policy.target:
        lines.append(f"It is about the dataset {_name(policy.target, names)}.")
    if policy.assigner:
        lines.append(f"It is given by {_name(policy.assigner, names)}.")
    number = 0
    for title, rules in (("Permitted:", policy.permissions),
                         ("Prohibited:", policy.prohibitions),
                         ("Obligations:", policy.obligations)):
        if not rules:
            continue
        lines.append(title)
        for rule in rules:
            number += 1
            lines.append(f"  {number}. {rule_sentence(rule, policy, names)}")
            for duty in rule.duties:
                lead = "If they do, they must" if duty.kind == "remedy" else \
                    "In return they must"
                lines.append(f"     {lead} {duty_phrase(duty)}.")
    unknown = policy.unknown_terms()
    if unknown:
        lines.append("Warning: civictwin cannot evaluate " + ", ".join(sorted(set(unknown)))
                     + "; requests those rules concern are refused.")
    lines.append("Anything not permitted here is refused.")
    return "\n".join(lines)


def rule_sentence(rule: Rule, policy: Policy, names: Mapping[str, str] | None = None) -> str:
    """Return one rule as a sentence, e.g. 'The City of Lumen may use this dataset ...'."""
    names = names or {}
    party = rule.assignee or policy.assignee
    thing = _thing(rule, policy, names)
    conditions = ", ".join(node_phrase(c, names) for c in rule.conditions())
    tail = f" {conditions}" if conditions else ""
    if rule.kind == "prohibition":
        who = f"{_name(party, names)} may not" if party else "Nobody may"
        return f"{who} {_verb(rule.action)} {thing}{tail}."
    if rule.kind == "obligation":
        who = _name(party, names) if party else "The party using the data"
        return f"{who} must {_verb(rule.action)} {thing}{tail}."
    if party:
        who = _name(party, names)
    else:
        who = "Whoever agrees to this offer" if policy.type == "Offer" else "Anyone"
    return f"{who} may {_verb(rule.action)} {thing}{tail}."


def duty_phrase(duty: Rule) -> str:
    """Return what a duty asks, e.g. 'delete the data within 30 days after the agreement'."""
    conditions = ", ".join(node_phrase(c, {}) for c in duty.conditions())
    thing = f"the data {duty.target}" if duty.target else "the data"
    return f"{_verb(duty.action)} {thing}" + (f" {conditions}" if conditions else "")


def node_phrase(node: ConstraintNode, names: Mapping[str, str]) -> str:
    """Return a constraint (atomic or logical) as a phrase."""
    if isinstance(node, Constraint):
        return constraint_phrase(node, names)
    parts = [node_phrase(m, names) for m in node.members]
    if node.operator in ("and", "andSequence"):
        joined = " and ".join(parts)
        return joined + (" (in this order)" if node.operator == "andSequence" else "")
    if node.operator == "or":
        return "either " + " or ".join(f"({p})" for p in parts)
    return "exactly one of: " + "; ".join(f"({p})" for p in parts)


def constraint_phrase(c: Constraint, names: Mapping[str, str] | None = None) -> str:
    """Return an atomic constraint as a phrase, e.g. "for the purpose 'energy planning'"."""
    names = names or {}
    if not c.known:
        return (f"only if {c.left} {c.operator} {c.right!r} (a condition civictwin cannot "
                "check, so such requests are refused)")
    if c.left == "purpose":
        return _purpose(c.operator, c.value)
    if c.left == "recipient":
        return _choice(c.operator, c.value, names, "only passing results to",
                       "never passing results to")
    if c.left == "spatial":
        return _choice(c.operator, c.value, names, "only within", "never within")
    if c.left == "dateTime":
        return _when(c.operator, c.value)
    if c.left == "count":
        return f"{_COMPARE[c.operator]} {c.value} time{'s' if c.value != 1 else ''} in all"
    if c.left == "elapsedTime":
        return _elapsed(c.operator, c.value)
    if c.left == "civictwin:retention":
        span = describe_duration(c.value)
        return {"eq": f"keeping the data for {span}", "lt": f"keeping the data less than {span}",
                "lteq": f"keeping the data no longer than {span}"}[c.operator]
    if c.left in _DISCLOSURE:
        return _DISCLOSURE[c.left].format(v=" ".join(c.value) if isinstance(c.value, tuple)
                                          else c.value, pct=_percent(c.value))
    return _aggregation(c)


_DISCLOSURE = {
    "civictwin:dominanceCount": "with the dominance rule over the {v} largest contributor(s)",
    "civictwin:dominanceShare": "where the largest contributors hold at most {pct} of a cell",
    "civictwin:disclosureHierarchy": "merging small cells along {v}",
    "civictwin:onFail": "(cells that fail: {v})",
    "civictwin:epsilon": "with differential privacy of epsilon {v} per release",
    "civictwin:privacyBudget": "within a privacy budget of epsilon {v} in all",
    "civictwin:contributionBound": "counting at most {v} per contributor and cell",
}


def _percent(value: Any) -> str:
    return f"{value:.0%}" if isinstance(value, float) and value <= 1 else str(value)


def _purpose(operator: str, value: Any) -> str:
    if operator == "eq":
        return f"for the purpose '{value}'"
    if operator == "neq":
        return f"for any purpose other than '{value}'"
    if operator in ("isA", "isPartOf"):
        return f"for the purpose '{value}' (or a narrower purpose within it)"
    listed = ", ".join(f"'{v}'" for v in value)
    return {"isAnyOf": f"for one of the purposes {listed}",
            "isAllOf": f"for a purpose that is each of {listed}",
            "isNoneOf": f"for no purpose among {listed}"}[operator]


def _choice(operator: str, value: Any, names: Mapping[str, str], yes: str, no: str) -> str:
    items = value if isinstance(value, tuple) else (value,)
    shown = " or ".join(_place(v, names) for v in items)
    if operator in ("eq", "isA", "isPartOf", "isAnyOf"):
        return f"{yes} {shown}"
    if operator == "isAllOf":
        return f"{yes} each of " + " and ".join(_place(v, names) for v in items)
    return f"{no} {shown}"


def _when(operator: str, value: datetime | date) -> str:
    shown = _moment(value)
    return {"eq": f"only on {shown}", "lt": f"before {shown}", "lteq": f"until {shown}",
            "gt": f"after {shown}", "gteq": f"from {shown} on"}[operator]


def _elapsed(operator: str, value: Duration) -> str:
    span = f"{describe_duration(value)} ({value.text})"
    return {"eq": f"{span} after the agreement",
            "lt": f"within less than {span} after the agreement",
            "lteq": f"within {span} after the agreement",
            "gt": f"only more than {span} after the agreement",
            "gteq": f"only once {span} have passed since the agreement"}[operator]


def _aggregation(c: Constraint) -> str:
    if isinstance(c.value, str):
        form = "aggregates" if c.value == "aggregate" else "raw records"
        return f"only as {form}" if c.operator == "eq" else f"never as {form}"
    unit = (c.unit or "records").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    size = {"eq": "of exactly", "gt": "of more than", "gteq": "of at least"}[c.operator]
    return f"only as aggregates {size} {c.value} {unit}"


def _moment(value: datetime | date) -> str:
    day = f"{value.day} {value:%B %Y}"
    if not isinstance(value, datetime):
        return day
    return f"{day}, {value:%H:%M} {value.tzname() or 'UTC'}"


def _thing(rule: Rule, policy: Policy, names: Mapping[str, str]) -> str:
    if rule.target and rule.target != policy.target:
        return f"the data {_name(rule.target, names)}"
    return "this dataset" if policy.target or policy.type == "Offer" else "the data"


def _verb(action: str) -> str:
    return action.removeprefix("civictwin:")


def _name(iri: str | None, names: Mapping[str, str]) -> str:
    if iri is None:
        return "anyone"
    return names.get(iri, iri)


def _place(value: Any, names: Mapping[str, str]) -> str:
    if isinstance(value, BaseGeometry):
        return f"the area given as a GeoJSON {value.geom_type}"
    return _name(str(value), names)
