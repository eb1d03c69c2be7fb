// usePreviewOrchestrator in a real browser: Debian's Chromium (playwright-core),
// React from npm bundled by Bun.build (React 19, then React 18 through the
// react18/react-dom18 aliases), a real daemon and real containers. The host
// page (hook-page.ts) is served by a small host-app server here that holds
// the API token and gives the page a scoped token only.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { BunPlugin } from "bun";
import { join } from "node:path";
import type { Browser, Page, Request } from "playwright-core";
import { createClient, createPreviewWithToken, type CreatePreviewBody, type PreviewdClient } from "../../sdk/src/index.ts";
import { launchBrowser } from "../support/browser.ts";
import { startTestDaemon, type TestDaemon } from "../support/daemon.ts";
import { until } from "./app.ts";

const PAGE = join(import.meta.dir, "hook-page.ts");

/** Sends react / react-dom (and their subpaths) to the React 18 aliases, for every importer (react-dom included). */
const react18: BunPlugin = {
  name: "react18",
  setup(build) {
    build.onResolve({ filter: /^react(-dom)?(\/.*)?$/ }, (args) => ({
      path: Bun.resolveSync(args.path.replace(/^react(-dom)?/, (m) => `${m}18`), import.meta.dir),
    }));
  },
};

async function bundle(plugins: BunPlugin[]): Promise<string> {
  const out = await Bun.build({
    entrypoints: [PAGE],
    target: "browser",
    format: "esm",
    // Development React: StrictMode's double render and double effects only happen there.
    define: { "process.env.NODE_ENV": JSON.stringify("development") },
    plugins,
  });
  if (!out.success) throw new AggregateError(out.logs, "bundling the hook page failed");
  return out.outputs[0]!.text();
}

let d: TestDaemon;
let admin: PreviewdClient;
let host: ReturnType<typeof Bun.serve>;
let browser: Browser;
const bundles: Record<string, string> = {};
const hostCreates: string[] = [];

beforeAll(async () => {
  [bundles["19"], bundles["18"]] = await Promise.all([bundle([]), bundle([react18])]);
  // The host app's server: the page's origin, its bundle, and the two routes that need the API token.
  host = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const { pathname } = new URL(req.url);
      const page = /^\/react(18|19)$/.exec(pathname);
      if (page) return new Response(html(page[1]!), { headers: { "content-type": "text/html; charset=utf-8" } });
      const js = /^\/app-(18|19)\.js$/.exec(pathname);
      if (js) return new Response(bundles[js[1]!], { headers: { "content-type": "text/javascript; charset=utf-8" } });
      if (req.method === "POST" && pathname === "/host/previews") {
        // A real host app would authorize its user and build or check the files here.
        const body = (await req.json()) as CreatePreviewBody;
        const created = await createPreviewWithToken(admin, body, { scope: ["read", "files"], ttlSeconds: 600 });
        hostCreates.push(created.preview.id);
        return Response.json({ preview: created.preview, token: created.token });
      }
      const del = /^\/host\/previews\/([a-z0-9]+)$/.exec(pathname);
      if (req.method === "DELETE" && del) {
        await admin.previews.remove(del[1]!);
        return new Response(null, { status: 204 });
      }
      return new Response("not found", { status: 404 });
    },
  });
  // CORS for exactly the host page's origin: the page calls the daemon with its scoped token.
  d = await startTestDaemon({ PREVIEWD_CORS_ORIGINS: `http://127.0.0.1:${host.port}`, PREVIEWD_WARM_POOL: "2" });
  admin = createClient({ baseUrl: `http://127.0.0.1:${d.apiPort}`, token: d.token });
  browser = await launchBrowser();
}, 240_000);

afterAll(async () => {
  await browser?.close();
  host?.stop(true);
  await d?.cleanup();
}, 60_000);

function html(version: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>host app</title></head><body>
<div id="root"></div>
<script>window.__PREVIEWD_API__ = ${JSON.stringify(`http://127.0.0.1:${d.apiPort}`)};</script>
<script type="module" src="/app-${version}.js"></script>
</body></html>`;
}

/** Every request the page (and its frames) sends to the daemon: control API or preview URLs. */
function daemonRequests(page: Page) {
  const seen: Array<{ at: number; req: Request }> = [];
  const open = new Set<Request>();
  const toDaemon = (r: Request) => r.url().startsWith(`http://127.0.0.1:${d.apiPort}/`) || new URL(r.url()).host.endsWith(`.localhost:${d.proxyPort}`);
  page.on("request", (req) => {
    if (!toDaemon(req)) return;
    seen.push({ at: Date.now(), req });
    if (req.url().endsWith("/events")) open.add(req);
  });
  const closed = (req: Request) => open.delete(req);
  page.on("requestfinished", closed);
  page.on("requestfailed", closed);
  return { seen, open };
}

