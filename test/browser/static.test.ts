// The browser tier's static runtime, end to end: a real Vite + React app with
// tier auto becomes a browser preview, is built in the sandbox with its
// dependencies from the npm registry, and renders in a real Chromium at its
// URL with no container left running; a PATCH rebuilds it; another daemon
// serves it from the store; failures and hostile builds are contained.
import { afterAll, beforeAll, expect, test } from "bun:test";
import Docker from "dockerode";
import { loadApp } from "../fixtures/apps/index.ts";
import { unique } from "../support/apps.ts";
import { launchBrowser } from "../support/browser.ts";
import { createPreview, startTestDaemon, type TestDaemon } from "../support/daemon.ts";
import type { Browser } from "playwright-core";

let d: TestDaemon;
let other: TestDaemon | undefined;
let browser: Browser;
let vite: { id: string; url: string };

beforeAll(async () => {
  [d, browser] = await Promise.all([startTestDaemon({ PREVIEWD_DEPS_DIR: "/tmp/previewd-test-deps" }), launchBrowser()]);
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await other?.cleanup();
  await d?.cleanup();
});

async function titleAt(url: string): Promise<string> {
  const page = await browser.newPage();
  try {
    await page.goto(url, { waitUntil: "load" });
    return await page.locator("#title").innerText({ timeout: 10_000 });
  } finally {
    await page.close();
  }
}

test("a Vite + React app with tier auto is built and served as files, renders in Chromium, and runs no container", async () => {
  const p = (await createPreview(d, { files: loadApp("vite-react") })) as { id: string; url: string; status: string; tier?: string; node?: string; tierReason?: string };
  expect({ status: p.status, tier: p.tier, node: p.node }).toEqual({ status: "running", tier: "browser", node: "browser" });
  expect(p.tierReason).toContain("vite build");
  vite = p;
  expect(await titleAt(`http://${p.id}.localhost:${d.proxyPort}/`)).toBe("Hello from Vite + React");
  const running = await new Docker().listContainers({ filters: { label: [`previewd.preview=${p.id}`] } });
  expect(running.length).toBe(0);
  const logs = await (await d.api(`/v1/previews/${p.id}/logs`)).text();
  expect(logs).toContain("vite");
  expect(logs).toContain("serving dist/");
}, 240_000);

test("it is served like a static host: MIME types, SPA fallback, 404 for a missing asset, ETag/304, gzip, immutable hashed assets", async () => {
  const html = await d.preview(vite.id, "/");
  expect(html.headers.get("content-type")).toContain("text/html");
  expect(html.headers.get("cache-control")).toBe("no-cache");
  const page = await html.text();
  const js = /src="\/(assets\/[^"]+\.js)"/.exec(page)![1]!;
  const asset = await d.preview(vite.id, `/${js}`, { headers: { "accept-encoding": "gzip" } });
  expect(asset.headers.get("content-type")).toContain("javascript");
  expect(asset.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
  expect(asset.headers.get("content-encoding")).toBe("gzip");
  const etag = asset.headers.get("etag")!;
  expect((await d.preview(vite.id, `/${js}`, { headers: { "if-none-match": etag } })).status).toBe(304);
  const route = await d.preview(vite.id, "/users/7", { headers: { accept: "text/html" } });
  expect(route.status).toBe(200);
  expect(await route.text()).toBe(page);
  expect((await d.preview(vite.id, "/assets/missing.js")).status).toBe(404);
  expect((await d.preview(vite.id, "/", { method: "POST" })).status).toBe(405);
}, 60_000);

test("a PATCH rebuilds it and the page shows the change", async () => {
  const app = loadApp("vite-react")["src/App.jsx"]!;
  const res = await d.api(`/v1/previews/${vite.id}/files`, { method: "PATCH", body: JSON.stringify({ files: { "src/App.jsx": app.replace("Hello from Vite + React", "Rebuilt after a PATCH") } }) });
  expect(res.status).toBe(200);
  const deadline = Date.now() + 120_000;
  let title = "";
  while (Date.now() < deadline && title !== "Rebuilt after a PATCH") {
    await Bun.sleep(500);
    title = await titleAt(`http://${vite.id}.localhost:${d.proxyPort}/`).catch(() => "");
  }
  expect(title).toBe("Rebuilt after a PATCH");
}, 180_000);

