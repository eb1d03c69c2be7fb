// A request in flight keeps its preview awake as an open WebSocket does
// (issue 16), on the preview's own node and through a sibling's (the hop
// between two daemons' fronts): with a 2 s idle timeout, an SSE stream that
// sends an event every second for 6 s arrives whole (the preview is not
// paused under it) and the owner's idle clock starts when it ends; a slow
// upload keeps it awake too.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createOn, startPair } from "../support/cluster.ts";
import { killDaemons, type DaemonProcess } from "../support/process.ts";

const sseApp = `
require("http").createServer((req, res) => {
  if (req.url === "/upload") { let n = 0; req.on("data", (c) => (n += c.length)); req.on("end", () => res.end(String(n))); return; }
  if (req.url !== "/events") return res.end("ok");
  res.writeHead(200, { "content-type": "text/event-stream" });
  let i = 0;
  const t = setInterval(() => { res.write("data: " + Date.now() + "\\n\\n"); if (++i === 6) { clearInterval(t); res.end(); } }, 1000);
}).listen(process.env.PORT, "0.0.0.0");`;

let nodes: DaemonProcess[] = [];
beforeAll(async () => {
  nodes = await startPair({ PREVIEWD_IDLE_TIMEOUT: "2", PREVIEWD_STOP_AFTER: "3600", PREVIEWD_WARM_POOL: "0" }, "streams");
}, 120_000);
afterAll(() => killDaemons(nodes));

type Way = "own node" | "sibling hop";

/** A new preview, its owner, and the node a request goes in by. */
async function previewVia(way: Way): Promise<{ id: string; owner: DaemonProcess; via: DaemonProcess }> {
  const p = await createOn(nodes[0]!, { "server.js": sseApp, "package.json": JSON.stringify({ scripts: { start: "node server.js" } }) });
  const owner = nodes.find((n) => n.nodeId === p.node)!;
  const via = way === "own node" ? owner : nodes.find((n) => n !== owner)!;
  // A sibling's first request finds the owner (the general path's lookup); the next ones take the byte-level hop.
  expect(await (await via.preview(p.id, "/")).text()).toBe("ok");
  return { id: p.id, owner, via };
}

const statusOf = async (d: DaemonProcess, id: string) => ((await (await d.api(`/v1/previews/${id}`)).json()) as { status: string }).status;

for (const way of ["own node", "sibling hop"] as const) {
  test(`${way}: an SSE stream keeps its preview awake; once it ends, the preview is suspended in due time`, async () => {
    const { id, owner, via } = await previewVia(way);
    const res = await via.preview(id, "/events");
    const arrivals: number[] = [];
    const statuses = new Set<string>();
    const decoder = new TextDecoder();
    for await (const chunk of res.body!) {
      arrivals.push(...decoder.decode(chunk).split("\n\n").filter(Boolean).map(() => Date.now()));
      statuses.add(await statusOf(owner, id));
    }
    const ended = Date.now();
    expect(arrivals.length).toBe(6);
    // A paused app sends nothing: any gap longer than the idle timeout would show it.
    const gaps = arrivals.slice(1).map((t, i) => t - arrivals[i]!);
    console.log(`SSE gaps (${way}) through a 2 s idle timeout: ${gaps.join(", ")} ms`);
    expect(Math.max(...gaps)).toBeLessThan(1900);
    expect([...statuses]).toEqual(["running"]);
    // Idle from the end of the stream: suspended after ~2 s (+ the sweep), well within 15 s.
    while ((await statusOf(owner, id)) !== "suspended" && Date.now() - ended < 15_000) await Bun.sleep(100);
    expect(await statusOf(owner, id)).toBe("suspended");
    expect(Date.now() - ended).toBeGreaterThanOrEqual(1500);
  }, 60_000);

  test(`${way}: a slow upload keeps its preview awake too`, async () => {
    const { id, owner, via } = await previewVia(way);
    let i = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(c) {
        await Bun.sleep(1000);
        if (i++ === 5) return c.close();
        c.enqueue(new Uint8Array(1024)); // 1 KiB/s: slow, but above the body timeout's floor
      },
    });
    const res = await via.preview(id, "/upload", { method: "POST", body, headers: { "content-type": "application/octet-stream" } });
    expect(await res.text()).toBe(String(5 * 1024));
    expect(await statusOf(owner, id)).toBe("running");
  }, 60_000);
}
