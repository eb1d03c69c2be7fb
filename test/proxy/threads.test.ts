// Several fronts on the public port (issue 16, item 3): a real daemon with
// PREVIEWD_PROXY_THREADS=3 (the main thread's front and two worker threads,
// all listening with SO_REUSEPORT), a real preview. New connections are
// spread over the fronts; whichever serves them, the one idle clock and the
// metrics hear of every request, an idle preview is suspended and the next
// request through any front wakes it, and a deleted preview answers 404 on
// every front at once, and a preview's in-flight limit is counted across them
// all (shared memory), not split. (TEST_PROXY_THREADS=3 runs the rest of test/proxy on
// threads too.)
import { afterAll, beforeAll, expect, test } from "bun:test";
import Docker from "dockerode";
import { connect, type Socket } from "node:net";
import { echoApp } from "../fixtures/apps.ts";
import { createPreview, startTestDaemon, type TestDaemon } from "../support/daemon.ts";
import { holdOpen, rawRequest } from "../support/rawhttp.ts";

let d: TestDaemon;

beforeAll(async () => {
  d = await startTestDaemon({ PREVIEWD_PROXY_THREADS: "3", PREVIEWD_IDLE_TIMEOUT: "2", PREVIEWD_WARM_POOL: "1" });
}, 60_000);
afterAll(() => d?.cleanup());

