"""Day-ahead energy demand forecasts by linear regression, with a rolling-origin backtest.

The model (version MODEL_VERSION) predicts each step t of the next day from

    y[t] = sum_s b_s * [slot(t) = s] + a1 * y[t - 1 day] + a2 * y[t - 1 week]
           + g1 * max(15.5 - T[t], 0) + g2 * max(T[t] - 22, 0)

where a slot is the local hour of the day on a working day, a Saturday or a Sunday (72 slots),
y the measured load per step (kWh) and T the air temperature (°C). The temperature terms are
used only when the twin has a temperature history; for steps beyond it the temperature of the
same time the day before stands in (persistence), in the backtest too. Coefficients are fitted
by least squares (numpy, with a small ridge term so slots unseen in training are harmless) on the
`train_days` before the forecast origin, so the model adapts to the season. Every lag it needs
lies before the origin, so a day-ahead forecast uses measurements only.

The backtest makes a forecast at each of the last `days` midnights (UTC) from the data before
it, and scores it against what was measured, beside the seasonal-naive forecast (the same step
one week earlier): MAPE (over steps with non-zero load) and RMSE, and their ratios.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from civictwin.analytics.algorithms import Algorithm, register
from civictwin.errors import BadRequestData
from civictwin.samplecity.clock import FloatArray

MODEL_VERSION = "1.0"
DAY = 86_400
HEATING_BASE = 15.5  # °C
COOLING_BASE = 22.0  # °C
RIDGE = 1e-6  # ridge penalty per training row, on unit-RMS columns
MIN_COVERAGE = 0.8  # share of the history's steps with a temperature, to use temperature

ALGORITHM = register(Algorithm(
    id="energy-demand-forecast",
    name="Day-ahead energy demand forecast",
    description_short="Forecasts the next day's electricity demand of a building or district "
                      "from its metered history, the calendar and temperature.",
    purpose="Help grid and energy planners anticipate the next day's load of buildings and "
            "districts (peaks, flexibility needs); forecasts are indicative and never used to "
            "bill or judge a household.",
    kind="statistical model",
    module="civictwin.analytics.forecast",
    owner="The city's energy department, with the twin's operator.",
    data_used=("electricity consumption history of smart meters in the twin (15-minute or "
               "hourly)", "air temperature history of WeatherObserved stations, when present",
               "the calendar (local hour, working day, Saturday, Sunday)"),
    method="Linear regression fitted by least squares on the last weeks: 72 calendar slots, "
           "the load one day and one week earlier, heating and cooling degree-hours; "
           "rolling-origin backtest against the seasonal-naive forecast (same step last week).",
    limits_risks="Public holidays are treated as weekdays; without a temperature forecast the "
                 "previous day's temperature stands in; a meter's change of use, outages or a "
                 "new appliance break the pattern until weeks of new data exist; per-building "
                 "forecasts reveal consumption habits and are personal data.",
    risk_management="Each forecast carries its backtest errors beside the seasonal-naive "
                    "baseline; building-level forecasts stay within the twin's tenant and "
                    "are shared only as aggregates under the data-space rules.",
    human_oversight="Energy planners read forecasts with their backtest errors; no decision "
                    "about a resident is taken from them automatically.",
    legal_basis="The city's public task in energy planning; GDPR art. 6(1)(e) for meter data.",
    contact="the twin's operator; issues at the civictwin project",
    version=MODEL_VERSION,
))


@dataclass(frozen=True)
class Scores:
    """Backtest errors of the model and of the seasonal-naive baseline."""

    origins: int
    mape: float  # %
    rmse: float  # kWh per step
    naive_mape: float
    naive_rmse: float

    @property
    def mape_ratio(self) -> float:
        """Return the model's MAPE over the baseline's (below 1: the model is better)."""
        return self.mape / self.naive_mape if self.naive_mape else float("nan")

    @property
    def rmse_ratio(self) -> float:
        """Return the model's RMSE over the baseline's."""
        return self.rmse / self.naive_rmse if self.naive_rmse else float("nan")


@dataclass(frozen=True)
class Forecast:
    """A day-ahead forecast: values per step from `start`, and how well the model backtested."""

    start: pd.Timestamp
    step: int  # seconds
    values: FloatArray  # kWh per step
    scores: Scores | None
    uses_temperature: bool

    @property
    def times(self) -> pd.DatetimeIndex:
        """Return the start of every forecast step (UTC)."""
        return pd.date_range(self.start, periods=self.values.size, freq=f"{self.step}s")


def _slots(times: pd.DatetimeIndex, timezone: str) -> np.ndarray:
    """Return each time's calendar slot: local hour + 24 * (0 weekday, 1 Saturday, 2 Sunday)."""
    local = times.tz_convert(timezone)
    weekday = local.day_of_week.to_numpy()
    kind = np.where(weekday == 5, 1, np.where(weekday == 6, 2, 0))
    slots: np.ndarray = local.hour.to_numpy() + 24 * kind
    return slots


def design(times: pd.DatetimeIndex, load: FloatArray, temperature: FloatArray | None,
           per_day: int, timezone: str) -> FloatArray:
    """Return the regression inputs of every step (rows); lags outside the series are NaN."""
    n = times.size
    columns = [np.eye(72)[_slots(times, timezone)]]
    for lag in (per_day, 7 * per_day):
        shifted = np.full(n, np.nan)
        shifted[lag:] = load[:-lag]
        columns.append(shifted[:, None])
    if temperature is not None:
        columns.append(np.maximum(HEATING_BASE - temperature, 0.0)[:, None])
        columns.append(np.maximum(temperature - COOLING_BASE, 0.0)[:, None])
    found: FloatArray = np.hstack(columns)
    return found


