"""ODRL 2.2 usage policies: parse the JSON-LD the Dataspace Protocol uses, evaluate, describe.

Evaluation is deliberately one-sided: a prohibition that applies (or might apply) denies; only
a permission whose every condition is known to hold allows; anything civictwin cannot evaluate
(an unknown leftOperand or operator in a rule about the requested action) denies. Conditions
use three-valued logic: a fact the request does not give (no purpose, no location) is
"unknown", which never satisfies a permission and always lets a prohibition stand.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from civictwin.dataspace.durations import Duration, parse_duration
from civictwin.dataspace.odrl_model import (
    CIVICTWIN_ODRL,
    DISCLOSURE_OPERANDS,
    LEFT_OPERANDS,
    LOGICAL,
    ODRL,
    POLICY_TYPES,
    SET_OPERATORS,
    AccessRequest,
    Constraint,
    ConstraintNode,
    Decision,
    LogicalConstraint,
    Policy,
    Rule,
)
from civictwin.dataspace.odrl_text import constraint_phrase, describe, duty_phrase, rule_sentence
from civictwin.errors import BadRequestData
from civictwin.store.base import Entity

__all__ = ["AccessRequest", "Constraint", "Decision", "LogicalConstraint", "Policy", "Rule",
           "describe", "evaluate", "parse_policy", "places_from_entities"]

NGSI_LD_LOCATION = "https://uri.etsi.org/ngsi-ld/location"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_RULE_KINDS = (("permission", "permission"), ("prohibition", "prohibition"),
               ("obligation", "obligation"))


# -- parsing -----------------------------------------------------------------------------
def parse_policy(doc: Mapping[str, Any]) -> Policy:
    """Parse an ODRL Offer, Agreement or Set; BadRequestData names the first fault."""
    if not isinstance(doc, Mapping):
        raise BadRequestData("an ODRL policy must be a JSON object")
    kind = term(doc.get("@type", doc.get("type")))
    if kind not in POLICY_TYPES:
        raise BadRequestData(f"policy @type must be one of {', '.join(POLICY_TYPES)} "
                             f"(got {doc.get('@type')!r})")
    uid = doc.get("@id", doc.get("uid"))
    if not isinstance(uid, str) or not uid:
        raise BadRequestData("policy has no @id (every ODRL policy needs a uid)")
    target = _party(doc, "target", "policy")
    assigner = _party(doc, "assigner", "policy")
    assignee = _party(doc, "assignee", "policy")
    if kind == "Agreement":
        for name, value in (("target", target), ("assigner", assigner), ("assignee", assignee)):
            if value is None:
                raise BadRequestData(f"an Agreement needs a {name}")
    rules: dict[str, list[Rule]] = {}
    for key, kind_name in _RULE_KINDS:
        items = _list(doc, key, "policy")
        rules[key] = [_rule(item, kind_name, f"{key}[{i}]") for i, item in enumerate(items)]
    if not (rules["permission"] or rules["prohibition"] or rules["obligation"]):
        raise BadRequestData("policy has no permission, prohibition or obligation")
    return Policy(uid=uid, type=kind, permissions=tuple(rules["permission"]),
                  prohibitions=tuple(rules["prohibition"]),
                  obligations=tuple(rules["obligation"]), target=target, assigner=assigner,
                  assignee=assignee, source=dict(doc))


def term(value: Any) -> str | None:
    """Return an ODRL term in its short form: 'purpose', 'lteq', 'civictwin:aggregation'."""
    if isinstance(value, Mapping):
        value = value.get("@id")
    if not isinstance(value, str):
        return None
    for prefix in (ODRL, "odrl:"):
        if value.startswith(prefix):
            return value[len(prefix):]
    for prefix in (CIVICTWIN_ODRL, "civictwin:", "ct:"):
        if value.startswith(prefix):
            return "civictwin:" + value[len(prefix):]
    return value


def _list(doc: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = doc.get(key)
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise BadRequestData(f"{where}: {key}[{i}] must be a JSON object")
    return items


def _party(doc: Mapping[str, Any], key: str, where: str) -> str | None:
    value = doc.get(key)
    if value is None:
        return None
    if isinstance(value, Mapping):
        value = value.get("@id", value.get("uid"))
    if not isinstance(value, str) or not value:
        raise BadRequestData(f"{where}: {key} must be an IRI (a string or an object with @id)")
    return value


def _rule(doc: Mapping[str, Any], kind: str, where: str) -> Rule:
    action, refinements = _action(doc.get("action"), where)
    constraints = tuple(_constraint(c, f"{where}.constraint[{i}]")
                        for i, c in enumerate(_list(doc, "constraint", where)))
    # A permission's duties must be met to use it; a prohibition's remedies, if it is broken.
    nested = {"permission": ("duty", "duty"), "prohibition": ("remedy", "remedy")}.get(kind)
    duties: list[Rule] = []
    if nested is not None:
        key, child = nested
        duties = [_rule(d, child, f"{where}.{key}[{i}]")
                  for i, d in enumerate(_list(doc, key, where))]
    uid = doc.get("@id", doc.get("uid"))
    if uid is not None and not isinstance(uid, str):
        raise BadRequestData(f"{where}: @id must be a string")
    return Rule(kind=kind, label=uid or where, action=action, uid=uid, constraints=constraints,
                refinements=refinements, assignee=_party(doc, "assignee", where),
                assigner=_party(doc, "assigner", where), target=_party(doc, "target", where),
                duties=tuple(duties), source=dict(doc))


def _action(value: Any, where: str) -> tuple[str, tuple[ConstraintNode, ...]]:
    if value is None:
        raise BadRequestData(f"{where}: a rule needs an action")
    refinements: tuple[ConstraintNode, ...] = ()
    if isinstance(value, Mapping) and "@id" not in value:
        inner = value.get("rdf:value", value.get("value"))
        refinements = tuple(_constraint(c, f"{where}.action.refinement[{i}]")
                            for i, c in enumerate(_list(value, "refinement", where)))
        value = inner
    name = term(value)
    if not name:
        raise BadRequestData(f"{where}: action must be an ODRL action such as 'use'")
    return name, refinements


def _constraint(doc: Mapping[str, Any], where: str) -> ConstraintNode:
    logical = [op for op in LOGICAL if op in doc or "odrl:" + op in doc]
    if logical:
        if len(logical) > 1:
            raise BadRequestData(f"{where}: a logical constraint has exactly one of "
                                 f"{', '.join(LOGICAL)} (got {', '.join(logical)})")
        op = logical[0]
        members = doc.get(op, doc.get("odrl:" + op))
        if isinstance(members, Mapping) and "@list" in members:
            members = members["@list"]
        if not isinstance(members, list) or not members:
            raise BadRequestData(f"{where}: '{op}' needs a non-empty list of constraints")
        parsed = []
        for i, member in enumerate(members):
            if not isinstance(member, Mapping):
                raise BadRequestData(f"{where}.{op}[{i}] must be a JSON object")
            parsed.append(_constraint(member, f"{where}.{op}[{i}]"))
        return LogicalConstraint(op, tuple(parsed), dict(doc))
    return _atomic(doc, where)


def _atomic(doc: Mapping[str, Any], where: str) -> Constraint:
    for key in ("leftOperand", "operator"):
        if key not in doc:
            raise BadRequestData(f"{where}: a constraint needs {key}")
    if "rightOperand" not in doc:
        if "rightOperandReference" in doc:
            raise BadRequestData(f"{where}: rightOperandReference is not supported; "
                                 "give the rightOperand value itself")
        raise BadRequestData(f"{where}: a constraint needs rightOperand")
    left, operator = term(doc["leftOperand"]), term(doc["operator"])
    if not left or not operator:
        raise BadRequestData(f"{where}: leftOperand and operator must be ODRL terms")
    right = doc["rightOperand"]
    unit = term(doc.get("unit"))
    value = None
    if left in LEFT_OPERANDS:
        if operator not in LEFT_OPERANDS[left] and operator in _ALL_KNOWN_OPERATORS:
            raise BadRequestData(f"{where}: operator '{operator}' does not apply to '{left}' "
                                 f"(use one of {', '.join(LEFT_OPERANDS[left])})")
        if operator in LEFT_OPERANDS[left]:
            value = _value(left, operator, _plain(right), f"{where}.rightOperand")
    return Constraint(left, operator, right, value, unit, dict(doc))


_ALL_KNOWN_OPERATORS = ("eq", "neq", "lt", "lteq", "gt", "gteq", "isA", "isPartOf", "isAnyOf",
                        "isAllOf", "isNoneOf", "hasPart")


def _plain(value: Any) -> Any:
    """Unwrap JSON-LD value objects ({"@value": ...}, {"@id": ...}, {"@list": [...]})."""
    if isinstance(value, Mapping):
        for key in ("@value", "@id"):
            if key in value and len(value) <= 3:
                return value[key]
        if "@list" in value:
            return [_plain(v) for v in value["@list"]]
        return value
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _value(left: str, operator: str, right: Any, where: str) -> Any:
    """Return the rightOperand parsed for `left`, or raise BadRequestData naming the fault."""
    if operator in SET_OPERATORS:
        items = right if isinstance(right, list) else [right]
        if not items:
            raise BadRequestData(f"{where}: '{operator}' needs at least one value")
        return tuple(_single(left, item, where) for item in items)
    if isinstance(right, list):
        raise BadRequestData(f"{where}: '{operator}' compares with one value, not a list "
                             "(use isAnyOf for a choice)")
    value = _single(left, right, where)
    if left == "civictwin:aggregation" and operator not in (
            ("eq", "neq") if isinstance(value, str) else ("eq", "gt", "gteq")):
        raise BadRequestData(f"{where}: aggregation takes a form ('aggregate' / 'raw') with "
                             "eq / neq, or a minimum group size with eq / gt / gteq")
    return value


def _single(left: str, right: Any, where: str) -> Any:
    if left in DISCLOSURE_OPERANDS:
        return _disclosure(left, right, where)
    if left in ("purpose", "recipient"):
        if not isinstance(right, str) or not right.strip():
            raise BadRequestData(f"{where}: a {left} must be a non-empty string")
        return right.strip()
    if left == "spatial":
        return _area(right, where)
    if left == "dateTime":
        return _moment(right, where)
    if left == "count":
        return _whole(right, where, "a count")
    if left in ("elapsedTime", "civictwin:retention"):
        try:
            return parse_duration(right)
        except ValueError as exc:
            raise BadRequestData(f"{where}: {exc}") from None
    # civictwin:aggregation: a form ("aggregate" / "raw") or a minimum group size.
    if isinstance(right, str) and right in ("aggregate", "raw"):
        return right
    return _whole(right, where, "an aggregation (a group size, or 'aggregate' / 'raw')")


def _disclosure(left: str, right: Any, where: str) -> Any:
    """Parse a disclosure rule's value: a count, a share, a positive number or a word list."""
    if left == "civictwin:dominanceCount":
        count = _whole(right, where, "a dominance count")
        if count < 1:
            raise BadRequestData(f"{where}: a dominance count is at least 1")
        return count
    if left == "civictwin:disclosureHierarchy":
        levels = right.split() if isinstance(right, str) else right
        if not isinstance(levels, list) or not levels or \
                not all(isinstance(v, str) and v for v in levels):
            raise BadRequestData(f"{where}: a hierarchy is a list of levels, finest first, "
                                 "such as 'building block district city'")
        return tuple(levels)
    if left == "civictwin:onFail":
        if right not in ("merge", "suppress"):
            raise BadRequestData(f"{where}: onFail is 'merge' or 'suppress'")
        return right
    number = right
    if isinstance(number, str):
        try:
            number = float(number)
        except ValueError:
            number = None
    if isinstance(number, bool) or not isinstance(number, int | float) or number <= 0 or \
            (left == "civictwin:dominanceShare" and number > 1):
        what = "a share above 0 and at most 1" if left == "civictwin:dominanceShare" else \
            "a number above 0"
        raise BadRequestData(f"{where}: {left} needs {what} (got {right!r})")
    return float(number)


