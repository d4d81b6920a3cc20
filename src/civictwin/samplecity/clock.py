"""Time axes for the synthetic series: UTC stamps, and the local clock people live by.

Series are stamped in UTC (numpy ``datetime64[s]``, timezone-naive by numpy's design, UTC by
convention); load profiles follow local time in Lumen: CET, CEST between the last Sundays of
March and October at 01:00 UTC (the EU rule), and Belgian public holidays count as Sundays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
TimeArray = npt.NDArray[np.datetime64]
A = TypeVar("A", bound=npt.NDArray[Any])

_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday; Monday is 0


def year_stamps(year: int, step_seconds: int) -> TimeArray:
    """Return the UTC interval starts of a calendar year at a fixed step."""
    start = np.datetime64(f"{year}-01-01T00:00:00", "s")
    end = np.datetime64(f"{year + 1}-01-01T00:00:00", "s")
    stamps: TimeArray = np.arange(start, end, np.timedelta64(step_seconds, "s"))
    return stamps


def read_only(values: A) -> A:
    """Mark a shared (cached) array read-only, so no caller changes what others see."""
    values.flags.writeable = False
    return values


def _last_sunday(year: int, month: int) -> np.datetime64:
    first_next = np.datetime64(f"{year}-{month + 1:02d}-01", "D")
    last = first_next - np.timedelta64(1, "D")
    weekday = (int(last.astype(np.int64)) + _EPOCH_WEEKDAY) % 7
    back: np.datetime64 = last - np.timedelta64((weekday - 6) % 7, "D")
    return back


def _easter(year: int) -> np.datetime64:
    """Return Easter Sunday (anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    m = (32 + 2 * e + 2 * i - h - k) % 7
    n = (a + 11 * h + 19 * m) // 433
    month = (h + m - 7 * n + 90) // 25
    day = (h + m - 7 * n + 33 * month + 19) % 32
    return np.datetime64(f"{year}-{month:02d}-{day:02d}", "D")


def holidays(year: int) -> npt.NDArray[np.datetime64]:
    """Return Belgian public holidays of a year as dates."""
    fixed = [f"{year}-{md}" for md in ("01-01", "05-01", "07-21", "08-15", "11-01", "11-11",
                                       "12-25")]
    easter = _easter(year)
    moving = [easter + np.timedelta64(n, "D") for n in (1, 39, 50)]
    days: npt.NDArray[np.datetime64] = np.array(
        [np.datetime64(d, "D") for d in fixed] + moving, dtype="datetime64[D]")
    return days


@dataclass(frozen=True)
class LocalClock:
    """Local-time features of a series of UTC stamps."""

    hour: FloatArray  # local hour of day, fractional
    day_type: IntArray  # 0 working day, 1 Saturday, 2 Sunday or public holiday
    day_of_year: IntArray  # local, 0-based
    month: IntArray  # local, 1-12


def local_clock(stamps: TimeArray) -> LocalClock:
    """Return local hour, day type and date parts of UTC stamps in Lumen."""
    year = int(stamps[0].astype("datetime64[Y]").astype(np.int64)) + 1970
    summer_start = _last_sunday(year, 3).astype("datetime64[s]") + np.timedelta64(3600, "s")
    summer_end = _last_sunday(year, 10).astype("datetime64[s]") + np.timedelta64(3600, "s")
    summer = (stamps >= summer_start) & (stamps < summer_end)
    local = stamps + np.where(summer, 7200, 3600).astype("timedelta64[s]")
    days = local.astype("datetime64[D]")
    day_number = days.astype(np.int64)
    seconds = (local - days).astype(np.int64)
    weekday = (day_number + _EPOCH_WEEKDAY) % 7
    day_type = np.where(weekday == 6, 2, np.where(weekday == 5, 1, 0))
    day_type = np.where(np.isin(days, holidays(year)) | np.isin(days, holidays(year + 1)), 2,
                        day_type)
    local_year_start = days.astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)
    month = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
    return LocalClock(seconds / 3600.0, day_type.astype(np.int64),
                      (day_number - local_year_start).astype(np.int64), month.astype(np.int64))
