"""What both benchmarks share: a seeded city of Building entities and throw-away databases.

The city is a 10 x 10 km square around lon 4.35, lat 50.85. Each building is a rotated
rectangle (a closed 5-position ring) with eight attributes in normalized form: numbers, strings,
a JSON address, a footprint GeoProperty, a Relationship, unitCode and observedAt.
"""

from __future__ import annotations

import gc
import importlib.util
import math
import os
import random
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from rich.console import Console

CENTRE_LON = 4.35
CENTRE_LAT = 50.85
HALF_SIZE_M = 5_000.0
M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LON = 111_320.0 * math.cos(math.radians(CENTRE_LAT))
TENANT = ""
DATABASE_URL_VAR = "CIVICTWIN_TEST_DATABASE_URL"
ROOT = Path(__file__).resolve().parent.parent

USES = (("residential",) * 5 + ("commercial", "office", "industrial", "public"))
HEATING = ("gasBoiler", "oilBoiler", "districtHeating", "heatPump", "electric", "biomass")
STREETS = ("Rue Haute", "Avenue Louise", "Chaussée de Wavre", "Boulevard Anspach",
           "Rue Neuve", "Avenue de Tervueren", "Rue Royale", "Chaussée d'Ixelles")

console = Console()


def lonlat(x: float, y: float) -> list[float]:
    """Project metres east/north of the centre to [lon, lat] rounded to 7 decimals."""
    return [round(CENTRE_LON + x / M_PER_DEG_LON, 7), round(CENTRE_LAT + y / M_PER_DEG_LAT, 7)]


def building_body(rng: random.Random, number: int) -> dict[str, Any]:
    """Return one Building entity in normalized form."""
    x = rng.uniform(-HALF_SIZE_M, HALF_SIZE_M)
    y = rng.uniform(-HALF_SIZE_M, HALF_SIZE_M)
    width, depth = rng.uniform(8.0, 30.0), rng.uniform(8.0, 25.0)
    angle = rng.uniform(0.0, math.pi)
    cos, sin = math.cos(angle), math.sin(angle)
    corners = [(-width / 2, -depth / 2), (width / 2, -depth / 2), (width / 2, depth / 2),
               (-width / 2, depth / 2)]
    ring = [lonlat(x + cx * cos - cy * sin, y + cx * sin + cy * cos) for cx, cy in corners]
    use = rng.choice(USES)
    category = ["residential", "commercial"] if use == "residential" and rng.random() < 0.2 \
        else [use]
    floors = rng.randint(1, 12)
    district = 1 + int((x + HALF_SIZE_M) // 2500) + 4 * int((y + HALF_SIZE_M) // 2500)
    month = rng.randint(1, 12)
    street = rng.choice(STREETS)
    house = rng.randint(1, 250)
    return {
        "id": f"urn:ngsi-ld:Building:bench:{number}",
        "type": "Building",
        "category": {"type": "Property", "value": category},
        "address": {"type": "Property", "value": {
            "streetAddress": f"{street} {house}", "postalCode": f"10{district:02d}",
            "addressLocality": "Lumen"}},
        "location": {"type": "GeoProperty",
                     "value": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}},
        "floorsAboveGround": {"type": "Property", "value": floors},
        "floorArea": {"type": "Property", "value": round(width * depth * floors, 1),
                      "unitCode": "MTK"},
        "heatingType": {"type": "Property", "value": rng.choice(HEATING)},
        "energyUse": {"type": "Property", "value": round(rng.uniform(5e3, 9e5), 1),
                      "unitCode": "KWH", "observedAt": f"2025-{month:02d}-01T00:00:00Z"},
        "refCityDistrict": {"type": "Relationship",
                            "object": f"urn:ngsi-ld:CityDistrict:bench:{district}"},
    }


def buildings(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """Return `count` Building entities, the same for the same seed."""
    rng = random.Random(seed)
    return [building_body(rng, n) for n in range(1, count + 1)]


def random_points(count: int, seed: int = 11) -> list[tuple[float, float]]:
    """Return `count` (lon, lat) positions spread over the city."""
    rng = random.Random(seed)
    points = []
    for _ in range(count):
        lon, lat = lonlat(rng.uniform(-HALF_SIZE_M, HALF_SIZE_M),
                          rng.uniform(-HALF_SIZE_M, HALF_SIZE_M))
        points.append((lon, lat))
    return points


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    """Yield consecutive slices of `items` of at most `size`."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


# -- throw-away databases ---------------------------------------------------------------------

def postgres_base_url(given: str | None) -> str | None:
    """Return the PostgreSQL server to benchmark on: --database-url, else the test variable."""
    url = given or os.environ.get(DATABASE_URL_VAR) or None
    if url is not None and not url.startswith("postgresql"):
        raise SystemExit(f"--database-url {url!r}: expected postgresql://...")
    return url


def _services() -> ModuleType:
    """Load tests/services.py by path (tests/ is not a package)."""
    spec = importlib.util.spec_from_file_location("civictwin_test_services",
                                                  ROOT / "tests" / "services.py")
    if spec is None or spec.loader is None:
        raise RuntimeError("cannot load tests/services.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Database:
    """A fresh, empty database: its SQLAlchemy URL and what a raw driver connects to."""

    dialect: str  # "sqlite" or "postgresql"
    url: str
    raw: str  # a file path for sqlite3, a libpq URL for psycopg


@contextmanager
def fresh_database(dialect: str, postgres_url: str | None = None) -> Iterator[Database]:
    """Create an empty database for one measurement and remove it afterwards."""
    if dialect == "sqlite":
        with tempfile.TemporaryDirectory(prefix="civictwin-bench-") as directory:
            path = Path(directory) / "bench.db"
            yield Database("sqlite", f"sqlite:///{path}", str(path))
        return
    if postgres_url is None:
        raise ValueError("a PostgreSQL benchmark needs a server URL")
    services = _services()
    url = services.fresh_postgres_database(postgres_url)
    try:
        yield Database("postgresql", url, services._libpq_url(url))
    finally:
        services.drop_postgres_database(url)


def sqlite_connect(path: str) -> sqlite3.Connection:
    """Open a raw sqlite3 connection with the pragmas the SQLite store sets on its own."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON",
                   "busy_timeout=30000", "cache_size=-65536"):
        conn.execute(f"PRAGMA {pragma}")
    return conn


@contextmanager
def quiet_heap() -> Iterator[None]:
    """Move what exists now out of the garbage collector's sight while measuring.

    The benchmark keeps all its input in memory (a server would not); without this, full
    collections walking that input would be charged to whichever side runs.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def verdict(label: str, ok: bool, detail: str) -> None:
    """Print one PASS/FAIL line for a target."""
    mark = "[bold green]PASS[/]" if ok else "[bold red]FAIL[/]"
    console.print(f"{mark} {label}: {detail}")
