"""The differencing check: would this release, with the consumer's earlier ones, single out
a contributor?

Every released value is a footprint: a set of contributors times a time window. From two
values whose footprints nest, a consumer learns the sum over the difference; from a value and
several values inside it, the sum over what is left. So for every footprint B that a new
footprint is part of (as B or inside it), the check works out the contributors of
  * B minus each single footprint C inside it (an area minus one building or meter; a longer
    time slice minus a shorter one: the meters with readings in the part not covered), and
  * B minus the union of the footprints inside it, per earlier release and over all of them,
and refuses the release if any such remainder is non-empty and fails the agreement's rules
(too few contributors, or dominated). Contributor sets, not the wording of the query, decide:
asking for "district minus one building" by any route lands on the same sets.

Limits, stated: this is not a full linear audit (sums of overlapping cells from different
releases combined with signs are not searched). Footprints inside B must lie within B's
contributors and window; the remainder of a time slice is measured from the data itself.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from civictwin.errors import Forbidden
from civictwin.privacy.rules import DisclosureRules
from civictwin.store.privacy import Footprint

Window = tuple[str, str]
Fetch = Callable[[str, str], dict[str, float]]
"""Return per meter its sum in [start, end) (meters with readings there only)."""

NEW = ""
"""The release id of footprints not yet recorded."""


@dataclass(frozen=True)
class Finding:
    """A remainder that would reveal too much, and how it arises."""

    big: Footprint
    inside: tuple[Footprint, ...]
    reason: str

    def describe(self) -> str:
        """Return the finding as one sentence."""
        def name(fp: Footprint) -> str:
            where = f"release {fp.release_id}" if fp.release_id else "this release"
            return f"{fp.label} ({where})"

        inner = name(self.inside[0]) if len(self.inside) == 1 else \
            f"{len(self.inside)} cells inside it"
        return (f"{name(self.big)} minus {inner} leaves a remainder with {self.reason}; "
                "the release is refused so that no contributor is singled out")


def audit(new: Sequence[Footprint], old: Sequence[Footprint], rules: DisclosureRules,
          fetch: Fetch) -> Finding | None:
    """Return the first combination that would reveal too much, or None if there is none."""
    every = sorted([*old, *new], key=lambda f: f.start)
    starts = [f.start for f in every]
    cache: dict[Window, dict[str, float]] = {}

    def measured(window: Window) -> dict[str, float]:
        if window not in cache:
            cache[window] = fetch(*window)
        return cache[window]

    for big in every:
        # Only footprints starting within big's window can lie inside it.
        window = every[bisect_left(starts, big.start): bisect_left(starts, big.end)]
        inside = [c for c in window if c is not big and _within(c, big)]
        fresh = big.release_id == NEW
        for c in inside:
            if fresh or c.release_id == NEW:
                finding = _remainder(big, [c], rules, measured)
                if finding is not None:
                    return finding
        groups: dict[str, list[Footprint]] = {}
        for c in inside:
            groups.setdefault(c.release_id, []).append(c)
        unions = [g for g in groups.values() if len(g) > 1]
        if len(groups) > 1:
            unions.append(inside)
        for union in unions:
            if fresh or any(c.release_id == NEW for c in union):
                finding = _remainder(big, union, rules, measured)
                if finding is not None:
                    return finding
    return None


def refuse_if_revealing(new: Sequence[Footprint], old: Sequence[Footprint],
                        rules: DisclosureRules, fetch: Fetch) -> None:
    """Raise Forbidden if the release would single out a contributor by differencing."""
    finding = audit(new, old, rules, fetch)
    if finding is not None:
        raise Forbidden(finding.describe(), rule="differencing")


def _within(c: Footprint, big: Footprint) -> bool:
    if c.quantity != big.quantity or c.start < big.start or c.end > big.end:
        return False
    if c.start == big.start and c.end == big.end and c.members == big.members:
        return False  # the same value again reveals nothing new
    return len(c.members) <= len(big.members) and c.members <= big.members


def _remainder(big: Footprint, inside: list[Footprint], rules: DisclosureRules,
               measured: Callable[[Window], dict[str, float]]) -> Finding | None:
    """Check what is left of `big` once the footprints inside it are taken away."""
    covers: dict[str, list[Window]] = {}
    for c in inside:
        for m in c.members:
            covers.setdefault(m, []).append((c.start, c.end))
    gaps: dict[str, list[Window]] = {}
    for m in big.members:
        left = _uncovered((big.start, big.end), covers.get(m, []))
        if left:
            gaps[m] = left
    if not gaps:
        return None
    values: dict[str, float] = {}
    for m, windows in gaps.items():
        for w in windows:
            sums = measured(w)
            if m in sums:
                values[m] = values.get(m, 0.0) + sums[m]
    if not values:
        return None
    why = rules.check(values.values())
    return Finding(big, tuple(inside), why) if why is not None else None


def _uncovered(whole: Window, windows: list[Window]) -> list[Window]:
    """Return the parts of `whole` left by a greedy choice of non-overlapping windows."""
    chosen: list[Window] = []
    position = whole[0]
    longest_first = sorted(windows, key=lambda w: w[1], reverse=True)
    for start, end in sorted(longest_first, key=lambda w: w[0]):
        if start >= position:
            chosen.append((start, end))
            position = end
    gaps, position = [], whole[0]
    for start, end in chosen:
        if start > position:
            gaps.append((position, start))
        position = max(position, end)
    if position < whole[1]:
        gaps.append((position, whole[1]))
    return gaps
