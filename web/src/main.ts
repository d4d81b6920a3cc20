// The civictwin map: buildings coloured by a measure (flat or extruded), district boundaries
// and live sensors, all from the twin's own vector tiles; click or pick from the list to see an
// entity's attributes and history. The dashboard's other views are in views.ts.
import maplibregl from "maplibre-gl";
import type { MapGeoJSONFeature, StyleSpecification } from "maplibre-gl";
import {
  ApiError, apiUrl, followChanges, getJson, ngsiJson, requestHeaders,
  type EntityChange, type MapInfo, type MeasureInfo,
} from "./api";
import { drawChart, type Point } from "./chart";
import { NO_DATA, colourExpression, renderLegend } from "./colours";
import { startViews } from "./views";

const LAYERS = ["buildings", "districts", "sensors"] as const;
const SENSOR_MEASURES = ["pm25", "no2", "temperature"];
const byId = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

interface Selection { layer: string; id: string }

function style(floorHeight: number): StyleSpecification {
  const sources: StyleSpecification["sources"] = {};
  for (const layer of LAYERS) {
    sources[layer] = { type: "vector", tiles: tileUrls(layer), minzoom: 0, maxzoom: 16,
      promoteId: "id", attribution: "civictwin" };
  }
  const selected = ["boolean", ["feature-state", "selected"], false];
  return {
    version: 8,
    sources,
    layers: [
      { id: "background", type: "background", paint: { "background-color": "#dfe6ee" } },
      { id: "districts-fill", type: "fill", source: "districts", "source-layer": "districts",
        paint: { "fill-color": "#ffffff", "fill-opacity": 0.55 } },
      { id: "districts-line", type: "line", source: "districts", "source-layer": "districts",
        paint: { "line-color": "#102a43", "line-width": 2, "line-dasharray": [3, 2] } },
      { id: "buildings-flat", type: "fill", source: "buildings", "source-layer": "buildings",
        paint: { "fill-color": NO_DATA, "fill-outline-color": "#30363d" } },
      { id: "buildings-3d", type: "fill-extrusion", source: "buildings", "source-layer": "buildings",
        layout: { visibility: "none" },
        paint: { "fill-extrusion-color": NO_DATA, "fill-extrusion-opacity": 0.9,
          "fill-extrusion-height": ["*", ["coalesce", ["get", "floorsAboveGround"], 1], floorHeight] } },
      { id: "buildings-selected", type: "line", source: "buildings", "source-layer": "buildings",
        paint: { "line-color": "#ff3d00", "line-width": ["case", selected, 3, 0] } as never },
      { id: "sensors", type: "circle", source: "sensors", "source-layer": "sensors",
        paint: {
          "circle-radius": ["case", ["boolean", ["feature-state", "live"], false], 10, 7],
          "circle-color": ["match", ["get", "type"], "AirQualityObserved", "#cc79a7", "#0072b2"],
          "circle-stroke-color": ["case", selected, "#ff3d00", "#ffffff"],
          "circle-stroke-width": ["case", selected, 4, 2],
        } as never },
    ],
  };
}

class CityMap {
  map!: maplibregl.Map;
  info!: MapInfo;
  measure!: MeasureInfo;
  selection: Selection | null = null;
  live = new Map<string, EntityChange>();
  reloads = new Map<string, number>();
  liveCount = 0;

  async start(): Promise<void> {
    this.info = await getJson<MapInfo>("web/map");
    for (const m of this.info.measures) Object.assign(LABELS, m.categories);
    const [west, south, east, north] = this.info.extent ?? [4.33, 50.83, 4.37, 50.87];
    this.map = new maplibregl.Map({
      container: "map",
      style: style(this.info.floorHeight),
      bounds: [[west, south], [east, north]],
      fitBoundsOptions: { padding: 20 },
      maxPitch: 70,
      attributionControl: false,
      transformRequest: (url) => (url.startsWith(apiUrl("")) ? { url, headers: requestHeaders() } : { url }),
    });
    this.map.addControl(new maplibregl.NavigationControl({ visualizePitch: true }), "top-right");
    this.map.addControl(new maplibregl.ScaleControl({}), "bottom-left");
    this.setupMeasures();
    this.setupLayers();
    this.setupSelection();
    this.map.on("load", () => {
      byId("status").textContent = "Map ready";
      document.body.dataset.mapReady = "true";
    });
    this.map.on("idle", () => this.refreshList());
    followChanges((change) => this.onChange(change), (state) => {
      byId("live-state").textContent = state === "live" ? "Live: following changes to sensors" : `Live stream ${state}`;
      document.body.dataset.live = state;
    });
  }

