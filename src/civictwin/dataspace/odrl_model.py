"""The ODRL 2.2 policy model civictwin evaluates: policies, rules, constraints, requests, decisions.

Terms are kept in one short form: ODRL terms without a prefix (`purpose`, `lteq`), civictwin's
own operands as `civictwin:<name>`, anything else as written (and then unknown: it denies).
Each node keeps the JSON it came from so `Policy.to_jsonld()` gives back what was parsed.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shapely.geometry.base import BaseGeometry

ODRL = "http://www.w3.org/ns/odrl/2/"
CIVICTWIN_ODRL = "https://civictwin.org/ns/odrl/"
POLICY_TYPES = ("Offer", "Agreement", "Set")

LEFT_OPERANDS = {
    "purpose": ("eq", "neq", "isA", "isPartOf", "isAnyOf", "isAllOf", "isNoneOf"),
    "spatial": ("eq", "neq", "isA", "isPartOf", "isAnyOf", "isAllOf", "isNoneOf"),
    "dateTime": ("eq", "lt", "lteq", "gt", "gteq"),
    "count": ("eq", "neq", "lt", "lteq", "gt", "gteq"),
    "recipient": ("eq", "neq", "isAnyOf", "isNoneOf"),
    "elapsedTime": ("eq", "lt", "lteq", "gt", "gteq"),
    "civictwin:aggregation": ("eq", "neq", "gt", "gteq"),
    "civictwin:retention": ("eq", "lt", "lteq"),
    # Disclosure control (privacy/rules.py): met only by a release civictwin's disclosure
    # control makes under these very rules, never by raw data.
    "civictwin:dominanceCount": ("eq",),
    "civictwin:dominanceShare": ("lteq",),
    "civictwin:disclosureHierarchy": ("eq",),
    "civictwin:onFail": ("eq",),
    "civictwin:epsilon": ("lteq",),
    "civictwin:privacyBudget": ("lteq",),
    "civictwin:contributionBound": ("lteq",),
}
"""The operands civictwin evaluates, with the operators that apply to each."""
DISCLOSURE_OPERANDS = frozenset({
    "civictwin:dominanceCount", "civictwin:dominanceShare", "civictwin:disclosureHierarchy",
    "civictwin:onFail", "civictwin:epsilon", "civictwin:privacyBudget",
    "civictwin:contributionBound"})
"""Operands that state disclosure rules; only a disclosure-controlled release meets them."""

OPERATORS = ("eq", "neq", "lt", "lteq", "gt", "gteq", "isA", "isPartOf", "isAnyOf", "isAllOf",
             "isNoneOf")
SET_OPERATORS = ("isAnyOf", "isAllOf", "isNoneOf")
LOGICAL = ("and", "or", "xone", "andSequence")
TRANSFER_ACTIONS = frozenset({"transfer", "give", "sell"})
"""ODRL's transfer family; every other action is included in `use`."""


@dataclass(frozen=True)
class Constraint:
    """An atomic constraint: leftOperand operator rightOperand (value parsed when known)."""

    left: str
    operator: str
    right: Any
    value: Any = field(default=None, compare=False)
    unit: str | None = None
    source: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def known(self) -> bool:
        """Whether civictwin can evaluate this constraint."""
        return self.left in LEFT_OPERANDS and self.operator in LEFT_OPERANDS[self.left]

    def unknown_terms(self) -> list[str]:
        """Return the terms of this constraint civictwin does not understand."""
        if self.left not in LEFT_OPERANDS:
            return [f"leftOperand '{self.left}'"]
        if self.operator not in OPERATORS:
            return [f"operator '{self.operator}'"]
        return []


@dataclass(frozen=True)
class LogicalConstraint:
    """`and` / `or` / `xone` / `andSequence` over constraints."""

    operator: str
    members: tuple[Constraint | LogicalConstraint, ...]
    source: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def unknown_terms(self) -> list[str]:
        """Return the terms of the member constraints civictwin does not understand."""
        return [t for m in self.members for t in m.unknown_terms()]


ConstraintNode = Constraint | LogicalConstraint


@dataclass(frozen=True)
class Rule:
    """A permission, prohibition or duty (obligation) with its constraints and parties."""

    kind: str
    label: str
    action: str
    uid: str | None = None
    constraints: tuple[ConstraintNode, ...] = ()
    refinements: tuple[ConstraintNode, ...] = ()
    assignee: str | None = None
    assigner: str | None = None
    target: str | None = None
    duties: tuple[Rule, ...] = ()
    source: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def conditions(self) -> tuple[ConstraintNode, ...]:
        """Return every condition of the rule: action refinements, then constraints."""
        return self.refinements + self.constraints

    def unknown_terms(self) -> list[str]:
        """Return the terms in this rule (and its duties) civictwin does not understand."""
        found = [t for c in self.conditions() for t in c.unknown_terms()]
        return found + [t for d in self.duties for t in d.unknown_terms()]

    def covers(self, action: str) -> bool:
        """Whether this rule's action includes `action` (ODRL: `use` includes all but transfer)."""
        if self.action == action:
            return True
        if self.action == "use":
            return action not in TRANSFER_ACTIONS
        return self.action == "transfer" and action in TRANSFER_ACTIONS


@dataclass(frozen=True)
class Policy:
    """An ODRL Offer, Agreement or Set."""

    uid: str
    type: str
    permissions: tuple[Rule, ...] = ()
    prohibitions: tuple[Rule, ...] = ()
    obligations: tuple[Rule, ...] = ()
    target: str | None = None
    assigner: str | None = None
    assignee: str | None = None
    source: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def rules(self) -> tuple[Rule, ...]:
        """Return every rule: permissions, prohibitions, obligations."""
        return self.permissions + self.prohibitions + self.obligations

    def unknown_terms(self) -> list[str]:
        """Return every term in the policy civictwin does not understand."""
        return [t for r in self.rules() for t in r.unknown_terms()]

    def to_jsonld(self) -> dict[str, Any]:
        """Return the policy as compacted ODRL JSON-LD (the document it was parsed from)."""
        return copy.deepcopy(self.source)


@dataclass(frozen=True, kw_only=True)
class AccessRequest:
    """What a party asks to do, with the facts the constraints are checked against."""

    at: datetime
    action: str = "use"
    assignee: str | None = None
    purpose: str | None = None
    location: BaseGeometry | None = None
    count: int = 0
    elapsed: timedelta | None = None
    form: str = "raw"
    group_size: int | None = None
    recipient: str | None = None
    retention: timedelta | None = None
    target: str | None = None
    within: frozenset[str] = frozenset()
    controlled: bool = False  # made by civictwin's disclosure control under the policy's rules


@dataclass(frozen=True)
class Decision:
    """Allow or deny, the rule that decided, why in plain language, and the duties that follow."""

    allowed: bool
    rule: str
    reason: str
    duties: tuple[str, ...] = ()
    duty_rules: tuple[Rule, ...] = field(default=(), compare=False, repr=False)
