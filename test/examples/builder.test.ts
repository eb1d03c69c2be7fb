// examples/builder end to end, as its README runs it: a real daemon, the fake
// Railway, the builder's server as its own process (`bun examples/builder/server.ts`)
// and Chromium with third-party cookies blocked. The builder page is on
// http://127.0.0.1, the previews on https://{id}.preview.test (a TLS front
// before the proxy, as nginx is in production): another site, so the
// iframe's share cookie is a third-party one and loads only because it is
// Partitioned. (https, because the cookie is SameSite=None, which browsers
// keep only when Secure, and on plain http previewd marks it Secure on
// localhost names only.)
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { join } from "node:path";
import type { Browser, Frame, Page, Request } from "playwright-core";
import { startFakeRailway, type FakeRailway } from "../fakes/railway/index.ts";
import { hasChromium, launchBrowser, openPage, pageJournal } from "../support/browser.ts";
import { startTestDaemon, type TestDaemon } from "../support/daemon.ts";
import { ensureBaseImage } from "../support/docker.ts";
import { eventually } from "../support/eventually.ts";
import { startTlsFront, type TlsFront } from "../support/tls-front.ts";

const EXAMPLE = join(import.meta.dir, "..", "..", "examples", "builder");
const EDIT = "Edited in the builder";
const DOMAIN = "preview.test";

let fake: FakeRailway;
let d: TestDaemon;
let server: Subprocess<"ignore", "pipe", "pipe"> | undefined;
let builderUrl = "";
let serverOutput = "";
let browser: Browser;
let tls: TlsFront;

