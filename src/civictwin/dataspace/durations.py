"""ISO 8601 durations (PnYnMnDTnHnMnS, PnW) as used by ODRL elapsedTime and retention periods.

Years and months have no fixed length; to compare a duration with a timedelta they count as
365 and 30 days. `describe_duration` keeps the units as written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

_DURATION = re.compile(
    r"^P(?!$)(?:(?P<years>\d+(?:\.\d+)?)Y)?(?:(?P<months>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$")
_DAYS = {"years": 365.0, "months": 30.0, "weeks": 7.0, "days": 1.0}
_SECONDS = {"hours": 3600.0, "minutes": 60.0, "seconds": 1.0}
_ORDER = ("years", "months", "weeks", "days", "hours", "minutes", "seconds")


@dataclass(frozen=True)
class Duration:
    """A parsed ISO 8601 duration: its text and its parts."""

    text: str
    parts: tuple[tuple[str, float], ...]

    def to_timedelta(self) -> timedelta:
        """Return the duration as a timedelta (a year is 365 days, a month 30)."""
        total = 0.0
        for unit, amount in self.parts:
            total += amount * (_DAYS[unit] * 86400.0 if unit in _DAYS else _SECONDS[unit])
        return timedelta(seconds=total)


def parse_duration(text: str) -> Duration:
    """Parse an ISO 8601 duration; raise ValueError if `text` is not one."""
    found = _DURATION.match(text) if isinstance(text, str) else None
    if found is None:
        raise ValueError(f"{text!r} is not an ISO 8601 duration such as P30D or PT12H")
    parts = tuple((unit, float(found.group(unit))) for unit in _ORDER if found.group(unit))
    return Duration(text, parts)


def describe_duration(duration: Duration) -> str:
    """Return a duration in words, e.g. '1 year and 6 months'."""
    words = []
    for unit, amount in duration.parts:
        shown = int(amount) if amount == int(amount) else amount
        name = unit if amount != 1 else unit[:-1]
        words.append(f"{shown} {name}")
    if not words:
        return "no time"
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