  /** Refetch a layer's tiles shortly after its entities change (unchanged tiles answer 304). */
  reloadSoon(layer: string): void {
    if (this.reloads.has(layer)) return;
    this.reloads.set(layer, window.setTimeout(() => {
      this.reloads.delete(layer);
      const source = this.map.getSource(layer) as maplibregl.VectorTileSource | undefined;
      source?.setTiles(tileUrls(layer));
    }, 1500));
  }

  setupMeasures(): void {
    const select = byId<HTMLSelectElement>("measure");
    for (const m of this.info.measures) {
      select.add(new Option(m.unit ? `${m.label} (${m.unit})` : m.label, m.name));
    }
    select.addEventListener("change", () => void this.useMeasure(select.value));
    void this.useMeasure(this.info.measures[0].name);
  }

  async useMeasure(name: string): Promise<void> {
    const measure = this.info.measures.find((m) => m.name === name);
    if (!measure) return;
    this.measure = measure;
    byId("measure-source").textContent = `Source: ${measure.source}`;
    let noData = "No data";
    if (measure.valuesUrl) {
      const answer = await getJson<{ values: Record<string, number> }>(`web/${measure.valuesUrl}`);
      const count = Object.keys(answer.values).length;
      for (const [id, value] of Object.entries(answer.values)) {
        this.map.setFeatureState({ source: "buildings", sourceLayer: "buildings", id }, { [measure.name]: value });
      }
      noData = `No data (${count} buildings have readings)`;
    }
    const colour = colourExpression(measure);
    const apply = (): void => {
      this.map.setPaintProperty("buildings-flat", "fill-color", colour);
      this.map.setPaintProperty("buildings-3d", "fill-extrusion-color", colour);
    };
    if (this.map.isStyleLoaded()) apply(); else this.map.once("load", apply);
    renderLegend(byId("legend"), measure, noData);
    byId("status").textContent = `Buildings coloured by ${measure.label.toLowerCase()}`;
  }

  setupLayers(): void {
    const toggle = (id: string, layers: () => string[]): void => {
      const box = byId<HTMLInputElement>(id);
      box.addEventListener("change", () => {
        for (const layer of layers()) {
          this.map.setLayoutProperty(layer, "visibility", box.checked ? "visible" : "none");
        }
        this.refreshList();
      });
    };
    const extrude = byId<HTMLInputElement>("extrude");
    const buildingLayers = (): string[] => {
      const on = byId<HTMLInputElement>("layer-buildings").checked;
      this.map.setLayoutProperty("buildings-flat", "visibility", on && !extrude.checked ? "visible" : "none");
      this.map.setLayoutProperty("buildings-3d", "visibility", on && extrude.checked ? "visible" : "none");
      return ["buildings-selected"];
    };
    toggle("layer-buildings", buildingLayers);
    toggle("layer-districts", () => ["districts-fill", "districts-line"]);
    toggle("layer-sensors", () => ["sensors"]);
    extrude.addEventListener("change", () => {
      buildingLayers();
      this.map.easeTo({ pitch: extrude.checked ? 55 : 0, bearing: extrude.checked ? -20 : 0 });
    });
    byId<HTMLSelectElement>("list-kind").addEventListener("change", () => this.refreshList());
  }

