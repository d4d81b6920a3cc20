"""What one attribute of a Smart Data Models entity type may hold.

Each rule checks one stored attribute instance (normalized, as `ngsild/attributes.py` left it)
and returns None when it is acceptable, or the reason it is not, in words an API client can
act on. Rules only look at what SDM defines; any other member of the instance is left alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from civictwin.store.base import Instance

GEOMETRIES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon",
              "MultiPolygon")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_number(value: Any) -> bool:
    return type(value) is float or type(value) is int


def _kind(inst: Instance, *kinds: str) -> str | None:
    kind = inst.get("type")
    return None if kind in kinds else f"must be a {' or '.join(kinds)}, not a {kind}"


class Rule:
    """The check of one attribute; subclasses say what its value must be."""

    kinds: tuple[str, ...] = ("Property",)

    def check(self, inst: Instance) -> str | None:
        """Return why this attribute instance breaks the rule, or None."""
        return _kind(inst, *self.kinds) or self.check_value(inst.get("value"))

    def check_value(self, value: Any) -> str | None:
        """Return why this value breaks the rule, or None."""
        return None


@dataclass(frozen=True)
class Number(Rule):
    """A number, optionally whole, within [minimum, maximum]."""

    minimum: float | None = None
    maximum: float | None = None
    integer: bool = False

    def check_value(self, value: Any) -> str | None:
        if not _is_number(value):
            return f"must be a number, got {_show(value)}"
        if self.integer and not float(value).is_integer():
            return f"must be a whole number, got {_show(value)}"
        if self.minimum is not None and value < self.minimum:
            return f"must be at least {self.minimum:g}, got {_show(value)}"
        if self.maximum is not None and value > self.maximum:
            return f"must be at most {self.maximum:g}, got {_show(value)}"
        return None


@dataclass(frozen=True)
class Text(Rule):
    """A string, optionally one of `enum`; names may also be LanguageProperties."""

    enum: frozenset[str] | None = None
    languages: bool = False

    def check(self, inst: Instance) -> str | None:
        if self.languages and inst.get("type") == "LanguageProperty":
            return None
        return _kind(inst, "Property") or self.check_value(inst.get("value"))

    def check_value(self, value: Any) -> str | None:
        if not isinstance(value, str):
            return f"must be a string, got {_show(value)}"
        return _one_of(value, self.enum)


@dataclass(frozen=True)
class Texts(Rule):
    """A string or an array of strings, each optionally one of `enum`."""

    enum: frozenset[str] | None = None
    min_items: int = 0

    def check_value(self, value: Any) -> str | None:
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(item, str) for item in items):
            return f"must be a string or an array of strings, got {_show(value)}"
        if len(items) < self.min_items:
            return f"must hold at least {self.min_items} value(s)"
        for item in items:
            reason = _one_of(item, self.enum)
            if reason:
                return reason
        return None


@dataclass(frozen=True)
class DateTime(Rule):
    """An ISO 8601 date-time, as a string or a JSON-LD DateTime literal."""

    def check_value(self, value: Any) -> str | None:
        text = value.get("@value") if isinstance(value, dict) else value
        if isinstance(value, dict) and value.get("@type") not in ("DateTime", None):
            return f"must be a DateTime, got a {_show(value.get('@type'))}"
        try:
            datetime.fromisoformat(str(text).replace("Z", "+00:00"))
        except ValueError:
            return f"must be an ISO 8601 date-time, got {_show(value)}"
        return None if isinstance(text, str) else f"must be a date-time, got {_show(value)}"


@dataclass(frozen=True)
class Date(Rule):
    """An ISO 8601 calendar date (YYYY-MM-DD)."""

    def check_value(self, value: Any) -> str | None:
        return None if _is_date(value) else f"must be a date YYYY-MM-DD, got {_show(value)}"


@dataclass(frozen=True)
class Record(Rule):
    """A JSON object whose named members, where present, are checked by their own rules."""

    members: dict[str, Rule] = field(default_factory=dict)

    def check_value(self, value: Any) -> str | None:
        if not isinstance(value, dict):
            return f"must be a JSON object, got {_show(value)}"
        for name, rule in self.members.items():
            if name in value:
                reason = rule.check_value(value[name])
                if reason:
                    return f"member {name!r} {reason}"
        return None


@dataclass(frozen=True)
class Records(Rule):
    """A non-empty array of JSON objects, each checked as `item`."""

    item: Record = field(default_factory=Record)

    def check_value(self, value: Any) -> str | None:
        if not isinstance(value, list) or not value:
            return f"must be a non-empty array of objects, got {_show(value)}"
        for n, member in enumerate(value):
            reason = self.item.check_value(member)
            if reason:
                return f"item {n} {reason}"
        return None


@dataclass(frozen=True)
class Geo(Rule):
    """A GeoProperty holding one of the given GeoJSON geometry types."""

    geometries: tuple[str, ...] = GEOMETRIES
    kinds: tuple[str, ...] = ("GeoProperty",)

    def check_value(self, value: Any) -> str | None:
        kind = value.get("type") if isinstance(value, dict) else None
        if kind in self.geometries:
            return None
        return f"must be a {' or '.join(self.geometries)}, got a {_show(kind)}"


@dataclass(frozen=True)
class Link(Rule):
    """A Relationship (its object URIs are checked on the way in)."""

    kinds: tuple[str, ...] = ("Relationship",)


@dataclass(frozen=True)
class Anything(Rule):
    """Any Property value (SDM allows every JSON type)."""


def strings(values: Iterable[str]) -> frozenset[str]:
    """Return an enumeration of allowed strings."""
    return frozenset(values)


def _one_of(value: str, enum: frozenset[str] | None) -> str | None:
    if enum is None or value in enum:
        return None
    shown = ", ".join(sorted(enum)) if len(enum) <= 12 else f"the {len(enum)} SDM values"
    return f"must be one of {shown}; got {_show(value)}"


def _is_date(value: Any) -> bool:
    if not isinstance(value, str) or len(value) != 10:
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


class Plain(Rule):
    """A string member of a JSON object (for Record members)."""

    def check_value(self, value: Any) -> str | None:
        return None if isinstance(value, str) else f"must be a string, got {_show(value)}"


class DateMember(Rule):
    """A date member of a JSON object (for Record members)."""

    def check_value(self, value: Any) -> str | None:
        return None if _is_date(value) else f"must be a date YYYY-MM-DD, got {_show(value)}"


class PlainList(Rule):
    """A non-empty array of strings (for Record members)."""

    def check_value(self, value: Any) -> str | None:
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return None
        return f"must be a non-empty array of strings, got {_show(value)}"
