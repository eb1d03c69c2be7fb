// Share links and access cookies (src/access): what a forged, altered,
// expired, revoked or other preview's token gets, decided from memory; and
// the access cookie taken out of what an app receives, on the byte-level
// front (a relayed head) and on the general path (fetch).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { AccessSigner, newShareId } from "../../src/access/tokens.ts";
import { AccessTable } from "../../src/access/table.ts";
import { accessCookieOf, accessSetCookie, secureHost, withoutAccessCookie } from "../../src/access/cookie.ts";
import { escapeHtml } from "../../src/access/gate.ts";
import { createLogger } from "../../src/log.ts";
import { startFront, type Front } from "../../src/proxy/fast/index.ts";
import { publicRoutes } from "../../src/proxy/fast/routes.ts";
import { createProxy } from "../../src/proxy/index.ts";
import { InflightLimit } from "../../src/proxy/limits.ts";
import { rawRequest } from "../support/rawhttp.ts";

let clock = 1_800_000_000_000;
const now = () => clock;
const signer = AccessSigner.fromSecret("test secret 0123456789", now);
const A = "accesspreviewa";
const B = "accesspreviewb";

test("a link verifies for its own preview only, until it expires; any altered byte is refused", () => {
  const sid = newShareId();
  expect(sid).toMatch(/^sh[a-z0-9]{20}$/);
  const exp = clock / 1000 + 60;
  const link = signer.link(A, sid, exp, false);
  expect(signer.verifyLink(A, link)).toEqual({ shareId: sid, exp, password: false });
  expect(signer.verifyLink(B, link)).toBeUndefined(); // another preview's
  const [s, e, p, mac] = link.split(".") as [string, string, string, string];
  expect(signer.verifyLink(A, `${s}.${e}.1.${mac}`)).toBeUndefined(); // the password flag is signed
  expect(signer.verifyLink(A, `${s}.${Number(e) + 3600}.${p}.${mac}`)).toBeUndefined(); // a later expiry
  expect(signer.verifyLink(A, `${s}.${e}.${p}.${mac.slice(0, -1)}${mac.endsWith("A") ? "B" : "A"}`)).toBeUndefined();
  expect(signer.verifyLink(A, `${s}.${e}.${p}.${mac}.x`)).toBeUndefined();
  expect(signer.verifyLink(A, "")).toBeUndefined();
  const other = AccessSigner.fromSecret("another secret 012345", now); // a daemon without the cluster secret
  expect(other.verifyLink(A, link)).toBeUndefined();
  expect(signer.verifyLink(A, signer.cookie(A, sid, exp))).toBeUndefined(); // a cookie is not a link
  clock += 61_000;
  expect(signer.verifyLink(A, link)).toBeUndefined();
});

test("the table: public open, private denied without a cookie, granted with one of its own, until expiry or revocation", () => {
  const table = new AccessTable(signer, now);
  expect(table.decide(A, undefined)).toBe("unknown");
  table.replace([[A, true], [B, false]], [], clock);
  expect(table.decide(B, undefined)).toBe("open");
  expect(table.decide(A, undefined)).toBe("denied");
  const sid = newShareId();
  const exp = Math.floor(clock / 1000) + 30;
  const value = signer.cookie(A, sid, exp);
  expect(table.decide(A, `a=1; previewd_access=${value}; b=2`)).toBe("granted");
  expect(table.decide(A, `xpreviewd_access=${value}`)).toBe("denied"); // another cookie's name ending so
  expect(table.decide(A, `previewd_access=${signer.cookie(B, sid, exp)}`)).toBe("denied"); // B's cookie
  expect(table.decide(A, `previewd_access=${sid}.${exp + 100}.${value.split(".")[2]}`)).toBe("denied"); // a stretched expiry
  table.revoke(sid);
  expect(table.decide(A, `previewd_access=${value}`)).toBe("denied");
  // A snapshot read before the revocation does not bring it back; one read after it (without it) does drop it.
  table.replace([[A, true]], [], clock - 1);
  expect(table.decide(A, `previewd_access=${value}`)).toBe("denied");
  const sid2 = newShareId();
  const v2 = signer.cookie(A, sid2, exp);
  expect(table.decide(A, `previewd_access=${v2}`)).toBe("granted");
  clock += 31_000;
  expect(table.decide(A, `previewd_access=${v2}`)).toBe("denied"); // cached as verified, still expires
  // A thread's copy decides the same.
  const copy = new AccessTable(AccessSigner.fromExported(signer.exported, now), now);
  copy.apply(table.snapshot());
  expect(copy.decide(A, undefined)).toBe("denied");
  expect(copy.decide(B, undefined)).toBe("unknown"); // gone from the last read
});

