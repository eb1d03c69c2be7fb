// Pure parts of the Fly client: the Authorization header (fly-go tokens.go),
// error bodies (reference §1.2, fly-go handleAPIError), Retry-After, and the
// token bucket at Fly's published limits (reference §1.3), on a fake clock.
import { describe, expect, test } from "bun:test";
import { flyApiError } from "../../src/overflow/errors.ts";
import { FLY_LIMITS, KeyedRateLimiter } from "../../src/overflow/limiter.ts";
import { authorizationHeader, retryAfterMs } from "../../src/overflow/machines.ts";
import { FlyTier, SERVE_PORT } from "../../src/overflow/tier.ts";
import { createLogger } from "../../src/log.ts";
import type { PreviewRecord } from "../../src/types.ts";

describe("authorizationHeader (fly-go tokens.go)", () => {
  test("macaroons go as FlyV1, other tokens as Bearer, a given scheme is kept", () => {
    expect(authorizationHeader("fm2_lJPECAAAAAAAAm")).toBe("FlyV1 fm2_lJPECAAAAAAAAm");
    expect(authorizationHeader("fm1r_abc,fm1a_def")).toBe("FlyV1 fm1r_abc,fm1a_def");
    expect(authorizationHeader("FlyV1 fm2_abc")).toBe("FlyV1 fm2_abc");
    expect(authorizationHeader("flyv1 fm2_abc")).toBe("FlyV1 fm2_abc");
    expect(authorizationHeader("Bearer abc123")).toBe("Bearer abc123");
    expect(authorizationHeader("abc123")).toBe("Bearer abc123");
    expect(authorizationHeader("  abc123\n")).toBe("Bearer abc123");
  });
});

describe("flyApiError", () => {
  test("the docs' 404 example", () => {
    const e = flyApiError(404, `{"error": "Could not find App \\"my-app-name\\""}`, "01H-ord", "GET /apps/my-app-name");
    expect(e.status).toBe(404);
    expect(e.code).toBe("not_found");
    expect(e.message).toContain('Could not find App "my-app-name"');
    expect(e.requestId).toBe("01H-ord");
  });

  test("message is preferred over error; the body's status is the code (but not the lease answer's 'error')", () => {
    expect(flyApiError(500, `{"error":"a","message":"b"}`, undefined, "x").message).toContain(": b");
    const capacity = flyApiError(503, `{"error":"out of capacity","status":"insufficient_capacity"}`, undefined, "x");
    expect(capacity.code).toBe("insufficient_capacity");
    const lease = flyApiError(409, `{"status":"error","message":"machine ID 1 lease currently held by x","code":"invalid"}`, undefined, "x");
    expect(lease.code).toBe("conflict");
    expect(lease.message).toContain("lease currently held");
  });

  test("401 says FLY_API_TOKEN was refused; a non-JSON body is kept", () => {
    const e = flyApiError(401, `{"error":"Authenticate: token validation error"}`, undefined, "GET /apps/x");
    expect(e.message).toContain("FLY_API_TOKEN");
    expect(e.message).toContain("token validation error");
    expect(flyApiError(502, "<html>bad gateway</html>", undefined, "x").message).toContain("bad gateway");
  });
});

test("retryAfterMs reads seconds and HTTP dates", () => {
  expect(retryAfterMs("2")).toBe(2000);
  expect(retryAfterMs(null)).toBeUndefined();
  expect(retryAfterMs("soon")).toBeUndefined();
  const d = retryAfterMs(new Date(Date.now() + 5000).toUTCString())!;
  expect(d).toBeGreaterThan(3000);
  expect(d).toBeLessThanOrEqual(5000);
});

describe("KeyedRateLimiter", () => {
  test("burst 3 then 1/s (plus margin) per key; keys are independent", () => {
    let now = 0;
    const l = new KeyedRateLimiter({ now: () => now, margin: 1.1 });
    const waits = Array.from({ length: 5 }, () => l.reserve("start:m1", FLY_LIMITS.default));
    expect(waits).toEqual([0, 0, 0, 1100, 2200]);
    expect(l.reserve("start:m2", FLY_LIMITS.default)).toBe(0);
    expect(l.reserve("stop:m1", FLY_LIMITS.default)).toBe(0);
    now = 10_000; // long idle: full again, never more than burst
    expect([0, 1, 2, 3].map(() => l.reserve("start:m1", FLY_LIMITS.default))).toEqual([0, 0, 0, 1100]);
  });

  test("Get Machine: burst 10, 5/s", () => {
    const l = new KeyedRateLimiter({ now: () => 0, margin: 1 });
    const waits = Array.from({ length: 12 }, () => l.reserve("get:m1", FLY_LIMITS.get));
    expect(waits.slice(0, 10).every((w) => w === 0)).toBe(true);
    expect(waits.slice(10)).toEqual([200, 400]);
  });

  test("the schedule it produces never has more than 3 sends in any 1 s window", () => {
    let now = 0;
    const l = new KeyedRateLimiter({ now: () => now });
    const sendTimes = Array.from({ length: 20 }, () => now + l.reserve("create:app", FLY_LIMITS.default));
    for (const t of sendTimes) expect(sendTimes.filter((s) => s >= t && s < t + 1000).length).toBeLessThanOrEqual(3);
  });
});

describe("the machine's relay port (the runner's own port on Fly)", () => {
  const tier = new FlyTier({
    machines: {} as never, store: {} as never, node: "n", cluster: "c", image: "img", edgeUrl: "http://127.0.0.1:1",
    prices: { runningPerHour: 0, suspendedPerHour: 0 }, previewUrl: (id) => id, newId: () => "x", log: createLogger("error"), startTimeoutMs: 1000,
  });
  const config = async (port?: number) => {
    const r = { id: "p1", spec: { files: {}, port, env: { A: "1" } } } as unknown as PreviewRecord;
    const c = await tier.machineConfig(r, { "server.js": "x" });
    const order = JSON.parse(Buffer.from(c.files!.find((f) => f.guest_path === "/app/.previewd/start.json")!.raw_value!, "base64").toString());
    return { internal: c.services![0]!.internal_port, servePort: order.servePort, port: order.port };
  };

  test("the machine's order puts the preview's Node.js line first on PATH, as a node's runner does", async () => {
    const order = async (runtime?: object) => {
      const r = { id: "p1", spec: { files: {}, env: {}, runtime } } as unknown as PreviewRecord;
      const c = await tier.machineConfig(r, { "server.js": "x" });
      return JSON.parse(Buffer.from(c.files!.find((f) => f.guest_path === "/app/.previewd/start.json")!.raw_value!, "base64").toString());
    };
    expect((await order({ node: "22.23.5", source: ".nvmrc" })).nodeBin).toBe("/opt/node/22/bin");
    expect((await order()).nodeBin).toBeUndefined();
  });

  test("is 8080, unless the app asks for 8080 itself: then the relay moves aside and Fly points at it", async () => {
    expect(await config()).toEqual({ internal: SERVE_PORT, servePort: SERVE_PORT, port: undefined });
    expect(await config(3000)).toEqual({ internal: SERVE_PORT, servePort: SERVE_PORT, port: 3000 });
    expect(await config(SERVE_PORT)).toEqual({ internal: SERVE_PORT + 1, servePort: SERVE_PORT + 1, port: SERVE_PORT });
  });
});
