// Today's generated apps (test/fixtures/generated, scripts/fixtures) previewed
// as a user would: created through the API, opened in Chromium at a
// non-localhost preview domain, edited through PATCH until the edit is on
// screen. One table of apps and one driver, shared by the suite's test
// (test/frameworks/generated-apps.test.ts) and the matrix benchmark
// (scripts/bench/frameworks.ts), which runs the same apps without lockfiles.
import type { Browser, Page } from "playwright-core";
import { loadGenerated, type FileContent } from "../fixtures/generated/index.ts";
import { openPage, pageJournal } from "./browser.ts";
import type { TestDaemon } from "./daemon.ts";

export interface GeneratedApp {
  /** The fixture's directory under test/fixtures/generated. */
  name: string;
  framework: string;
  /** The file an edit changes, the text in it that is replaced, and what the page shows for it. */
  file: string;
  from: string;
  edit: (n: number) => string;
  /** What the page shows before any edit, and after edit n (found in `selector`'s text). */
  shows: string;
  showsAfter: (n: number) => string;
  selector: string;
  /** hmr: the edit must appear without a page load (the dev server pushes it); reload: the test reloads until it does. */
  update: "hmr" | "reload";
  /** In the benchmark only: the suite has a test of its own for it (next-generated.test.ts). */
  benchOnly?: boolean;
  /** A change a user would make to the generated app before previewing it (another dev command). */
  adjust?: (files: Record<string, FileContent>) => void;
}

const h1 = (n: number) => `<h1>Edited ${n}</h1>`;

export const GENERATED_APPS: GeneratedApp[] = [
  { name: "next-app", framework: "Next.js (App Router, Turbopack)", file: "app/page.tsx", from: "To get started, edit the", edit: (n) => `Edited ${n}, edit the`, shows: "To get started", showsAfter: (n) => `Edited ${n}`, selector: "h1", update: "hmr", benchOnly: true },
  // The Pages Router on webpack, Next's other dev bundler (a user's `next dev --webpack`).
  { name: "next-pages", framework: "Next.js (Pages Router, webpack)", file: "pages/index.tsx", from: "To get started, edit the", edit: (n) => `Edited ${n}, edit the`, shows: "To get started", showsAfter: (n) => `Edited ${n}`, selector: "h1", update: "hmr",
    adjust: (files) => {
      const pkg = JSON.parse(files["package.json"] as string) as { scripts: Record<string, string> };
      pkg.scripts.dev = "next dev --webpack";
      files["package.json"] = JSON.stringify(pkg, null, 2);
    } },
  { name: "vite-react-ts", framework: "Vite + React", file: "src/App.tsx", from: "<h1>Get started</h1>", edit: h1, shows: "Get started", showsAfter: (n) => `Edited ${n}`, selector: "h1", update: "hmr" },
  { name: "vite-vue-ts", framework: "Vite + Vue", file: "src/components/HelloWorld.vue", from: "<h1>Get started</h1>", edit: h1, shows: "Get started", showsAfter: (n) => `Edited ${n}`, selector: "h1", update: "hmr" },
  { name: "vite-svelte-ts", framework: "Vite + Svelte", file: "src/App.svelte", from: "<h1>Get started</h1>", edit: h1, shows: "Get started", showsAfter: (n) => `Edited ${n}`, selector: "h1", update: "hmr" },
  // main.ts accepts no hot update: Vite reloads the page, which is what a vanilla app gets.
  { name: "vite-vanilla-ts", framework: "Vite (vanilla)", file: "src/main.ts", from: "<h1>Get started</h1>", edit: h1, shows: "Get started", showsAfter: (n) => `Edited ${n}`, selector: "h1", update: "reload" },
  { name: "sveltekit-app", framework: "SvelteKit", file: "src/routes/+page.svelte", from: "<h1>Welcome to SvelteKit</h1>", edit: h1, shows: "Welcome to SvelteKit", showsAfter: (n) => `Edited ${n}`, selector: "h1", update: "hmr" },
  // ng serve: its live reload (or template HMR) brings the edit; either is accepted.
  { name: "angular-app", framework: "Angular", file: "src/app/app.html", from: "<h1>Hello, {{ title() }}</h1>", edit: h1, shows: "Hello, angular-app", showsAfter: (n) => `Edited ${n}`, selector: "h1", update: "reload" },
  // A server without a watcher: Express renders views afresh in development, so a reload shows the edit.
  { name: "express-app", framework: "Express (express-generator)", file: "views/index.pug", from: "h1= title", edit: (n) => `h1 Edited ${n}`, shows: "Express", showsAfter: (n) => `Edited ${n}`, selector: "h1", update: "reload" },
  // `fastify start -w` restarts on a change; the route answers JSON.
  { name: "fastify-app", framework: "Fastify (fastify-cli)", file: "routes/root.js", from: "return { root: true }", edit: (n) => `return { root: "Edited ${n}" }`, shows: '"root":true', showsAfter: (n) => `Edited ${n}`, selector: "body", update: "reload" },
];

export interface PreviewRun {
  id: string;
  node?: string;
  createMs: number;
  firstRenderMs: number;
  /** Edit to screen, per edit. */
  editMs: number[];
  memoryBytes?: number;
}

