// Private previews and share links (issue 30), on two real daemons sharing a
// database and a cluster secret, real containers: a request without access
// is refused (HTTP, SSE, WebSocket upgrade, the waking page) and never
// reaches the app, on the preview's own node and through a sibling; a share
// link sets the cookie and redirects, works on every node, and stops working
// on every node once revoked or expired; forged and other previews' tokens
// are refused; a password share asks first; public previews are unchanged;
// the app never sees the access cookie.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect } from "node:net";
import { eventually, startPair } from "../support/cluster.ts";
import { killDaemons, type DaemonProcess } from "../support/process.ts";

// Counts every request that reaches it (but /hits), echoes the Cookie it got, answers SSE and WebSocket upgrades.
const APP = `
const http = require("http"), crypto = require("crypto");
let hits = 0, wsCookie = "";
const s = http.createServer((req, res) => {
  if (req.url === "/hits") return res.end(String(hits));
  if (req.url === "/wscookie") return res.end(wsCookie);
  hits++;
  if (req.url === "/events") { res.writeHead(200, { "content-type": "text/event-stream" }); return res.end("data: hi\\n\\n"); }
  res.setHeader("content-type", "text/plain");
  res.end("cookie=" + (req.headers.cookie || ""));
});
s.on("upgrade", (req, sock) => {
  hits++;
  wsCookie = req.headers.cookie || "(none)";
  const accept = crypto.createHash("sha1").update(req.headers["sec-websocket-key"] + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest("base64");
  // Held open a while: the general path's relay (a WebSocket client) counts an upstream closed at once as failed.
  sock.write("HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\nSec-WebSocket-Accept: " + accept + "\\r\\n\\r\\n");
  sock.on("error", () => {});
  setTimeout(() => sock.destroy(), 3000);
});
s.listen(process.env.PORT, "0.0.0.0");`;
const FILES = { "server.js": APP, "package.json": JSON.stringify({ scripts: { start: "node server.js" } }) };

let nodes: DaemonProcess[] = [];
// PREVIEWD_VISIBILITY=private on both: a preview created without one is private. TEST_PROXY_THREADS=N: the same
// with N fronts on each public port (worker threads decide from their copy of the table).
const threads: Record<string, string> = process.env.TEST_PROXY_THREADS ? { PREVIEWD_PROXY_THREADS: process.env.TEST_PROXY_THREADS } : {};
beforeAll(async () => {
  nodes = await startPair({ PREVIEWD_VISIBILITY: "private", PREVIEWD_WARM_POOL: "1", ...threads }, "access");
}, 120_000);
afterAll(() => killDaemons(nodes));

interface Preview { id: string; node: string; url: string; visibility: string; status: string }

async function create(body: object = {}): Promise<{ p: Preview; owner: DaemonProcess; sibling: DaemonProcess }> {
  const res = await nodes[0]!.api("/v1/previews?wait=1", { method: "POST", body: JSON.stringify({ files: FILES, ...body }) });
  const p = (await res.json()) as Preview;
  expect(res.status).toBe(201);
  expect(p.status).toBe("running");
  const owner = nodes.find((n) => n.nodeId === p.node)!;
  return { p, owner, sibling: nodes.find((n) => n !== owner)! };
}

async function share(id: string, body: object = {}, via = nodes[0]!): Promise<{ id: string; url: string; expiresAt: string }> {
  const res = await via.api(`/v1/previews/${id}/shares`, { method: "POST", body: JSON.stringify(body) });
  const json = (await res.json()) as { share: { id: string; url: string; expiresAt: string } };
  expect(res.status).toBe(201);
  return json.share;
}

/** A share link's path and query, to send through any node's proxy. */
const pathOf = (url: string) => {
  const u = new URL(url);
  return `${u.pathname}${u.search}`;
};

/** Visits a share link through `d` and returns the access cookie's name=value (asserting the redirect). */
async function visit(d: DaemonProcess, id: string, url: string): Promise<string> {
  const res = await d.preview(id, pathOf(url).replace("/?", "/page?x=1&"), { redirect: "manual" });
  expect(res.status).toBe(302);
  expect(res.headers.get("location")).toBe("/page?x=1");
  const [c] = res.headers.getSetCookie();
  return c!.split(";")[0]!;
}