def _whole(right: Any, where: str, what: str) -> int:
    if isinstance(right, str) and right.strip().isascii() and right.strip().isdigit():
        right = int(right)
    if isinstance(right, bool) or not isinstance(right, int) or right < 0:
        raise BadRequestData(f"{where}: {what} must be a whole number >= 0 (got {right!r})")
    return right


def _moment(right: Any, where: str) -> datetime | date:
    if isinstance(right, str):
        text = right.strip()
        try:
            if _DATE.match(text):
                return date.fromisoformat(text)
            moment = datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    raise BadRequestData(f"{where}: {right!r} is not an xsd:dateTime or xsd:date")


def _area(right: Any, where: str) -> str | BaseGeometry:
    if isinstance(right, str) and right.strip():
        return right.strip()
    if isinstance(right, Mapping) and "type" in right:
        try:
            geometry = shape(dict(right))
        except (ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
            raise BadRequestData(f"{where}: not a GeoJSON geometry ({exc})") from None
        if geometry.is_empty or not geometry.is_valid:
            raise BadRequestData(f"{where}: the GeoJSON geometry is empty or invalid")
        return geometry
    raise BadRequestData(f"{where}: spatial needs an area id or a GeoJSON geometry")


def places_from_entities(entities: Iterable[Entity],
                         attribute: str = NGSI_LD_LOCATION) -> dict[str, BaseGeometry]:
    """Return id -> geometry of entities (e.g. districts) for `spatial` area ids."""
    places: dict[str, BaseGeometry] = {}
    for entity in entities:
        for inst in entity.attrs.get(attribute, []):
            if inst.get("type") == "GeoProperty" and isinstance(inst.get("value"), dict):
                try:
                    places[entity.id] = shape(inst["value"])
                except (ValueError, TypeError, AttributeError, KeyError, IndexError):
                    continue
                break
    return places


# -- evaluation --------------------------------------------------------------------------
Truth = bool | None
"""Three-valued: True, False, or None for "cannot tell from this request"."""


def evaluate(policy: Policy, request: AccessRequest,
             places: Mapping[str, BaseGeometry] | None = None) -> Decision:
    """Decide a request: prohibitions win, a fully satisfied permission allows, else deny."""
    checker = _Checker(request, places or {})
    relevant = [r for r in policy.rules() if r.kind == "obligation" or r.covers(request.action)]
    for rule in relevant:
        unknown = rule.unknown_terms()
        if unknown:
            return Decision(False, rule.label, f"{rule.label} uses {unknown[0]}, which civictwin "
                            "cannot evaluate, so the request is refused")
    for rule in policy.prohibitions:
        if not rule.covers(request.action):
            continue
        holds, why = checker.rule_applies(rule, policy)
        if holds is True:
            return Decision(False, rule.label, rule_sentence(rule, policy))
        if holds is None:
            return Decision(False, rule.label, "a prohibition may apply and the request does "
                            f"not say enough to rule it out ({why}): "
                            f"{rule_sentence(rule, policy)}")
    failures = []
    for rule in policy.permissions:
        if not rule.covers(request.action):
            continue
        holds, why = checker.rule_applies(rule, policy)
        if holds is True:
            duties = rule.duties + policy.obligations
            return Decision(True, rule.label, rule_sentence(rule, policy),
                            tuple(duty_phrase(d) for d in duties), duties)
        failures.append(f"{rule.label}: {why}")
    if not failures:
        return Decision(False, "no-permission", f"no permission in {policy.uid} covers the "
                        f"action '{request.action}'")
    return Decision(False, "no-permission", "no permission allows this request ("
                    + "; ".join(failures) + ")")


class _Checker:
    """Checks conditions against one request."""

    def __init__(self, request: AccessRequest, places: Mapping[str, BaseGeometry]) -> None:
        self.request = request
        self.places = places

    def rule_applies(self, rule: Rule, policy: Policy) -> tuple[Truth, str]:
        """Return whether the rule's party, target and conditions all hold, and why not."""
        assignee = rule.assignee or policy.assignee
        if assignee is not None:
            if self.request.assignee is None:
                return None, f"it is for {assignee} and the request names no party"
            if self.request.assignee != assignee:
                return False, f"it is for {assignee}, not {self.request.assignee}"
        target = rule.target or policy.target
        if target and self.request.target and target != self.request.target:
            return False, f"it is about {target}, not {self.request.target}"
        return self.all_of(rule.conditions())

    def all_of(self, nodes: Sequence[ConstraintNode]) -> tuple[Truth, str]:
        """Kleene AND: False if any is False, else None if any is None, else True."""
        unknown: str | None = None
        for node in nodes:
            holds, why = self.node(node)
            if holds is False:
                return False, why
            if holds is None and unknown is None:
                unknown = why
        return (None, unknown) if unknown is not None else (True, "")

    def node(self, node: ConstraintNode) -> tuple[Truth, str]:
        """Evaluate one constraint (atomic or logical)."""
        if isinstance(node, Constraint):
            holds = self.atomic(node)
            return holds, "" if holds else _why(node, holds, self.request)
        if node.operator in ("and", "andSequence"):
            return self.all_of(node.members)
        results = [self.node(m) for m in node.members]
        trues = sum(1 for h, _ in results if h is True)
        if any(h is None for h, _ in results):
            if node.operator == "or" and trues:
                return True, ""
            return None, next(w for h, w in results if h is None)
        if node.operator == "or":
            return (True, "") if trues else (False, "none of: " + "; ".join(
                w for _, w in results))
        if trues == 1:
            return True, ""
        return False, f"exactly one of {len(results)} alternatives must hold ({trues} do)"

    def atomic(self, c: Constraint) -> Truth:
        """Evaluate an atomic constraint civictwin knows."""
        r = self.request
        if c.left == "purpose":
            return _names(c.operator, r.purpose, c.value, hierarchical=True)
        if c.left == "recipient":
            return _names(c.operator, r.recipient or r.assignee, c.value, hierarchical=False)
        if c.left == "spatial":
            return self.spatial(c)
        if c.left == "dateTime":
            return _compare(c.operator, _moment_like(r.at, c.value), c.value)
        if c.left == "count":
            return _compare(c.operator, r.count + 1, c.value)  # this use would be use no. n+1
        if c.left == "elapsedTime":
            return _durations(c.operator, r.elapsed, c.value)
        if c.left == "civictwin:retention":
            return _durations(c.operator, r.retention, c.value)
        if c.left in DISCLOSURE_OPERANDS:
            return r.form == "aggregate" and r.controlled
        return _aggregation(c.operator, r, c.value)

    def spatial(self, c: Constraint) -> Truth:
        """Whether the request's location lies within the area(s)."""
        areas = c.value if isinstance(c.value, tuple) else (c.value,)
        inside = [self.inside(a) for a in areas]
        if c.operator in ("eq", "isA", "isPartOf"):
            return inside[0]
        if c.operator == "neq":
            return None if inside[0] is None else not inside[0]
        if c.operator == "isAnyOf":
            return _any(inside)
        if c.operator == "isAllOf":
            return _all(inside)
        found = _any(inside)
        return None if found is None else not found

    def inside(self, area: str | BaseGeometry) -> Truth:
        """Whether the request lies within one area (an id, or a geometry)."""
        if isinstance(area, str):
            if area in self.request.within:
                return True
            if area not in self.places:
                return None
            area = self.places[area]
        if self.request.location is None:
            return None
        return bool(shapely.covered_by(self.request.location, area))


def _any(values: Sequence[Truth]) -> Truth:
    if any(v is True for v in values):
        return True
    return None if any(v is None for v in values) else False


def _all(values: Sequence[Truth]) -> Truth:
    if any(v is False for v in values):
        return False
    return None if any(v is None for v in values) else True


def _names(operator: str, given: str | None, value: Any, hierarchical: bool) -> Truth:
    if given is None:
        return None
    given = given.strip()

    def is_(wanted: str) -> bool:
        return given == wanted or (hierarchical and given.startswith(wanted.rstrip("/") + "/"))

    if operator == "eq":
        return bool(given == value)
    if operator == "neq":
        return bool(given != value)
    if operator in ("isA", "isPartOf"):
        return is_(value)
    if operator == "isAnyOf":
        return any(is_(v) for v in value)
    if operator == "isAllOf":
        return all(is_(v) for v in value)
    return not any(is_(v) for v in value)  # isNoneOf


def _compare(operator: str, left: Any, right: Any) -> Truth:
    if left is None:
        return None
    result: bool = {"eq": left == right, "neq": left != right, "lt": left < right,
                    "lteq": left <= right, "gt": left > right, "gteq": left >= right}[operator]
    return result


def _moment_like(at: datetime, value: datetime | date) -> datetime | date:
    moment = at if at.tzinfo else at.replace(tzinfo=UTC)
    return moment.astimezone(UTC).date() if not isinstance(value, datetime) else moment


def _durations(operator: str, given: timedelta | None, value: Duration) -> Truth:
    return _compare(operator, given, value.to_timedelta())


def _aggregation(operator: str, r: AccessRequest, value: int | str) -> Truth:
    if isinstance(value, str):
        return (r.form == value) if operator == "eq" else (r.form != value)
    if r.form != "aggregate":
        return False
    return _compare(operator, r.group_size, value)


def _why(c: Constraint, holds: Truth, request: AccessRequest) -> str:
    needs = constraint_phrase(c)
    facts = {"purpose": request.purpose, "recipient": request.recipient or request.assignee,
             "dateTime": request.at.isoformat(), "count": f"{request.count} prior uses",
             "elapsedTime": request.elapsed, "civictwin:retention": request.retention,
             "civictwin:aggregation": f"{request.form}"
             + (f", groups of {request.group_size}" if request.group_size is not None else ""),
             "spatial": "the request's location"}
    fact = facts.get(c.left)
    if holds is None:
        return f"condition not checkable: {needs}, and the request gives no {c.left}"
    return f"condition not met: {needs} (request: {fact})"
