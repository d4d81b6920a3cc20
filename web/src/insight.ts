// The climate dashboard: indicator cards, the GHG inventory and its trajectory, scenarios
// compared, forecasts against what was measured. Everything comes from /insight/... .
import { getJson, ngsiJson } from "./api";
import { COLOURS, barChart, lineChart } from "./charts";
import { badge, facts, fmt, h, loading, ready, refused, table } from "./dom";

interface Indicator {
  id: string; name: string; iso: string | null; isoConfirmed: boolean; isoSource?: string | null; standard?: string;
  unit: string; value: number | null; period: string; district: string | null;
  series: { period: string; value: number | null }[];
  grade: { coverage: unknown; timeliness: unknown; method: unknown; overall: unknown } | null;
  datasets: string[]; formula: string; note?: string;
}

interface Ghg {
  year: string; total_tco2e: number; per_capita_tco2e?: number | null; years?: string[];
  sectors: { sector: string; scope: string; tco2e: number | null; gpcRef?: string; notation?: string | null }[];
  trajectory: { year: string | number; actual: number | null; target: number | null }[];
  factors: { version: string; sources?: string[] };
}

interface ScenarioYear { year: number; energy_mwh: number; tco2e: number; cost_eur: number }
interface Scenario { id: string; name: string; description?: string; assumptions: Record<string, unknown>; years?: ScenarioYear[] }

interface Forecast {
  entity: string; kind?: string; model: string; mape: number | null; actualMape?: number | null;
  points: { time: string; forecast: number; actual: number | null }[];
}

function query(params: Record<string, string>): string {
  const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v)).toString();
  return q ? `?${q}` : "";
}

interface Indicators { indicators: Indicator[] }

/** The indicators of the latest year, or of the latest month (found from the months' series). */
async function latest(by: string, district: string): Promise<Indicators> {
  const yearly = await getJson<Indicators>(`insight/indicators${query({ district })}`);
  if (by !== "month" || !yearly.indicators.length) return yearly;
  const year = yearly.indicators.map((i) => i.period).sort().pop() ?? "";
  const probe = await getJson<Indicators>(`insight/indicators${query({ district, period: `${year}-01` })}`);
  const months = probe.indicators.flatMap((i) => i.series.map((p) => p.period)).sort();
  const last = months.pop();
  return last ? getJson<Indicators>(`insight/indicators${query({ district, period: last })}`) : probe;
}

export async function indicatorsView(host: HTMLElement): Promise<void> {
  loading(host, "the city's indicators");
  try {
    const districts = await ngsiJson<{ id: string; name?: string }[]>(
      "ngsi-ld/v1/entities?type=CityDistrict&attrs=name&options=keyValues&limit=100").catch(() => []);
    const by = h("select", { id: "indicator-period" }, h("option", { value: "year" }, "year"), h("option", { value: "month" }, "month"));
    const area = h("select", { id: "indicator-district" }, h("option", { value: "" }, "the whole city"),
      ...districts.map((d) => h("option", { value: d.id }, d.name ?? d.id)));
    const cards = h("div", { id: "indicator-cards" });
    const draw = async (): Promise<void> => {
      loading(cards, "the indicators");
      try {
        const answer = await latest(by.value, area.value);
        if (!answer.indicators.length) {
          ready(cards, h("p", { class: "hint" }, "No indicators are published for this choice: run `civictwin lake export`, then `civictwin indicators`."));
          return;
        }
        ready(cards, h("div", { class: "cards" }, ...answer.indicators.map(card)));
      } catch (error) {
        refused(cards, error);
      }
    };
    by.addEventListener("change", () => void draw());
    area.addEventListener("change", () => void draw());
    const first = await latest("year", "");
    ready(host, h("div", { class: "toolbar" }, h("label", { for: "indicator-period" }, "Latest"), by,
      h("label", { for: "indicator-district" }, "of"), area), cards);
    ready(cards, first.indicators.length ? h("div", { class: "cards" }, ...first.indicators.map(card))
      : h("p", { class: "hint" }, "No indicators are published yet: run `civictwin lake export`, then `civictwin indicators`."));
  } catch (error) {
    refused(host, error);
  }
}

