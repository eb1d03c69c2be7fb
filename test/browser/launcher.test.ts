// The browser tier's WebContainer runtime (PREVIEWD_BROWSER_RUNTIME=webcontainer)
// on this offline machine, with a real daemon and a real Chromium:
// - the launcher page is cross-origin isolated (SharedArrayBuffer exists);
// - /__previewd/launcher.js is the real @webcontainer/api: its boot makes the
//   real request to https://stackblitz.com/headless?version=1.6.4 from an
//   iframe with allow="cross-origin-isolated" (it fails here: no internet);
// - the runtime being unreachable, the page shows `runtime-unreachable` and
//   then the static build renders the app;
// - inside a non-isolated host page it shows `not-isolated` with an "open in
//   a new tab" link;
// - the files and the change stream the page mounts and follows.
// None of this proves that WebContainers run apps: only the live test does
// (test/live/webcontainer.live.ts, on a machine with internet).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { buildLauncher } from "../../src/browser/launcher-client/build.ts";
import { loadApp } from "../fixtures/apps/index.ts";
import { launchBrowser } from "../support/browser.ts";
import { createPreview, startTestDaemon, type TestDaemon } from "../support/daemon.ts";
import { ensureBaseImage } from "../support/docker.ts";
import { freshDatabase } from "../support/postgres.ts";

let d: TestDaemon;
let browser: Browser;
let app: { id: string; url: string; status: string };
const appFiles = loadApp("vite-react");

beforeAll(async () => {
  [d, browser] = await Promise.all([
    startTestDaemon({ PREVIEWD_BROWSER_RUNTIME: "webcontainer", PREVIEWD_WEBCONTAINER_BOOT_TIMEOUT: "2", PREVIEWD_WARM_POOL: "0", PREVIEWD_DEPS_DIR: "/tmp/previewd-test-deps" }),
    launchBrowser(),
  ]);
  // The static build is what the launcher falls back to, so it is built as usual (in the sandbox).
  app = await createPreview(d, { files: appFiles, tier: "browser" });
  if (app.status !== "running") throw new Error(`the static build did not finish: ${JSON.stringify(app)}`);
}, 240_000);
afterAll(async () => {
  await browser?.close();
  await d?.cleanup();
});

const urlOf = (path = "/") => `http://${app.id}.localhost:${d.proxyPort}${path}`;
// The page's globals these checks read (the repo's tsconfig has no DOM lib).
type PageGlobals = { crossOriginIsolated: boolean; isSecureContext: boolean; document: { documentElement: { dataset: Record<string, string | undefined> } } };
const stateOf = (p: Page) => p.evaluate(() => (globalThis as unknown as PageGlobals).document.documentElement.dataset);

test("the launcher page is cross-origin isolated (COOP + COEP credentialless), SharedArrayBuffer exists, its assets are CORP same-origin", async () => {
  const page = await browser.newPage();
  try {
    // ?fallback=0 keeps the launcher on screen after its failure, to look at it.
    const res = (await page.goto(urlOf("/?fallback=0"), { waitUntil: "load" }))!;
    const h = res.headers();
    expect(h["cross-origin-opener-policy"]).toBe("same-origin");
    expect(h["cross-origin-embedder-policy"]).toBe("credentialless");
    expect(h["cross-origin-resource-policy"]).toBe("cross-origin");
    expect(await page.evaluate(() => ({ isolated: (globalThis as unknown as PageGlobals).crossOriginIsolated, sab: typeof SharedArrayBuffer, secure: (globalThis as unknown as PageGlobals).isSecureContext }))).toEqual({ isolated: true, sab: "function", secure: true });
    const config = JSON.parse(await page.locator("#previewd-launcher-config").textContent() ?? "{}") as { coep: string; bootTimeoutMs: number };
    expect(config).toMatchObject({ coep: "credentialless", bootTimeoutMs: 2000 });
  } finally {
    await page.close();
  }
  for (const path of ["/__previewd/launcher.js", "/__previewd/files"]) {
    const res = await d.preview(app.id, path);
    expect(res.status).toBe(200);
    expect(res.headers.get("cross-origin-resource-policy")).toBe("same-origin");
  }
  // A script's fetch of "/" is not a page load: the static runtime answers it, without isolation headers.
  const plain = await d.preview(app.id, "/");
  expect(await plain.text()).toContain('<div id="root">');
  expect(plain.headers.get("cross-origin-embedder-policy")).toBeNull();
}, 60_000);

