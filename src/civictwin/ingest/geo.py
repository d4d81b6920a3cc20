"""Read GeoJSON features (building footprints and the like) as (feature number, fields)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from civictwin.errors import BadRequestData

GEOMETRY_FIELD = "__geometry__"


def load_features(path: Path) -> list[Any]:
    """Return the features of a GeoJSON FeatureCollection (or of a single Feature)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadRequestData(f"{path}: not GeoJSON ({exc})") from None
    if isinstance(data, dict) and data.get("type") == "FeatureCollection" \
            and isinstance(data.get("features"), list):
        return list(data["features"])
    if isinstance(data, dict) and data.get("type") == "Feature":
        return [data]
    raise BadRequestData(f"{path}: expected a GeoJSON FeatureCollection or Feature")


def feature_rows(features: list[Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (1-based feature number, properties plus `id` and the geometry) per feature."""
    for number, feature in enumerate(features, start=1):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            yield number, {"__error__": "not a GeoJSON Feature"}
            continue
        props = feature.get("properties") or {}
        if not isinstance(props, dict):
            yield number, {"__error__": "feature properties must be an object"}
            continue
        fields: dict[str, Any] = {**props, GEOMETRY_FIELD: feature.get("geometry")}
        if "id" in feature and "id" not in props:
            fields["id"] = feature["id"]
        yield number, fields
