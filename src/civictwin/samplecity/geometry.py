"""Street grid, district partition and projection of the sample city.

Everything is laid out in metres east and north of the centre (lon 4.35, lat 50.85) and
projected to WGS84 at the end with a local equirectangular projection, which is exact enough
for a city a few kilometres wide and keeps axis-parallel shapes axis-parallel. Streets run
along the lines of a grid whose spacing is jittered; district boundaries follow street centre
lines: three bands of districts (south, middle, north) separated by staircase boundaries, each
band cut into districts along north-south streets. So districts tile the city's bounding box
exactly and every block lies in one district.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

CENTRE_LON = 4.35
CENTRE_LAT = 50.85
M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LON = 111_320.0 * math.cos(math.radians(CENTRE_LAT))
BAND_SIZES = (3, 3, 2)  # districts per band, south to north

Point = tuple[float, float]
Ring = list[Point]
Rect = tuple[float, float, float, float]  # x0, y0, x1, y1


def to_lonlat(x: float, y: float) -> list[float]:
    """Project metres east/north of the centre to WGS84 lon/lat rounded to 7 decimals."""
    return [round(CENTRE_LON + x / M_PER_DEG_LON, 7), round(CENTRE_LAT + y / M_PER_DEG_LAT, 7)]


def polygon_geometry(ring: Ring) -> dict[str, Any]:
    """Return the GeoJSON Polygon of a counter-clockwise metric ring (closed on output)."""
    coords = [to_lonlat(x, y) for x, y in ring]
    coords.append(coords[0])
    return {"type": "Polygon", "coordinates": [coords]}


def point_geometry(x: float, y: float) -> dict[str, Any]:
    """Return the GeoJSON Point of a metric position."""
    return {"type": "Point", "coordinates": to_lonlat(x, y)}


def ring_area(ring: Ring) -> float:
    """Return the area of a simple ring in square metres (shoelace formula)."""
    total = 0.0
    for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1], strict=True):
        total += x0 * y1 - x1 * y0
    return abs(total) / 2.0


def ring_centroid(ring: Ring) -> Point:
    """Return the area centroid of a simple ring."""
    area2 = cx = cy = 0.0
    for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1], strict=True):
        cross = x0 * y1 - x1 * y0
        area2 += cross
        cx += (x0 + x1) * cross
        cy += (y0 + y1) * cross
    return cx / (3.0 * area2), cy / (3.0 * area2)


@dataclass(frozen=True)
class StreetGrid:
    """Street centre lines: ``xs`` run north-south, ``ys`` run east-west."""

    xs: tuple[float, ...]
    ys: tuple[float, ...]

    @property
    def columns(self) -> int:
        """Return the number of block columns."""
        return len(self.xs) - 1

    @property
    def rows(self) -> int:
        """Return the number of block rows."""
        return len(self.ys) - 1

    def cell(self, row: int, col: int) -> Rect:
        """Return the cell between four street centre lines."""
        return self.xs[col], self.ys[row], self.xs[col + 1], self.ys[row + 1]


def street_grid(rng: np.random.Generator, columns: int, rows: int) -> StreetGrid:
    """Lay out a street grid with jittered spacing, centred on the origin."""
    xs = np.concatenate([[0.0], np.cumsum(rng.uniform(130.0, 190.0, columns))])
    ys = np.concatenate([[0.0], np.cumsum(rng.uniform(100.0, 150.0, rows))])
    xs -= xs[-1] / 2.0
    ys -= ys[-1] / 2.0
    return StreetGrid(tuple(float(x) for x in xs), tuple(float(y) for y in ys))


@dataclass(frozen=True)
class DistrictLayout:
    """Which district each block cell belongs to, and each district's outline."""

    labels: tuple[tuple[int, ...], ...]  # [row][col] -> district index
    rings: tuple[Ring, ...]


def partition(rng: np.random.Generator, grid: StreetGrid) -> DistrictLayout:
    """Cut the grid into districts: three bands with staircase edges, split by streets."""
    rows, cols = grid.rows, grid.columns
    if rows < 3 or cols < max(BAND_SIZES):
        raise ValueError("the street grid is too small for the districts")
    low = _staircase(rng, cols, rows / 3.0, 1, rows - 2)
    high = [max(h, lo + 1) for h, lo in
            zip(_staircase(rng, cols, 2.0 * rows / 3.0, 2, rows - 1), low, strict=True)]
    bands = [([0] * cols, low), (low, high), (high, [rows] * cols)]
    labels = [[0] * cols for _ in range(rows)]
    rings: list[Ring] = []
    for (bottom, top), size in zip(bands, BAND_SIZES, strict=True):
        cuts = _cuts(rng, cols, size)
        for c0, c1 in itertools.pairwise(cuts):
            index = len(rings)
            for col in range(c0, c1):
                for row in range(bottom[col], top[col]):
                    labels[row][col] = index
            rings.append(_band_ring(grid, bottom, top, c0, c1))
    return DistrictLayout(tuple(tuple(r) for r in labels), tuple(rings))


def _staircase(rng: np.random.Generator, cols: int, start: float, lo: int, hi: int) -> list[int]:
    reach = max(1, round((hi - lo) / 6))
    level = round(start)
    out = []
    for _ in range(cols):
        out.append(min(hi, max(lo, level)))
        step = int(rng.choice(3, p=[0.2, 0.6, 0.2])) - 1
        level = min(round(start) + reach, max(round(start) - reach, level + step))
    return out


def _cuts(rng: np.random.Generator, cols: int, parts: int) -> list[int]:
    cuts = [0]
    for k in range(1, parts):
        ideal = round(cols * k / parts) + int(rng.integers(-1, 2))
        cuts.append(min(cols - (parts - k), max(cuts[-1] + 1, ideal)))
    return [*cuts, cols]


def _band_ring(grid: StreetGrid, bottom: list[int], top: list[int], c0: int, c1: int) -> Ring:
    points: Ring = []
    for col in range(c0, c1):
        points += [(grid.xs[col], grid.ys[bottom[col]]), (grid.xs[col + 1], grid.ys[bottom[col]])]
    for col in range(c1 - 1, c0 - 1, -1):
        points += [(grid.xs[col + 1], grid.ys[top[col]]), (grid.xs[col], grid.ys[top[col]])]
    return _simplify(points)


def _simplify(points: Ring) -> Ring:
    """Drop repeated and collinear vertices of a closed axis-parallel ring."""
    ring = [p for i, p in enumerate(points) if p != points[i - 1]]
    changed = True
    while changed:
        changed = False
        for i in range(len(ring)):
            (ax, ay), (bx, by), (cx, cy) = ring[i - 1], ring[i], ring[(i + 1) % len(ring)]
            if (bx - ax) * (cy - by) - (by - ay) * (cx - bx) == 0:
                del ring[i]
                changed = True
                break
    return ring