  setupSelection(): void {
    const pickable = ["sensors", "buildings-flat", "buildings-3d"];
    this.map.on("click", (event) => {
      const hit = this.map.queryRenderedFeatures(event.point, {
        layers: pickable.filter((l) => this.map.getLayoutProperty(l, "visibility") !== "none"),
      })[0];
      if (hit) void this.select({ layer: hit.source, id: String(hit.properties.id) });
    });
    for (const layer of pickable) {
      this.map.on("mouseenter", layer, () => { this.map.getCanvas().style.cursor = "pointer"; });
      this.map.on("mouseleave", layer, () => { this.map.getCanvas().style.cursor = ""; });
    }
    byId("details-close").addEventListener("click", () => this.clearSelection());
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.selection) this.clearSelection();
    });
  }

  refreshList(): void {
    if (!this.map.isStyleLoaded()) return;
    const kind = byId<HTMLSelectElement>("list-kind").value;
    const layers = kind === "sensors" ? ["sensors"] : ["buildings-flat", "buildings-3d"];
    const visible = layers.filter((l) => this.map.getLayoutProperty(l, "visibility") !== "none");
    const seen = new Map<string, MapGeoJSONFeature>();
    for (const f of visible.length ? this.map.queryRenderedFeatures({ layers: visible }) : []) {
      seen.set(String(f.properties.id), f);
    }
    const items = [...seen.values()].sort((a, b) => String(a.properties.id).localeCompare(String(b.properties.id), "en", { numeric: true }));
    const list = byId("features");
    const shown = items.slice(0, 60);
    const buttons = shown.map((f) => {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.id = String(f.properties.id);
      button.setAttribute("aria-pressed", String(this.selection?.id === f.properties.id));
      button.textContent = describe(f, this.live.get(String(f.properties.id)));
      button.addEventListener("click", () => void this.select({ layer: f.source, id: String(f.properties.id) }, true));
      li.append(button);
      return li;
    });
    const focused = document.activeElement instanceof HTMLElement ? document.activeElement.dataset.id : undefined;
    list.replaceChildren(...buttons);
    if (focused) list.querySelector<HTMLElement>(`button[data-id="${CSS.escape(focused)}"]`)?.focus();
    byId("features-more").textContent = items.length > shown.length
      ? `${items.length - shown.length} more in view: zoom in to list them.`
      : items.length === 0 ? "None in view (is the layer shown?)." : `${items.length} in view.`;
  }

  async select(selection: Selection, fly = false): Promise<void> {
    if (this.selection) this.setSelected(this.selection, false);
    this.selection = selection;
    this.setSelected(selection, true);
    const panel = byId("details");
    panel.hidden = false;
    this.map.resize();
    byId("details-heading").textContent = selection.id.split(":").slice(2).join(" ");
    const entity = await ngsiJson<Record<string, unknown>>(
      `ngsi-ld/v1/entities/${encodeURIComponent(selection.id)}?options=keyValues`);
    if (this.selection?.id !== selection.id) return;
    if (fly) this.flyTo(entity.location);
    this.showAttributes(entity);
    byId("details-heading").focus();
    await this.showHistory(selection, entity);
    this.refreshList();
  }

  setSelected(selection: Selection, on: boolean): void {
    this.map.setFeatureState({ source: selection.layer, sourceLayer: selection.layer, id: selection.id }, { selected: on });
  }

  clearSelection(): void {
    if (this.selection) this.setSelected(this.selection, false);
    this.selection = null;
    byId("details").hidden = true;
    this.map.resize();
    this.refreshList();
  }

  flyTo(location: unknown): void {
    const geometry = location as { type?: string; coordinates?: unknown } | undefined;
    if (geometry?.type === "Point") {
      this.map.flyTo({ center: geometry.coordinates as [number, number], zoom: Math.max(this.map.getZoom(), 15) });
    } else if (geometry?.type === "Polygon") {
      const ring = (geometry.coordinates as [number, number][][])[0];
      const lons = ring.map((p) => p[0]);
      const lats = ring.map((p) => p[1]);
      this.map.fitBounds([[Math.min(...lons), Math.min(...lats)], [Math.max(...lons), Math.max(...lats)]], { maxZoom: 17, padding: 80 });
    }
  }

  showAttributes(entity: Record<string, unknown>): void {
    const list = byId("details-attrs");
    list.replaceChildren();
    const add = (name: string, value: string): void => {
      const dt = document.createElement("dt");
      dt.textContent = name;
      const dd = document.createElement("dd");
      dd.textContent = value;
      dd.dataset.attr = name;
      list.append(dt, dd);
    };
    add("id", String(entity.id));
    add("type", String(entity.type));
    const live = this.live.get(String(entity.id));
    for (const [name, value] of Object.entries(entity)) {
      if (["id", "type", "location", "@context"].includes(name)) continue;
      const shown = live?.attrs?.[name] ?? value;
      add(name, typeof shown === "object" ? flatten(shown) : String(shown));
    }
    if (this.measure?.valuesUrl && entity.type === "Building") {
      const state = this.map.getFeatureState({ source: "buildings", sourceLayer: "buildings", id: String(entity.id) });
      const value = state[this.measure.name] as number | undefined;
      add(this.measure.label, value === undefined ? "no readings" : `${value} ${this.measure.unit}`);
    }
  }

  async showHistory(selection: Selection, entity: Record<string, unknown>): Promise<void> {
    const host = byId("chart");
    host.textContent = "Loading history…";
    try {
      if (selection.layer === "buildings") await this.buildingHistory(host, selection.id);
      else await this.sensorHistory(host, selection.id, entity);
    } catch (error) {
      host.textContent = `History unavailable: ${String(error)}`;
    }
  }

  async buildingHistory(host: HTMLElement, id: string): Promise<void> {
    const q = encodeURIComponent(`refBuilding=="${id}"`);
    const meters = await ngsiJson<{ id: string }[]>(
      `ngsi-ld/v1/entities?type=SmartMeteringObservation&q=${q}&options=keyValues&attrs=refBuilding&limit=5`);
    byId("chart-heading").textContent = "Electricity by month";
    if (meters.length === 0) {
      drawChart(host, [], "bars", "Electricity by month", "kWh");
      return;
    }
    const answer = await ngsiJson<{ electricityConsumption?: { sum?: [number, string, string][] } }>(
      `ngsi-ld/v1/temporal/entities/${encodeURIComponent(meters[0].id)}?attrs=electricityConsumption&aggrMethods=sum&aggrPeriodDuration=P1M`);
    const points: Point[] = (answer.electricityConsumption?.sum ?? []).map(([v, t]) => ({ t, v }));
    drawChart(host, points.slice(-12), "bars", `Electricity by month, meter ${meters[0].id}`, "kWh");
  }

  async sensorHistory(host: HTMLElement, id: string, entity: Record<string, unknown>): Promise<void> {
    const attr = SENSOR_MEASURES.find((a) => a in entity) ?? "temperature";
    byId("chart-heading").textContent = `History of ${attr}`;
    const answer = await ngsiJson<Record<string, { values?: [number, string][] }>>(
      `ngsi-ld/v1/temporal/entities/${encodeURIComponent(id)}?attrs=${attr}&lastN=48&options=temporalValues`);
    const points = (answer[attr]?.values ?? []).map(([v, t]) => ({ t, v }))
      .sort((a, b) => a.t.localeCompare(b.t));
    drawChart(host, points, "line", `History of ${attr}`, "");
  }

  onChange(change: EntityChange): void {
    if (change.type !== "AirQualityObserved" && change.type !== "WeatherObserved") {
      this.reloadSoon(change.type === "Building" ? "buildings" : "districts");
      if (this.selection?.id === change.id && !change.deleted) void this.select(this.selection);
      return;
    }
    this.liveCount += 1;
    this.live.set(change.id, change);
    const target = { source: "sensors", sourceLayer: "sensors", id: change.id };
    this.map.setFeatureState(target, { live: true });
    window.setTimeout(() => this.map.setFeatureState(target, { live: false }), 4000);
    const log = byId("live-log");
    const item = document.createElement("li");
    const values = Object.entries(change.attrs ?? {})
      .filter(([k]) => SENSOR_MEASURES.includes(k) || k === "pm10" || k === "o3")
      .map(([k, v]) => `${k} ${v}`).join(", ");
    item.textContent = `${change.id.split(":").slice(2).join(" ")}: ${change.deleted ? "removed" : values}`;
    item.dataset.id = change.id;
    log.prepend(item);
    while (log.children.length > 8) log.lastElementChild?.remove();
    document.body.dataset.liveCount = String(this.liveCount);
    if (this.selection?.id === change.id) void this.select(this.selection);
    this.refreshList();
  }
}

