"""Building lots and footprints inside the street blocks.

A block is the cell between four street centre lines, shrunk by half a street and a pavement.
Most blocks are European perimeter blocks: a ring of narrow lots along the four streets around a
courtyard (the north and south rows run the full width, the east and west rows fit between
them). Some blocks hold a few large buildings (schools, halls, office slabs) and some are parks.
Each footprint is inset at least half a metre inside its lot, so neighbours never touch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from civictwin.samplecity.districts import PROFILES, DistrictProfile
from civictwin.samplecity.geometry import DistrictLayout, Rect, Ring, StreetGrid

BLOCK_INSET = 8.0  # street centre line to building line, metres
SIDE_GAP = 0.5  # footprint inset from the lot's side boundaries, metres
STREETS = ("h", "v")  # east-west streets are indexed by row line, north-south by column line


@dataclass(frozen=True)
class Lot:
    """A footprint on a lot, with the street it faces."""

    district: int
    ring: Ring  # counter-clockwise, metres
    front: str  # side of the lot that faces the street: N, S, E or W
    street: tuple[str, int]  # ("h", row line) or ("v", column line)
    along: float  # position along that street, for house numbering
    use: str | None  # the use a large block imposes, else None


def block_lots(rng: np.random.Generator, grid: StreetGrid, layout: DistrictLayout) -> list[Lot]:
    """Return the lots of every block, row by row from the south-west."""
    lots: list[Lot] = []
    for row in range(grid.rows):
        for col in range(grid.columns):
            district = layout.labels[row][col]
            profile = PROFILES[district]
            x0, y0, x1, y1 = grid.cell(row, col)
            rect = (x0 + BLOCK_INSET, y0 + BLOCK_INSET, x1 - BLOCK_INSET, y1 - BLOCK_INSET)
            draw = float(rng.random())
            if draw < profile.park_share:
                continue
            if draw < profile.park_share + profile.large_block[0]:
                lots += _large_lots(rng, rect, district, profile.large_block[1], row)
            else:
                lots += _perimeter_lots(rng, rect, district, profile, (row, col))
    return lots


def _perimeter_lots(
    rng: np.random.Generator, rect: Rect, district: int, profile: DistrictProfile,
    cell: tuple[int, int],
) -> list[Lot]:
    x0, y0, x1, y1 = rect
    row, col = cell
    d_n, d_s, d_w, d_e = (float(d) for d in rng.uniform(13.0, 21.0, 4))
    lots = []
    for a, b in _segments(rng, x0, x1, profile.frontage):
        lots.append(_house(rng, (a, y1 - d_n, b, y1), "N", district, ("h", row + 1)))
    for a, b in _segments(rng, x0, x1, profile.frontage):
        lots.append(_house(rng, (a, y0, b, y0 + d_s), "S", district, ("h", row)))
    for a, b in _segments(rng, y0 + d_s, y1 - d_n, profile.frontage):
        lots.append(_house(rng, (x0, a, x0 + d_w, b), "W", district, ("v", col)))
    for a, b in _segments(rng, y0 + d_s, y1 - d_n, profile.frontage):
        lots.append(_house(rng, (x1 - d_e, a, x1, b), "E", district, ("v", col + 1)))
    return lots


def _segments(
    rng: np.random.Generator, start: float, end: float, width: tuple[float, float]
) -> list[tuple[float, float]]:
    """Split a street frontage into lot widths drawn from a range."""
    lo, hi = width
    cuts = [start]
    while end - cuts[-1] > hi:
        cuts.append(cuts[-1] + float(rng.uniform(lo, hi)))
    if end - cuts[-1] < lo and len(cuts) > 1:
        cuts.pop()
    if end - cuts[-1] < 5.0:
        return []
    return list(zip(cuts, [*cuts[1:], end], strict=True))


_REAR = {"N": ("SW", "SE"), "S": ("NW", "NE"), "W": ("NE", "SE"), "E": ("NW", "SW")}


def _house(
    rng: np.random.Generator, lot: Rect, front: str, district: int, street: tuple[str, int]
) -> Lot:
    """Place a house on a street lot: inset at the sides, set back at the rear, maybe an L."""
    x0, y0, x1, y1 = lot
    rear = SIDE_GAP + float(rng.uniform(0.0, 3.0))
    insets = {"N": (SIDE_GAP, rear, SIDE_GAP, SIDE_GAP), "S": (SIDE_GAP, SIDE_GAP, SIDE_GAP, rear),
              "W": (SIDE_GAP, SIDE_GAP, rear, SIDE_GAP), "E": (rear, SIDE_GAP, SIDE_GAP, SIDE_GAP)}
    left, bottom, right, top = insets[front]
    rect = (x0 + left, y0 + bottom, x1 - right, y1 - top)
    ring = _rect_ring(rect)
    dx, dy = rect[2] - rect[0], rect[3] - rect[1]
    if min(dx, dy) >= 9.0 and rng.random() < 0.25:
        corner = _REAR[front][int(rng.integers(0, 2))]
        ring = _l_ring(rect, corner, dx * float(rng.uniform(0.35, 0.55)),
                       dy * float(rng.uniform(0.35, 0.55)))
    along = (x0 + x1) / 2.0 if street[0] == "h" else (y0 + y1) / 2.0
    return Lot(district, ring, front, street, along, None)


def _large_lots(
    rng: np.random.Generator, rect: Rect, district: int, use: str, row: int
) -> list[Lot]:
    """Split a block into two to six large lots, each with one big building."""
    x0, y0, x1, y1 = rect
    nx, ny = int(rng.integers(1, 4)), int(rng.integers(1, 3))
    if nx * ny == 1:
        nx = 2
    xs = np.linspace(x0, x1, nx + 1)
    ys = np.linspace(y0, y1, ny + 1)
    lots = []
    for j in range(ny):
        for i in range(nx):
            setback = [float(s) for s in rng.uniform(3.0, 9.0, 4)]
            inner = (float(xs[i]) + setback[0], float(ys[j]) + setback[1],
                     float(xs[i + 1]) - setback[2], float(ys[j + 1]) - setback[3])
            ring = _rect_ring(inner)
            if rng.random() < 0.3:
                corner = ("NE", "NW", "SE", "SW")[int(rng.integers(0, 4))]
                ring = _l_ring(inner, corner, (inner[2] - inner[0]) * float(rng.uniform(0.3, 0.5)),
                               (inner[3] - inner[1]) * float(rng.uniform(0.3, 0.5)))
            front = "S" if j == 0 else "N"
            street = ("h", row) if j == 0 else ("h", row + 1)
            lots.append(Lot(district, ring, front, street, (inner[0] + inner[2]) / 2.0, use))
    return lots


def _rect_ring(rect: Rect) -> Ring:
    x0, y0, x1, y1 = rect
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def _l_ring(rect: Rect, corner: str, wx: float, wy: float) -> Ring:
    """Return a counter-clockwise L-shape: the rectangle less a notch at one corner."""
    x0, y0, x1, y1 = rect
    if corner == "NE":
        return [(x0, y0), (x1, y0), (x1, y1 - wy), (x1 - wx, y1 - wy), (x1 - wx, y1), (x0, y1)]
    if corner == "NW":
        return [(x0, y0), (x1, y0), (x1, y1), (x0 + wx, y1), (x0 + wx, y1 - wy), (x0, y1 - wy)]
    if corner == "SE":
        return [(x0, y0), (x1 - wx, y0), (x1 - wx, y0 + wy), (x1, y0 + wy), (x1, y1), (x0, y1)]
    return [(x0 + wx, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0 + wy), (x0 + wx, y0 + wy)]
