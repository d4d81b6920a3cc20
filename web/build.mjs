// Build the map into ../src/civictwin/web/static: one bundle, its CSS, and the page.
// Usage: node build.mjs            (the output is what civictwin serves at /web/)
import { build } from "esbuild";
import { copyFile, mkdir, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "src", "civictwin", "web", "static");

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
await build({
  entryPoints: [join(here, "src", "main.ts")],
  bundle: true,
  minify: true,
  sourcemap: true,
  target: ["es2020"],
  format: "esm",
  outfile: join(out, "app.js"),
  legalComments: "linked",
  logLevel: "warning",
});
await copyFile(join(here, "node_modules", "maplibre-gl", "dist", "maplibre-gl.css"),
               join(out, "maplibre-gl.css"));
await copyFile(join(here, "src", "app.css"), join(out, "app.css"));
await copyFile(join(here, "src", "index.html"), join(out, "index.html"));
console.log(`built the web map into ${out}`);
