"""Street names and house numbers for the sample city."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from civictwin.samplecity.lots import Lot

_STEMS = (
    "Kerk", "Molen", "Linden", "Beuken", "Eiken", "Bloemen", "Zonne", "Hof", "Markt", "Brug",
    "Vaart", "Haven", "Kasteel", "Klooster", "School", "Wind", "Berg", "Vijver", "Rozen",
    "Lelie", "Tulpen", "Akker", "Weide", "Veld", "Bos", "Beek", "Spoor", "Station", "Post",
    "Smids", "Bakkers", "Brouwers", "Wevers", "Vissers", "Kapel", "Abdij", "Poort", "Toren",
    "Hoven", "Wilgen", "Populieren", "Kastanje", "Meersen", "Duiven", "Zwanen", "Leeuwerik",
    "Kouter", "Gilde",
)
_EAST_WEST = ("straat", "straat", "weg", "kaai")
_NORTH_SOUTH = ("laan", "laan", "dreef", "steenweg")


def street_names(rng: np.random.Generator, rows: int, columns: int) -> dict[tuple[str, int], str]:
    """Name every street line: east-west lines ("h", i) and north-south lines ("v", j)."""
    keys = [("h", i) for i in range(rows + 1)] + [("v", j) for j in range(columns + 1)]
    stems = [_STEMS[int(k)] for k in rng.permutation(len(_STEMS))]
    names: dict[tuple[str, int], str] = {}
    for n, key in enumerate(keys):
        suffixes = _EAST_WEST if key[0] == "h" else _NORTH_SOUTH
        name = stems[n % len(stems)] + suffixes[int(rng.integers(0, len(suffixes)))]
        round_ = n // len(stems)  # a stem is reused only once every stem has been used
        if round_ == 1:
            name = f"Nieuwe {name}"
        elif round_ > 1:
            name = f"{name} {round_}"
        names[key] = name
    return names


def house_numbers(lots: Sequence[Lot]) -> list[int]:
    """Number lots along each street: odd on one side, even on the other, rising east/north."""
    sides: dict[tuple[tuple[str, int], bool], list[int]] = defaultdict(list)
    for i, lot in enumerate(lots):
        sides[(lot.street, lot.front in ("N", "E"))].append(i)
    numbers = [0] * len(lots)
    for (_, even), members in sides.items():
        members.sort(key=lambda i: lots[i].along)
        for rank, i in enumerate(members):
            numbers[i] = 2 * rank + (2 if even else 1)
    return numbers