def _fit_predict(rows: FloatArray, target: FloatArray, ahead: FloatArray) -> FloatArray:
    """Fit on the complete rows of a training window and return the predictions of `ahead`."""
    x = rows
    ok = np.isfinite(rows).all(axis=1) & np.isfinite(target)
    if ok.sum() < x.shape[1]:
        raise BadRequestData("not enough complete history to fit the forecast model "
                             f"({int(ok.sum())} usable steps)")
    rows, target = rows[ok], target[ok]
    # Ridge regression by the normal equations on columns scaled to unit RMS: a 76 x 76 solve,
    # cheaper and steadier on a busy machine than a least-squares SVD of the whole window.
    scale = np.sqrt(np.mean(rows ** 2, axis=0))
    scale[scale == 0] = 1.0
    z = rows / scale
    gram = z.T @ z + RIDGE * rows.shape[0] * np.eye(z.shape[1])
    coef = np.linalg.solve(gram, z.T @ target) / scale
    predicted: FloatArray = np.maximum(np.nan_to_num(ahead) @ coef, 0.0)
    return predicted


def _step(series: pd.Series) -> int:
    if series.size < 2:
        raise BadRequestData("a forecast needs a history of at least two steps")
    step = int((series.index[1] - series.index[0]).total_seconds())
    if step <= 0 or DAY % step:
        raise BadRequestData(f"history step {step} s does not divide a day")
    return step


def _temperature(temperature: pd.Series | None, index: pd.DatetimeIndex,
                 per_day: int, measured: int) -> FloatArray | None:
    """Align temperatures to the load's steps and fill the future by persistence.

    None when the temperatures cover less than MIN_COVERAGE of the `measured` first steps.
    """
    if temperature is None or temperature.dropna().empty:
        return None
    aligned = np.array(temperature.dropna().reindex(index.union(temperature.index))
                       .interpolate(method="time", limit_area="inside", limit=6)
                       .reindex(index), dtype=np.float64)
    if np.isfinite(aligned[:measured]).mean() < MIN_COVERAGE:
        return None
    for i in range(measured, aligned.size):  # after the measurements: same time yesterday
        if np.isnan(aligned[i]) and i >= per_day:
            aligned[i] = aligned[i - per_day]
    values: FloatArray = np.where(np.isnan(aligned), np.nanmean(aligned), aligned)
    return values


def forecast_day(load: pd.Series, temperature: pd.Series | None = None, *,
                 train_days: int = 56, timezone: str = "UTC",
                 backtest_days: int = 14) -> Forecast:
    """Forecast the day after a load history (regular UTC index); backtest it when possible."""
    step = _step(load)
    per_day = DAY // step
    start = load.index[-1] + pd.Timedelta(seconds=step)
    future = pd.date_range(start, periods=per_day, freq=f"{step}s")
    index = load.index.append(future)
    y = np.concatenate([load.to_numpy(dtype=np.float64), np.full(per_day, np.nan)])
    temp = _temperature(temperature, index, per_day, load.size)
    x = design(index, y, temp, per_day, timezone)
    origin = load.size
    first = max(7 * per_day, origin - train_days * per_day)
    if origin - first < 7 * per_day:
        raise BadRequestData("a forecast needs at least two weeks of history "
                             f"(have {load.size * step / DAY:.1f} days)")
    values = _fit_predict(x[first:origin], y[first:origin], x[origin:origin + per_day])
    scores = None
    if backtest_days and load.size >= (14 + backtest_days) * per_day:
        scores = backtest(load, temperature, days=backtest_days, train_days=train_days,
                          timezone=timezone)
    return Forecast(start, step, values, scores, temp is not None)


def backtest(load: pd.Series, temperature: pd.Series | None = None, *, days: int = 14,
             train_days: int = 56, timezone: str = "UTC") -> Scores:
    """Score day-ahead forecasts made at each of the last `days` UTC midnights."""
    step = _step(load)
    per_day = DAY // step
    y = load.to_numpy(dtype=np.float64)
    temp = _temperature(temperature, load.index, per_day, load.size)
    x = design(load.index, y, temp, per_day, timezone)
    # Forecast rows see the day before's temperature, as a live forecast would.
    known = x if temp is None else design(load.index, y, np.roll(temp, per_day), per_day,
                                          timezone)
    midnights = np.flatnonzero((load.index.hour == 0) & (load.index.minute == 0))
    origins = [int(o) for o in midnights if o + per_day <= y.size and o >= 14 * per_day][-days:]
    if not origins:
        raise BadRequestData("a backtest needs more than two weeks of history")
    actual, ours, naive = [], [], []
    for origin in origins:
        ahead = slice(origin, origin + per_day)
        first = max(7 * per_day, origin - train_days * per_day)
        ours.append(_fit_predict(x[first:origin], y[first:origin], known[ahead]))
        naive.append(y[origin - 7 * per_day: origin - 6 * per_day])
        actual.append(y[ahead])
    truth, model, baseline = (np.concatenate(a) for a in (actual, ours, naive))
    return Scores(len(origins), *_errors(truth, model), *_errors(truth, baseline))


def _errors(truth: FloatArray, predicted: FloatArray) -> tuple[float, float]:
    """Return MAPE (%, over measured steps with load) and RMSE (over measured steps)."""
    measured = np.isfinite(truth) & np.isfinite(predicted)
    positive = measured & (np.abs(truth) > 1e-9)
    if not positive.any():
        raise BadRequestData("the backtest period has no measured load")
    mape = float(np.mean(np.abs((truth[positive] - predicted[positive]) / truth[positive])))
    rmse = float(np.sqrt(np.mean((truth[measured] - predicted[measured]) ** 2)))
    return 100.0 * mape, rmse
