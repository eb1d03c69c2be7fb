// `previewd serve` raises Bun's process-wide fetch cap (main.ts re-executes
// itself with BUN_CONFIG_MAX_HTTP_REQUESTS, which Bun reads only at start).
// Proof by behaviour, in a real daemon process: with the per-preview limit
// above Bun's default of 256, 300 requests hanging on A leave B answering.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { echoApp } from "../fixtures/apps.ts";
import { ensureBaseImage } from "../support/docker.ts";
import { testDatabaseUrl } from "../support/postgres.ts";
import { holdOpen } from "../support/rawhttp.ts";
import { killDaemons, spawnDaemon, type DaemonProcess } from "../support/process.ts";

// Answers / (the readiness check), never /hang.
const hangApp = `require("http").createServer((req, res) => req.url !== "/hang" && res.end("ok")).listen(process.env.PORT, "0.0.0.0");`;

let d: DaemonProcess;
beforeAll(async () => {
  const [db, image] = await Promise.all([testDatabaseUrl(), ensureBaseImage()]);
  // Unset (empty) in the daemon's environment: the daemon must raise it itself.
  d = await spawnDaemon({ DATABASE_URL: db, PREVIEWD_IMAGE: image, PREVIEWD_NODE_ID: `fetchcap-${process.pid}`, PREVIEWD_WARM_POOL: "0", PREVIEWD_PREVIEW_MAX_INFLIGHT: "400", BUN_CONFIG_MAX_HTTP_REQUESTS: "" });
}, 120_000);
afterAll(() => killDaemons([d]));

const create = async (body: object) => ((await (await d.api("/v1/previews?wait=1", { method: "POST", body: JSON.stringify(body) })).json()) as { id: string }).id;

test("300 requests in flight to one preview (its limit allows 400): another still answers at once", async () => {
  const [a, b] = await Promise.all([create({ files: { "server.js": hangApp }, command: ["node", "server.js"] }), create({ files: echoApp })]);
  expect((await d.preview(b, "/small")).status).toBe(200);
  const hanging = Array.from({ length: 300 }, () => holdOpen(d.proxyPort, `GET /hang HTTP/1.1\r\nhost: ${a}.localhost\r\n\r\n`));
  try {
    await Bun.sleep(2000); // all 300 reach the daemon and go upstream
    expect(hanging.filter((c) => c.received() !== "").map((c) => c.received().slice(0, 200))).toEqual([]); // none answered: all in flight
    const t0 = performance.now();
    const res = await Promise.race([d.preview(b, "/small"), Bun.sleep(10_000).then(() => undefined)]);
    const ms = performance.now() - t0;
    console.log(`preview B with 300 requests in flight to A (fetch cap raised): ${ms.toFixed(1)} ms`);
    expect(res && (await res.text())).toBe("ok");
    expect(ms).toBeLessThan(1000);
  } finally {
    for (const c of hanging) c.socket.destroy();
  }
}, 120_000);