/** The status line's code of a WebSocket upgrade through `d`'s proxy (the raw head: fetch cannot send one). */
function upgradeStatus(d: DaemonProcess, id: string, cookie?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const sock = connect(d.proxyPort, "127.0.0.1");
    let got = "";
    sock.on("data", (c: Buffer) => {
      got += c.toString("latin1");
      const m = /^HTTP\/1\.1 (\d{3})/.exec(got);
      if (m && got.includes("\r\n\r\n")) {
        sock.destroy();
        resolve(Number(m[1]));
      }
    });
    sock.on("error", reject);
    setTimeout(() => reject(new Error(`no answer to the upgrade: ${got.slice(0, 200)}`)), 15_000).unref();
    sock.write(`GET /ws HTTP/1.1\r\nhost: ${id}.localhost\r\nconnection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n${cookie ? `cookie: ${cookie}\r\n` : ""}\r\n`);
  });
}

const hits = async (d: DaemonProcess, id: string, cookie: string) => Number(await (await d.preview(id, "/hits", { headers: { cookie } })).text());

describe("a private preview", () => {
  let p: Preview;
  let owner: DaemonProcess;
  let sibling: DaemonProcess;
  let cookie: string;
  beforeAll(async () => {
    ({ p, owner, sibling } = await create()); // no visibility given: PREVIEWD_VISIBILITY
    cookie = await visit(owner, p.id, (await share(p.id)).url);
  }, 120_000);

  test("is created private by PREVIEWD_VISIBILITY, and says so in its object on every node", async () => {
    expect(p.visibility).toBe("private");
    for (const d of nodes) expect(((await (await d.api(`/v1/previews/${p.id}`)).json()) as Preview).visibility).toBe("private");
  });

  for (const way of ["own node", "sibling"] as const) {
    test(`${way}: anonymous HTTP (page and plain), SSE and WebSocket are refused with 401 and never reach the app`, async () => {
      const d = way === "own node" ? owner : sibling;
      const before = await hits(owner, p.id, cookie);
      const nav = await d.preview(p.id, "/", { headers: { accept: "text/html,application/xhtml+xml", "sec-fetch-mode": "navigate" } });
      expect(nav.status).toBe(401);
      expect(nav.headers.get("content-type")).toContain("text/html");
      expect(await nav.text()).toContain("This preview is private");
      const plain = await d.preview(p.id, "/api/data");
      expect(plain.status).toBe(401);
      expect(plain.headers.get("content-type")).toContain("text/plain");
      const sse = await d.preview(p.id, "/events", { headers: { accept: "text/event-stream" } });
      expect(sse.status).toBe(401);
      expect(sse.headers.get("content-type")).toContain("text/plain");
      expect(await upgradeStatus(d, p.id)).toBe(401);
      // A made-up cookie, and another preview's name for it, are no better.
      expect((await d.preview(p.id, "/", { headers: { cookie: "previewd_access=sh00000000000000000000.9999999999.AAAA" } })).status).toBe(401);
      expect(await hits(owner, p.id, cookie)).toBe(before);
    });

    test(`${way}: with the share cookie, HTTP, SSE and WebSocket reach the app, which never sees the access cookie`, async () => {
      const d = way === "own node" ? owner : sibling;
      // Twice: the sibling's first request finds the owner on the general path, the next takes the byte-level hop.
      for (let i = 0; i < 2; i++) {
        const res = await d.preview(p.id, "/x", { headers: { cookie: `theirs=1; ${cookie}; other=2` } });
        expect(res.status).toBe(200);
        expect(await res.text()).toBe("cookie=theirs=1; other=2");
      }
      const sse = await d.preview(p.id, "/events", { headers: { accept: "text/event-stream", cookie } });
      expect(sse.status).toBe(200);
      expect(await sse.text()).toBe("data: hi\n\n");
      expect(await upgradeStatus(d, p.id, `theirs=1; ${cookie}`)).toBe(101);
      expect(await (await d.preview(p.id, "/wscookie", { headers: { cookie } })).text()).toBe("theirs=1");
      expect(await upgradeStatus(d, p.id, cookie)).toBe(101);
      expect(await (await d.preview(p.id, "/wscookie", { headers: { cookie } })).text()).toBe("(none)");
    });
  }

  test("a suspended private preview: an anonymous navigation gets 401, not the waking page, and does not wake it", async () => {
    // A WebSocket still open (the app holds each for 3 s) calls a suspend off: asked again until it holds.
    await eventually("suspended", async () => ((await (await owner.api(`/v1/previews/${p.id}/suspend`, { method: "POST" })).json()) as Preview).status, (st) => st === "suspended", 20_000, 250);
    for (const d of nodes) {
      const nav = await d.preview(p.id, "/", { headers: { accept: "text/html", "sec-fetch-mode": "navigate" } });
      expect(nav.status).toBe(401);
      const poll = await d.preview(p.id, "/__previewd/status", { headers: { "x-previewd-status": "1" } });
      expect(poll.status).toBe(401);
    }
    expect(((await (await owner.api(`/v1/previews/${p.id}`)).json()) as Preview).status).toBe("suspended");
    // With access it wakes and answers (the general path: the cookie is stripped there too).
    const res = await sibling.preview(p.id, "/woken", { headers: { cookie: `a=1; ${cookie}` } });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("cookie=a=1");
  }, 60_000);
});

