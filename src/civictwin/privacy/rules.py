"""Disclosure rules as data: read from an agreement's ODRL policy, checked on a group of values.

The rules live in the agreement as ODRL constraints of the permission that allows `use`, so
they are negotiated, signed and audited with everything else (docs/privacy.md lists them):

    civictwin:aggregation       gteq N     at least N contributors in every released cell
    civictwin:dominanceCount    eq n       the dominance rule looks at the n largest ...
    civictwin:dominanceShare    lteq k     ... who together may hold at most share k of a cell
    civictwin:disclosureHierarchy eq "building block district city"   merge path, finest first
    civictwin:onFail            eq merge | suppress
    civictwin:epsilon           lteq e     Laplace noise of epsilon e per release
    civictwin:privacyBudget     lteq B     epsilon the agreement may spend in all
    civictwin:contributionBound lteq U     a contributor counts at most U per cell (DP clamp)

The 15/15 rule is `aggregation gteq 15`, `dominanceCount eq 1`, `dominanceShare lteq 0.15`.
Constraints nested in `and` are read too; an `or` states no rule (it would be ambiguous).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from civictwin.dataspace.odrl import Constraint, LogicalConstraint, Policy, parse_policy
from civictwin.errors import BadRequestData

HIERARCHY = ("building", "block", "district", "city")


@dataclass(frozen=True)
class DisclosureRules:
    """The statistical disclosure control an agreement asks for."""

    min_contributors: int = 10
    dominance_n: int = 1
    dominance_k: float = 0.85
    hierarchy: tuple[str, ...] = HIERARCHY
    on_fail: str = "merge"
    dp_epsilon: float | None = None
    dp_budget: float | None = None
    dp_bound: float | None = None

    def __post_init__(self) -> None:
        if self.min_contributors < 1:
            raise BadRequestData("min_contributors is at least 1")
        if self.dominance_n < 1 or not 0 < self.dominance_k <= 1:
            raise BadRequestData("dominance: n is at least 1 and k a share in (0, 1]")
        if self.on_fail not in ("merge", "suppress"):
            raise BadRequestData("on_fail is 'merge' or 'suppress'")
        unknown = [h for h in self.hierarchy if h not in HIERARCHY]
        if unknown or not self.hierarchy or self.hierarchy[-1] != "city" or \
                list(self.hierarchy) != sorted(self.hierarchy, key=HIERARCHY.index):
            raise BadRequestData("hierarchy: levels among building, block, district, city, "
                                 "finest first, ending with city")
        if self.dp_epsilon is not None and (self.dp_epsilon <= 0 or not self.dp_bound):
            raise BadRequestData("differential privacy needs epsilon > 0 and a contribution "
                                 "bound (civictwin:contributionBound)")

    @classmethod
    def from_policy(cls, policy: Policy | Mapping[str, Any]) -> DisclosureRules:
        """Read the rules out of an ODRL agreement (or offer); unset rules keep their default."""
        parsed = policy if isinstance(policy, Policy) else parse_policy(policy)
        found: dict[str, Any] = {}
        for rule in parsed.permissions:
            for node in _atoms(rule.conditions()):
                _take(node, found)
        return cls(**found)

    def check(self, values: Iterable[float]) -> str | None:
        """Return why a group of per-contributor values may not be released, or None."""
        amounts = sorted((abs(v) for v in values), reverse=True)
        if len(amounts) < self.min_contributors:
            return f"fewer than {self.min_contributors} contributors"
        total = sum(amounts)
        top = sum(amounts[: self.dominance_n])
        if total > 0 and top > self.dominance_k * total:
            who = "one contributor" if self.dominance_n == 1 else \
                f"the {self.dominance_n} largest contributors"
            return f"{who} would hold more than {self.dominance_k:.0%} of the total"
        return None

    def describe(self) -> str:
        """Return the rules in one line of plain English."""
        who = "the largest contributor" if self.dominance_n == 1 else \
            f"the {self.dominance_n} largest contributors"
        failing = ("merge along " + " > ".join(self.hierarchy)) if self.on_fail == "merge" \
            else "are suppressed"
        text = (f"at least {self.min_contributors} contributors per cell; {who} at most "
                f"{self.dominance_k:.0%}; failing cells {failing}")
        if self.dp_epsilon is not None:
            text += f"; Laplace noise, epsilon {self.dp_epsilon:g} per release"
            if self.dp_budget is not None:
                text += f" of a budget of {self.dp_budget:g}"
        return text

    def to_json(self) -> dict[str, Any]:
        """Return the rules as plain JSON (the method record of a release)."""
        return {"minContributors": self.min_contributors, "dominanceN": self.dominance_n,
                "dominanceK": self.dominance_k, "hierarchy": list(self.hierarchy),
                "onFail": self.on_fail, "dpEpsilon": self.dp_epsilon,
                "dpBudget": self.dp_budget, "dpBound": self.dp_bound}


def _atoms(nodes: Iterable[Constraint | LogicalConstraint]) -> Iterable[Constraint]:
    for node in nodes:
        if isinstance(node, Constraint):
            yield node
        elif node.operator in ("and", "andSequence"):
            yield from _atoms(node.members)


def _take(c: Constraint, found: dict[str, Any]) -> None:
    if c.left == "civictwin:aggregation" and isinstance(c.value, int):
        found["min_contributors"] = max(1, c.value + (1 if c.operator == "gt" else 0))
    names = {"civictwin:dominanceCount": "dominance_n", "civictwin:dominanceShare": "dominance_k",
             "civictwin:disclosureHierarchy": "hierarchy", "civictwin:onFail": "on_fail",
             "civictwin:epsilon": "dp_epsilon", "civictwin:privacyBudget": "dp_budget",
             "civictwin:contributionBound": "dp_bound"}
    if c.left in names and c.value is not None:
        found[names[c.left]] = c.value


def policy_constraints(rules: DisclosureRules) -> list[dict[str, Any]]:
    """Return the ODRL constraints that state `rules` (for offers the CLI and demo write)."""
    def c(left: str, op: str, right: Any) -> dict[str, Any]:
        return {"leftOperand": left, "operator": op, "rightOperand": right}

    out = [c("civictwin:aggregation", "gteq", rules.min_contributors),
           c("civictwin:dominanceCount", "eq", rules.dominance_n),
           c("civictwin:dominanceShare", "lteq", rules.dominance_k),
           c("civictwin:disclosureHierarchy", "eq", " ".join(rules.hierarchy)),
           c("civictwin:onFail", "eq", rules.on_fail)]
    if rules.dp_epsilon is not None:
        out.append(c("civictwin:epsilon", "lteq", rules.dp_epsilon))
        out.append(c("civictwin:contributionBound", "lteq", rules.dp_bound))
    if rules.dp_budget is not None:
        out.append(c("civictwin:privacyBudget", "lteq", rules.dp_budget))
    return out
