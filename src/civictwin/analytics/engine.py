"""Analytics engines over the lake: one interface, DuckDB in-process or Apache Spark.

Jobs are written once, as SQL in the subset both engines run the same way (CTEs, CASE,
GROUP BY, joins, SUBSTR, COALESCE; no dialect functions), over the lake's tables ``history``
and ``entity_versions`` and the views below, with named parameters ``:name`` (bound by each
engine, never pasted into the text). Keys are COALESCEd so NULL ordering never differs.
This module and ``store/`` are the only places with SQL.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from civictwin.analytics.lake import Lake
from civictwin.errors import BadRequestData

Scalar = str | int | float
Row = dict[str, Any]


@dataclass(frozen=True)
class Job:
    """An aggregation written once in portable SQL, with the parameters it needs."""

    name: str
    sql: str
    params: tuple[str, ...]
    description: str


_USE_CLASS = ("CASE WHEN COALESCE(b.category, '') LIKE '%industrial%' THEN 'industrial' "
              "WHEN COALESCE(b.category, '') LIKE '%residential%' THEN 'residential' "
              "WHEN b.building_id IS NULL THEN 'unknown' ELSE 'commercial' END")
_IN_RANGE = "h.day >= :start AND h.day < :end"

VIEWS: tuple[tuple[str, str], ...] = (
    ("entities", """
SELECT v.* FROM entity_versions v
JOIN (SELECT entity_id AS newest_id, MAX(version) AS newest FROM entity_versions
      GROUP BY entity_id) n ON v.entity_id = n.newest_id AND v.version = n.newest"""),
    ("districts", """
SELECT entity_id AS district_id,
       MAX(CASE WHEN name = 'name' THEN text END) AS district_name,
       MAX(CASE WHEN name = 'population' THEN num END) AS population
FROM entities WHERE entity_type = 'CityDistrict' GROUP BY entity_id"""),
    ("buildings", """
SELECT entity_id AS building_id,
       MAX(CASE WHEN name = 'refCityDistrict' THEN text END) AS district_id,
       MAX(CASE WHEN name = 'floorArea' THEN num END) AS floor_area,
       MAX(CASE WHEN name = 'heatingType' THEN text END) AS heating,
       MAX(CASE WHEN name = 'category' THEN COALESCE(json, text) END) AS category
FROM entities WHERE entity_type = 'Building' GROUP BY entity_id"""),
    ("meters", """
SELECT entity_id AS meter_id,
       MAX(CASE WHEN name = 'refBuilding' THEN text END) AS building_id,
       MAX(CASE WHEN name = 'heatMeterType' THEN text END) AS heat_carrier
FROM entities WHERE entity_type = 'SmartMeteringObservation' GROUP BY entity_id"""),
    ("stations", """
SELECT s.entity_id AS station_id, s.entity_type AS station_type,
       COALESCE(s.district_ref, d.district_id, '') AS district_id
FROM (SELECT entity_id, entity_type,
             MAX(CASE WHEN name = 'refCityDistrict' THEN text END) AS district_ref,
             MAX(CASE WHEN name = 'address.district' THEN text END) AS district_name
      FROM entities WHERE entity_type IN ('AirQualityObserved', 'WeatherObserved')
      GROUP BY entity_id, entity_type) s
LEFT JOIN districts d ON d.district_name = s.district_name"""),
)

JOBS: dict[str, Job] = {job.name: job for job in (
    Job("district_population", """
SELECT district_id, COALESCE(district_name, '') AS district_name,
       COALESCE(population, 0.0) AS population
FROM districts ORDER BY district_id""", (), "Population of every district (CityDistrict)."),
    Job("energy_use", f"""
WITH readings AS (
  SELECT h.entity_id AS meter_id, SUBSTR(h.day, 1, 7) AS month, h.name, h.dataset_id,
         SUM(h.num) AS kwh, COUNT(*) AS readings
  FROM history h
  WHERE h.entity_type = 'SmartMeteringObservation' AND h.dataset_id IN (:dataset, '')
    AND h.name IN ('electricityConsumption', 'heatConsumption')
    AND h.num IS NOT NULL AND {_IN_RANGE}
  GROUP BY h.entity_id, SUBSTR(h.day, 1, 7), h.name, h.dataset_id),
chosen AS (
  SELECT r.* FROM readings r
  WHERE r.dataset_id = :dataset OR NOT EXISTS (
    SELECT 1 FROM readings b WHERE b.meter_id = r.meter_id AND b.month = r.month
      AND b.name = r.name AND b.dataset_id = :dataset))
SELECT period, district_id, use_class, carrier, SUM(kwh) AS kwh,
       COUNT(DISTINCT meter_id) AS meters, SUM(readings) AS readings
