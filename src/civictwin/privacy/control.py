"""Disclosure control of one release: cells from contributions, rules applied, failing cells
merged up the area hierarchy or suppressed, each cell saying which and why.

Cells at the requested level partition the contributors of each period (every meter lies in
one area per level and has one value per dimension). Within one parent area (and the same
other keys and period) the failing cells are pooled; while the pool still fails, the smallest
passing sibling joins it, so no lone failing cell is left to be worked out as the parent minus
its released siblings. A pool that takes in the whole parent and still fails moves up one level
and is pooled there with the other such pools; at the top (the city) it is suppressed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from civictwin.errors import BadRequestData
from civictwin.privacy.model import AggregateRequest, Cell
from civictwin.privacy.rules import DisclosureRules
from civictwin.privacy.sources import Contribution, Profile
from civictwin.store.privacy import Footprint

CellKey = tuple[str, tuple[str, ...], str]
"""(area id at the requested level, the other dimensions' values, period)."""


@dataclass
class Group:
    """Contributors pooled into one value: one cell, or cells merged together."""

    area: str
    level: str
    dims: tuple[str, ...]
    bucket: str
    values: dict[str, float]
    members: list[CellKey]
    merged: bool = False

    def absorb(self, other: Group) -> None:
        """Take another group's contributors and cells into this one."""
        self.values.update(other.values)
        self.members.extend(other.members)
        self.merged = True


@dataclass(frozen=True)
class Outcome:
    """What happened to one group: released (or merged) with its value, or suppressed."""

    group: Group
    status: str
    reason: str
    label: str = ""


@dataclass
class Settled:
    """The outcome of disclosure control over one request's cells."""

    by_key: dict[CellKey, Cell] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def cells(self) -> list[Cell]:
        """Return one cell per requested cell, in key order."""
        return [self.by_key[k] for k in sorted(self.by_key)]


def path_from(request: AggregateRequest, rules: DisclosureRules) -> tuple[str, ...]:
    """Return the levels a failing cell may merge through, from the requested one up."""
    if request.level not in rules.hierarchy:
        raise BadRequestData(f"the agreement's hierarchy {' > '.join(rules.hierarchy)} has no "
                             f"level {request.level!r}")
    return rules.hierarchy[rules.hierarchy.index(request.level):]


def cells_of(request: AggregateRequest, profiles: dict[str, Profile],
             contributions: list[Contribution]) -> dict[CellKey, Group]:
    """Group contributions into the requested cells (a meter's value summed per cell)."""
    groups: dict[CellKey, Group] = {}
    level, dims = request.level, request.dimensions
    for c in contributions:
        p = profiles.get(c.meter)
        if p is None:
            continue
        key = (p.key(level), tuple(p.key(d) for d in dims), c.bucket)
        group = groups.get(key)
        if group is None:
            group = groups[key] = Group(key[0], level, key[1], c.bucket, {}, [key])
        group.values[c.meter] = group.values.get(c.meter, 0.0) + c.value
    return groups


def settle(request: AggregateRequest, rules: DisclosureRules, profiles: dict[str, Profile],
           groups: dict[CellKey, Group]) -> Settled:
    """Apply the rules to every cell; merge or suppress those that fail."""
    path = path_from(request, rules)
    first = {key: rules.check(g.values.values()) for key, g in groups.items()}
    outcomes: list[Outcome] = []
    pending = list(groups.values())
    for i, level in enumerate(path):
        if not pending:
            break
        if i == len(path) - 1:
            outcomes.extend(_top(pending, rules, level, profiles))
            break
        parents: dict[tuple[str, tuple[str, ...], str], list[Group]] = {}
        for g in pending:
            parent = profiles[next(iter(g.values))].key(path[i + 1])
            parents.setdefault((parent, g.dims, g.bucket), []).append(g)
        pending = []
        for (parent, _, _), siblings in sorted(parents.items()):
            done, rest = _merge(siblings, rules, path[i + 1], parent)
            outcomes.extend(done)
            pending.extend(rest)
    return _cells(request, rules, outcomes, first)


def _top(pending: list[Group], rules: DisclosureRules, level: str,
         profiles: dict[str, Profile]) -> list[Outcome]:
    """Settle what reached the top level: pool each slice's groups, release or suppress."""
    slices: dict[tuple[tuple[str, ...], str], list[Group]] = {}
    for g in pending:
        slices.setdefault((g.dims, g.bucket), []).append(g)
    outcomes = []
    for (_, _), groups in sorted(slices.items()):
        if len(groups) == 1:
            pool = groups[0]
        else:
            area = profiles[next(iter(groups[0].values))].key(level)
            pool = Group(area, level, groups[0].dims, groups[0].bucket, {}, [], merged=True)
            for g in groups:
                pool.absorb(g)
        why = rules.check(pool.values.values())
        outcomes.append(_passed(pool) if why is None else
                        Outcome(pool, "suppressed", f"still {why} at the {level} level"))
    return outcomes


def _merge(siblings: list[Group], rules: DisclosureRules, level: str, parent: str
           ) -> tuple[list[Outcome], list[Group]]:
    """Settle the cells of one parent area; return outcomes and a pool that moves up."""
    fails = [rules.check(g.values.values()) is not None for g in siblings]
    failing = [g for g, bad in zip(siblings, fails, strict=True) if bad]
    passing = sorted((g for g, bad in zip(siblings, fails, strict=True) if not bad),
                     key=lambda g: (len(g.values), g.area))
    if not failing:
        return [_passed(g) for g in passing], []
    if rules.on_fail == "suppress":
        return ([_passed(g) for g in passing] +
                [Outcome(g, "suppressed", "the agreement suppresses cells that fail")
                 for g in failing]), []
    pool = Group(parent, level, failing[0].dims, failing[0].bucket, {}, [], merged=True)
    for g in failing:
        pool.absorb(g)
    while rules.check(pool.values.values()) is not None and passing:
        pool.absorb(passing.pop(0))
    done = [_passed(g) for g in passing]
    if rules.check(pool.values.values()) is None:
        return [*done, _passed(pool)], []
    return done, [pool]


def _passed(g: Group) -> Outcome:
    status = "merged" if g.merged else "released"
    return Outcome(g, status, "meets the rules")


def _cells(request: AggregateRequest, rules: DisclosureRules, outcomes: list[Outcome],
           first: dict[CellKey, str | None]) -> Settled:
    """Turn outcomes into one Cell per requested cell, in key order."""
    settled = Settled()
    by_key = settled.by_key
    number = 0
    for outcome in outcomes:
        g = outcome.group
        label = ""
        if outcome.status == "merged":
            number += 1
            label = f"merged-{number}"
        settled.outcomes.append(Outcome(g, outcome.status, outcome.reason, label))
        areas = sorted({m[0] for m in g.members})
        for key in g.members:
            keys = _keys(request, key)
            if outcome.status == "released":
                by_key[key] = Cell(keys, g.level, sum(g.values.values()), len(g.values),
                                   "released", outcome.reason)
            elif outcome.status == "merged":
                others = [a for a in areas if a != key[0]]
                whom = f" with {', '.join(others)}" if others else ""
                by_key[key] = Cell(keys, g.level, sum(g.values.values()), len(g.values),
                                   "merged", f"{first[key] or 'needed to protect a neighbour'}: "
                                   f"merged{whom} within {g.level} {g.area}", label)
            else:
                by_key[key] = Cell(keys, g.level, None, 0, "suppressed",
                                   f"{first[key] or 'pooled with cells that fail'}; "
                                   f"{outcome.reason}")
    return settled


def _keys(request: AggregateRequest, key: CellKey) -> dict[str, str]:
    keys = {request.level: key[0]}
    keys.update(zip(request.dimensions, key[1], strict=True))
    if request.period is not None:
        keys["period"] = key[2]
    return keys


def window(request: AggregateRequest, bucket: str) -> tuple[str, str]:
    """Return the time window [start, end) of a period bucket, within the request's range."""
    start, end = request.window()
    if request.period is None or not bucket:
        return _text(start), _text(end)
    if request.period == "hour":
        low = datetime.strptime(bucket, "%Y-%m-%dT%H").replace(tzinfo=UTC)
        high = low + timedelta(hours=1)
    elif request.period == "day":
        low = datetime.strptime(bucket, "%Y-%m-%d").replace(tzinfo=UTC)
        high = low + timedelta(days=1)
    else:
        low = datetime.strptime(bucket, "%Y-%m").replace(tzinfo=UTC)
        high = (low + timedelta(days=32)).replace(day=1)
    return _text(max(low, start)), _text(min(high, end))


def footprints(request: AggregateRequest, settled: Settled) -> list[Footprint]:
    """Return the footprint of every released or merged value."""
    found = []
    for o in settled.outcomes:
        if o.status == "suppressed":
            continue
        low, high = window(request, o.group.bucket)
        label = o.label or "/".join([o.group.area, *o.group.dims, o.group.bucket])
        found.append(Footprint(label, request.quantity, low, high,
                               frozenset(o.group.values)))
    return found


def _text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