test("/__previewd/launcher.js is the real @webcontainer/api 1.6.4: boot requests https://stackblitz.com/headless from an iframe allowed cross-origin-isolated", async () => {
  const served = await (await d.preview(app.id, "/__previewd/launcher.js")).text();
  // Exactly what Bun.build makes of the launcher and node_modules/@webcontainer/api.
  expect(served).toBe(await buildLauncher());
  expect(served).toContain("1.6.4");
  const pkg = (await Bun.file(`${import.meta.dir}/../../node_modules/@webcontainer/api/package.json`).json()) as { version: string };
  expect(pkg.version).toBe("1.6.4");

  const page = await browser.newPage();
  const requests: string[] = [];
  page.on("request", (r) => requests.push(r.url()));
  try {
    await page.goto(urlOf("/?fallback=0"));
    await page.waitForFunction(() => (globalThis as unknown as PageGlobals).document.documentElement.dataset.state === "runtime-unreachable", undefined, { timeout: 15_000 });
    const headless = requests.map((u) => new URL(u)).find((u) => u.origin === "https://stackblitz.com" && u.pathname === "/headless");
    expect(headless).toBeDefined();
    expect(headless!.searchParams.get("version")).toBe("1.6.4");
    expect(headless!.searchParams.get("coep")).toBe("credentialless");
    expect(await page.locator('iframe[src^="https://stackblitz.com/headless"]').getAttribute("allow")).toBe("cross-origin-isolated");
    const s = await stateOf(page);
    expect(s.states).toBe("checking booting runtime-unreachable");
    expect(await page.locator("#detail").innerText()).toContain("did not answer within 2 s");
  } finally {
    await page.close();
  }
}, 60_000);

test("the runtime unreachable (offline), the page says runtime-unreachable, then falls back to the static build, which renders the app", async () => {
  const page = await browser.newPage();
  try {
    await page.goto(urlOf("/"));
    await page.waitForFunction(() => (globalThis as unknown as PageGlobals).document.documentElement.dataset.state === "runtime-unreachable", undefined, { timeout: 15_000 });
    expect(await page.locator("#state").innerText()).toContain("runtime-unreachable");
    await page.waitForURL(/\?runtime=static$/, { timeout: 15_000 });
    expect(await page.locator("#title").innerText({ timeout: 10_000 })).toBe("Hello from Vite + React");
    expect(await page.evaluate(() => (globalThis as unknown as PageGlobals).crossOriginIsolated)).toBe(false);
  } finally {
    await page.close();
  }
}, 60_000);

test("inside a host page that is not isolated, the launcher says not-isolated with an open-in-a-new-tab link, then shows the static build in the frame", async () => {
  const host = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: () => new Response(`<!doctype html><h1>host app</h1><iframe id="preview" src="${urlOf("/")}" allow="cross-origin-isolated" style="width:900px;height:600px"></iframe>`, { headers: { "content-type": "text/html" } }),
  });
  const page = await browser.newPage();
  try {
    await page.goto(`http://127.0.0.1:${host.port}/`);
    const frame = page.frameLocator("#preview");
    await frame.locator("html[data-state=not-isolated]").waitFor({ state: "attached", timeout: 15_000 });
    const link = frame.locator("#open-tab");
    expect(await link.innerText()).toBe("Open in a new tab");
    expect(await link.getAttribute("target")).toBe("_blank");
    expect(await link.getAttribute("href")).toBe(urlOf("/"));
    // No boot was tried: the runtime's iframe was never requested.
    expect(await frame.locator('iframe[src*="stackblitz.com"]').count()).toBe(0);
    expect(await frame.locator("#title").innerText({ timeout: 15_000 })).toBe("Hello from Vite + React");
  } finally {
    await page.close();
    host.stop(true);
  }
}, 60_000);

test("/__previewd/files is the preview's files as a FileSystemTree; /__previewd/events says hello, then sends a PATCH as a change", async () => {
  const files = await d.preview(app.id, "/__previewd/files");
  const tree = (await files.json()) as Record<string, { file?: { contents: string }; directory?: Record<string, { file?: { contents: string } }> }>;
  expect(tree["package.json"]!.file!.contents).toBe(appFiles["package.json"]!);
  expect(tree.src!.directory!["App.jsx"]!.file!.contents).toBe(appFiles["src/App.jsx"]!);
  const digest = files.headers.get("x-previewd-digest")!;
  expect(digest).toBeTruthy();

  const ac = new AbortController();
  const events = await d.preview(app.id, "/__previewd/events", { signal: ac.signal });
  expect(events.headers.get("content-type")).toBe("text/event-stream");
  const reader = events.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  const next = async (name: string): Promise<Record<string, unknown>> => {
    for (;;) {
      const m = new RegExp(`event: ${name}\\ndata: (.*)\\n\\n`).exec(buf);
      if (m) {
        buf = buf.slice(m.index + m[0].length);
        return JSON.parse(m[1]!) as Record<string, unknown>;
      }
      const { value, done } = await reader.read();
      if (done) throw new Error(`the stream ended before a ${name} event`);
      buf += value;
    }
  };
  try {
    expect(await next("hello")).toEqual({ digest });
    const changed = appFiles["src/App.jsx"]!.replace("Hello from Vite + React", "Changed through the event stream");
    const res = await d.api(`/v1/previews/${app.id}/files`, { method: "PATCH", body: JSON.stringify({ files: { "src/App.jsx": changed, "src/extra.txt": "new" }, delete: ["public/favicon.svg"] }) });
    expect(res.status).toBe(200);
    const change = await next("change");
    expect(change.from).toBe(digest);
    expect(change.write).toEqual({ "src/App.jsx": changed, "src/extra.txt": "new" });
    expect(change.remove).toEqual(["public/favicon.svg"]);
    expect(change.digest).toBe((await d.preview(app.id, "/__previewd/files")).headers.get("x-previewd-digest")!);
  } finally {
    ac.abort();
  }
}, 60_000);

