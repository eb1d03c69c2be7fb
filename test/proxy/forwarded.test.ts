// Forwarded headers from the public client are not the app's truth: apps
// build password-reset links from X-Forwarded-Host. They are set by the proxy,
// and kept only from a trusted proxy in front (PREVIEWD_TRUSTED_PROXIES).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { echoApp } from "../fixtures/apps.ts";
import { createPreview, startTestDaemon, type TestDaemon } from "../support/daemon.ts";

const spoofed = {
  "x-forwarded-host": "evil.example",
  "x-forwarded-proto": "https",
  "x-forwarded-for": "6.6.6.6",
  forwarded: "for=6.6.6.6;host=evil.example;proto=https",
  "x-real-ip": "6.6.6.6",
};

let open: TestDaemon;
let behindTerminator: TestDaemon;
beforeAll(async () => {
  [open, behindTerminator] = await Promise.all([startTestDaemon(), startTestDaemon({ PREVIEWD_TRUSTED_PROXIES: "127.0.0.1" })]);
});
afterAll(async () => {
  await Promise.all([open?.cleanup(), behindTerminator?.cleanup()]);
});

test("a client's X-Forwarded-*, Forwarded and X-Real-IP are replaced by the proxy's own", async () => {
  const p = await createPreview(open, { files: echoApp });
  const seen = (await (await open.preview(p.id, "/headers", { headers: spoofed })).json()) as Record<string, string>;
  expect(seen["x-forwarded-host"]).toBe(`${p.id}.localhost`);
  expect(seen["x-forwarded-proto"]).toBe("http");
  expect(seen["x-forwarded-for"]).toBe("127.0.0.1");
  expect(seen["x-real-ip"]).toBe("127.0.0.1");
  expect(seen.forwarded).toBe(`for=127.0.0.1;host="${p.id}.localhost";proto=http`);
  expect(JSON.stringify(seen)).not.toContain("evil.example");
  expect(JSON.stringify(seen)).not.toContain("6.6.6.6");
});

test("from a trusted proxy (a TLS terminator in front) they are kept, and its address joins the chain", async () => {
  const p = await createPreview(behindTerminator, { files: echoApp });
  const seen = (await (await behindTerminator.preview(p.id, "/headers", { headers: spoofed })).json()) as Record<string, string>;
  expect(seen["x-forwarded-host"]).toBe("evil.example");
  expect(seen["x-forwarded-proto"]).toBe("https");
  expect(seen["x-forwarded-for"]).toBe("6.6.6.6, 127.0.0.1");
  expect(seen["x-real-ip"]).toBe("6.6.6.6");
  expect(seen.forwarded).toBe(spoofed.forwarded);
});