FROM (SELECT CASE WHEN :period = 'month' THEN c.month ELSE SUBSTR(c.month, 1, 4) END
               AS period,
             COALESCE(b.district_id, '') AS district_id, {_USE_CLASS} AS use_class,
             CASE WHEN c.name = 'electricityConsumption' THEN 'electricity'
                  ELSE COALESCE(m.heat_carrier, 'unknown') END AS carrier,
             c.kwh, c.readings, c.meter_id
      FROM chosen c
      JOIN meters m ON m.meter_id = c.meter_id
      LEFT JOIN buildings b ON b.building_id = m.building_id) e
GROUP BY period, district_id, use_class, carrier
ORDER BY period, district_id, use_class, carrier""",
        ("period", "dataset", "start", "end"),
        "Metered energy (kWh) per period, district, building use class and carrier: a meter's "
        "month is its bill in :dataset, or else the sum of its default-dataset readings."),
    Job("heat_pump_electricity", f"""
WITH bills AS (
  SELECT h.entity_id AS meter_id, SUBSTR(h.day, 1, 7) AS month, SUM(h.num) AS kwh
  FROM history h
  WHERE h.entity_type = 'SmartMeteringObservation' AND h.dataset_id = :dataset
    AND h.name = 'electricityConsumption' AND h.num IS NOT NULL AND {_IN_RANGE}
  GROUP BY h.entity_id, SUBSTR(h.day, 1, 7))
SELECT month, district_id, building_id, use_class, floor_area, SUM(kwh) AS kwh
FROM (SELECT bl.month, COALESCE(b.district_id, '') AS district_id, b.building_id,
             {_USE_CLASS} AS use_class, COALESCE(b.floor_area, 0.0) AS floor_area, bl.kwh
      FROM bills bl
      JOIN meters m ON m.meter_id = bl.meter_id
      JOIN buildings b ON b.building_id = m.building_id
      WHERE b.heating = 'heatPump') e
GROUP BY month, district_id, building_id, use_class, floor_area
ORDER BY month, building_id""", ("dataset", "start", "end"),
        "Billed electricity (kWh) per month of every building heated by a heat pump, with its "
        "floor area (m²) and use class."),
    Job("building_stock", f"""
WITH smart AS (
  SELECT h.entity_id AS meter_id FROM history h
  WHERE h.entity_type = 'SmartMeteringObservation' AND h.name = 'electricityConsumption'
    AND {_IN_RANGE}
  GROUP BY h.entity_id HAVING COUNT(*) >= 24 * COUNT(DISTINCT h.day)),
smart_buildings AS (
  SELECT DISTINCT m.building_id FROM meters m JOIN smart s ON s.meter_id = m.meter_id)
SELECT district_id, use_class, COUNT(*) AS buildings, SUM(floor_area) AS floor_area,
       SUM(smart) AS smart_metered
FROM (SELECT COALESCE(b.district_id, '') AS district_id, {_USE_CLASS} AS use_class,
             COALESCE(b.floor_area, 0.0) AS floor_area,
             CASE WHEN sb.building_id IS NULL THEN 0 ELSE 1 END AS smart
      FROM buildings b LEFT JOIN smart_buildings sb ON sb.building_id = b.building_id) s
GROUP BY district_id, use_class ORDER BY district_id, use_class""",
        ("start", "end"),
        "Buildings, floor area (m²) and buildings with an interval (hourly or finer) meter."),
    Job("air_quality_daily", f"""
SELECT h.entity_id AS station_id, COALESCE(s.district_id, '') AS district_id,
       h.name AS pollutant, h.day, AVG(h.num) AS mean, MAX(h.num) AS peak,
       COUNT(*) AS hours
FROM history h LEFT JOIN stations s ON s.station_id = h.entity_id
WHERE h.entity_type = 'AirQualityObserved' AND h.name IN ('pm25', 'pm10', 'no2', 'o3')
  AND h.observed AND h.num IS NOT NULL AND {_IN_RANGE}
GROUP BY h.entity_id, COALESCE(s.district_id, ''), h.name, h.day
ORDER BY station_id, pollutant, day""", ("start", "end"),
        "Daily mean and peak concentration (µg/m³) and hours measured, per station."),
    Job("weather_daily", f"""
SELECT h.entity_id AS station_id, COALESCE(s.district_id, '') AS district_id, h.day,
       AVG(h.num) AS mean, MAX(h.num) AS highest, MIN(h.num) AS lowest, COUNT(*) AS hours
FROM history h LEFT JOIN stations s ON s.station_id = h.entity_id
WHERE h.entity_type = 'WeatherObserved' AND h.name = 'temperature'
  AND h.observed AND h.num IS NOT NULL AND {_IN_RANGE}