test("another node with COEP require-corp: its launcher is isolated too and boots with coep=require-corp; its event stream sees a PATCH made through the first node", async () => {
  const other = await startTestDaemon({ PREVIEWD_BROWSER_RUNTIME: "webcontainer", PREVIEWD_BROWSER_COEP: "require-corp", PREVIEWD_WEBCONTAINER_BOOT_TIMEOUT: "1", PREVIEWD_WARM_POOL: "0" });
  const page = await browser.newPage();
  const requests: string[] = [];
  page.on("request", (r) => requests.push(r.url()));
  const ac = new AbortController();
  try {
    const res = (await page.goto(`http://${app.id}.localhost:${other.proxyPort}/?fallback=0`))!;
    expect(res.headers()["cross-origin-embedder-policy"]).toBe("require-corp");
    expect(await page.evaluate(() => (globalThis as unknown as PageGlobals).crossOriginIsolated)).toBe(true);
    await page.waitForFunction(() => (globalThis as unknown as PageGlobals).document.documentElement.dataset.state === "runtime-unreachable", undefined, { timeout: 15_000 });
    expect(requests.some((u) => u.startsWith("https://stackblitz.com/headless?") && new URL(u).searchParams.get("coep") === "require-corp")).toBe(true);

    const events = await other.preview(app.id, "/__previewd/events", { signal: ac.signal });
    const reader = events.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    while (!buf.includes("event: hello")) buf += (await reader.read()).value ?? "";
    const text = `<p>patched at ${Date.now()}</p>`;
    expect((await d.api(`/v1/previews/${app.id}/files`, { method: "PATCH", body: JSON.stringify({ files: { "notes.html": text } }) })).status).toBe(200);
    // Not this node's PATCH: its poll of the store (every 3 s) finds it.
    const t0 = Date.now();
    while (!buf.includes("event: change")) buf += (await reader.read()).value ?? "";
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(buf).toContain(JSON.stringify({ "notes.html": text }));
  } finally {
    ac.abort();
    await page.close();
    await other.cleanup();
  }
}, 60_000);

test("the launcher's report is accepted; unknown /__previewd/ paths are 404", async () => {
  const res = await d.preview(app.id, "/__previewd/report", { method: "POST", body: JSON.stringify({ state: "runtime-unreachable", detail: "test" }) });
  expect(res.status).toBe(204);
  expect((await d.preview(app.id, "/__previewd/nope")).status).toBe(404);
});

test("the compiled executable (scripts/build) carries the bundle: from an empty folder it serves the same launcher.js", async () => {
  const root = join(import.meta.dir, "../..");
  const build = Bun.spawnSync([join(root, "scripts/build")], { cwd: root, stderr: "pipe" });
  expect(build.exitCode).toBe(0);
  const [db, image] = await Promise.all([freshDatabase(), ensureBaseImage()]);
  const dir = mkdtempSync(join(tmpdir(), "previewd-launcher-bin-"));
  copyFileSync(join(root, "dist/previewd"), join(dir, "previewd"));
  Bun.spawnSync(["chmod", "+x", join(dir, "previewd")]);
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const token = "launcher-bin-token-0123";
  const child = Bun.spawn([join(dir, "previewd"), "serve"], {
    cwd: dir,
    stdout: "ignore",
    stderr: "ignore",
    env: {
      PATH: process.env.PATH!, DATABASE_URL: db, PREVIEWD_IMAGE: image, PREVIEWD_API_TOKEN: token, PREVIEWD_WARM_POOL: "0", PREVIEWD_BROWSER_RUNTIME: "webcontainer",
      PREVIEWD_PROXY_PORT: String(port), PREVIEWD_API_PORT: String(port + 1), PREVIEWD_PEER_PORT: String(port + 2), PREVIEWD_NODE_ID: `bin-${process.pid}`, PREVIEWD_DATA_DIR: join(dir, "data"),
    },
  });
  try {
    const api = `http://127.0.0.1:${port + 1}`;
    for (let i = 0; i < 100 && !(await fetch(`${api}/healthz`).then(() => true, () => false)); i++) await Bun.sleep(200);
    const res = await fetch(`${api}/v1/previews`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ tier: "browser", files: { "index.html": "<h1>x</h1>" } }) });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };
    const js = await (await fetch(`http://127.0.0.1:${port}/__previewd/launcher.js`, { headers: { host: `${id}.localhost` } })).text();
    expect(js).toBe(await buildLauncher());
  } finally {
    child.kill();
    await child.exited;
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);