function card(ind: Indicator): HTMLElement {
  const labels = ind.series.map((p) => p.period);
  const chart = labels.length > 1 ? h("div", { class: "spark" }) : null;
  if (chart) {
    lineChart(chart, { title: `${ind.name}, trend`, unit: ind.unit, labels, compact: true,
      width: 240, height: 60, series: [{ name: ind.name, colour: COLOURS[0], values: ind.series.map((p) => p.value) }] });
  }
  const iso = h("p", { class: "iso" }, ind.iso
    ? `${ind.iso}${ind.isoConfirmed ? "" : " (clause not yet confirmed)"}`
    : ind.standard ? `${ind.standard}; clause not yet confirmed` : "No ISO reference");
  if (ind.isoSource) iso.title = `Confirmed by ${ind.isoSource}`;
  const trend = ind.series.length > 1
    ? `${ind.series.length} periods, ${labels[0]} to ${labels[labels.length - 1]}` : "one period so far";
  return h("article", { class: "card", "data-indicator": ind.id, "aria-labelledby": `ind-${ind.id}` },
    h("h3", { id: `ind-${ind.id}` }, ind.name),
    h("p", { class: "value" },
      h("data", { value: ind.value ?? "", "data-raw": ind.value ?? "" }, fmt(ind.value)), " ",
      h("span", { class: "unit" }, ind.unit)),
    h("p", { class: "hint" }, `${ind.period}${ind.district ? `, ${ind.district}` : ", whole city"} · ${trend}`),
    chart, iso,
    ind.grade ? h("p", { class: "hint" }, `Data quality: ${String(ind.grade.overall)}`) : null,
    ind.note ? h("p", { class: "hint note" }, ind.note) : null,
    h("details", {}, h("summary", {}, "How it is computed"),
      h("p", {}, ind.formula),
      ind.datasets.length ? h("p", { class: "hint" }, `From: ${ind.datasets.join(", ")}`) : null));
}

export async function climateView(host: HTMLElement, year = ""): Promise<void> {
  loading(host, "the greenhouse gas inventory");
  try {
    const ghg = await getJson<Ghg>(`insight/ghg${query({ year })}`);
    const bars = ghg.sectors.filter((s) => s.tco2e !== null)
      .sort((a, b) => (b.tco2e ?? 0) - (a.tco2e ?? 0))
      .map((s) => ({ label: `Scope ${s.scope}: ${s.sector}`, value: s.tco2e ?? 0, note: `scope ${s.scope}${s.gpcRef ? `, GPC ${s.gpcRef}` : ""}` }));
    const sectors = h("div", { id: "ghg-sectors" });
    barChart(sectors, `Emissions by sector, ${ghg.year}`, "t CO2e", bars);
    const trajectory = h("div", { id: "ghg-trajectory" });
    lineChart(trajectory, { title: "Emissions against the target", unit: "t CO2e",
      labels: ghg.trajectory.map((p) => String(p.year)),
      series: [{ name: "Actual", colour: COLOURS[0], values: ghg.trajectory.map((p) => p.actual) },
        { name: "Target", colour: COLOURS[1], dashed: true, values: ghg.trajectory.map((p) => p.target) }] });
    const years = ghg.years ?? [ghg.year];
    const select = h("select", { id: "ghg-year" }, ...years.map((y) => h("option", { value: y, selected: y === ghg.year }, y)));
    select.addEventListener("change", () => void climateView(host, select.value));
    const unreported = ghg.sectors.filter((s) => s.tco2e === null).map((s) => `${s.sector} (${s.notation ?? "NE"})`);
    ready(host,
      h("div", { class: "toolbar" }, h("label", { for: "ghg-year" }, "Inventory year"), select),
      h("p", { class: "headline" }, h("data", { value: ghg.total_tco2e, id: "ghg-total" }, fmt(ghg.total_tco2e)),
        " t CO2e in ", ghg.year,
        ghg.per_capita_tco2e ? ` · ${fmt(ghg.per_capita_tco2e)} t per person` : ""),
      h("section", { "aria-labelledby": "ghg-sectors-h" }, h("h3", { id: "ghg-sectors-h" }, "Inventory by sector (GPC BASIC)"), sectors,
        unreported.length ? h("p", { class: "hint" }, `Not estimated: ${unreported.join(", ")}.`) : null),
      h("section", { "aria-labelledby": "ghg-traj-h" }, h("h3", { id: "ghg-traj-h" }, "Trajectory and target"), trajectory),
      h("p", { class: "hint" }, `Emission factors: version ${ghg.factors.version}${ghg.factors.sources?.length ? `; ${ghg.factors.sources.join("; ")}` : ""}.`));
  } catch (error) {
    refused(host, error);
  }
}

export async function scenariosView(host: HTMLElement): Promise<void> {
  loading(host, "the scenarios");
  try {
    const { scenarios } = await getJson<{ scenarios: Scenario[] }>("insight/scenarios");
    if (scenarios.length === 0) {
      ready(host, h("p", { class: "hint" }, "No saved scenarios: run `civictwin scenario run FILE.toml`."));
      return;
    }
    const pick = (id: string, chosen: string): HTMLSelectElement => h("select", { id },
      ...scenarios.map((s) => h("option", { value: s.id, selected: s.id === chosen }, s.name)));
    const first = pick("scenario-a", scenarios[0].id);
    const second = pick("scenario-b", scenarios[Math.min(1, scenarios.length - 1)].id);
    const out = h("div", { id: "scenario-charts" });
    const draw = (): void => void compare(out, first.value, second.value);
    first.addEventListener("change", draw);
    second.addEventListener("change", draw);
    ready(host, h("div", { class: "toolbar" },
      h("label", { for: "scenario-a" }, "Compare"), first, h("label", { for: "scenario-b" }, "with"), second), out);
    draw();
  } catch (error) {
    refused(host, error);
  }
}