/** Starts the builder's server (the README's command; on a fresh checkout it runs `npm ci` for the page first) and reads its address from the line it prints. */
async function startBuilder(): Promise<void> {
  server = Bun.spawn([process.execPath, join(EXAMPLE, "server.ts")], {
    env: { ...process.env, PREVIEWD_URL: `http://127.0.0.1:${d.apiPort}`, PREVIEWD_TOKEN: d.token, PORT: "0" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const drain = async (s: ReadableStream<Uint8Array>) => {
    for await (const chunk of s) serverOutput += new TextDecoder().decode(chunk);
  };
  void drain(server.stdout);
  void drain(server.stderr);
  await eventually("the builder's server to print its address", async () => /builder: (http:\/\/\S+\/)/.exec(serverOutput)?.[1], (u) => !!u || server!.exitCode !== null, 180_000, 50);
  const url = /builder: (http:\/\/\S+\/)/.exec(serverOutput)?.[1];
  if (!url) throw new Error(`the builder's server exited (${server.exitCode}):\n${serverOutput}`);
  builderUrl = url;
}

beforeAll(async () => {
  [fake, tls] = await Promise.all([ensureBaseImage().then((image) => startFakeRailway({ image })), startTlsFront(DOMAIN)]);
  d = await startTestDaemon(
    {
      ...{ RAILWAY_API_TOKEN: fake.token, RAILWAY_API_URL: fake.apiUrl, RAILWAY_EDGE_URL: fake.edgeUrl },
      ...{ PREVIEWD_DOMAIN: DOMAIN, PREVIEWD_URL_TEMPLATE: `https://{id}.${DOMAIN}:${tls.port}` },
      // Its own dependency cache (under its data dir, gone with it): the preview really installs, and the page shows it.
      ...{ PREVIEWD_START_TIMEOUT: "90", PREVIEWD_WARM_POOL: "0" }, // no refill: every container come or gone cuts Chromium's loads (below)
    },
    { deployPollMs: 200 },
  );
  tls.target.port = d.proxyPort;
  await startBuilder();
  // Third-party cookies blocked, as Chrome does for a share of its users and Safari for all; the test domain
  // resolved to loopback and its self-signed certificate accepted.
  browser = await launchBrowser(["--test-third-party-cookie-phaseout", `--host-resolver-rules=MAP *.${DOMAIN} 127.0.0.1`, "--ignore-certificate-errors"]);
}, 300_000);

afterAll(async () => {
  await browser?.close();
  server?.kill();
  await server?.exited;
  await d?.cleanup();
  await fake?.stop();
  tls?.stop();
}, 120_000);

/** Status and phase texts in the order the page showed them (recorded in the page, so none is missed between polls). */
const RECORD = `new MutationObserver(() => {
  const seen = (window.__seen ??= []);
  for (const sel of ["#status", "#phase"]) {
    const t = document.querySelector(sel)?.textContent;
    if (t && !seen.includes(sel + " " + t)) seen.push(sel + " " + t);
  }
}).observe(document, { subtree: true, childList: true, characterData: true });`;

/** Selects `text` in the CodeMirror editor the way a mouse would (a DOM selection, which CodeMirror follows). */
async function selectInEditor(page: Page, text: string): Promise<boolean> {
  await page.click(".cm-content");
  return page.evaluate((target) => {
    const doc = (globalThis as any).document;
    const walker = doc.createTreeWalker(doc.querySelector(".cm-content"), 4 /* NodeFilter.SHOW_TEXT */);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const at = node.data.indexOf(target);
      if (at < 0) continue;
      const range = doc.createRange();
      range.setStart(node, at);
      range.setEnd(node, at + target.length);
      const sel = (globalThis as any).getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      return true;
    }
    return false;
  }, text);
}

/** Loads of previews (any host under `domain`) that Chromium cut (see frameReady), counted from the page's start. */
function cutsOf(page: Page, domain: string) {
  let count = 0;
  const waiting = new Set<() => void>();
  page.on("requestfailed", (r: Request) => {
    if (r.failure()?.errorText !== "net::ERR_NETWORK_CHANGED" || !new URL(r.url()).hostname.endsWith(`.${domain}`)) return;
    count++;
    for (const wake of waiting) wake();
  });
  return {
    get count() {
      return count;
    },
    /** Resolves once more than `n` loads were cut (at once when that already happened). */
    beyond(n: number): Promise<"cut"> {
      return new Promise((resolve) => {
        const check = () => count > n && (waiting.delete(check), resolve("cut"));
        waiting.add(check);
        check();
      });
    },
  };
}

/**
 * Waits for the preview's frame to show `ready`. As openPage (test/support/browser.ts) does for a page: Chromium
 * cancels loads in flight, loopback ones too, when a host interface changes (net::ERR_NETWORK_CHANGED), which
 * Docker does with every container that starts or goes on this shared machine; a frame whose requests were cut
 * never renders, so it opens its share link again (as a reload by the user would), up to three times.
 */
async function frameReady(page: Page, cuts: ReturnType<typeof cutsOf>, ready: () => Promise<unknown>): Promise<Frame> {
  const iframe = page.locator("#preview");
  await iframe.waitFor({ timeout: 60_000 });
  for (let attempt = 1, handled = 0; ; attempt++) {
    if ((await Promise.race([ready(), cuts.beyond(handled)])) !== "cut") return (await (await iframe.elementHandle())!.contentFrame())!;
    if (attempt === 3) throw new Error("the preview's frame was cut by net::ERR_NETWORK_CHANGED three times");
    console.log("the preview's frame: a load was cut by net::ERR_NETWORK_CHANGED (a container's interface came or went); loading it again");
    handled = cuts.count;
    const frame = (await (await iframe.elementHandle())!.contentFrame())!;
    await frame.goto((await iframe.getAttribute("src"))!).catch(() => {});
  }
}

test.skipIf(!hasChromium())("the builder: a private preview in a third-party iframe by its share link, an edit by HMR, a deploy to live", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const journal = pageJournal(page);
  const tokensSeen: string[] = [];
  page.on("request", (r) => {
    const auth = r.headers().authorization;
    if (auth) tokensSeen.push(auth);
  });
  await page.addInitScript(RECORD);
  const cuts = cutsOf(page, DOMAIN);
  try {
    await openPage(page, builderUrl, () => page.waitForSelector(".cm-content", { timeout: 30_000 }));
    await page.locator("#status", { hasText: /^running$/ }).waitFor({ timeout: 180_000 }).catch((e: Error) => {
      throw new Error(`${e.message}\n--- page:\n${journal.summary()}\n--- builder server:\n${serverOutput}`);
    });
    const seen = (await page.evaluate("window.__seen")) as string[];
    console.log(`the page showed: ${seen.join(" | ")}`);
    // creating (the server's POST), then what the daemon's events said (installing, starting, with phases), then running.
    const at = (entry: string) => seen.findIndex((x) => x.startsWith(entry));
    expect(at("#status creating")).toBeGreaterThanOrEqual(0);
    expect(at("#status creating")).toBeLessThan(at("#status installing"));
    expect(at("#status installing")).toBeLessThan(at("#phase installing dependencies (npm ci"));
    expect(at("#phase installing dependencies (npm ci")).toBeLessThan(at("#status running"));
    const id = (await page.textContent("#preview-id"))!;
    expect(id).toMatch(/^[a-z0-9]+$/);
    const previewHost = `${id}.${DOMAIN}`;

    // Private: without the share cookie the preview answers 401 and the app is never reached.
    const preview = (await (await d.api(`/v1/previews/${id}`)).json()) as { visibility: string; tier: string; url: string };
    expect([preview.visibility, preview.tier, preview.url]).toEqual(["private", "container", `https://${previewHost}:${tls.port}`]);
    expect((await fetch(`http://127.0.0.1:${d.proxyPort}/`, { headers: { host: previewHost } })).status).toBe(401);

    // The iframe opened the share link: the cookie was set (partitioned under the builder's site), the token left the URL.
    const frame = page.frameLocator("#preview");
    const f = await frameReady(page, cuts, () => frame.locator("#title", { hasText: "Hello from Vite + React" }).waitFor({ timeout: 120_000 })).catch((e: Error) => {
      throw new Error(`${e.message}\n--- page:\n${journal.summary()}`);
    });
    expect(new URL(f.url()).search).toBe("");
    const access = (await context.cookies()).find((c) => c.name === "previewd_access");
    expect([access?.domain, access?.secure, access?.sameSite, access?.partitionKey]).toEqual([previewHost, true, "None", "http://127.0.0.1"]);
    await f.evaluate("window.marker = 42"); // a full reload would wipe it

    // Edit the component in the editor, save: the PATCH reaches Vite, HMR updates the iframe in place.
    await page.click('[data-path="src/App.jsx"]');
    expect(await selectInEditor(page, "Hello from Vite + React")).toBe(true);
    await page.keyboard.type(EDIT);
    await page.locator('[data-path="src/App.jsx"]', { hasText: "•" }).waitFor({ timeout: 5_000 }); // unsaved
    await page.click("#save");
    await frame.locator("#title", { hasText: EDIT }).waitFor({ timeout: 30_000 });
    expect(await frame.locator("#title").textContent()).toBe(EDIT);
    expect(await f.evaluate("window.marker")).toBe(42);
    await page.locator("#saved", { hasText: "saved (1 updates)" }).waitFor({ timeout: 10_000 });

    // Deploy against the fake Railway: steps appear as they happen, then live with its URL.
    await page.click("#deploy");
    await page.locator("#deploy-status", { hasText: /^(live|failed)$/ }).waitFor({ timeout: 300_000 });
    const status = await page.textContent("#deploy-status");
    if (status !== "live") throw new Error(`deploy ${status}: ${await page.textContent("#deploy-error").catch(() => "")}`);
    const steps = await page.locator("#steps li").allTextContents();
    expect(steps.some((s) => s.startsWith("building"))).toBe(true);
    const liveUrl = (await page.textContent("#deploy-url"))!;
    expect(liveUrl).toMatch(/^https:\/\/\S+\.up\.railway\.app$/);

    // The deployed app answers at that URL (the fake's edge, by Host) with the edited build.
    const host = new URL(liveUrl).host;
    const html = await (await fetch(fake.edgeUrl, { headers: { host } })).text();
    expect(html).toContain('<div id="root"></div>');
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    expect(await (await fetch(new URL(script!, fake.edgeUrl), { headers: { host } })).text()).toContain(EDIT);

    // The page never held a token: no request it made carried one.
    expect(tokensSeen).toEqual([]);
    expect(await (await fetch(new URL("app.js", builderUrl))).text()).not.toContain(d.token);
  } finally {
    await context.close();
  }
}, 600_000);
