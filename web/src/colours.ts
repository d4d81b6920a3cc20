// Measures to colours: MapLibre expressions and the matching legend.
import type { ExpressionSpecification } from "maplibre-gl";
import type { MeasureInfo } from "./api";

export const NO_DATA = "#b8bec7";
// Colour-blind-safe ramps and categories (viridis stops; Okabe-Ito palette).
const RAMP = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"];
const CATEGORY = ["#e69f00", "#56b4e9", "#009e73", "#f0e442", "#0072b2", "#d55e00", "#cc79a7", "#000000"];

function rampStops(domain: [number, number]): (number | string)[] {
  const [low, high] = domain;
  const stops: (number | string)[] = [];
  RAMP.forEach((colour, i) => {
    stops.push(low + ((high - low) * i) / (RAMP.length - 1), colour);
  });
  return stops;
}

function valueOf(measure: MeasureInfo): ExpressionSpecification {
  return measure.tileProperty
    ? ["get", measure.tileProperty]
    : ["feature-state", measure.name];
}

function present(measure: MeasureInfo): ExpressionSpecification {
  return measure.tileProperty
    ? ["has", measure.tileProperty]
    : (["==", ["typeof", ["feature-state", measure.name]], "number"] as unknown as ExpressionSpecification);
}

export function colourExpression(measure: MeasureInfo): ExpressionSpecification {
  if (measure.kind === "category") {
    const pairs: string[] = [];
    Object.keys(measure.categories).forEach((key, i) => pairs.push(key, CATEGORY[i % CATEGORY.length]));
    return ["case", present(measure),
      ["match", ["to-string", valueOf(measure)], ...pairs, NO_DATA] as unknown as ExpressionSpecification,
      NO_DATA];
  }
  return ["case", present(measure),
    ["interpolate", ["linear"], ["to-number", valueOf(measure)], ...rampStops(measure.domain)] as unknown as ExpressionSpecification,
    NO_DATA];
}

export function renderLegend(container: HTMLElement, measure: MeasureInfo, noData: string): void {
  container.replaceChildren();
  if (measure.kind === "category") {
    Object.entries(measure.categories).forEach(([, label], i) => {
      container.append(legendItem(CATEGORY[i % CATEGORY.length], label));
    });
  } else {
    const ramp = document.createElement("div");
    ramp.className = "legend-ramp";
    ramp.style.background = `linear-gradient(to right, ${RAMP.join(", ")})`;
    ramp.setAttribute("aria-hidden", "true");
    const scale = document.createElement("div");
    scale.className = "legend-scale";
    const unit = measure.unit ? ` ${measure.unit}` : "";
    const [low, high] = measure.domain;
    scale.innerHTML = "";
    for (const text of [`${low}${unit}`, `${Math.round((low + high) / 2)}${unit}`, `${high}${unit} or more`]) {
      const span = document.createElement("span");
      span.textContent = text;
      scale.append(span);
    }
    const summary = document.createElement("p");
    summary.className = "visually-hidden";
    summary.textContent = `Colour scale from dark purple (${low}${unit}) to yellow (${high}${unit}).`;
    container.append(ramp, scale, summary);
  }
  container.append(legendItem(NO_DATA, noData));
}

function legendItem(colour: string, label: string): HTMLElement {
  const item = document.createElement("div");
  item.className = "legend-item";
  const swatch = document.createElement("span");
  swatch.className = "swatch";
  swatch.style.background = colour;
  swatch.setAttribute("aria-hidden", "true");
  const text = document.createElement("span");
  text.textContent = label;
  item.append(swatch, text);
  return item;
}
