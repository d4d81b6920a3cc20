"""Disclosure-controlled aggregation against plain DuckDB SQL, over one generated lake.

data      `--meters` meters (default 10,000) with `--days` days (default 365) of quarter-hour
          electricity readings (350,400,000 values at full size), generated into the lake's
          Parquet layout (history/entity_type=/day=) by DuckDB itself, plus entity snapshots
          of the meters, their buildings and 12 districts, one district holding only 7
          meters so disclosure control has something to merge. Columns the jobs do not read
          (instance ids, JSON values) are left empty.
ours      civictwin.privacy.aggregate over the lake (LakeSource on the DuckDB engine):
          per-meter monthly sums, profiles, cells by district and month, the rules (at least 10
          contributors, dominance 1/0.85, merge along district > city), the ledger check and
          the recorded release (SQLite store).
baseline  plain DuckDB SQL on the same engine connection: the same readings joined to meters
          and buildings, summed by district and month; no disclosure control.

Both run twice, alternating; the best of each counts. Prints the ratio baseline / ours
(target >= 0.7) and checks that every released cell equals the baseline's sum.
Run:  .venv/bin/python bench/disclosure.py [--meters N] [--days N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb

from bench.workload import console, verdict
from civictwin.analytics.engine import DuckDBEngine
from civictwin.analytics.lake import Lake
from civictwin.privacy import AggregateRequest, DisclosureRules, aggregate
from civictwin.privacy.sources import ATTRIBUTES, LakeSource
from civictwin.store import open_store

TARGET = 0.7
DISTRICTS = 12
SMALL = 7  # meters in the last district
BASELINE = """
SELECT b.district_id, SUBSTR(h.day, 1, 7) AS month, SUM(h.num) AS kwh
FROM history h
JOIN meters m ON m.meter_id = h.entity_id
JOIN buildings b ON b.building_id = m.building_id
WHERE h.attr IN ($attr, $alt) AND h.num IS NOT NULL AND h.day >= $first AND h.day <= $last
  AND h.observed_s >= $start_s AND h.observed_s < $end_s
GROUP BY b.district_id, SUBSTR(h.day, 1, 7)"""


def generate(root: Path, meters: int, days: int) -> int:
    """Write the lake's history and entity snapshots with DuckDB; return the readings."""
    root.mkdir(parents=True)
    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")
    attr = ATTRIBUTES["electricity"][0]
    district = f"CASE WHEN m < {SMALL} THEN {DISTRICTS - 1} ELSE m % {DISTRICTS - 1} END"
    con.execute("SET memory_limit = '2GB'")
    con.execute(f"SET temp_directory = '{root.parent / 'duckdb-spill'}'")  # not the cwd
    # One COPY per day: each writes one partition file, so memory stays that of one day.
    for day in range(days):
        first = 1704067200 + day * 86400
        stamp = time.strftime("%Y-%m-%d", time.gmtime(first))
        folder = root / "history" / "entity_type=SmartMeteringObservation" / f"day={stamp}"
        folder.mkdir(parents=True)
        con.execute(f"""
COPY (SELECT 'urn:ngsi-ld:SmartMeteringObservation:' || m AS entity_id,
             'electricityConsumption' AS name, '{attr}' AS attr, '' AS dataset_id,
             '' AS instance_id, to_timestamp({first} + t * 900) AS observed_at,
             CAST({first} + t * 900 AS BIGINT) AS observed_s, TRUE AS observed,
             '2025-01-01T00:00:00.000000Z' AS recorded_at, 'Property' AS kind,
             0.05 + (hash(m * 100003 + {day * 96} + t) % 1000) / 4000.0 AS num,
             NULL::VARCHAR AS text, 'KWH' AS unit, '' AS value
      FROM range({meters}) r(m), range(96) s(t))
TO '{folder}/part-bench-0.parquet' (FORMAT PARQUET, ROW_GROUP_SIZE 1000000)""")
    rows = f"""
SELECT 'urn:ngsi-ld:SmartMeteringObservation:' || m AS entity_id,
       '["SmartMeteringObservation"]' AS types, '2025-01-01T00:00:00.000000Z' AS version,
       '2025-01-01T00:00:00.000000Z' AS created_at, 'refBuilding' AS name,
       'https://smartdatamodels.org/dataModel.Building/refBuilding' AS attr, '' AS dataset_id,
       'Relationship' AS kind, NULL::DOUBLE AS num, 'urn:ngsi-ld:Building:' || m AS text,
       NULL::VARCHAR AS json, NULL::VARCHAR AS unit, NULL::VARCHAR AS observed_at,
       'SmartMeteringObservation' AS entity_type, '2025-01-01' AS day
FROM range({meters}) r(m)
UNION ALL
SELECT 'urn:ngsi-ld:Building:' || m, '["Building"]', '2025-01-01T00:00:00.000000Z',
       '2025-01-01T00:00:00.000000Z', f.name, f.name, '', 'Property', f.num, f.text, f.json,
       NULL, NULL, 'Building', '2025-01-01'
FROM range({meters}) r(m),
     LATERAL (SELECT * FROM (VALUES
       ('refCityDistrict', NULL::DOUBLE,
        'urn:ngsi-ld:CityDistrict:' || ({district}), NULL::VARCHAR),
       ('category', NULL, NULL, '["residential"]'),
       ('heatingType', NULL, 'gasBoiler', NULL),
       ('yearBuilt', 1950 + m % 70, NULL, NULL),
       ('address.streetAddress', NULL, 'Street ' || (m % 40) || ' ' || m, NULL))
       v(name, num, text, json)) f"""
    con.execute(f"COPY ({rows}) TO '{root}/entities' (FORMAT PARQUET, "
                "PARTITION_BY (entity_type, day), FILENAME_PATTERN 'part-bench-{i}')")
    con.close()
    return meters * days * 96


