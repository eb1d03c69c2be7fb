// tier "auto", table-driven, on real package.json shapes (the fixture apps
// are real projects; the others are what their generators write).
import { expect, test } from "bun:test";
import { classifyTier } from "../../src/tiers/classify.ts";
import { loadApp } from "../fixtures/apps/index.ts";

const pkg = (p: object) => JSON.stringify(p, null, 2);
const cra = {
  "package.json": pkg({ name: "cra", dependencies: { react: "^18.2.0", "react-dom": "^18.2.0", "react-scripts": "5.0.1" }, scripts: { start: "react-scripts start", build: "react-scripts build", test: "react-scripts test" } }),
  "public/index.html": "<div id=root></div>",
  "src/index.js": "import React from 'react';",
};
const astroStatic = {
  "package.json": pkg({ name: "astro-site", type: "module", scripts: { dev: "astro dev", build: "astro build", preview: "astro preview" }, dependencies: { astro: "^5.0.0" } }),
  "astro.config.mjs": "import { defineConfig } from 'astro/config';\nexport default defineConfig({});",
  "src/pages/index.astro": "<h1>Hi</h1>",
};
const astroSsr = { ...astroStatic, "package.json": pkg({ name: "astro-ssr", scripts: { build: "astro build" }, dependencies: { astro: "^5.0.0", "@astrojs/node": "^9.0.0" } }) };
const viteWithApi = { ...loadApp("vite-react"), "api/hello.js": "export default (req, res) => res.json({ hi: 1 });" };

const cases: Array<[string, Parameters<typeof classifyTier>[0], "browser" | "container", RegExp]> = [
  ["Vite + React (fixture)", { files: loadApp("vite-react") }, "browser", /built with `(tsc -b && )?vite build`/],
  ["Create React App", { files: cra }, "browser", /react-scripts build/],
  ["Astro, static output", { files: astroStatic }, "browser", /astro build/],
  ["a plain index.html", { files: { "index.html": "<h1>hi</h1>", "style.css": "h1{}" } }, "browser", /static files/],
  ["Next.js (fixture)", { files: loadApp("next") }, "container", /server packages \(next\)/],
  ["Express + pg (fixture)", { files: loadApp("express-pg") }, "container", /server packages \(express, pg\)/],
  ["Vite + Express in one repo (fixture)", { files: loadApp("fullstack") }, "container", /express/],
  ["Vite app with an api/ folder", { files: viteWithApi }, "container", /api\/ folder .*\(api\/hello\.js\)/],
  ["Astro with the Node adapter", { files: astroSsr }, "container", /@astrojs\/node/],
  ["a Vite app that asks for a database", { files: loadApp("vite-react"), database: true }, "container", /asks for a database/],
  ["a Vite app with a command", { files: loadApp("vite-react"), command: ["node", "x.js"] }, "container", /has a command/],
  ["a static site using sharp at build", { files: { ...loadApp("vite-react"), "package.json": pkg({ scripts: { build: "vite build" }, devDependencies: { vite: "7", sharp: "0.34" } }) } }, "container", /native addons \(sharp\)/],
  ["start: node index.js", { files: { "package.json": pkg({ scripts: { start: "node index.js", build: "echo" } }), "index.js": "" } }, "container", /start script runs a Node process/],
  ["package.json with neither build nor index.html", { files: { "package.json": pkg({ scripts: { test: "x" } }) } }, "container", /no build script/],
  ["a broken package.json", { files: { "package.json": "{nope", "index.html": "" } }, "container", /not valid JSON/],
  ["an app/api route handler (Next app router shape)", { files: { "package.json": pkg({ scripts: { build: "x" } }), "app/api/users/route.ts": "" } }, "container", /route handlers/],
];

for (const [name, req, tier, reason] of cases) {
  test(`${name} → ${tier}`, () => {
    const d = classifyTier(req);
    expect(d.tier).toBe(tier);
    expect(d.reasons.join("; ")).toMatch(reason);
  });
}
