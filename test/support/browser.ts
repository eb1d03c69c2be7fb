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
import { chromium, type Browser } from "playwright-core";

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
export async function launchBrowser(): Promise<Browser> {
  if (!hasChromium()) {
    throw new Error(`no Chromium at ${CHROMIUM_PATH} (Debian: apt-get install -y chromium, or set PREVIEWD_TEST_CHROMIUM)`);
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: CHROMIUM_ARGS,
    headless: true,
    timeout: 30_000,
  });
}
