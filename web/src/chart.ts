// A small SVG chart of one series: bars for period totals, a line for readings.

import { svg, text } from "./charts";
export interface Point { t: string; v: number }

const W = 320;
const H = 160;
const PAD = { left: 44, right: 8, top: 10, bottom: 28 };


function short(t: string): string {
  return t.slice(0, 16).replace("T", " ");
}

function fmt(v: number): string {
  return Math.abs(v) >= 1000 ? v.toFixed(0) : Number(v.toPrecision(3)).toString();
}

export function drawChart(host: HTMLElement, points: Point[], kind: "bars" | "line",
                          title: string, unit: string): void {
  host.replaceChildren();
  if (points.length === 0) {
    host.textContent = "No history recorded yet.";
    host.setAttribute("aria-label", `${title}: no history recorded yet`);
    return;
  }
  const values = points.map((p) => p.v);
  const low = Math.min(0, ...values);
  const high = Math.max(...values, low + 1e-9);
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const y = (v: number): number => PAD.top + plotH - ((v - low) / (high - low)) * plotH;
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, "aria-hidden": "true" });
  root.append(svg("line", { x1: PAD.left, y1: y(low), x2: W - PAD.right, y2: y(low), stroke: "#4a5360" }));
  root.append(text(PAD.left - 4, y(high) + 4, fmt(high), "end"), text(PAD.left - 4, y(low), fmt(low), "end"));
  if (kind === "bars") {
    const step = plotW / points.length;
    points.forEach((p, i) => {
      root.append(svg("rect", { x: PAD.left + i * step + 1, y: y(p.v), width: Math.max(step - 2, 1),
        height: Math.max(y(low) - y(p.v), 0.5), fill: "#0b5cad" }));
    });
  } else {
    const x = (i: number): number => PAD.left + (points.length === 1 ? plotW / 2 : (i * plotW) / (points.length - 1));
    const path = points.map((p, i) => `${i === 0 ? "M" : "L"}${x(i).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ");
    root.append(svg("path", { d: path, fill: "none", stroke: "#0b5cad", "stroke-width": 2 }));
    points.forEach((p, i) => root.append(svg("circle", { cx: x(i), cy: y(p.v), r: 3, fill: "#0b5cad" })));
  }
  root.append(text(PAD.left, H - 8, short(points[0].t)), text(W - PAD.right, H - 8, short(points[points.length - 1].t), "end"));
  host.append(root);
  const last = points[points.length - 1];
  host.setAttribute("aria-label",
    `${title}: ${points.length} values from ${short(points[0].t)} to ${short(last.t)}, ` +
    `between ${fmt(Math.min(...values))} and ${fmt(Math.max(...values))} ${unit}; latest ${fmt(last.v)} ${unit}`);
}