/** Plain-language labels of category values (heating types), from the measures. */
const LABELS: Record<string, string> = {};

function label(value: unknown): string {
  return LABELS[String(value)] ?? String(value);
}

function tileUrls(layer: string): string[] {
  return [decodeURI(apiUrl(`tiles/${layer}/{z}/{x}/{y}.mvt`))];
}

function describe(feature: MapGeoJSONFeature, live: EntityChange | undefined): string {
  const p = { ...feature.properties, ...(live?.attrs ?? {}) } as Record<string, unknown>;
  const short = String(p.id).split(":").slice(2).join(" ");
  if (feature.source === "sensors") {
    const reading = SENSOR_MEASURES.filter((k) => p[k] !== undefined).map((k) => `${k} ${p[k]}`).join(", ");
    return `${p.name ?? short} — ${reading}`;
  }
  const facts = [p.yearBuilt ? `built ${p.yearBuilt}` : "", p.floorsAboveGround ? `${p.floorsAboveGround} floors` : "", p.heatingType ? label(p.heatingType) : ""]
    .filter(Boolean).join(", ");
  return `${short} — ${facts}`;
}

function flatten(value: unknown): string {
  if (Array.isArray(value)) return value.map(flatten).join(", ");
  if (value && typeof value === "object") {
    const v = value as Record<string, unknown>;
    if ("@value" in v) return String(v["@value"]);
    return Object.entries(v).map(([k, x]) => `${k}: ${flatten(x)}`).join("; ");
  }
  return String(value);
}

const app = new CityMap();
(window as unknown as { civictwinMap: CityMap }).civictwinMap = app;
// The map starts the first time its view is shown (and is resized each time it comes back).
window.addEventListener("civictwin:map-shown", () => app.map?.resize());
startViews(async () => {
  byId("status").textContent = "Loading the map…";
  try {
    await app.start();
  } catch (error: unknown) {
    const hint = error instanceof ApiError && error.status === 401 ? " Sign in to see it." : "";
    byId("status").textContent = `The map could not start: ${error instanceof Error ? error.message : String(error)}.${hint}`;
    document.body.dataset.mapError = String(error);
    throw error;
  }
});
