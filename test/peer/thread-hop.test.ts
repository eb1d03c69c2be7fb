// The sibling hop from front threads (PREVIEWD_PROXY_THREADS): two real
// daemons, each with three fronts on its public port. A request that lands on
// any front of the node without the preview goes straight to the owner's peer
// port over that front's own signed hop connections, not through the main
// thread's per-request signed fetch: the owner verifies a signature per hop
// connection, not per request, and the app sees the same forwarding chain
// from every front.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { echoApp } from "../fixtures/apps.ts";
import { startPair } from "../support/cluster.ts";
import { eventually } from "../support/eventually.ts";
import { killDaemons, type DaemonProcess } from "../support/process.ts";
import { rawRequest } from "../support/rawhttp.ts";

let nodes: DaemonProcess[] = [];

beforeAll(async () => {
  nodes = await startPair({ PREVIEWD_PROXY_THREADS: "3", PREVIEWD_CAPACITY: "3", PREVIEWD_WARM_POOL: "1" }, "threadhop");
});

afterAll(async () => {
  await killDaemons(nodes);
});

test("every front thread takes a sibling's preview over its own signed hop connections, for longer than the owner cache's TTL", async () => {
  const res = await nodes[0]!.api("/v1/previews?wait=1", { method: "POST", body: JSON.stringify({ files: echoApp }) });
  expect(res.status).toBe(201);
  const p = (await res.json()) as { id: string; node: string };
  const owner = nodes.find((n) => n.env.PREVIEWD_NODE_ID === p.node)!;
  const via = nodes.find((n) => n !== owner)!;
  const verified = async () => Number(/^previewd_peer_verified_total (\S+)$/m.exec(await (await owner.api("/metrics")).text())?.[1]);
  // A new connection per request: the kernel spreads them over the four fronts.
  const get = (path: string) => rawRequest(via.proxyPort, `GET ${path} HTTP/1.1\r\nhost: ${p.id}.localhost\r\nconnection: close\r\n\r\n`);
  expect((await get("/small")).status).toBe(200); // the general path's lookup fills the owner cache
  // The main thread publishes it to the threads within 250 ms: until then three requests in four (those on a
  // thread) take the general path's signed fetch, a signature each; after it, only each front's first hop signs.
  const signaturesFor = async (requests: number) => {
    const start = await verified();
    for (let i = 0; i < requests; i++) expect((await get("/small")).status).toBe(200);
    return (await verified()) - start;
  };
  await eventually("the front threads taking the hop", () => signaturesFor(16), (signed) => signed <= 4, 20_000);
  const before = await verified();
  const started = Date.now();
  let n = 0;
  // Past the cache's 2 s TTL: entries in use are read again before they go stale.
  while (Date.now() - started < 3500) {
    const r = await get("/headers");
    expect(r.status).toBe(200);
    const seen = JSON.parse(r.body.toString()) as Record<string, string>;
    expect(seen["x-forwarded-for"]).toBe("127.0.0.1, 127.0.0.1");
    expect(seen["x-forwarded-host"]).toBe(`${p.id}.localhost`);
    for (const name of Object.keys(seen)) expect(name.startsWith("x-previewd-")).toBe(false);
    n++;
    await Bun.sleep(20);
  }
  expect(n).toBeGreaterThan(40);
  // A signature per front's hop connection (four fronts, a few each at most), not one per request.
  expect((await verified()) - before).toBeLessThan(16);
});
