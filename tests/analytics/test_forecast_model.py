"""The forecast model on generated series whose structure is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from civictwin.analytics.forecast import backtest, design, forecast_day
from civictwin.errors import BadRequestData

WEEKDAY = np.array([4, 3, 3, 3, 3, 4, 7, 10, 9, 7, 6, 6, 7, 6, 6, 6, 7, 10, 13, 14, 13, 11, 9, 6.])


def generated(days: int = 70, step: str = "1h", noise: float = 0.12,
              heating: float = 0.06, seed: int = 3) -> tuple[pd.Series, pd.Series]:
    """Return a load with daily and weekly cycles, heating and noise, and its temperature."""
    rng = np.random.default_rng(seed)
    times = pd.date_range("2024-01-01", periods=days * 24, freq="1h", tz="UTC")
    hour, weekday = times.hour.to_numpy(), times.day_of_week.to_numpy()
    profile = WEEKDAY[hour] * np.where(weekday >= 5, 0.8, 1.0)  # weekends lower
    swings = np.repeat(np.cumsum(rng.normal(0, 1.5, days)) * 0.6, 24)
    temperature = 5 + swings + 3 * np.sin(2 * np.pi * (hour - 9) / 24)
    load = profile * (1 + heating * np.maximum(15.5 - temperature, 0))
    load = load * np.exp(rng.normal(0, noise, load.size))
    series = pd.Series(load, index=times)
    temp = pd.Series(temperature, index=times)
    if step != "1h":
        series = series.resample(step).ffill() / 4
        temp = temp.resample(step).interpolate()
        series = series.reindex(pd.date_range(times[0], periods=days * 96, freq=step))
        series = series.ffill()
    return series, temp


def test_it_beats_seasonal_naive_on_a_series_with_known_structure() -> None:
    load, temperature = generated()
    scores = backtest(load, temperature, days=21)
    assert scores.origins == 21
    assert scores.mape_ratio < 0.85 and scores.rmse_ratio < 0.85, scores
    without = backtest(load, None, days=21)
    assert without.mape_ratio < 1.0  # calendar and lags alone still beat last week's copy


def test_a_purely_periodic_series_is_forecast_almost_exactly() -> None:
    times = pd.date_range("2024-03-04", periods=35 * 24, freq="1h", tz="UTC")
    load = pd.Series(WEEKDAY[times.hour] * (1 + 0.3 * (times.day_of_week >= 5)), index=times)
    result = forecast_day(load, backtest_days=7)
    expected = WEEKDAY  # the day after is a Monday
    assert np.allclose(result.values, expected, rtol=1e-3)
    assert result.scores is not None and result.scores.mape < 0.5


def test_the_forecast_covers_the_next_day_at_the_series_step() -> None:
    load, temperature = generated(days=30, step="15min")
    result = forecast_day(load, temperature, backtest_days=0)
    assert result.values.size == 96 and result.step == 900
    assert result.start == load.index[-1] + pd.Timedelta(minutes=15)
    assert (result.values >= 0).all() and result.uses_temperature
    assert result.scores is None
    hourly, _ = generated(days=30)
    assert forecast_day(hourly).values.size == 24


def test_temperature_is_ignored_when_it_covers_too_little() -> None:
    load, temperature = generated(days=30)
    sparse = temperature.iloc[-48:]  # two days of a month
    assert not forecast_day(load, sparse, backtest_days=0).uses_temperature


def test_calendar_slots_follow_the_local_clock() -> None:
    times = pd.date_range("2024-07-06 22:00", periods=3, freq="1h", tz="UTC")  # Saturday
    x = design(times, np.ones(3), None, 24, "Europe/Brussels")
    # 22:00 UTC is midnight on Sunday in Brussels (UTC+2 in summer): slot 24 * 2 + 0.
    assert x[0, :72].argmax() == 48 and x[1, :72].argmax() == 49
    assert np.isnan(x[:, 72]).all()  # no load a day earlier in a three-step series


@pytest.mark.parametrize(("days", "message"), [(10, "two weeks"), (1, "two weeks")])
def test_too_short_a_history_is_refused(days: int, message: str) -> None:
    load, _ = generated(days=days)
    with pytest.raises(BadRequestData, match=message):
        forecast_day(load)


def test_an_irregular_step_is_refused() -> None:
    times = pd.date_range("2024-01-01", periods=100, freq="7min", tz="UTC")
    with pytest.raises(BadRequestData, match="does not divide a day"):
        forecast_day(pd.Series(np.ones(100), index=times))