/** The app's files with `lockfile` kept or dropped (the benchmark runs today's resolution, no lockfile). */
export function generatedFiles(app: GeneratedApp, opts: { lockfile: boolean; unique?: string }): Record<string, FileContent> {
  const files = loadGenerated(app.name);
  if (!opts.lockfile) delete files["package-lock.json"];
  if (opts.unique) {
    // Another package name: another cache key, so the install is a real one (a cold create).
    const pkg = JSON.parse(files["package.json"] as string) as { name?: string };
    files["package.json"] = JSON.stringify({ ...pkg, name: `${pkg.name ?? app.name}-${opts.unique}` }, null, 2);
  }
  app.adjust?.(files);
  const source = files[app.file];
  if (typeof source !== "string" || !source.includes(app.from)) throw new Error(`${app.name}/${app.file} no longer holds ${JSON.stringify(app.from)}: the generator changed; update GENERATED_APPS`);
  return files;
}

/**
 * Creates the app as a preview, opens it in `browser` at the preview's URL and makes `edits` edits,
 * each seen on screen. Throws with the page's journal and the preview's logs when a step fails.
 */
export async function previewInChromium(d: TestDaemon, browser: Browser, app: GeneratedApp, domain: string, opts: { edits: number; lockfile: boolean; unique?: string; timeoutMs?: number }): Promise<PreviewRun> {
  const timeout = opts.timeoutMs ?? 240_000;
  const files = generatedFiles(app, opts);
  const t0 = Date.now();
  const res = await d.api("/v1/previews?wait=1", { method: "POST", body: JSON.stringify({ files, tier: "container" }) });
  const p = (await res.json()) as { id: string; status: string; error?: string | { message: string }; runtime?: { node: string } };
  if (res.status !== 201 || p.status !== "running") throw new Error(`${app.name}: create answered ${res.status} ${p.status}: ${JSON.stringify(p.error ?? p)}`);
  const createMs = Date.now() - t0;
  const tab: Page = await browser.newPage();
  const journal = pageJournal(tab);
  // The dev server's hot-update socket has said hello: an edit before that is one the page never hears of
  // (a server-rendered page shows its text before its scripts connect).
  let hmrConnected = false;
  tab.on("websocket", (ws) => ws.on("framereceived", () => (hmrConnected = true)));
  const explain = async (step: string, err: unknown) => {
    const logs = await (await d.api(`/v1/previews/${p.id}/logs?tail=40`)).text().catch(() => "");
    return new Error(`${app.name}: ${step}: ${(err as Error).message}\n--- the page:\n${journal.summary()}\n--- the preview's logs:\n${logs}`);
  };
  const shown = (text: string) => `document.querySelector(${JSON.stringify(app.selector)})?.textContent?.includes(${JSON.stringify(text)}) === true`;
  try {
    const url = `http://${p.id}.${domain}:${d.proxyPort}/`;
    const t1 = Date.now();
    await openPage(tab, url, () => tab.waitForFunction(shown(app.shows), undefined, { timeout })).catch(async (e) => Promise.reject(await explain("first render", e)));
    const firstRenderMs = Date.now() - t1;
    if (app.update === "hmr" && opts.edits > 0) {
      const deadline = Date.now() + 60_000;
      while (!hmrConnected && Date.now() < deadline) await Bun.sleep(50);
      if (!hmrConnected) throw await explain("hot-update socket", new Error("no frame on any WebSocket within 60 s"));
    }
    const editMs: number[] = [];
    let source = files[app.file] as string;
    for (let n = 1; n <= opts.edits; n++) {
      const next = source.replace(n === 1 ? app.from : app.edit(n - 1), app.edit(n));
      source = next;
      if (app.update === "hmr") await tab.evaluate("window.__previewdMarker = 1"); // a page load would wipe it
      const started = Date.now();
      const r = await d.api(`/v1/previews/${p.id}/files`, { method: "PATCH", body: JSON.stringify({ files: { [app.file]: next } }) });
      if (r.status !== 200) throw new Error(`${app.name}: PATCH answered ${r.status}: ${await r.text()}`);
      if (app.update === "hmr") {
        await tab.waitForFunction(shown(app.showsAfter(n)), undefined, { timeout: 60_000 }).catch(async (e) => Promise.reject(await explain(`edit ${n}`, e)));
        if ((await tab.evaluate("window.__previewdMarker")) !== 1) throw await explain(`edit ${n}`, new Error("the page was reloaded: the edit did not come by hot update"));
      } else {
        await reloadUntil(tab, shown(app.showsAfter(n)), 60_000).catch(async (e) => Promise.reject(await explain(`edit ${n}`, e)));
      }
      editMs.push(Date.now() - started);
    }
    const view = (await (await d.api(`/v1/previews/${p.id}`)).json()) as { status: string; usage?: { memoryBytes: number }; runtime?: { node: string } };
    if (view.status !== "running") throw await explain("after the edits", new Error(`status ${view.status}`));
    return { id: p.id, node: view.runtime?.node ?? p.runtime?.node, createMs, firstRenderMs, editMs, memoryBytes: view.usage?.memoryBytes };
  } finally {
    await tab.close();
  }
}

/** Reloads the page until `condition` holds (a server that restarts, a dev server that reloads): at most once a second. */
async function reloadUntil(tab: Page, condition: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await tab.evaluate(condition).catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`not shown within ${timeoutMs / 1000} s`);
    await tab.waitForFunction(condition, undefined, { timeout: 1000 }).catch(() => tab.reload({ timeout: 30_000 }).catch(() => {}));
  }
}
