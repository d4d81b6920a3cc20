// Talking to the twin: every call is relative to the page and carries the same headers, so a
// tenant (?tenant= in the page URL) or a bearer token (sessionStorage "civictwin.token") apply
// to tiles, NGSI-LD calls and the live stream alike.

export const CONTEXT_LINK =
  '<https://civictwin.org/ns/civictwin-context.jsonld>; rel="http://www.w3.org/ns/json-ld#context"';

/** The root the twin's API lives under (the page is served at <root>/web/). */
export const apiRoot = new URL("..", window.location.href);

export function apiUrl(path: string): string {
  return new URL(path.replace(/^\//, ""), apiRoot).toString();
}

/** Where the signed-in visitor's API key is kept for this tab (see session.ts). */
export const TOKEN_KEY = "civictwin.token";

export function requestHeaders(): Record<string, string> {
  const headers: Record<string, string> = {};
  const tenant = new URLSearchParams(window.location.search).get("tenant");
  if (tenant) headers["NGSILD-Tenant"] = tenant;
  const token = window.sessionStorage.getItem(TOKEN_KEY);
  if (token) headers["Authorization"] = `Bearer ${token}`;
  return headers;
}

/** A refused or failed call: the HTTP status and the ProblemDetails' detail. */
export class ApiError extends Error {
  constructor(readonly status: number, detail: string) {
    super(detail);
  }
}

export async function getJson<T>(path: string, extra: Record<string, string> = {}): Promise<T> {
  const response = await fetch(apiUrl(path), {
    headers: { Accept: "application/json", ...requestHeaders(), ...extra },
  });
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`;
    try {
      const body = (await response.json()) as { detail?: string };
      if (body.detail) detail = body.detail;
    } catch {
      /* not a ProblemDetails body */
    }
    throw new ApiError(response.status, detail);
  }
  return (await response.json()) as T;
}

export function ngsiJson<T>(path: string): Promise<T> {
  return getJson<T>(path, { Link: CONTEXT_LINK });
}

export interface MeasureInfo {
  name: string;
  label: string;
  kind: "number" | "category";
  unit: string;
  tileProperty: string | null;
  valuesUrl: string | null;
  domain: [number, number];
  categories: Record<string, string>;
  source: string;
}

export interface MapInfo {
  measures: MeasureInfo[];
  floorHeight: number;
  layers: string[];
  extent: [number, number, number, number] | null;
}

export interface EntityChange {
  id: string;
  type: string;
  deleted: boolean;
  attrs?: Record<string, string | number | boolean>;
  observedAt?: string | null;
  modifiedAt?: string;
  location?: [number, number] | null;
}

/** Follow the twin's server-sent events with fetch (so headers apply), reconnecting. */
export function followChanges(
  onChange: (change: EntityChange) => void,
  onState: (state: string) => void,
): void {
  let lastId = "";
  const connect = async (): Promise<void> => {
    const headers: Record<string, string> = { Accept: "text/event-stream", ...requestHeaders() };
    if (lastId) headers["Last-Event-ID"] = lastId;
    const response = await fetch(apiUrl("web/events"), { headers, cache: "no-store" });
    if (!response.ok || !response.body) throw new Error(`live stream: ${response.status}`);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const frame = parseFrame(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        if (frame.id) lastId = frame.id;
        if (frame.event === "ready") onState("live");
        if (frame.event === "entity" && frame.data) onChange(JSON.parse(frame.data) as EntityChange);
        if (frame.event === "resync") onState("resync");
      }
    }
  };
  const loop = async (): Promise<void> => {
    for (;;) {
      try {
        await connect();
      } catch (error) {
        onState(`reconnecting (${String(error)})`);
        await new Promise((resolve) => setTimeout(resolve, 3000));
      }
    }
  };
  void loop();
}

function parseFrame(text: string): { id?: string; event?: string; data?: string } {
  const frame: { id?: string; event?: string; data?: string } = {};
  for (const line of text.split("\n")) {
    if (line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "id") frame.id = value;
    else if (field === "event") frame.event = value;
    else if (field === "data") frame.data = frame.data === undefined ? value : `${frame.data}\n${value}`;
  }
  return frame;
}
