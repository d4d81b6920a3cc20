"""The web map over HTTP: vector tiles, measures, live events and the built page (HTTP only)."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.responses import StreamingResponse

from civictwin.errors import BadRequestData, ResourceNotFound
from civictwin.ngsild.http import tenant_of
from civictwin.ngsild.jsonld import CIVICTWIN_CONTEXT_URL, Context
from civictwin.store import Store
from civictwin.store.tiles import TileLayer, extent, render_tile
from civictwin.web.events import ChangeFeed
from civictwin.web.layers import FLOOR_HEIGHT_M, MEASURES, measure, tile_layers
from civictwin.web.tilecache import TileCache

router = APIRouter(tags=["Web map"])
STATIC = Path(__file__).parent / "static"
MVT = "application/vnd.mapbox-vector-tile"
VALUES_TTL_SECONDS = 60.0
BUILD_HINT = ("The web map is not built. Build it with `scripts/demo` (or `scripts/test`), or "
              "by hand: `cd web && npm ci && npm run build`.")
TenantDep = Annotated[str, Depends(tenant_of)]
_MAKING = threading.Lock()


class WebMap:
    """What the web routes share on one app: layers, the change feed, cached measure values."""

    def __init__(self, store: Store, ctx: Context) -> None:
        self.store = store
        self.layers = tile_layers(ctx)
        self.ctx = ctx
        types = [t for layer in self.layers.values() for t in layer.type_names.values()]
        self.feed = ChangeFeed(store, ctx, types)
        self.tiles = TileCache()
        self.feed.on_publish(lambda tenant, _change: self.tiles.clear_tenant(tenant))
        self._values: dict[tuple[str, str], tuple[float, Mapping[str, float]]] = {}

    def layer(self, name: str) -> TileLayer:
        """Return the tile layer called `name`."""
        found = self.layers.get(name)
        if found is None:
            raise ResourceNotFound(f"no tile layer {name!r}; known: {', '.join(self.layers)}")
        return found

    def tile(self, tenant: str, layer: str, z: int, x: int, y: int) -> tuple[bytes, str]:
        """Return one encoded tile and its ETag, from the cache when fresh."""
        key = (tenant, layer, z, x, y)
        found = self.tiles.get(key)
        if found is None:
            generation = self.tiles.generation(tenant)
            data = render_tile(self.store, tenant, self.layer(layer), z, x, y)
            found = data, '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
            self.tiles.put(key, *found, generation)
        return found

    def values(self, name: str, tenant: str) -> Mapping[str, float]:
        """Return a computed measure's values by entity id, cached for a minute."""
        found = measure(name)
        if found.values is None:
            raise BadRequestData(f"measure {name!r} is carried by the tiles "
                                 f"(property {found.tile_property!r}), not computed")
        key = (name, tenant)
        cached = self._values.get(key)
        if cached is not None and time.monotonic() - cached[0] < VALUES_TTL_SECONDS:
            return cached[1]
        values = found.values(self.store, tenant, self.ctx)
        self._values[key] = (time.monotonic(), values)
        return values


def web_map(request: Request) -> WebMap:
    """Return the app's WebMap, made on first use."""
    state = request.app.state
    with _MAKING:
        found: WebMap | None = getattr(state, "web_map", None)
        if found is None:
            found = WebMap(state.store, state.broker.context(CIVICTWIN_CONTEXT_URL))
            state.web_map = found
    return found


WebMapDep = Annotated[WebMap, Depends(web_map)]


@router.get("/tiles/{layer}/{z}/{x}/{y}.mvt", response_class=Response,
            responses={200: {"content": {MVT: {}}}})
def tile(layer: str, z: int, x: int, y: int, request: Request, tenant: TenantDep,
         web: WebMapDep) -> Response:
    """Return a Mapbox vector tile of one layer (buildings, districts or sensors)."""
    data, etag = web.tile(tenant, layer, z, x, y)
    headers = {"ETag": etag, "Cache-Control": "no-cache", "Vary": "NGSILD-Tenant"}
    if etag in _etags(request.headers.get("If-None-Match", "")):
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=MVT, headers=headers)


def _etags(header: str) -> set[str]:
    return {t.strip().removeprefix("W/") for t in header.split(",") if t.strip()}


@router.get("/web/map")
def map_info(tenant: TenantDep, web: WebMapDep) -> JSONResponse:
    """Describe the map: its measures with their legends, layers and the city's extent."""
    return JSONResponse({"measures": [m.describe() for m in MEASURES.values()],
                         "floorHeight": FLOOR_HEIGHT_M, "layers": list(web.layers),
                         "extent": extent(web.store, tenant, web.layers["buildings"].geoproperty)},
                        headers={"Cache-Control": "no-cache"})


@router.get("/web/measures/{name}/values")
def measure_values(name: str, tenant: TenantDep, web: WebMapDep) -> JSONResponse:
    """Return a computed measure's values by building id."""
    return JSONResponse({"measure": name, "values": dict(web.values(name, tenant))},
                        headers={"Cache-Control": "no-cache"})


@router.get("/web/events")
async def events(request: Request, tenant: TenantDep, web: WebMapDep) -> StreamingResponse:
    """Stream committed changes to the map's entities as server-sent events."""
    last = request.headers.get("Last-Event-ID", "")
    last_id = int(last) if last.isascii() and last.isdigit() else None
    return StreamingResponse(web.feed.stream(tenant, last_id), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/web", include_in_schema=False)
def web_root() -> RedirectResponse:
    """Send /web to the map page."""
    return RedirectResponse("/web/", status_code=308)


@router.api_route("/web/", methods=["GET", "HEAD"], include_in_schema=False,
                  response_model=None)
def page() -> Response:
    """Serve the map page, or say how to build it."""
    return asset("index.html")


@router.api_route("/web/static/{path:path}", methods=["GET", "HEAD"], include_in_schema=False,
                  response_model=None)
def asset(path: str) -> Response:
    """Serve one built asset of the map."""
    index = STATIC / "index.html"
    if not index.is_file():
        return _not_built()
    target = (STATIC / path).resolve()
    if not target.is_relative_to(STATIC.resolve()) or not target.is_file():
        raise ResourceNotFound(f"no web asset {path!r}")
    return FileResponse(target, headers={"Cache-Control": "no-cache"})


def _not_built() -> Response:
    html = ("<!doctype html><html lang=en><meta charset=utf-8>"
            "<title>civictwin map not built</title>"
            f"<h1>The web map is not built</h1><p>{BUILD_HINT}</p></html>")
    return Response(html, status_code=503, media_type="text/html")
