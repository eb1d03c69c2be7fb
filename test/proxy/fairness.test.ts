// One slow preview must not stall the proxy for the others (issue 16): with
// 300 requests hanging on preview A and 100 slow clients sending their
// body a byte every 5 s, preview B still answers at once, and A's excess is
// refused with 503 + Retry-After instead of queueing in Bun's process-wide
// fetch cap. Slow bodies are cut with 408 past PREVIEWD_CLIENT_BODY_TIMEOUT.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { echoApp } from "../fixtures/apps.ts";
import { createPreview, startTestDaemon, type TestDaemon } from "../support/daemon.ts";
import { holdOpen } from "../support/rawhttp.ts";

// Answers /hang never, and a body only once it has all arrived.
const slowApp = `
require("http").createServer((req, res) => {
  if (req.url === "/hang") return;
  req.on("data", () => {});
  req.on("end", () => res.end("got it"));
}).listen(process.env.PORT, "0.0.0.0");`;

const LIMIT = 32;
let d: TestDaemon;
let a: string;
let b: string;
beforeAll(async () => {
  d = await startTestDaemon({ PREVIEWD_WARM_POOL: "0", PREVIEWD_PREVIEW_MAX_INFLIGHT: String(LIMIT), PREVIEWD_CLIENT_BODY_TIMEOUT: "3" });
  [a, b] = await Promise.all([
    createPreview(d, { files: { "server.js": slowApp }, command: ["node", "server.js"] }).then((p) => p.id),
    createPreview(d, { files: echoApp }).then((p) => p.id),
  ]);
}, 120_000);
afterAll(() => d?.cleanup());

test("300 hanging requests and 100 slow bodies on A: B answers at once, A's excess gets 503 + Retry-After", async () => {
  // The slow bodies first, so that they take A's slots (and the 408 below has some to cut).
  const dripping = Array.from({ length: 100 }, () =>
    holdOpen(d.proxyPort, `POST /upload HTTP/1.1\r\nhost: ${a}.localhost\r\ncontent-length: 100\r\n\r\n`, "x".repeat(100), 5000));
  await Bun.sleep(1000);
  const hanging = Array.from({ length: 300 }, () => holdOpen(d.proxyPort, `GET /hang HTTP/1.1\r\nhost: ${a}.localhost\r\n\r\n`));
  const all = [...hanging, ...dripping];
  try {
    // Every request is either in flight (a slot of A's limit) or refused; wait until the refusals are in.
    const refused = () => all.filter((c) => c.received().startsWith("HTTP/1.1 503")).length;
    const deadline = Date.now() + 30_000;
    while (refused() < all.length - LIMIT && Date.now() < deadline) await Bun.sleep(100);
    expect(refused()).toBe(all.length - LIMIT);
    const sample = all.find((c) => c.received().startsWith("HTTP/1.1 503"))!.received();
    expect(sample).toMatch(/\r\nretry-after: \d+\r\n/i);
    expect(sample).toContain(`"code":"preview_busy"`);

    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const res = await d.preview(b, "/small");
      expect(await res.text()).toBe("ok");
      times.push(performance.now() - t0);
    }
    console.log(`preview B under 400 requests on A: ${times.map((t) => t.toFixed(1)).join(", ")} ms`);
    expect(Math.max(...times)).toBeLessThan(1000);

    // A browser gets a page, and A itself still refuses (its slots are held), quickly.
    const page = await d.preview(a, "/", { headers: { accept: "text/html" } });
    expect(page.status).toBe(503);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(page.headers.get("retry-after")).toBeTruthy();

    // The slow bodies that got a slot are cut off: 408 after the 3 s body timeout, not held for ever.
    const timedOut = () => dripping.filter((c) => c.received().startsWith("HTTP/1.1 408")).length;
    const inFlightDrips = dripping.filter((c) => !c.received().startsWith("HTTP/1.1 503")).length;
    const until = Date.now() + 30_000;
    while (timedOut() < inFlightDrips && Date.now() < until) await Bun.sleep(200);
    expect(inFlightDrips).toBeGreaterThan(0);
    expect(timedOut()).toBe(inFlightDrips);
  } finally {
    for (const c of all) c.socket.destroy();
  }
  // Once the clients are gone, A's slots are free again.
  const deadline = Date.now() + 10_000;
  let status = 0;
  while (Date.now() < deadline && (status = (await d.preview(a, "/upload", { method: "POST", body: "x" })).status) !== 200) await Bun.sleep(200);
  expect(status).toBe(200);
}, 120_000);
