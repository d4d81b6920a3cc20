"""What a consumer asks for (AggregateRequest) and what it gets (Release of Cells)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from civictwin.errors import BadRequestData

Quantity = Literal["electricity", "heat", "gas", "water"]
Period = Literal["hour", "day", "month"]
Status = Literal["released", "merged", "suppressed"]
QUANTITIES: tuple[str, ...] = ("electricity", "heat", "gas", "water")
PERIODS: tuple[str, ...] = ("hour", "day", "month")
AREAS: tuple[str, ...] = ("building", "block", "district")
"""Area dimensions a request may group by, finest first (the city is above them all)."""
DIMENSIONS: tuple[str, ...] = ("building_use", "heating_type", "construction_period")
"""Dimensions a request may group by that are not areas: kept as they are when cells merge."""


@dataclass(frozen=True)
class AggregateRequest:
    """Which quantity, grouped how, over which time and area."""

    tenant: str
    quantity: str
    group_by: tuple[str, ...] = ("district",)
    period: str | None = "month"
    start: str = ""
    end: str = ""
    area: str | None = None

    def __post_init__(self) -> None:
        if self.quantity not in QUANTITIES:
            raise BadRequestData(f"quantity {self.quantity!r}: use one of "
                                 f"{', '.join(QUANTITIES)}")
        if self.period is not None and self.period not in PERIODS:
            raise BadRequestData(f"period {self.period!r}: use one of {', '.join(PERIODS)} "
                                 "or none")
        for name in self.group_by:
            if name not in AREAS + DIMENSIONS:
                raise BadRequestData(f"group_by {name!r}: use "
                                     f"{', '.join(('district', 'block', 'building', *DIMENSIONS))}")
        if len(set(self.group_by)) != len(self.group_by):
            raise BadRequestData("group_by names a dimension twice")
        if sum(1 for n in self.group_by if n in AREAS) > 1:
            raise BadRequestData("group_by names at most one area level (district, block or "
                                 "building)")
        start, end = self.window()
        if end <= start:
            raise BadRequestData(f"end {self.end!r} must be after start {self.start!r}")
        if end - start > timedelta(days=3700):
            raise BadRequestData("a request covers at most ten years")

    def window(self) -> tuple[datetime, datetime]:
        """Return [start, end) as UTC datetimes."""
        return moment(self.start, "start"), moment(self.end, "end")

    @property
    def level(self) -> str:
        """Return the area level the cells are asked at (the city if no area is named)."""
        return next((n for n in self.group_by if n in AREAS), "city")

    @property
    def dimensions(self) -> tuple[str, ...]:
        """Return the non-area dimensions, in the order given."""
        return tuple(n for n in self.group_by if n in DIMENSIONS)

    def to_json(self) -> dict[str, Any]:
        """Return the request as plain JSON."""
        return {"tenant": self.tenant, "quantity": self.quantity,
                "groupBy": list(self.group_by), "period": self.period, "start": self.start,
                "end": self.end, "area": self.area}


def moment(text: str, what: str) -> datetime:
    """Parse an ISO date or date-time as UTC; BadRequestData naming `what` if it is not one."""
    if not isinstance(text, str) or not text:
        raise BadRequestData(f"{what} is required (an ISO date or date-time)")
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequestData(f"{what} {text!r} is not an ISO date or date-time") from None
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def stamp(value: datetime) -> str:
    """Return a UTC datetime in the store's sortable text form."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Cell:
    """One cell of a release: its keys, the level it was released at, and what happened."""

    keys: dict[str, str]
    level: str
    value: float | None
    contributors: int
    status: str
    reason: str
    group: str | None = None  # cells merged into one released value share a group

    def to_json(self) -> dict[str, Any]:
        """Return the cell as the API's JSON."""
        body: dict[str, Any] = {"keys": self.keys, "level": self.level, "value": self.value,
                                "contributors": self.contributors, "status": self.status,
                                "reason": self.reason}
        if self.group is not None:
            body["group"] = self.group
        return body


@dataclass(frozen=True)
class Release:
    """An answer given to one consumer, as recorded in its release ledger."""

    id: str
    cells: list[Cell]
    method: dict[str, Any]
    epsilon_spent: float = 0.0
    consumer: str = ""
    agreement: str | None = None
    request: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""
    budget_left: float | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the release as the API's JSON."""
        return {"id": self.id, "consumer": self.consumer, "agreement": self.agreement,
                "createdAt": self.created_at, "request": self.request,
                "cells": [c.to_json() for c in self.cells], "method": self.method,
                "epsilonSpent": self.epsilon_spent, "budgetLeft": self.budget_left}
