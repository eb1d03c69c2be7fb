// Cookies cannot cross previews (issue 26.3): an app's Set-Cookie whose
// Domain covers other previews (the preview domain or a parent of it) is made
// host-only by the proxy, on the byte-level front, through a sibling's front
// (two fronts chained, as a hop is), and on the general path (fetch, the one
// Fly and the browser tier go through). Chromium at a non-localhost domain
// proves the cookie is not sent to a second preview.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect } from "node:net";
import { createLogger } from "../../src/log.ts";
import { cookieHost, hostOnly } from "../../src/proxy/cookies.ts";
import { startFront, type Front } from "../../src/proxy/fast/index.ts";
import { publicRoutes } from "../../src/proxy/fast/routes.ts";
import { createProxy, type ProxyTarget } from "../../src/proxy/index.ts";
import { InflightLimit } from "../../src/proxy/limits.ts";
import { hasChromium, launchBrowser } from "../support/browser.ts";
import { rawRequest } from "../support/rawhttp.ts";

const DOMAIN = "preview.test";
const A = "cookieapp0000a";
const B = "cookieapp0000b";
const VIA_GENERAL = "cookieapp000gp"; // a target with extra headers: the front hands it to the general path (as Fly's)
const VIA_SIBLING = "cookieapp000sb"; // to a second front, then the app (a sibling hop's bytes)

// The app: /set answers with the cookies the query lists (one Set-Cookie line each); /seen echoes Cookie.
const app = Bun.serve({
  hostname: "127.0.0.1", port: 0,
  fetch(req) {
    const u = new URL(req.url);
    if (u.pathname === "/seen") return new Response(req.headers.get("cookie") ?? "");
    const headers = new Headers({ "content-type": "text/plain" });
    for (const c of u.searchParams.getAll("c")) headers.append("set-cookie", c);
    return new Response("set", { headers });
  },
});
const appAddr = { host: "127.0.0.1", port: app.port! };
const log = createLogger("error", "json");
const activity = { touch() {}, socketOpened() {}, socketClosed() {}, requestStarted() {}, requestEnded() {} };
let front: Front;
let sibling: Front;
let general: ReturnType<typeof Bun.serve>;
let proxy: ReturnType<typeof createProxy>;

function targetOf(id: string): ProxyTarget | undefined {
  if (id === A || id === B) return appAddr;
  if (id === VIA_GENERAL) return { ...appAddr, headers: { "x-edge": "1" } };
  if (id === VIA_SIBLING) return { host: "127.0.0.1", port: sibling.port };
  return undefined;
}

beforeAll(() => {
  proxy = createProxy({ domain: DOMAIN, log, activity, lookup: targetOf, resolve: async (id) => targetOf(id), frontSecret: "s" });
  general = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: proxy.fetch, websocket: proxy.websocket });
  const opts = (lookup: (id: string) => ProxyTarget | undefined) => ({
    hostname: "127.0.0.1", port: 0, log, activity, limit: new InflightLimit(64), frontSecret: "s", bodyTimeoutMs: 30_000, idleTimeoutMs: 30_000,
    route: publicRoutes({ domain: DOMAIN, lookup, general: { host: "127.0.0.1", port: general.port! }, trustsForwarded: () => false }),
  });
  sibling = startFront(opts((id) => (id === VIA_SIBLING ? appAddr : undefined)));
  front = startFront(opts(targetOf));
});

afterAll(async () => {
  await front.stop(100);
  await sibling.stop(100);
  general.stop(true);
  app.stop(true);
});

test("hostOnly drops a Domain covering other previews, in any spelling, and keeps the preview's own host", () => {
  const own = `${A}.${DOMAIN}`;
  expect(hostOnly("x=1; Domain=preview.test", own)).toBe("x=1");
  expect(hostOnly("x=1; Path=/; domain=.PREVIEW.test; HttpOnly", own)).toBe("x=1; Path=/; HttpOnly");
  expect(hostOnly("x=1;DOMAIN = preview.test.;Secure", own)).toBe("x=1;Secure");
  expect(hostOnly("x=1; Domain=example.com", `${A}.preview.example.com`)).toBe("x=1"); // a parent: the operator's own site
  expect(hostOnly("x=1; Domain=other.org", own)).toBe("x=1"); // not ours at all: host-only too
  expect(hostOnly("x=1; Domain=", own)).toBe("x=1");
  expect(hostOnly(`x=1; Domain=${own}`, own)).toBeUndefined(); // exactly its own host: kept
  expect(hostOnly(`x=1; Domain=.${own.toUpperCase()}`, own)).toBeUndefined();
  expect(hostOnly(`x=1; Domain=${own}; Domain=preview.test`, own)).toBe(`x=1; Domain=${own}`); // the last one is what browsers use
  expect(hostOnly("x=1; Path=/", own)).toBeUndefined();
  expect(hostOnly("x=domain=preview.test; xdomain=1", own)).toBeUndefined(); // the value and other attributes are not a Domain
  expect(hostOnly("x=1; Domain=preview.test", undefined)).toBe("x=1");
  expect(cookieHost(`${A.toUpperCase()}.Preview.Test.:8080`)).toBe(`${A}.preview.test`);
});