const ids = async () => new Set((await admin.previews.list()).map((p) => p.id));
const text = (page: Page, sel: string) => page.locator(sel).textContent();

for (const version of ["19", "18"] as const) {
  describe(`React ${version}`, () => {
    test("creating -> running, the app in an iframe, updates through the hook, ONE preview under StrictMode, nothing after unmount", async () => {
      const before = await ids();
      const creates = hostCreates.length;
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        const errors: string[] = [];
        page.on("pageerror", (e) => errors.push(e.message));
        const traffic = daemonRequests(page);
        await page.goto(`http://127.0.0.1:${host.port}/react${version}`);
        expect(await page.evaluate(() => (globalThis as any).__probe.react)).toStartWith(`${version}.`);

        await page.locator("#status", { hasText: /^running$/ }).waitFor({ timeout: 120_000 });
        const run = await page.evaluate(() => (globalThis as any).__probe.runs[0]);
        expect(run.effectRuns).toBe(2); // StrictMode did mount -> unmount -> mount
        expect(run.statuses[0]).toBe("idle");
        expect(run.statuses).toContain("creating");
        expect(run.statuses.indexOf("creating")).toBeLessThan(run.statuses.indexOf("running"));
        expect(run.statuses).not.toContain("failed");

        // Exactly one preview for the StrictMode double mount.
        const made = [...(await ids())].filter((id) => !before.has(id));
        expect(made).toHaveLength(1);
        expect(hostCreates.slice(creates)).toEqual(made);
        const id = made[0]!;
        const url = `http://${id}.localhost:${d.proxyPort}`;
        expect(await text(page, "#url")).toBe(url);

        const frame = page.frameLocator("#preview");
        await frame.locator("#msg", { hasText: "hello v1" }).waitFor({ timeout: 60_000 });

        // A files prop change: debounced into a PATCH; the iframe (keyed on revision) reloads.
        await page.click("#edit-prop");
        await frame.locator("#msg", { hasText: "hello v2 from props" }).waitFor({ timeout: 60_000 });
        // update(files) from the hook.
        await page.click("#edit-update");
        await frame.locator("#msg", { hasText: "hello v3 from update" }).waitFor({ timeout: 60_000 });
        expect(Number(await text(page, "#revision"))).toBe(2);
        expect(await text(page, "#error")).toBe("");
        expect((await admin.previews.get(id)).status).toBe("running");

        // The page only ever sent the scoped token, never the API token.
        const apiCalls = traffic.seen.filter(({ req }) => req.url().startsWith(`http://127.0.0.1:${d.apiPort}/`) && req.method() !== "OPTIONS");
        expect(apiCalls.length).toBeGreaterThan(0);
        for (const { req } of apiCalls) expect(req.headers().authorization).toStartWith("Bearer pvs_");
        expect(traffic.open.size).toBe(1); // the watch's event stream

        // A change, then unmount before the debounce fires: no PATCH, no stream, no request at all.
        await page.evaluate(() => {
          const doc = (globalThis as any).document;
          doc.getElementById("edit-late").click();
          doc.getElementById("unmount").click();
        });
        const unmountedAt = Date.now();
        await Bun.sleep(2_500);
        const after = traffic.seen.filter(({ at }) => at > unmountedAt).map(({ req }) => `${req.method()} ${req.url()}`);
        expect(after).toEqual([]);
        await until("the event stream to close", () => traffic.open.size === 0, 10_000);
        expect(await (await d.preview(id)).text()).toContain("hello v3 from update");

        // A new instance creates its own preview (one), and destroy() deletes it through the host app.
        await page.click("#remount");
        await page.locator("#status", { hasText: /^running$/ }).waitFor({ timeout: 120_000 });
        const second = [...(await ids())].filter((x) => !before.has(x) && x !== id);
        expect(second).toHaveLength(1);
        await page.click("#destroy");
        await page.locator("#status", { hasText: /^deleted$/ }).waitFor({ timeout: 60_000 });
        const gone = await admin.previews.get(second[0]!).then(() => "still there", (e: { code?: string }) => e.code);
        expect(gone).toBe("not_found");
        expect(errors).toEqual([]);
        await admin.previews.remove(id);
      } finally {
        await context.close();
      }
    }, 300_000);
  });
}