test("share link: 302 to the same path without the token, a host-only HttpOnly Secure SameSite=None Partitioned cookie; GET lists it", async () => {
  const { p, owner, sibling } = await create({ visibility: "private" });
  const s = await share(p.id, { ttlSeconds: 600 });
  expect(s.id).toMatch(/^sh[a-z0-9]{20}$/);
  const u = new URL(s.url);
  expect(`${u.origin}`).toBe(new URL(p.url).origin);
  expect(u.searchParams.get("previewd_share")).toBeTruthy();
  expect(Math.abs(Date.parse(s.expiresAt) - (Date.now() + 600_000))).toBeLessThan(30_000);
  for (const d of [owner, sibling]) {
    const res = await d.preview(p.id, pathOf(s.url).replace("/?", "/deep/path?keep=1&"), { redirect: "manual" });
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe("/deep/path?keep=1");
    const set = res.headers.getSetCookie();
    expect(set.length).toBe(1);
    const attrs = set[0]!.split(";").map((a) => a.trim());
    expect(attrs[0]).toMatch(/^previewd_access=sh[a-z0-9]{20}\.\d+\.[A-Za-z0-9_-]+$/);
    expect(attrs.slice(1).filter((a) => !a.startsWith("Max-Age=")).sort()).toEqual(["HttpOnly", "Partitioned", "Path=/", "SameSite=None", "Secure"]);
    expect(attrs.filter((a) => a.startsWith("Max-Age="))).toEqual([expect.stringMatching(/^Max-Age=(59\d|600)$/)]);
    expect(set[0]).not.toMatch(/domain/i);
    const ok = await d.preview(p.id, "/deep/path?keep=1", { headers: { cookie: attrs[0]! } });
    expect(ok.status).toBe(200);
  }
  // Listed by the node it was made on (each test daemon names its own proxy port in preview URLs).
  const list = (await (await nodes[0]!.api(`/v1/previews/${p.id}/shares`)).json()) as { shares: Array<{ id: string; url: string; expiresAt: string; password: boolean }> };
  expect(list.shares.map((x) => [x.id, x.url, x.expiresAt, x.password])).toEqual([[s.id, s.url, s.expiresAt, false]]);
}, 120_000);