const q = (cookies: string[]) => `/set?${cookies.map((c) => `c=${encodeURIComponent(c)}`).join("&")}`;
const setCookies = (res: { headers: Array<[string, string]> }) => res.headers.filter(([n]) => n === "set-cookie").map(([, v]) => v);
const TOSSED = ["x=1; Domain=preview.test; Path=/", "y=2; Path=/; domain=.PREVIEW.TEST; SameSite=Strict", "p=3; Domain=test", "plain=4; HttpOnly"];

for (const [name, id] of [["the byte-level front", A], ["a sibling's front (two fronts chained)", VIA_SIBLING], ["the general path (fetch, as Fly)", VIA_GENERAL]] as const) {
  test(`${name}: every Set-Cookie line with a covering Domain goes out host-only; its own host's Domain stays`, async () => {
    const own = `${id}.${DOMAIN}`;
    const res = await rawRequest(front.port, `GET ${q([...TOSSED, `o=5; Domain=${own.toUpperCase()}`])} HTTP/1.1\r\nhost: ${own}:80\r\nconnection: close\r\n\r\n`);
    expect(res.status).toBe(200);
    expect(setCookies(res)).toEqual(["x=1; Path=/", "y=2; Path=/; SameSite=Strict", "p=3", "plain=4; HttpOnly", `o=5; Domain=${own.toUpperCase()}`]);
    expect(res.body.toString()).toBe("set");
  });
}

test("the front's rewrite keeps a kept-alive connection's framing (the next request is answered)", async () => {
  const own = `${A}.${DOMAIN}`;
  const wire = `GET ${q(TOSSED)} HTTP/1.1\r\nhost: ${own}\r\n\r\nGET /seen HTTP/1.1\r\nhost: ${own}\r\ncookie: k=v\r\nconnection: close\r\n\r\n`;
  const sock = connect(front.port, "127.0.0.1");
  const chunks: Buffer[] = [];
  sock.on("data", (c: Buffer) => chunks.push(c));
  await new Promise<void>((resolve, reject) => {
    sock.on("close", () => resolve());
    sock.on("error", reject);
    sock.write(wire);
  });
  const text = Buffer.concat(chunks).toString("latin1");
  const answers = text.split(/(?=HTTP\/1\.1 )/);
  expect(answers.length).toBe(2);
  expect(answers[0]).toContain("\r\n\r\nset");
  expect(answers[0]).not.toMatch(/domain/i);
  expect(answers[1]!.endsWith("\r\n\r\nk=v")).toBe(true);
});

test("the general path alone (createProxy's fetch) rewrites them too", async () => {
  const own = `${VIA_GENERAL}.${DOMAIN}`;
  const res = await proxy.fetch(new Request(`http://${own}${q(TOSSED)}`, { headers: { host: own } }));
  expect(res.headers.getSetCookie()).toEqual(["x=1; Path=/", "y=2; Path=/; SameSite=Strict", "p=3", "plain=4; HttpOnly"]);
});

test.skipIf(!hasChromium())("Chromium at a non-localhost domain: a cookie tossed by preview A for the preview domain is not sent to preview B", async () => {
  const browser = await launchBrowser([`--host-resolver-rules=MAP *.${DOMAIN} 127.0.0.1`]);
  try {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    const at = (id: string, path: string) => `http://${id}.${DOMAIN}:${front.port}${path}`;
    await page.goto(at(A, q(["x=1; Domain=preview.test; Path=/", "y=2; Domain=.Preview.Test; Path=/; SameSite=Strict", `own=3; Domain=${A}.${DOMAIN}; Path=/`, "plain=4; Path=/"])));
    const jar = await ctx.cookies();
    expect(jar.map((c) => `${c.name}@${c.domain}`).sort()).toEqual([`own=.${A}.${DOMAIN}`, `plain=${A}.${DOMAIN}`, `x=${A}.${DOMAIN}`, `y=${A}.${DOMAIN}`].map((s) => s.replace("=", "@")).sort());
    await page.goto(at(B, "/seen"));
    expect(await page.textContent("body")).toBe("");
    await page.goto(at(A, "/seen"));
    expect((await page.textContent("body"))!.split("; ").sort()).toEqual(["own=3", "plain=4", "x=1", "y=2"]);
  } finally {
    await browser.close();
  }
});