const get = (id: string, path: string) => rawRequest(d.proxyPort, `GET ${path} HTTP/1.1\r\nHost: ${id}.localhost\r\nConnection: close\r\n\r\n`);
const navigate = (id: string, path: string) => rawRequest(d.proxyPort, `GET ${path} HTTP/1.1\r\nHost: ${id}.localhost\r\nAccept: text/html\r\nSec-Fetch-Mode: navigate\r\nConnection: close\r\n\r\n`);
const statusOf = async (id: string) => ((await (await d.api(`/v1/previews/${id}`)).json()) as { status: string }).status;
const requestsCounted = async () =>
  [...(await (await d.api("/metrics")).text()).matchAll(/^previewd_proxy_request_duration_seconds_count\{code="200"\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);

/** Opens `n` keep-alive connections, each with one request answered; resolves with the sockets (still open). */
async function openConnections(id: string, n: number): Promise<Socket[]> {
  return Promise.all(
    Array.from({ length: n }, () => new Promise<Socket>((resolve, reject) => {
      const s = connect(d.proxyPort, "127.0.0.1");
      let got = "";
      s.on("data", (c: Buffer) => {
        got += c.toString("latin1");
        if (got.startsWith("HTTP/1.1 200") && got.endsWith("ok")) resolve(s);
      });
      s.on("error", reject);
      s.write(`GET /small HTTP/1.1\r\nHost: ${id}.localhost\r\n\r\n`);
    })),
  );
}

test("connections are spread over the fronts, and every request reaches the one idle clock and the metrics", async () => {
  const p = await createPreview(d, { files: echoApp });
  expect(p.status).toBe("running");
  const counted = await requestsCounted();
  const sockets = await openConnections(p.id, 40);
  try {
    // The main thread's front holds only its share; the threads answered the rest.
    expect(d.front.connections).toBeGreaterThan(0);
    expect(d.front.connections).toBeLessThan(40);
    // Threads report in batches (every 250 ms): every request reaches the metrics, soon.
    const deadline = Date.now() + 10_000;
    while ((await requestsCounted()) - counted < 40 && Date.now() < deadline) await Bun.sleep(50);
    expect((await requestsCounted()) - counted).toBeGreaterThanOrEqual(40);
  } finally {
    for (const s of sockets) s.destroy();
  }
  // The counter lives in the app: 30 requests on 30 new connections, over all fronts, each counted once.
  const seen = new Set<number>();
  for (let i = 0; i < 30; i++) seen.add(Number((await get(p.id, "/counter")).body.toString()));
  expect(seen.size).toBe(30);
});

test("requests on any front keep a preview awake; idle, it is suspended; the next request on any front wakes it", async () => {
  const p = await createPreview(d, { files: echoApp });
  // 5 s of a page load every 400 ms, each on a new connection (most land on worker threads): past the 2 s timeout.
  // (Page loads: the same background request again and again is a poll, which keeps nothing awake: pool/polls.ts.)
  const until = Date.now() + 5000;
  while (Date.now() < until) {
    expect((await navigate(p.id, "/small")).status).toBe(200);
    expect(await statusOf(p.id)).toBe("running");
    await Bun.sleep(400);
  }
  const idleSince = Date.now();
  while ((await statusOf(p.id)) !== "suspended" && Date.now() - idleSince < 15_000) await Bun.sleep(100);
  expect(await statusOf(p.id)).toBe("suspended");
  // Woken from whichever front takes these (the threads dropped its route before the pause: they hand it to the general path).
  for (let i = 0; i < 6; i++) expect((await get(p.id, "/small")).status).toBe(200);
  expect(await statusOf(p.id)).toBe("running");
});

test("a deleted preview answers 404 on every front at once", async () => {
  const p = await createPreview(d, { files: echoApp });
  for (let i = 0; i < 10; i++) expect((await get(p.id, "/small")).status).toBe(200);
  expect((await d.api(`/v1/previews/${p.id}`, { method: "DELETE" })).status).toBe(204);
  for (let i = 0; i < 20; i++) expect((await get(p.id, "/small")).status).toBe(404);
});

test("a preview's in-flight limit holds exactly across the fronts, however the kernel spreads its connections", async () => {
  const p = await createPreview(d, { files: echoApp });
  const LIMIT = 64; // PREVIEWD_PREVIEW_MAX_INFLIGHT's default
  const upload = `POST /upload?tell=1 HTTP/1.1\r\nhost: ${p.id}.localhost\r\ncontent-length: 100\r\n\r\n`;
  // What reached the app: it logs each upload as it starts (the limit is full, so no request could ask it).
  const [c] = await new Docker().listContainers({ filters: { label: [`previewd.preview=${p.id}`] } });
  const reachedApp = async () => ((await new Docker().getContainer(c!.Id).logs({ stdout: true, stderr: true })).toString("latin1").match(/upload started/g) ?? []).length;
  const until = async (what: string, done: () => Promise<boolean>) => {
    const deadline = Date.now() + 15_000;
    while (!(await done()) && Date.now() < deadline) await Bun.sleep(50);
    if (!(await done())) throw new Error(`timed out waiting for ${what}`);
  };
  // Uploads whose bodies never come: each holds a slot of the preview's limit on whichever front took it.
  const held = Array.from({ length: LIMIT + 20 }, () => holdOpen(d.proxyPort, upload));
  try {
    const refused = (conns: typeof held) => conns.filter((x) => x.received().startsWith("HTTP/1.1 503")).length;
    // Every connection is accounted for: exactly the limit reached the app, and the rest were refused.
    await until("84 uploads accounted for", async () => refused(held) + (await reachedApp()) >= LIMIT + 20);
    expect(await reachedApp()).toBe(LIMIT);
    expect(refused(held)).toBe(20);
    // Each held slot is given back when its connection goes: the limit is whole again.
    for (const x of held) x.socket.destroy();
    await Promise.all(held.map((x) => x.closed));
    await until("every slot given back", async () => d.front.inflight(p.id) === 0);
    const again = Array.from({ length: LIMIT }, () => holdOpen(d.proxyPort, upload));
    try {
      await until("64 more uploads accounted for", async () => refused(again) + (await reachedApp()) >= 2 * LIMIT);
      expect(refused(again)).toBe(0);
      expect(await reachedApp()).toBe(2 * LIMIT);
    } finally {
      for (const x of again) x.socket.destroy();
    }
  } finally {
    for (const x of held) x.socket.destroy();
  }
});
