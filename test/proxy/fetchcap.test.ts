// `previewd serve` raises Bun's process-wide fetch cap (main.ts re-executes
// itself with BUN_CONFIG_MAX_HTTP_REQUESTS, which Bun reads only at start).
// Proof by behaviour, in a real daemon process: with the per-preview limit
// above Bun's default of 256, 300 requests hanging on A all reach A's app and
// leave B answering. The requests are HTTP/1.0: the byte-level front
// (proxy/fast/) passes those to the general path, whose fetch() the cap
// bounds; HTTP/1.1 would never reach fetch() at all.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { echoApp } from "../fixtures/apps.ts";
import { ensureBaseImage } from "../support/docker.ts";
import { eventually } from "../support/eventually.ts";
import { testDatabaseUrl } from "../support/postgres.ts";
import { holdOpen } from "../support/rawhttp.ts";
import { killDaemons, spawnDaemon, type DaemonProcess } from "../support/process.ts";

// Never answers /hang; /count says how many /hang requests reached it; / is the readiness check.
const hangApp = `let n = 0; require("http").createServer((req, res) => req.url === "/hang" ? n++ : res.end(req.url === "/count" ? String(n) : "ok")).listen(process.env.PORT, "0.0.0.0");`;

let d: DaemonProcess;
beforeAll(async () => {
  const [db, image] = await Promise.all([testDatabaseUrl(), ensureBaseImage()]);
  // Unset (empty) in the daemon's environment: the daemon must raise it itself.
  d = await spawnDaemon({ DATABASE_URL: db, PREVIEWD_IMAGE: image, PREVIEWD_NODE_ID: `fetchcap-${process.pid}`, PREVIEWD_WARM_POOL: "0", PREVIEWD_PREVIEW_MAX_INFLIGHT: "400", BUN_CONFIG_MAX_HTTP_REQUESTS: "" });
}, 120_000);
afterAll(() => killDaemons([d]));

const create = async (body: object) => ((await (await d.api("/v1/previews?wait=1", { method: "POST", body: JSON.stringify(body) })).json()) as { id: string }).id;

test("300 requests in flight to one preview through fetch() (its limit allows 400): all reach the app, and another preview still answers", async () => {
  const [a, b] = await Promise.all([create({ files: { "server.js": hangApp }, command: ["node", "server.js"] }), create({ files: echoApp })]);
  expect((await d.preview(b, "/small")).status).toBe(200);
  const hanging = Array.from({ length: 300 }, () => holdOpen(d.proxyPort, `GET /hang HTTP/1.0\r\nhost: ${a}.localhost\r\n\r\n`));
  try {
    // Under Bun's default cap only 256 would ever leave the daemon: the count would stop there.
    await eventually("all 300 reach the app", async () => Number(await (await d.preview(a, "/count")).text()), (n) => n === 300, 60_000, 200);
    expect(hanging.filter((c) => c.received() !== "").map((c) => c.received().slice(0, 200))).toEqual([]); // none answered: all in flight
    // B answers while they hang (a capped fetch() would queue it behind them for good).
    const res = await Promise.race([d.preview(b, "/small"), Bun.sleep(10_000).then(() => undefined)]);
    expect(res && (await res.text())).toBe("ok");
  } finally {
    for (const c of hanging) c.socket.destroy();
  }
}, 120_000);