test("revocation: the link and its cookies stop working on both nodes within seconds", async () => {
  const { p, owner, sibling } = await create({ visibility: "private" });
  const s = await share(p.id, {}, sibling);
  const cookies = [await visit(owner, p.id, s.url), await visit(sibling, p.id, s.url)];
  for (const d of [owner, sibling]) for (const c of cookies) expect((await d.preview(p.id, "/", { headers: { cookie: c } })).status).toBe(200);
  expect((await owner.api(`/v1/previews/${p.id}/shares/${s.id}`, { method: "DELETE" })).status).toBe(204);
  const t0 = Date.now();
  for (const d of [owner, sibling]) {
    for (const c of cookies) await eventually("cookie refused after revocation", async () => (await d.preview(p.id, "/", { headers: { cookie: c } })).status, (st) => st === 401, 5000, 50);
    expect((await d.preview(p.id, pathOf(s.url), { redirect: "manual" })).status).toBe(401);
  }
  console.log(`revocation held on both nodes after ${Date.now() - t0} ms`);
  expect((await owner.api(`/v1/previews/${p.id}/shares/${s.id}`, { method: "DELETE" })).status).toBe(404); // once
  expect(((await (await owner.api(`/v1/previews/${p.id}/shares`)).json()) as { shares: unknown[] }).shares).toEqual([]);
}, 120_000);

test("expiry: a link and its cookie stop working once the share's time is up", async () => {
  const { p, owner, sibling } = await create({ visibility: "private" });
  const s = await share(p.id, { ttlSeconds: 3 });
  const c = await visit(sibling, p.id, s.url);
  expect(Number(/Max-Age=(\d+)/.exec((await owner.preview(p.id, pathOf(s.url), { redirect: "manual" })).headers.getSetCookie()[0]!)?.[1])).toBeLessThanOrEqual(3);
  await eventually("expired cookie refused", async () => (await owner.preview(p.id, "/", { headers: { cookie: c } })).status, (st) => st === 401, 10_000, 100);
  expect((await sibling.preview(p.id, "/", { headers: { cookie: c } })).status).toBe(401);
  const late = await owner.preview(p.id, pathOf(s.url), { redirect: "manual", headers: { accept: "text/html" } });
  expect(late.status).toBe(401);
  expect(await late.text()).toContain("Share link not valid");
}, 120_000);

test("forged tokens and another preview's token or cookie are refused", async () => {
  const a = await create({ visibility: "private" });
  const b = await create({ visibility: "private" });
  const sa = await share(a.p.id);
  const token = new URL(sa.url).searchParams.get("previewd_share")!;
  const [sid, exp, pw, mac] = token.split(".");
  const forged = [
    `${sid}.${Number(exp) + 86400}.${pw}.${mac}`, // a longer life
    `${sid}.${exp}.${pw}.${mac!.slice(0, -2)}AA`, // another MAC
    `sh${"a".repeat(20)}.${exp}.${pw}.${mac}`, // another share id
    "garbage",
  ];
  for (const t of forged) expect((await a.owner.preview(a.p.id, `/?previewd_share=${encodeURIComponent(t)}`, { redirect: "manual" })).status).toBe(401);
  // A's link on B's host, and A's cookie on B.
  expect((await b.owner.preview(b.p.id, `/?previewd_share=${encodeURIComponent(token)}`, { redirect: "manual" })).status).toBe(401);
  const ca = await visit(a.owner, a.p.id, sa.url);
  for (const d of nodes) expect((await d.preview(b.p.id, "/", { headers: { cookie: ca } })).status).toBe(401);
  // A share id of A's cannot be revoked through B.
  expect((await nodes[0]!.api(`/v1/previews/${b.p.id}/shares/${sa.id}`, { method: "DELETE" })).status).toBe(404);
}, 180_000);

