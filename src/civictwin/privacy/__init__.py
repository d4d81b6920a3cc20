"""Privacy-preserving aggregation of private utility data (business-to-government sharing).

`aggregate(store, request, rules, consumer, agreement)` returns a `Release` of `Cell`s that
meet the agreement's `DisclosureRules` (minimum contributors, dominance), merged up the area
hierarchy or suppressed where they do not, checked against the consumer's release ledger for
differencing, with optional differential privacy (OpenDP) under a per-agreement budget.
"""

from __future__ import annotations

from civictwin.privacy.aggregation import aggregate
from civictwin.privacy.model import AggregateRequest, Cell, Release
from civictwin.privacy.rules import DisclosureRules

__all__ = ["AggregateRequest", "Cell", "DisclosureRules", "Release", "aggregate"]
