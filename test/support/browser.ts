// A real headless Chromium for tests that load preview pages the way a user
// does: Debian's `chromium` package (/usr/bin/chromium) driven by
// playwright-core. No Playwright browser download is involved (nothing but the
// npm registry and Debian's mirror is reachable here), so never run
// `npx playwright install`.
//
// - Chromium resolves `*.localhost` to loopback by itself (no /etc/hosts entry
//   and no --host-resolver-rules needed), so `http://{id}.localhost:PORT/`
//   reaches a proxy listening on 127.0.0.1.
// - `headless: true` with a full Chromium build runs the new headless mode
//   (`--headless`), the same engine as the headed browser.
// - --no-sandbox: tests run as root here, where Chromium's sandbox refuses to start.
// - The rest keep the browser off the network (no component updates, sync,
//   QUIC or background requests) and quiet.
import { existsSync } from "node:fs";
import { chromium, type Browser, type Page, type Request } from "playwright-core";

export const CHROMIUM_PATH = process.env.PREVIEWD_TEST_CHROMIUM ?? "/usr/bin/chromium";

export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Whether the browser tests can run on this machine (Debian: `apt-get install -y chromium`). */
export function hasChromium(): boolean {
  return existsSync(CHROMIUM_PATH);
}

/** Starts a headless Chromium; the caller closes it (`await browser.close()`). */
export async function launchBrowser(extraArgs: string[] = []): Promise<Browser> {
  if (!hasChromium()) {
    throw new Error(`no Chromium at ${CHROMIUM_PATH} (Debian: apt-get install -y chromium, or set PREVIEWD_TEST_CHROMIUM)`);
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [...CHROMIUM_ARGS, ...extraArgs],
    headless: true,
    timeout: 30_000,
  });
}

/**
 * What a page did, for a failure message: requests still open (with their age), failed or answered with an
 * error, the console's errors and uncaught exceptions. A page that never renders says why.
 */
export function pageJournal(page: Page): { summary(): string } {
  const t0 = Date.now();
  const open = new Map<Request, number>();
  const lines: string[] = [];
  const at = () => `+${((Date.now() - t0) / 1000).toFixed(1)}s`;
  page.on("request", (r) => open.set(r, Date.now()));
  page.on("requestfinished", async (r) => {
    open.delete(r);
    const status = (await r.response().catch(() => null))?.status();
    if (status !== undefined && status >= 400) lines.push(`${at()} ${status} ${r.method()} ${r.url()}`);
  });
  page.on("requestfailed", (r) => {
    open.delete(r);
    lines.push(`${at()} failed ${r.method()} ${r.url()}: ${r.failure()?.errorText}`);
  });
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") lines.push(`${at()} console.${m.type()}: ${m.text().slice(0, 300)}`);
  });
  page.on("pageerror", (e) => lines.push(`${at()} page error: ${e.message.slice(0, 300)}`));
  return {
    summary() {
      const now = Date.now();
      const pending = [...open].map(([r, since]) => `open for ${((now - since) / 1000).toFixed(1)}s: ${r.method()} ${r.url()}`);
      return [...pending, ...lines].join("\n") || "(no open, failed or error requests; no console errors)";
    },
  };
}

/** Loads on this host that Chromium cut short, and why (ERR_NETWORK_CHANGED, below). */
const NETWORK_CHANGED = "net::ERR_NETWORK_CHANGED";

/**
 * Opens `url` and waits for `ready`. Chromium cancels the requests it has in flight, loopback ones too, when an
 * address on the host changes (net::ERR_NETWORK_CHANGED), and Docker adds or removes a veth interface with every
 * container that starts or goes (a warm pool refilling, another test's cleanup). A page whose module requests
 * were cut that way never renders: it is loaded again, up to three times. A user's browser does not share its
 * host with our containers; what is tested is that the page renders, not Chromium's reaction to them.
 */
export async function openPage(page: Page, url: string, ready: () => Promise<unknown>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    let cut!: () => void;
    const changed = new Promise<"changed">((resolve) => (cut = () => resolve("changed")));
    const onFailed = (r: Request) => {
      if (r.failure()?.errorText === NETWORK_CHANGED) cut();
    };
    page.on("requestfailed", onFailed);
    try {
      const outcome = await Promise.race([
        page.goto(url).then(ready, (err: Error) => {
          if (err.message.includes(NETWORK_CHANGED)) return "changed" as const;
          throw err;
        }),
        changed,
      ]);
      if (outcome !== "changed") return;
      if (attempt === 3) throw new Error(`${url}: cut by ${NETWORK_CHANGED} three times`);
      console.log(`${url}: a load was cut by ${NETWORK_CHANGED} (a container's interface came or went); loading again`);
    } finally {
      page.off("requestfailed", onFailed);
    }
  }
}