def run(meters: int = 10_000, days: int = 365) -> dict[str, float]:
    """Generate the lake, time both sides twice, check them, print and return the figures."""
    with tempfile.TemporaryDirectory(prefix="civictwin-disclosure-") as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        readings = generate(root / "lake", meters, days)
        console.print(f"generated {readings:,} readings of {meters:,} meters over {days} days "
                      f"in {time.perf_counter() - start:.1f} s")
        engine = DuckDBEngine(Lake.at(str(root / "lake")))
        engine.con.execute(f"SET temp_directory = '{root / 'duckdb-spill'}'")
        store = open_store(f"sqlite:///{root / 'ledger.db'}")
        end_day = time.strftime("%Y-%m-%d", time.gmtime(1704067200 + days * 86400))
        request = AggregateRequest("", "electricity", ("district",), "month", "2024-01-01",
                                   end_day)
        rules = DisclosureRules(min_contributors=10, hierarchy=("district", "city"))
        params = {"attr": ATTRIBUTES["electricity"][0], "alt": ATTRIBUTES["electricity"][1],
                  "first": "2024-01-01", "last": "9999-12-31", "start_s": 1704067200,
                  "end_s": 1704067200 + days * 86400}
        ours, plain = [], []
        for round_ in range(2):
            began = time.perf_counter()
            baseline = engine.con.execute(BASELINE, params).fetchall()
            plain.append(time.perf_counter() - began)
            began = time.perf_counter()
            release = aggregate(store, request, rules, f"urn:bench:{round_}",
                                source=LakeSource(engine))
            ours.append(time.perf_counter() - began)
            console.print(f"round {round_ + 1}: plain SQL {plain[-1]:.2f} s, "
                          f"disclosure-controlled {ours[-1]:.2f} s")
        sums = {(d, m): kwh for d, m, kwh in baseline}
        released = [c for c in release.cells if c.status == "released"]
        for cell in released:
            expected = sums[(cell.keys["district"], cell.keys["period"])]
            assert abs((cell.value or 0.0) - expected) <= 1e-6 * max(1.0, abs(expected)), cell
        merged = sum(1 for c in release.cells if c.status == "merged")
        suppressed = sum(1 for c in release.cells if c.status == "suppressed")
        console.print(f"{len(release.cells)} cells: {len(released)} released (each equal to "
                      f"the plain sum), {merged} merged, {suppressed} suppressed")
        store.close()
        engine.close()
    ratio = min(plain) / min(ours)
    verdict(f"plain / disclosure-controlled >= {TARGET}", ratio >= TARGET,
            f"{ratio:.2f} (plain {min(plain):.2f} s, ours {min(ours):.2f} s, "
            f"{readings:,} readings)")
    return {"ratio": ratio, "plain": min(plain), "ours": min(ours), "readings": readings}


def main() -> None:
    """Parse the flags and run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--meters", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    figures = run(args.meters, args.days)
    sys.exit(0 if figures["ratio"] >= TARGET else 1)


if __name__ == "__main__":
    main()