async function compare(host: HTMLElement, a: string, b: string): Promise<void> {
  loading(host, "the comparison");
  try {
    const chosen = a === b
      ? [await getJson<Scenario>(`insight/scenarios/${encodeURIComponent(a)}`)]
      : (await getJson<{ scenarios: Scenario[] }>(`insight/scenarios/compare${query({ ids: `${a},${b}` })}`)).scenarios;
    const labels = (chosen[0].years ?? []).map((y) => String(y.year));
    const chart = (id: string, title: string, unit: string, pickValue: (y: ScenarioYear) => number): HTMLElement => {
      const box = h("div", { id, class: "scenario-chart" });
      lineChart(box, { title, unit, labels, series: chosen.map((s, i) => ({ name: s.name, colour: COLOURS[i],
        dashed: i === 1, values: (s.years ?? []).map(pickValue) })) });
      return h("section", {}, h("h3", {}, title), box);
    };
    const flat = chosen.map((s) => flatten(s.assumptions));
    const keys = [...new Set(flat.flatMap((f) => Object.keys(f)))].sort();
    const differ = keys.filter((k) => new Set(flat.map((f) => f[k])).size > 1);
    const rows = (names: string[]): string[][] => names.map((k) => [k, ...flat.map((f) => f[k] ?? "—")]);
    const assumptions = h("section", {},
      h("h3", {}, "Assumptions"),
      differ.length && chosen.length > 1
        ? table("Where the scenarios differ", ["Assumption", ...chosen.map((s) => s.name)], rows(differ), { id: "assumptions-differ" })
        : h("p", { class: "hint" }, chosen.length > 1 ? "The two scenarios assume the same." : ""),
      h("details", {}, h("summary", {}, "All assumptions"),
        table("All assumptions", ["Assumption", ...chosen.map((s) => s.name)], rows(keys))));
    ready(host, chart("scenario-emissions", "Emissions", "t CO2e", (y) => y.tco2e),
      chart("scenario-energy", "Energy use", "MWh", (y) => y.energy_mwh),
      chart("scenario-cost", "Energy cost", "EUR", (y) => y.cost_eur), assumptions);
    host.dataset.compared = chosen.map((s) => s.id).join(",");
  } catch (error) {
    refused(host, error);
  }
}

/** Flatten nested assumptions to "heat_pumps.rate": "0.05" (lists of records are counted). */
function flatten(value: Record<string, unknown>, prefix = ""): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, v] of Object.entries(value)) {
    const name = prefix ? `${prefix}.${key}` : key;
    if (v && typeof v === "object" && !Array.isArray(v)) Object.assign(out, flatten(v as Record<string, unknown>, name));
    else if (Array.isArray(v)) out[name] = v.every((x) => typeof x !== "object") ? v.join(", ") : `${v.length} items`;
    else out[name] = v === null || v === undefined ? "—" : String(v);
  }
  return out;
}

export async function forecastsView(host: HTMLElement): Promise<void> {
  loading(host, "the forecasts");
  try {
    const { forecasts } = await getJson<{ forecasts: { id: string; entity: string; kind: string; dateIssued: string }[] }>("insight/forecasts");
    if (!forecasts.length) {
      ready(host, h("p", { class: "hint" }, "No forecasts yet: run `civictwin forecast`."));
      return;
    }
    const select = h("select", { id: "forecast-entity" }, ...forecasts.map((f) =>
      h("option", { value: f.entity }, `${f.entity.split(":").slice(2).join(" ") || f.entity} (${f.kind}, issued ${f.dateIssued.slice(0, 10)})`)));
    const out = h("div", { id: "forecast-chart" });
    select.addEventListener("change", () => void forecast(out, select.value));
    ready(host, h("div", { class: "toolbar" }, h("label", { for: "forecast-entity" }, "Forecast of"), select), out);
    await forecast(out, select.value);
  } catch (error) {
    refused(host, error);
  }
}

async function forecast(host: HTMLElement, entity: string): Promise<void> {
  loading(host, "the forecast");
  try {
    const f = await getJson<Forecast>(`insight/forecasts${query({ entity })}`);
    const chart = h("div", {});
    lineChart(chart, { title: `Electricity forecast against measured, ${f.entity}`, unit: "kWh",
      labels: f.points.map((p) => p.time.slice(5, 16).replace("T", " ")),
      series: [{ name: "Forecast", colour: COLOURS[1], dashed: true, values: f.points.map((p) => p.forecast) },
        { name: "Measured", colour: COLOURS[0], values: f.points.map((p) => p.actual) }] });
    const measured = f.points.filter((p) => p.actual !== null).length;
    ready(host, chart, facts([["Model", f.model], ["Back-test error (MAPE)", f.mape === null ? "—" : `${fmt(f.mape)} %`],
      ["Error against what was measured", f.actualMape == null ? "nothing measured yet" : `${fmt(f.actualMape)} % over ${measured} steps`]]),
      badge(`${measured} of ${f.points.length} steps measured`, measured ? "released" : "merged"));
  } catch (error) {
    refused(host, error);
  }
}