test("a password share shows a form first (nothing echoed), refuses a wrong password, then sets the cookie", async () => {
  const { p, owner, sibling } = await create({ visibility: "private" });
  const s = await share(p.id, { password: "correct horse" });
  const path = pathOf(s.url);
  const form = await sibling.preview(p.id, path, { redirect: "manual" });
  expect(form.status).toBe(200);
  expect(form.headers.getSetCookie()).toEqual([]);
  const html = await form.text();
  expect(html).toContain('<form method="post">');
  expect(html).toContain('type="password"');
  const post = (d: DaemonProcess, password: string) =>
    d.preview(p.id, path, { method: "POST", redirect: "manual", body: new URLSearchParams({ password }).toString(), headers: { "content-type": "application/x-www-form-urlencoded" } });
  const wrong = await post(owner, `<script>alert(1)</script>`);
  expect(wrong.status).toBe(401);
  expect(wrong.headers.getSetCookie()).toEqual([]);
  const wrongHtml = await wrong.text();
  expect(wrongHtml).not.toContain("<script>alert");
  expect(wrongHtml).toContain("not right");
  const right = await post(owner, "correct horse");
  expect(right.status).toBe(303);
  // Guessing is held: 10 wrong passwords a minute per share on a node, then 429 (the right one too, until the minute is over).
  for (let i = 1; i < 10; i++) expect((await post(owner, `guess ${i}`)).status).toBe(401);
  const held = await post(owner, "correct horse");
  expect(held.status).toBe(429);
  expect(held.headers.get("retry-after")).toBe("60");
  expect(held.headers.getSetCookie()).toEqual([]);
  expect(right.headers.get("location")).toBe("/");
  const c = right.headers.getSetCookie()[0]!.split(";")[0]!;
  expect((await sibling.preview(p.id, "/", { headers: { cookie: c } })).status).toBe(200);
}, 120_000);

test("a public preview is unchanged (but for the access cookie), and PATCH turns it private and back on every node", async () => {
  const { p, owner, sibling } = await create({ visibility: "public" });
  expect(p.visibility).toBe("public");
  for (const d of [owner, sibling]) {
    const res = await d.preview(p.id, "/", { headers: { cookie: "a=1; previewd_access=x" } });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("cookie=a=1");
    expect(await upgradeStatus(d, p.id)).toBe(101);
  }
  const bad = await sibling.api(`/v1/previews/${p.id}`, { method: "PATCH", body: JSON.stringify({ visibility: "secret" }) });
  expect(bad.status).toBe(400);
  expect(((await bad.json()) as { error: { message: string } }).error.message).toContain("visibility");
  const patched = await sibling.api(`/v1/previews/${p.id}`, { method: "PATCH", body: JSON.stringify({ visibility: "private" }) });
  expect(patched.status).toBe(200);
  expect(((await patched.json()) as Preview).visibility).toBe("private");
  for (const d of [owner, sibling]) await eventually("private on every node", async () => (await d.preview(p.id, "/")).status, (st) => st === 401, 5000, 50);
  expect(((await (await owner.api(`/v1/previews/${p.id}`)).json()) as Preview).visibility).toBe("private");
  expect((await owner.api(`/v1/previews/${p.id}`, { method: "PATCH", body: JSON.stringify({ visibility: "public" }) })).status).toBe(200);
  for (const d of [owner, sibling]) await eventually("public again on every node", async () => (await d.preview(p.id, "/")).status, (st) => st === 200, 5000, 50);
  expect((await owner.api("/v1/previews/nosuchpreview00", { method: "PATCH", body: JSON.stringify({ visibility: "public" }) })).status).toBe(404);
}, 120_000);

test("a private browser-tier preview (served as files by every node) follows the same rule", async () => {
  const res = await nodes[0]!.api("/v1/previews?wait=1", { method: "POST", body: JSON.stringify({ files: { "index.html": "<!doctype html><h1>static private</h1>" }, tier: "browser", visibility: "private" }) });
  const p = (await res.json()) as Preview & { tier: string };
  expect(res.status).toBe(201);
  expect([p.tier, p.status, p.visibility]).toEqual(["browser", "running", "private"]);
  const s = await share(p.id);
  for (const d of nodes) {
    const anon = await d.preview(p.id, "/", { headers: { accept: "text/html" } });
    expect(anon.status).toBe(401);
    expect(await anon.text()).not.toContain("static private");
    const c = await visit(d, p.id, s.url);
    const ok = await d.preview(p.id, "/", { headers: { cookie: c } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain("static private");
  }
}, 120_000);
