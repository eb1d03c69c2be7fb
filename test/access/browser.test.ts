// A share link in a real Chromium (issue 30): opened on its own it sets the
// access cookie (host-only, HttpOnly, Secure, SameSite=None, Partitioned) and
// lands on the path without the token; inside an iframe of another site with
// third-party cookies blocked, the partitioned cookie still lets the preview
// load (a plain cookie would be dropped, and the frame sent round the
// redirect forever); a password share's form works as a visitor uses it.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { hasChromium, launchBrowser } from "../support/browser.ts";
import { createPreview, startTestDaemon, type TestDaemon } from "../support/daemon.ts";

const APP = `
require("http").createServer((req, res) => {
  res.setHeader("content-type", "text/html");
  // A plain (unpartitioned) third-party cookie: the control that shows third-party cookies are blocked.
  if (req.url === "/setplain") res.setHeader("set-cookie", "plain=1; Path=/; SameSite=None; Secure");
  res.end("<!doctype html><title>app</title><h1 id=app>hello from " + req.url.replace(/[^a-z/]/g, "") + "</h1><p id=cookie>" + (req.headers.cookie || "none").replace(/[<>&]/g, "") + "</p>");
}).listen(process.env.PORT, "0.0.0.0");`;

let d: TestDaemon;
let id: string;
// The embedding site: another site than the preview's (an IP, not a *.localhost name), so the frame is third-party.
let host: ReturnType<typeof Bun.serve>;
let frameSrc = "";

beforeAll(async () => {
  d = await startTestDaemon({ PREVIEWD_WARM_POOL: "1" });
  const p = await createPreview(d, { visibility: "private", files: { "server.js": APP, "package.json": JSON.stringify({ scripts: { start: "node server.js" } }) } });
  id = p.id;
  host = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response(`<!doctype html><title>builder</title><iframe id=f src="${frameSrc}" width=600 height=300></iframe>`, { headers: { "content-type": "text/html" } }) });
}, 120_000);
afterAll(async () => {
  host?.stop(true);
  await d?.cleanup();
});

async function shareUrl(body: object, path = "/"): Promise<string> {
  const res = await d.api(`/v1/previews/${id}/shares`, { method: "POST", body: JSON.stringify(body) });
  expect(res.status).toBe(201);
  const u = new URL(((await res.json()) as { share: { url: string } }).share.url);
  u.pathname = path;
  return u.toString();
}

test.skipIf(!hasChromium())("opened in a tab: redirected to the path without the token, the cookie host-only, HttpOnly, Secure, SameSite=None, partitioned", async () => {
  const browser = await launchBrowser();
  try {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    // Without access: the 401 page.
    const first = await page.goto(`http://${id}.localhost:${d.proxyPort}/`);
    expect(first!.status()).toBe(401);
    expect(await page.textContent("h1")).toBe("This preview is private");
    await page.goto(await shareUrl({}, "/docs"));
    expect(new URL(page.url()).pathname).toBe("/docs");
    expect(new URL(page.url()).search).toBe("");
    expect(await page.textContent("#app")).toBe("hello from /docs");
    expect(await page.textContent("#cookie")).toBe("none"); // the app never sees it
    expect(await page.evaluate(() => (globalThis as unknown as { document: { cookie: string } }).document.cookie)).toBe(""); // HttpOnly: no script reads it
    const jar = await ctx.cookies();
    expect(jar.length).toBe(1);
    const c = jar[0]!;
    expect([c.name, c.domain, c.path, c.httpOnly, c.secure, c.sameSite]).toEqual(["previewd_access", `${id}.localhost`, "/", true, true, "None"]);
    expect(c.partitionKey).toBeTruthy();
    await page.reload();
    expect(await page.textContent("#app")).toBe("hello from /docs");
  } finally {
    await browser.close();
  }
}, 60_000);

test.skipIf(!hasChromium())("in a third-party iframe with third-party cookies blocked: the partitioned cookie lets the preview load", async () => {
  const browser = await launchBrowser(["--test-third-party-cookie-phaseout"]);
  try {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    frameSrc = await shareUrl({}, "/in-frame");
    await page.goto(`http://127.0.0.1:${host.port}/`);
    const frame = page.frameLocator("#f");
    expect(await frame.locator("#app").textContent({ timeout: 15_000 })).toBe("hello from /inframe");
    // The frame reloaded without the token, so the cookie was kept and sent from inside the frame.
    const f = page.frames().find((x) => x.url().includes(`${id}.localhost`))!;
    expect(new URL(f.url()).search).toBe("");
    await f.goto(`http://${id}.localhost:${d.proxyPort}/setplain`);
    await f.goto(`http://${id}.localhost:${d.proxyPort}/again`);
    expect(await f.textContent("#app")).toBe("hello from /again");
    // The control: the app's own unpartitioned cookie was not kept in this frame (third-party cookies are blocked here).
    expect(await f.textContent("#cookie")).toBe("none");
    const access = (await ctx.cookies()).find((c) => c.name === "previewd_access");
    expect(access?.partitionKey).toBe("http://127.0.0.1");
  } finally {
    await browser.close();
  }
}, 60_000);

test.skipIf(!hasChromium())("a password share: the form, a wrong password refused, the right one lets the visitor in", async () => {
  const browser = await launchBrowser();
  try {
    const page = await (await browser.newContext()).newPage();
    await page.goto(await shareUrl({ password: "open sesame" }, "/secret"));
    expect(await page.textContent("h1")).toBe("Password required");
    await page.fill("input[name=password]", "wrong");
    await page.click("button[type=submit]");
    expect(await page.textContent("[role=alert]")).toContain("not right");
    await page.fill("input[name=password]", "open sesame");
    await page.click("button[type=submit]");
    await page.waitForSelector("#app");
    expect(await page.textContent("#app")).toBe("hello from /secret");
    expect(new URL(page.url()).search).toBe("");
  } finally {
    await browser.close();
  }
}, 60_000);
