"""Date-times on the way in: the normal form, and the sortable form the index keeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civictwin.errors import BadRequestData
from civictwin.ngsild.attributes import normalize_datetime
from civictwin.store.index import _sortable

moments = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 30))
offsets = st.sampled_from([None, UTC, timezone(timedelta(hours=2)),
                           timezone(-timedelta(hours=5, minutes=30))])


def written(moment: datetime, offset: timezone | None, style: int) -> str:
    """Write a moment the ways clients do: with Z, an offset, or none; with or without µs."""
    text = moment.replace(tzinfo=offset).isoformat(
        timespec=("seconds", "milliseconds", "microseconds")[style])
    return text.replace("+00:00", "Z") if style != 1 else text


def reference_normal(text: str) -> str:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    utc = moment.astimezone(UTC)
    out = f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S}.{utc.microsecond:06d}"
    return out.removesuffix(".000000") + "Z"


def reference_sortable(text: str) -> str:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    utc = moment.astimezone(UTC)
    return f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S}.{utc.microsecond:06d}Z"


@settings(max_examples=400, deadline=None)
@given(moments, offsets, st.integers(0, 2))
def test_normal_and_sortable_forms_match_the_reference(
        moment: datetime, offset: timezone | None, style: int) -> None:
    text = written(moment, offset, style)
    try:
        expected = reference_normal(text)
    except (ValueError, OverflowError):
        return  # not a moment in UTC's range (e.g. year 1 with a positive offset)
    assert normalize_datetime(text, "observedAt") == expected
    assert normalize_datetime(expected, "observedAt") == expected
    assert _sortable(text) == reference_sortable(text)


FULLWIDTH_YEAR = "\uff12\uff10\uff12\uff15-01-01T00:00:00Z"


@pytest.mark.parametrize("text", ["2025-02-30T00:00:00Z", "2025-01-01T24:00:00Z",
                                  "2025-01-01T00:00:00Z\n", FULLWIDTH_YEAR, "soon"])
def test_impossible_date_times_are_refused(text: str) -> None:
    with pytest.raises(BadRequestData, match="observedAt"):
        normalize_datetime(text, "observedAt")
    assert _sortable(text) == text


def test_a_zero_fraction_is_dropped_and_a_short_one_padded() -> None:
    assert normalize_datetime("2025-01-01T00:00:00.000000Z", "at") == "2025-01-01T00:00:00Z"
    assert normalize_datetime("2025-01-01T00:00:00.5Z", "at") == "2025-01-01T00:00:00.500000Z"
    assert _sortable("2025-01-01T00:00:00.5Z") == "2025-01-01T00:00:00.500000Z"