GROUP BY h.entity_id, COALESCE(s.district_id, ''), h.day
ORDER BY station_id, day""", ("start", "end"),
        "Daily mean, highest and lowest air temperature (°C) and hours measured, per station."),
    Job("history_summary", """
SELECT h.entity_type, h.name, h.dataset_id, COUNT(*) AS instances,
       COUNT(DISTINCT h.entity_id) AS entities, MIN(h.day) AS first_day,
       MAX(h.day) AS last_day, MAX(h.recorded_at) AS last_recorded
FROM history h GROUP BY h.entity_type, h.name, h.dataset_id
ORDER BY h.entity_type, h.name, h.dataset_id""", (),
        "What the lake holds: instances per entity type, attribute and dataset."),
)}


PRIVACY_JOBS: dict[str, Job] = {job.name: job for job in (
    Job("privacy_profiles", """
SELECT m.meter_id, COALESCE(m.building_id, '') AS building_id,
       COALESCE(m.heat_carrier, '') AS heat_carrier, COALESCE(b.district_id, '') AS district_id,
       COALESCE(b.category, '') AS category, COALESCE(b.heating, '') AS heating,
       b.year_built, COALESCE(b.street, '') AS street, COALESCE(b.locality, '') AS locality
FROM meters m
LEFT JOIN (SELECT entity_id AS building_id,
                  MAX(CASE WHEN name = 'refCityDistrict' THEN text END) AS district_id,
                  MAX(CASE WHEN name = 'category' THEN COALESCE(json, text) END) AS category,
                  MAX(CASE WHEN name = 'heatingType' THEN text END) AS heating,
                  MAX(CASE WHEN name = 'yearBuilt' THEN num END) AS year_built,
                  MAX(CASE WHEN name = 'address.streetAddress' THEN text END) AS street,
                  MAX(CASE WHEN name = 'address.addressLocality' THEN text END) AS locality
           FROM entities WHERE entity_type = 'Building' GROUP BY entity_id) b
  ON b.building_id = m.building_id
ORDER BY m.meter_id""", (),
        "Every meter with the building facts privacy/ groups by: district, use, heating, "
        "year built, street."),
)}
"""The jobs privacy/ runs (kept apart from JOBS, the indicator jobs every engine test runs)."""

_PRIVACY_BUCKETS = {"hour": ("observed_s - observed_s % 3600", "''"),
                    "day": ("0", "day"), "month": ("0", "SUBSTR(day, 1, 7)"),
                    "all": ("0", "''")}
for _grain, (_hour, _bucket) in _PRIVACY_BUCKETS.items():
    # One job per grain, so the bucket is plain SQL rather than a CASE on a parameter in
    # every row; hourly and daily cells read interval readings only (the default dataset).
    _interval = "AND dataset_id = ''" if _grain in ("hour", "day") else ""
    PRIVACY_JOBS[f"privacy_readings_{_grain}"] = Job(f"privacy_readings_{_grain}", f"""
SELECT entity_id AS meter_id, bucket, hour_s, SUM(num) AS total, COUNT(*) AS readings
FROM (SELECT entity_id, {_bucket} AS bucket, {_hour} AS hour_s, num FROM history
      WHERE attr IN (:attr, :alt_attr) AND num IS NOT NULL AND day >= :first_day
        AND day <= :last_day AND observed_s >= :start_s AND observed_s < :end_s {_interval}
     ) r
GROUP BY entity_id, bucket, hour_s""",
        ("attr", "alt_attr", "first_day", "last_day", "start_s", "end_s"),
        f"Per contributor (meter) and {_grain if _grain != 'all' else 'whole range'}: the sum "
        "and number of its readings of one attribute (privacy/ applies disclosure control).")


class AnalyticsEngine(Protocol):
    """Runs lake jobs; every implementation returns the same rows for the same lake."""

    name: str

    def run(self, job: Job, params: Mapping[str, Scalar] | None = None) -> list[Row]:
        """Run one job with its parameters; return its rows as dicts."""
        ...

    def close(self) -> None:
        """Release what the engine holds."""
        ...


def bind(job: Job, params: Mapping[str, Scalar] | None) -> dict[str, Scalar]:
    """Check that exactly the job's parameters are given, as plain scalars."""
    given = dict(params or {})
    missing = [p for p in job.params if p not in given]
    extra = [p for p in given if p not in job.params]
    if missing or extra:
        raise BadRequestData(f"job {job.name}: missing parameters {missing}, unknown {extra}")
    for key, value in given.items():
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise BadRequestData(f"job {job.name}: parameter {key} must be text or a number")
    return given


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


