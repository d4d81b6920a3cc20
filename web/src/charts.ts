// The dashboard's charts, drawn as SVG: lines over a shared axis (trajectories, scenarios,
// forecast vs actual, trends) and horizontal bars (inventory by sector). Each chart is an
// image with a text summary and a data table for screen readers and copying.
import { fmt, h, table } from "./dom";

export interface Series {
  name: string;
  colour: string;
  dashed?: boolean;
  values: (number | null)[];
}

export interface LineChart {
  title: string;
  unit: string;
  labels: string[];
  series: Series[];
  width?: number;
  height?: number;
  compact?: boolean;
}

/** Okabe–Ito colours, safe for colour-blind readers; series also differ by dash and marker. */
export const COLOURS = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000"];
const NS = "http://www.w3.org/2000/svg";

export function svg(tag: string, attrs: Record<string, string | number>): SVGElement {
  const node = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}

export function text(x: number, y: number, content: string, anchor = "start"): SVGElement {
  const node = svg("text", { x, y, "text-anchor": anchor });
  node.textContent = content;
  return node;
}

function range(values: number[]): [number, number] {
  const low = Math.min(0, ...values);
  const high = Math.max(...values, low + 1e-9);
  return [low, high];
}

function summary(chart: LineChart): string {
  const parts = chart.series.map((s) => {
    const known = s.values.filter((v): v is number => v !== null);
    if (!known.length) return `${s.name}: no values`;
    return `${s.name}: ${known.length} values, from ${fmt(known[0])} to ${fmt(known[known.length - 1])} ${chart.unit}`;
  });
  const span = chart.labels.length ? ` over ${chart.labels[0]} to ${chart.labels[chart.labels.length - 1]}` : "";
  return `${chart.title}${span}. ${parts.join("; ")}.`;
}

/** Draw a line chart into `host` (replacing what it held). */
export function lineChart(host: HTMLElement, chart: LineChart): void {
  const W = chart.width ?? 560;
  const H = chart.height ?? 240;
  const pad = chart.compact ? { left: 4, right: 4, top: 6, bottom: 6 } : { left: 56, right: 22, top: 12, bottom: 30 };
  const values = chart.series.flatMap((s) => s.values.filter((v): v is number => v !== null));
  const figure = h("figure", { class: chart.compact ? "chart compact" : "chart" });
  if (!values.length || !chart.labels.length) {
    figure.append(h("p", { class: "hint" }, `${chart.title}: no values yet.`));
    host.replaceChildren(figure);
    return;
  }
  const [low, high] = range(values);
  const plotW = W - pad.left - pad.right;
  const plotH = H - pad.top - pad.bottom;
  const n = chart.labels.length;
  const x = (i: number): number => pad.left + (n === 1 ? plotW / 2 : (i * plotW) / (n - 1));
  const y = (v: number): number => pad.top + plotH - ((v - low) / (high - low)) * plotH;
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": summary(chart),
    "data-series": chart.series.length });
  if (!chart.compact) {
    for (const v of [low, (low + high) / 2, high]) {
      root.append(svg("line", { x1: pad.left, x2: W - pad.right, y1: y(v), y2: y(v), class: "grid" }));
      root.append(text(pad.left - 6, y(v) + 4, fmt(v), "end"));
    }
    const longest = Math.max(...chart.labels.map((l) => l.length));
    const step = Math.max(1, Math.ceil((n * longest * 7) / (plotW * 0.8)));
    chart.labels.forEach((label, i) => {
      const last = i === n - 1;
      if ((i % step === 0 && (last || n - 1 - i >= step / 2)) || last) root.append(text(x(i), H - 10, label, "middle"));
    });
  }
  chart.series.forEach((s, index) => {
    let d = "";
    let pen = false;
    s.values.forEach((v, i) => {
      if (v === null) { pen = false; return; }
      d += `${pen ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)} `;
      pen = true;
    });
    root.append(svg("path", { d: d.trim(), fill: "none", stroke: s.colour, "stroke-width": chart.compact ? 2 : 2.5,
      "stroke-dasharray": s.dashed ? "6 4" : "none", "data-name": s.name }));
    s.values.forEach((v, i) => {
      // A compact chart marks only its latest value (the one a card shows).
      if (v === null || (chart.compact && i !== s.values.length - 1)) return;
      root.append(marker(index, x(i), y(v), s.colour, s.name, chart.labels[i], v));
    });
  });
  figure.append(root);
  if (!chart.compact) {
    figure.append(legend(chart.series), dataTable(chart));
  }
  host.replaceChildren(figure);
}

function marker(index: number, cx: number, cy: number, colour: string, name: string,
                label: string, value: number): SVGElement {
  const node = index % 2 === 0
    ? svg("circle", { cx, cy, r: 3.5, fill: colour })
    : svg("rect", { x: cx - 3.5, y: cy - 3.5, width: 7, height: 7, fill: colour });
  node.setAttribute("data-value", String(value));
  const title = svg("title", {});
  title.textContent = `${name}, ${label}: ${fmt(value)}`;
  node.append(title);
  return node;
}

function legend(series: Series[]): HTMLElement {
  return h("ul", { class: "chart-legend" }, ...series.map((s) =>
    h("li", {}, h("span", { class: s.dashed ? "key dashed" : "key", style: `border-color:${s.colour}`, "aria-hidden": "true" }), s.name)));
}

function dataTable(chart: LineChart): HTMLElement {
  const rows = chart.labels.map((label, i) => [label, ...chart.series.map((s) => fmt(s.values[i]))]);
  return h("details", { class: "chart-data" }, h("summary", {}, "Data table"),
    table(`${chart.title} (${chart.unit})`, ["", ...chart.series.map((s) => s.name)], rows));
}

export interface Bar { label: string; value: number; note?: string }

/** Draw horizontal bars, largest first as given, each labelled with its value. */
export function barChart(host: HTMLElement, title: string, unit: string, bars: Bar[]): void {
  const figure = h("figure", { class: "chart" });
  if (!bars.length) {
    figure.append(h("p", { class: "hint" }, `${title}: no values yet.`));
    host.replaceChildren(figure);
    return;
  }
  const row = 26;
  const W = 560;
  const left = 230;
  const right = 90;
  const H = bars.length * row + 8;
  const high = Math.max(...bars.map((b) => b.value), 1e-9);
  const total = bars.reduce((sum, b) => sum + b.value, 0);
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "data-bars": bars.length,
    "aria-label": `${title}: ${bars.map((b) => `${b.label} ${fmt(b.value)} ${unit}`).join("; ")}; total ${fmt(total)} ${unit}.` });
  bars.forEach((b, i) => {
    const yTop = 4 + i * row;
    const width = Math.max(((W - left - right) * Math.max(b.value, 0)) / high, 1);
    root.append(text(left - 8, yTop + 16, b.label.length > 34 ? `${b.label.slice(0, 33)}…` : b.label, "end"));
    const rect = svg("rect", { x: left, y: yTop + 3, width, height: row - 8, fill: COLOURS[i % COLOURS.length],
      "data-value": b.value });
    const tip = svg("title", {});
    tip.textContent = `${b.label}: ${fmt(b.value)} ${unit}${b.note ? ` (${b.note})` : ""}`;
    rect.append(tip);
    root.append(rect, text(left + width + 6, yTop + 17, fmt(b.value)));
  });
  figure.append(root, h("details", { class: "chart-data" }, h("summary", {}, "Data table"),
    table(`${title} (${unit})`, ["", unit, "note"], bars.map((b) => [b.label, fmt(b.value), b.note ?? ""]))));
  host.replaceChildren(figure);
}