test("cookie helpers: found only as a pair, stripped leaving the rest; Set-Cookie attributes per scheme", () => {
  expect(accessCookieOf("previewd_access=v1")).toBe("v1");
  expect(accessCookieOf("a=b;previewd_access=v2 ; c=d")).toBe("v2");
  expect(accessCookieOf("a=previewd_access=v3")).toBeUndefined();
  expect(withoutAccessCookie("a=1; previewd_access=x; b=2")).toBe("a=1; b=2");
  expect(withoutAccessCookie("previewd_access=x")).toBe("");
  expect(withoutAccessCookie("a=1")).toBe("a=1");
  expect(accessSetCookie("v", 60, true)).toBe("previewd_access=v; Path=/; Max-Age=60; HttpOnly; Secure; SameSite=None; Partitioned");
  expect(accessSetCookie("v", 60, false)).toBe("previewd_access=v; Path=/; Max-Age=60; HttpOnly; SameSite=Lax");
  expect(secureHost("abc.localhost:8080", false)).toBe(true);
  expect(secureHost("abc.preview.example.com", false)).toBe(false);
  expect(secureHost("abc.preview.example.com", true)).toBe(true);
  expect(escapeHtml(`<script>"x"&'y'</script>`)).toBe("&#60;script&#62;&#34;x&#34;&#38;&#39;y&#39;&#60;/script&#62;");
});

// ---- the access cookie never reaches an app: a front (byte relay) and the general path in front of an echo app
const app = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => new Response(req.headers.get("cookie") ?? "(none)") });
const log = createLogger("error", "json");
const activity = { touch() {}, socketOpened() {}, socketClosed() {}, requestStarted() {}, requestEnded() {} };
let front: Front;
let general: ReturnType<typeof Bun.serve>;
beforeAll(() => {
  const target = (id: string) => (id === A ? { host: "127.0.0.1", port: app.port! } : id === B ? { host: "127.0.0.1", port: app.port!, headers: { "x-edge": "1" } } : undefined);
  const proxy = createProxy({ domain: "preview.test", log, activity, lookup: target, resolve: async (id) => target(id), frontSecret: "s" });
  general = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: proxy.fetch, websocket: proxy.websocket });
  front = startFront({
    hostname: "127.0.0.1", port: 0, log, activity, limit: new InflightLimit(64), frontSecret: "s", bodyTimeoutMs: 30_000, idleTimeoutMs: 30_000,
    route: publicRoutes({ domain: "preview.test", lookup: target, general: { host: "127.0.0.1", port: general.port! }, trustsForwarded: () => false }),
  });
});
afterAll(async () => {
  await front.stop(100);
  general.stop(true);
  app.stop(true);
});

for (const [way, id] of [["byte-level front", A], ["general path (fetch)", B]] as const) {
  test(`${way}: the app gets every cookie but the access cookie, whichever line and place it is in`, async () => {
    const ask = async (cookieLines: string[]) => {
      const res = await rawRequest(front.port, `GET / HTTP/1.1\r\nhost: ${id}.preview.test\r\n${cookieLines.map((c) => `cookie: ${c}\r\n`).join("")}connection: close\r\n\r\n`);
      expect(res.status).toBe(200);
      return res.body.toString();
    };
    expect(await ask(["a=1; previewd_access=secret; b=2"])).toBe("a=1; b=2");
    expect(await ask(["previewd_access=secret"])).toBe("(none)");
    expect(await ask(["a=1", "previewd_access=secret"])).toBe("a=1");
    expect(await ask(["a=1; b=2"])).toBe("a=1; b=2");
  });
}
