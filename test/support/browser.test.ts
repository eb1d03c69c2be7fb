// The headless browser helper against a page whose script renders the DOM,
// opened the way previews are: http://{id}.localhost:PORT/ (Chromium resolves
// *.localhost to loopback by itself).
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Browser } from "playwright-core";
import { launchBrowser } from "./browser.ts";

const PAGE = `<!doctype html>
<html>
  <head><meta charset="utf-8"><title>browser helper</title></head>
  <body>
    <h1 id="title">static</h1>
    <button id="count">count is 0</button>
    <script>
      document.getElementById("title").textContent = "rendered by script on " + location.hostname;
      let count = 0;
      document.getElementById("count").addEventListener("click", (e) => {
        e.target.textContent = "count is " + ++count;
      });
    </script>
  </body>
</html>`;

let server: ReturnType<typeof Bun.serve>;
let browser: Browser;
const hosts: string[] = [];

beforeAll(async () => {
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      hosts.push(req.headers.get("host") ?? "");
      const { pathname } = new URL(req.url);
      if (pathname !== "/") return new Response("not found", { status: 404 });
      return new Response(PAGE, { headers: { "content-type": "text/html; charset=utf-8" } });
    },
  });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  server?.stop(true);
});

test("renders a scripted page at {id}.localhost and reacts to a click", async () => {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const url = `http://x1.localhost:${server.port}/`;
    const response = await page.goto(url);
    expect(response?.status()).toBe(200);
    expect(hosts).toContain(`x1.localhost:${server.port}`);

    await expect(page.locator("#title").textContent()).resolves.toBe("rendered by script on x1.localhost");
    expect(await page.locator("#count").textContent()).toBe("count is 0");

    await page.click("#count");
    await page.click("#count");
    await page.locator("#count", { hasText: /^count is 2$/ }).waitFor({ timeout: 5000 });
    expect(await page.locator("#count").textContent()).toBe("count is 2");
  } finally {
    await context.close();
  }
});
