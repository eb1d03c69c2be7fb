// The plan's success criterion on one machine: 5 daemons (capacity 100
// each) as separate processes sharing one PostgreSQL, N previews created
// concurrently from all nodes, each then answered through a random node.
//   bun scripts/bench/scale.ts [previews=500] [nodes=5] [concurrency=25]
// Reports total time, errors, host memory per preview, and the latency a
// sibling hop adds (same preview, through its own node vs another node).
import { echoApp } from "../../test/fixtures/apps.ts";
import { ensureBaseImage } from "../../test/support/docker.ts";
import { testDatabaseUrl } from "../../test/support/postgres.ts";
import { freePort, killDaemons, spawnDaemon, type DaemonProcess } from "../../test/support/process.ts";
import { memAvailableMiB, printTable, round, saveResults, summary } from "./lib.ts";

const total = Number(process.argv[2] ?? 500);
const nodeCount = Number(process.argv[3] ?? 5);
const concurrency = Number(process.argv[4] ?? 25);
const run = `scale${Date.now().toString(36)}`;
const nodes: DaemonProcess[] = [];

async function main() {
  const [databaseUrl, image] = await Promise.all([testDatabaseUrl(), ensureBaseImage()]);
  const ports = await Promise.all(Array.from({ length: nodeCount }, () => freePort()));
  const seeds = ports.map((p) => `127.0.0.1:${p}`).join(",");
  const memBefore = memAvailableMiB();
  for (let i = 0; i < nodeCount; i++) {
    nodes.push(await spawnDaemon({
      DATABASE_URL: databaseUrl, PREVIEWD_IMAGE: image, PREVIEWD_NODE_ID: `${run}-n${i}`, PREVIEWD_PEER_PORT: String(ports[i]),
      PREVIEWD_PEERS: seeds, PREVIEWD_CLUSTER_SECRET: "scale-run-secret-0123456789", PREVIEWD_CAPACITY: String(Math.ceil(total / nodeCount)),
      PREVIEWD_WARM_POOL: "4", PREVIEWD_GOSSIP_PROFILE: "local", PREVIEWD_START_TIMEOUT: "300",
    }));
  }
  // wait for the cluster to form
  for (;;) {
    const views = await Promise.all(nodes.map(async (n) => ((await (await n.api("/v1/cluster")).json()) as { nodes: Array<{ state: string }> }).nodes.filter((x) => x.state === "alive").length));
    if (views.every((v) => v === nodeCount)) break;
    await Bun.sleep(200);
  }
  const memCluster = memAvailableMiB();

  // create concurrently, round-robin over the nodes
  const created: Array<{ id: string; node: string }> = [];
  const errors: string[] = [];
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    for (;;) {
      const i = next++;
      if (i >= total) return;
      const via = nodes[i % nodeCount]!;
      try {
        const res = await via.api("/v1/previews?wait=1", { method: "POST", body: JSON.stringify({ files: echoApp }) });
        const body = (await res.json()) as { id: string; node: string; status: string; error?: { message: string } };
        if (res.status !== 201 || body.status !== "running") errors.push(`${res.status} ${body.status ?? ""} ${body.error?.message ?? ""}`);
        else created.push({ id: body.id, node: body.node });
      } catch (e) {
        errors.push((e as Error).message);
      }
    }
  }));
  const createMs = performance.now() - t0;

  // every preview through a random node
  let answerErrors = 0;
  const answerDetails: string[] = [];
  await Promise.all(Array.from({ length: concurrency }, async (_, w) => {
    for (let i = w; i < created.length; i += concurrency) {
      const via = nodes[Math.floor(Math.random() * nodeCount)]!;
      const r = await via.preview(created[i]!.id, "/small").catch((e: Error) => e);
      const body = r instanceof Response ? await r.text() : "";
      if (!(r instanceof Response) || r.status !== 200 || body !== "ok") {
        answerErrors++;
        answerDetails.push(`${created[i]!.id} on ${created[i]!.node} via ${via.env.PREVIEWD_NODE_ID}: ${r instanceof Response ? `${r.status} ${body.slice(0, 80)}` : r.message}`);
      }
    }
  }));
  await Bun.sleep(2000);
  const memFull = memAvailableMiB();

  // sibling hop: the same preview, via its own node and via another
  const sample = created[0]!;
  const own = nodes.find((n) => n.env.PREVIEWD_NODE_ID === sample.node)!;
  const other = nodes.find((n) => n !== own)!;
  const time = async (n: DaemonProcess) => {
    const xs: number[] = [];
    for (let i = 0; i < 300; i++) {
      const t = performance.now();
      await (await n.preview(sample.id, "/small")).text();
      xs.push(performance.now() - t);
    }
    return summary(xs.slice(50));
  };
  const direct = await time(own);
  const hop = await time(other);
  const perNode: Record<string, number> = {};
  for (const c of created) perNode[c.node] = (perNode[c.node] ?? 0) + 1;

  printTable(`Scale run: ${nodeCount} daemons, ${total} previews created ${concurrency} at a time from all nodes`, [
    { measure: "created and running", value: `${created.length} / ${total}` },
    { measure: "create errors", value: errors.length },
    { measure: "answered through a random node", value: `${created.length - answerErrors} / ${created.length}` },
    { measure: "total create time", value: `${round(createMs / 1000, 1)} s (${round(created.length / (createMs / 1000), 1)} previews/s)` },
    { measure: "host memory per running preview", value: `${round((memCluster - memFull) / Math.max(1, created.length), 1)} MiB` },
    { measure: "daemons' own memory (5 + embedded deps)", value: `${round(memBefore - memCluster)} MiB` },
    { measure: "request via own node p50/p95", value: `${direct.p50} / ${direct.p95} ms` },
    { measure: "request via sibling hop p50/p95", value: `${hop.p50} / ${hop.p95} ms` },
  ]);
  console.log("previews per node:", perNode);
  if (errors.length) console.log("first errors:", errors.slice(0, 5));
  if (answerDetails.length) {
    console.log("answer failures:", answerDetails.slice(0, 5));
    for (const n of nodes) for (const line of n.output().split("\n")) if (line.includes("upstream request failed") || line.includes("could not wake")) console.log(n.env.PREVIEWD_NODE_ID, line.slice(0, 600));
  }
  saveResults("scale", { nodes: nodeCount, previews: total, running: created.length, createErrors: errors.length, answerErrors, createSeconds: round(createMs / 1000), memoryPerPreviewMiB: round((memCluster - memFull) / Math.max(1, created.length)), ownNodeMs: direct, siblingHopMs: hop, perNode });
}

try {
  await main();
} finally {
  await killDaemons(nodes);
  process.exit(0);
}