test("another daemon serves it from the shared store (any node, and after a restart)", async () => {
  other = await startTestDaemon({ PREVIEWD_WARM_POOL: "0" });
  const res = await other.preview(vite.id, "/");
  expect(res.status).toBe(200);
  expect(await res.text()).toContain('<div id="root">');
  expect(((await (await other.api(`/v1/previews/${vite.id}`)).json()) as { tier: string }).tier).toBe("browser");
}, 60_000);

test("a plain index.html site is served as it is", async () => {
  const p = (await createPreview(d, { files: { "index.html": "<h1 id=title>Plain site</h1>", "about/index.html": "<p>about</p>" } })) as { id: string; tier?: string };
  expect(p.tier).toBe("browser");
  expect(await titleAt(`http://${p.id}.localhost:${d.proxyPort}/`)).toBe("Plain site");
  expect(await (await d.preview(p.id, "/about/")).text()).toBe("<p>about</p>");
});

test("the same files again reuse the earlier build's output instead of building", async () => {
  const files = { "package.json": JSON.stringify({ name: "twice", scripts: { build: "mkdir -p dist && echo \"<h1>built $(date +%s%N)</h1>\" > dist/index.html" } }), "index.html": "x" };
  const a = (await createPreview(d, { files })) as { id: string; status: string };
  const b = (await createPreview(d, { files })) as { id: string; status: string };
  expect([a.status, b.status]).toEqual(["running", "running"]);
  // The build writes the time it ran: the second preview serves the first one's output, byte for byte.
  expect(await (await d.preview(b.id, "/")).text()).toBe(await (await d.preview(a.id, "/")).text());
  expect(await (await d.api(`/v1/previews/${b.id}/logs`)).text()).toContain("reused");
});

test("a failing build is `failed` with its own output; a build's symlink to a host file is never followed", async () => {
  const broken = (await createPreview(d, { files: { "package.json": JSON.stringify({ name: "broken-build", scripts: { build: "node -e \"console.error('the-build-broke-here'); process.exit(4)\"" } }), "index.html": "x" } })) as { id: string; status: string; error?: string };
  expect(broken.status).toBe("failed");
  expect(broken.error).toContain("exited with code 4");
  expect(broken.error).toContain("the-build-broke-here");
  expect((await d.preview(broken.id, "/")).status).toBe(502);

  const hostile = (await createPreview(d, {
    files: { "package.json": JSON.stringify({ name: "hostile", scripts: { build: "mkdir -p dist && echo '<h1>hi</h1>' > dist/index.html && ln -s /etc/hostname dist/leak.txt && ln -s / dist/root" } }), "index.html": "x" },
  })) as { id: string; status: string };
  expect(hostile.status).toBe("running");
  const leak = await d.preview(hostile.id, "/leak.txt");
  expect(leak.status).toBe(404);
  // A path with no extension is a client-side route: the site's index.html, never the host's file.
  expect(await (await d.preview(hostile.id, "/root/etc/passwd")).text()).toBe("<h1>hi</h1>\n");
  expect(await (await d.preview(hostile.id, "/%2e%2e/%2e%2e/etc/passwd", { headers: { accept: "text/html" } })).text()).toBe("<h1>hi</h1>\n");
}, 120_000);

test("tier container keeps the dev server; tier browser with a database is refused", async () => {
  const res = await d.api("/v1/previews", { method: "POST", body: JSON.stringify({ files: unique(loadApp("vite-react")), tier: "browser", database: true }) });
  expect(res.status).toBe(400);
  expect(((await res.json()) as { error: { message: string } }).error.message).toContain("asks for a database");
});