class DuckDBEngine:
    """DuckDB in this process, reading the lake through pyarrow datasets (any fsspec URL)."""

    name = "duckdb"

    def __init__(self, lake: Lake, threads: int = 2) -> None:
        import duckdb

        self.lake = lake
        self.con = duckdb.connect()
        self.con.execute(f"SET threads = {int(threads)}")
        self.con.execute("SET enable_progress_bar = false")
        self._lock = threading.Lock()
        self.con.register("history", lake.dataset("history"))
        self.con.register("entity_versions", lake.dataset("entities"))
        for view, sql in VIEWS:
            self.con.execute(f"CREATE VIEW {view} AS {sql}")

    def run(self, job: Job, params: Mapping[str, Scalar] | None = None) -> list[Row]:
        """Run one job; DuckDB spells parameter markers $name."""
        values = bind(job, params)
        sql = re.sub(r"(?<![\w:]):([a-z_]+)\b", r"$\1", job.sql)
        with self._lock:
            cursor = self.con.execute(sql, values) if values else self.con.execute(sql)
            names = [d[0] for d in cursor.description]
            return [{k: _plain(v) for k, v in zip(names, row, strict=True)}
                    for row in cursor.fetchall()]

    def close(self) -> None:
        """Close the connection."""
        self.con.close()


_SPARK_CONF = {
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.sources.partitionColumnTypeInference.enabled": "false",
    # Small lakes dominate tests and the demo: skip adaptive re-planning and code generation.
    "spark.sql.adaptive.enabled": "false",
    "spark.sql.codegen.wholeStage": "false",
    "spark.driver.memory": "1g",
    "spark.ui.showConsoleProgress": "false",
}


def spark_session(master: str, app_name: str = "civictwin") -> Any:
    """Return the process's Spark session on `master`, starting it on first use."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in _SPARK_CONF.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


class SparkEngine:
    """Apache Spark (local or a cluster), reading the same Parquet files as DuckDB."""

    name = "spark"

    def __init__(self, lake: Lake, master: str = "local[2]", session: Any = None) -> None:
        self.lake = lake
        self.spark = session or spark_session(master)
        self._owned = session is None
        self._prefix = f"v{id(self):x}_"  # temp views are per session; keep engines apart
        self._cached: list[Any] = []
        self._register("history", "history")
        self._register("entities", "entity_versions")
        for view, sql in VIEWS:
            frame = self.spark.sql(self._scoped(sql))
            if view == "entities":  # every other view and most jobs read it: compute it once
                self._cached.append(frame.cache())
            frame.createOrReplaceTempView(self._prefix + view)

    def _register(self, kind: str, view: str) -> None:
        from pyspark.sql.pandas.types import from_arrow_schema

        from civictwin.analytics.lake import SCHEMAS

        schema = from_arrow_schema(SCHEMAS[kind])
        files = self.lake.files(kind)
        if files:
            base = self._hadoop(self.lake.path(kind))
            frame = (self.spark.read.schema(schema).option("basePath", base)
                     .parquet(*[self._hadoop(f) for f in files]))
        else:
            frame = self.spark.createDataFrame([], schema)
        if kind == "history":
            self._cached.append(frame.cache())
        frame.createOrReplaceTempView(self._prefix + view)

    def _hadoop(self, path: str) -> str:
        """Return a path as Hadoop names it (file:// locally, s3a:// for S3)."""
        if self.lake.is_local:
            return "file://" + path
        protocol = self.lake.fs.protocol
        scheme = protocol[0] if isinstance(protocol, tuple | list) else protocol
        return f"{'s3a' if scheme in ('s3', 's3a') else scheme}://{path}"

    def _scoped(self, sql: str) -> str:
        names = ["history", "entity_versions", *[v for v, _ in VIEWS]]
        pattern = r"\b(FROM|JOIN)\s+(" + "|".join(names) + r")\b"
        return re.sub(pattern, lambda m: f"{m.group(1)} {self._prefix}{m.group(2)}", sql)

    def run(self, job: Job, params: Mapping[str, Scalar] | None = None) -> list[Row]:
        """Run one job; Spark binds :name markers itself."""
        values = bind(job, params)
        frame = self.spark.sql(self._scoped(job.sql), args=values or None)
        return [{k: _plain(v) for k, v in row.asDict().items()} for row in frame.collect()]

    def close(self) -> None:
        """Drop this engine's views; stop Spark only if this engine started it."""
        for view in ("history", "entity_versions", *[v for v, _ in VIEWS]):
            self.spark.catalog.dropTempView(self._prefix + view)
        for frame in self._cached:
            frame.unpersist()
        if self._owned:
            self.spark.stop()


def open_engine(kind: str, lake: Lake, spark_master: str = "local[2]") -> AnalyticsEngine:
    """Open the engine a setting names: duckdb (default) or spark."""
    if kind == "duckdb":
        return DuckDBEngine(lake)
    if kind == "spark":
        return SparkEngine(lake, spark_master)
    raise BadRequestData(f"unknown analytics engine {kind!r}: use duckdb or spark")
