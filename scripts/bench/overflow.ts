// Fly overflow, measured against the local fake Fly (test/fakes/fly: the
// Machines API, an edge routing `Host: {app}.fly.dev` + fly-force-instance-id,
// machines that are real Docker containers), with ONE daemon in this process
// (FLY_* pointing at the fake, FLY_REGIONS=iad, PREVIEWD_WARM_POOL=2,
// PREVIEWD_CPUS=1: a local preview gets the CPU a Fly machine gets).
//   bun scripts/bench/overflow.ts [runs=10] [requests=2000]
// 1. create -> first answer: POST /v1/previews (echo app, no ?wait) -> first
//    200 of /small through the daemon's proxy, p50/p95 over `runs` (after one
//    uncounted warm-up round), with in the same run, interleaved:
//      container  the same with tier container (a warm container from the pool)
//      fake alone the fake's own part: the fake's container code
//                 (containers.ts: docker create + config.files + docker start)
//                 on the same machine config, then polling the published port
//                 until 200 (no daemon, no API, no edge)
//    and the fly create's timeline from the fake's call log and machine events
//    (API call reached, container created, started), so a reader sees how much
//    of the Fly figure is Docker and how much the daemon and edge add.
// 2. a request to a Fly preview vs a local one: `requests` sequential GET
//    /small (keep-alive, interleaved in 4 rounds after a warm-up) on each hop:
//      local via proxy      daemon proxy -> container address
//      local direct         the container's address on the preview network
//      fly via proxy        daemon proxy -> fake edge -> published port -> runner relay -> app
//      fly edge direct      the fake edge with Host + fly-force-instance-id
//      fly published port   127.0.0.1:<port> (Docker's userland proxy -> runner relay)
//      fly relay direct     the machine container's bridge address, port 8080 (runner relay)
//      fly app direct       the same address, the app's own port (nothing between)
//    and, when wrk is on PATH, wrk -t1 -c8 for 5 s on each (throughput).
// The daemon, the fake's API and its edge all run in this Bun process (as in
// the tests), so the proxy and the edge share one event loop with the client;
// on a real Fly the edge hop is a WAN round trip plus TLS instead.
import Docker from "dockerode";
import { loadavg } from "node:os";
import { Containers } from "../../test/fakes/fly/containers.ts";
import { startFakeFly, type FakeFly } from "../../test/fakes/fly/index.ts";
import { echoApp } from "../../test/fixtures/apps.ts";
import { ensureBaseImage } from "../../test/support/docker.ts";
import { startTestDaemon, type TestDaemon } from "../../test/support/daemon.ts";
import { percentile, printTable, round, saveResults, summary } from "./lib.ts";
import { wrk } from "./wrk.ts";

const runs = Number(process.argv[2] ?? 10);
const loadAtStart = loadavg().map((x) => round(x, 2));
const requests = Number(process.argv[3] ?? 2000);
const docker = new Docker();
const REF_APP = `previewd-bench-ref-${process.pid}`;
const refs = new Containers(`bench-ref-${process.pid}-${Date.now().toString(36)}`);

type Preview = { id: string; status: string; tier: string; fly?: { machineId: string } };

/** Polls `url` until a 200 (a request may be held by the proxy or edge meanwhile); the performance.now() of that answer. */
async function firstAnswer(url: string, headers: Record<string, string>, timeoutMs = 120_000): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  let last = "";
  for (;;) {
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(60_000) }).catch((e: Error) => ((last = e.message), undefined));
    if (res) {
      const text = await res.text().catch(() => "");
      if (res.status === 200) return performance.now();
      last = `${res.status} ${text.slice(0, 200)}`;
    }
    if (performance.now() > deadline) throw new Error(`${url} (${headers.host ?? ""}): no 200 within ${timeoutMs} ms (last: ${last})`);
    await Bun.sleep(20);
  }
}

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await Bun.sleep(25);
  }
}

async function main(fake: FakeFly, d: TestDaemon) {
  const proxyUrl = `http://127.0.0.1:${d.proxyPort}/small`;
  const viaProxy = (id: string) => ({ host: `${id}.localhost` });
  const cluster = (await (await d.api("/v1/cluster")).json()) as { overflow: { fly: boolean } };
  if (!cluster.overflow.fly) throw new Error("the daemon has Fly overflow off; see its log");

  const create = async (tier: "fly" | "container"): Promise<Preview> => {
    const res = await d.api("/v1/previews", { method: "POST", body: JSON.stringify({ files: echoApp, tier }) });
    const p = (await res.json()) as Preview;
    if (res.status !== 201 || p.tier !== tier) throw new Error(`create ${tier}: ${res.status} ${JSON.stringify(p)}`);
    return p;
  };
  const remove = async (p: Preview) => {
    const res = await d.api(`/v1/previews/${p.id}`, { method: "DELETE" });
    if (res.status !== 204) throw new Error(`delete ${p.id}: ${res.status} ${await res.text()}`);
    if (p.fly?.machineId) await until(`machine ${p.fly.machineId} destroyed`, () => fake.machines().find((m) => m.id === p.fly!.machineId)?.state === "destroyed");
  };
  /** Nothing in flight before a measurement: the warm pool full, Docker quiet for a moment. */
  const settle = async () => {
    await until("warm pool refilled", () => d.orchestrator.pool.available >= 2, 120_000);
    await Bun.sleep(300);
  };
  const machineEvents = async (id: string) => {
    const res = await fetch(`${fake.apiUrl}/v1/apps/${fake.app}/machines/${id}`, { headers: { authorization: `Bearer ${fake.token}` } });
    const m = (await res.json()) as { events: Array<{ type: string; status: string; timestamp: number }> };
    const at = (type: string, status: string) => m.events.filter((e) => e.type === type && e.status === status).map((e) => e.timestamp).sort((a, b) => a - b)[0] ?? NaN;
    return { created: at("launch", "created"), started: at("start", "started") };
  };

  // ---- 1. create -> first answer
  const fly = { total: [] as number[], apiCall: [] as number[], created: [] as number[], posted: [] as number[], started: [] as number[] };
  const local = { total: [] as number[], posted: [] as number[] };
  const ref = { total: [] as number[], created: [] as number[], started: [] as number[] };
  let machineConfig: ReturnType<FakeFly["machines"]>[number]["config"] | undefined;

  // Run -1 is a warm-up, not counted (the first Fly create pays for code loading and first connections).
  for (let i = -1; i < runs; i++) {
    const put = (xs: number[], v: number) => void (i >= 0 && xs.push(v));
    // Fly
    await settle();
    let w0 = Date.now();
    let t0 = performance.now();
    const f = await create("fly");
    const posted = performance.now() - t0;
    const t = await firstAnswer(proxyUrl, viaProxy(f.id));
    put(fly.total, t - t0);
    put(fly.posted, posted);
    const ev = await machineEvents(f.fly!.machineId);
    const call = fake.calls().find((c) => c.action === "create" && c.method === "POST" && c.at >= w0);
    put(fly.apiCall, (call?.at ?? NaN) - w0);
    put(fly.created, ev.created - w0);
    put(fly.started, ev.started - w0);
    machineConfig ??= fake.machines().find((m) => m.id === f.fly!.machineId)!.config;
    await remove(f);

    // local container (warm)
    await settle();
    t0 = performance.now();
    const c = await create("container");
    put(local.posted, performance.now() - t0);
    put(local.total, (await firstAnswer(proxyUrl, viaProxy(c.id))) - t0);
    await remove(c);

    // the fake's own container start, same machine config, no daemon/API/edge
    await settle();
    w0 = Date.now();
    t0 = performance.now();
    const machineId = `ref${i}${Date.now().toString(16)}`;
    const cid = await refs.create({ machineId, app: REF_APP, region: "iad", config: machineConfig });
    const tc = performance.now();
    await refs.start(cid);
    const ports = await refs.ports(cid);
    const ts = performance.now();
    const port = ports.get(machineConfig.services![0]!.internal_port)!;
    put(ref.total, (await firstAnswer(`http://127.0.0.1:${port}/small`, {})) - t0);
    put(ref.created, tc - t0);
    put(ref.started, ts - t0);
    await refs.remove(cid);
    if (i >= 0) console.log(`run ${i + 1}/${runs}: fly ${round(fly.total.at(-1)!, 0)} ms, container ${round(local.total.at(-1)!, 0)} ms, fake alone ${round(ref.total.at(-1)!, 0)} ms`);
  }

  const p50 = (xs: number[]) => round(percentile(xs, 50), 0);
  const startRows = [
    { path: "fly (tier fly, fake Fly; no warm machine)", ...summary(fly.total) },
    { path: "container (tier container, warm pool 2)", ...summary(local.total) },
    { path: "reference: the fake's container alone", ...summary(ref.total) },
  ];
  printTable(`Create -> first 200 of /small, ms (${runs} runs each, interleaved)`, startRows);
  const timeline = [
    { step: "create call reaches the fake's API (daemon: record, files)", fly: p50(fly.apiCall), "fake alone": "-" },
    { step: "container created (docker create + config.files)", fly: p50(fly.created), "fake alone": p50(ref.created) },
    { step: "POST /v1/previews answered", fly: p50(fly.posted), "fake alone": "-" },
    { step: "container started (docker start + inspect)", fly: p50(fly.started), "fake alone": p50(ref.started) },
    { step: "first 200 (fly: daemon proxy -> edge; alone: published port)", fly: p50(fly.total), "fake alone": p50(ref.total) },
  ];
  printTable("Timeline of a create, ms from the request (p50 of each step)", timeline);
  const added = fly.total.map((v, i) => v - ref.total[i]!);
  printTable("What previewd + the fake's API and edge add over the container start itself, ms (per run, fly - fake alone)", [
    { measure: "fly - fake alone", ...summary(added) },
    { measure: "fly - container (warm local)", ...summary(fly.total.map((v, i) => v - local.total[i]!)) },
  ]);

  // ---- 2. a request proxied to a Fly machine vs a local one
  await settle();
  const f = await create("fly");
  const c = await create("container");
  await firstAnswer(proxyUrl, viaProxy(f.id));
  await firstAnswer(proxyUrl, viaProxy(c.id));
  const m = fake.machines().find((x) => x.id === f.fly!.machineId)!;
  const servePort = m.config.services![0]!.internal_port;
  const bridgeIp = Object.values((await docker.getContainer(m.containerId).inspect()).NetworkSettings.Networks ?? {}).map((n) => n.IPAddress).find(Boolean);
  const localEp = await d.orchestrator.resolve(c.id);
  const subjects: Array<{ name: string; url: string; headers: Record<string, string> }> = [
    { name: "local via proxy", url: proxyUrl, headers: viaProxy(c.id) },
    ...(localEp ? [{ name: "local direct (container address)", url: `http://${localEp.host}:${localEp.port}/small`, headers: {} }] : []),
    { name: "fly via proxy", url: proxyUrl, headers: viaProxy(f.id) },
    { name: "fly edge direct (Host + force-instance-id)", url: `${fake.edgeUrl}/small`, headers: { host: `${fake.app}.fly.dev`, "fly-force-instance-id": m.id } },
    { name: "fly published port (docker-proxy, relay)", url: `http://127.0.0.1:${m.ports[servePort]}/small`, headers: {} },
    ...(bridgeIp
      ? [
          { name: `fly machine ${bridgeIp}:${servePort} (runner relay)`, url: `http://${bridgeIp}:${servePort}/small`, headers: {} },
          { name: `fly machine ${bridgeIp}:3000 (app itself)`, url: `http://${bridgeIp}:3000/small`, headers: {} },
        ]
      : []),
  ];
  const samples = new Map<string, number[]>(subjects.map((s) => [s.name, []]));
  const one = async (s: (typeof subjects)[number]) => {
    const t0 = performance.now();
    const res = await fetch(s.url, { headers: s.headers });
    const body = await res.text();
    if (res.status !== 200 || body !== "ok") throw new Error(`${s.name}: ${res.status} ${body.slice(0, 200)}`);
    return performance.now() - t0;
  };
  for (const s of subjects) for (let i = 0; i < 100; i++) await one(s); // warm-up: connections open, code hot
  const ROUNDS = 4;
  for (let r = 0; r < ROUNDS; r++) {
    for (const s of subjects) {
      const out = samples.get(s.name)!;
      const n = Math.ceil(requests / ROUNDS);
      for (let i = 0; i < n && out.length < requests; i++) out.push(await one(s));
    }
  }
  const lat = (xs: number[]) => ({ n: xs.length, p50: round(percentile(xs, 50), 3), p95: round(percentile(xs, 95), 3), p99: round(percentile(xs, 99), 3), mean: round(xs.reduce((a, b) => a + b, 0) / xs.length, 3) });
  const latency = Object.fromEntries(subjects.map((s) => [s.name, lat(samples.get(s.name)!)]));
  const localP50 = latency["local via proxy"]!.p50;
  printTable(`One request, ms (${requests} sequential GET /small each, keep-alive, 4 interleaved rounds)`, subjects.map((s) => ({ path: s.name, ...latency[s.name]!, "p50 vs local via proxy": round(latency[s.name]!.p50 - localP50, 3) })));
  const hop = (a: string, b: string) => (latency[a] && latency[b] ? round(latency[a].p50 - latency[b].p50, 3) : NaN);
  const relayName = subjects.find((s) => s.name.endsWith("(runner relay)"))?.name ?? "";
  const appName = subjects.find((s) => s.name.endsWith("(app itself)"))?.name ?? "";
  const hops = [
    { hop: "daemon proxy -> fake edge (locate, forward)", "added p50 ms": hop("fly via proxy", "fly edge direct (Host + force-instance-id)") },
    { hop: "fake edge -> published port (routing, header rewrite, forward)", "added p50 ms": hop("fly edge direct (Host + force-instance-id)", "fly published port (docker-proxy, relay)") },
    { hop: "Docker's userland proxy (published port -> bridge address)", "added p50 ms": hop("fly published port (docker-proxy, relay)", relayName) },
    { hop: "runner relay :8080 -> app", "added p50 ms": hop(relayName, appName) },
    { hop: "app itself (bridge address, app port)", "added p50 ms": appName ? latency[appName]!.p50 : NaN },
    { hop: "total: fly via proxy - local via proxy", "added p50 ms": hop("fly via proxy", "local via proxy") },
  ];
  printTable("The fly path's hops (differences of p50s)", hops);

  let throughput: Record<string, { rps: number; p50: number; p99: number; errors: number }> | undefined;
  if (Bun.which("wrk")) {
    throughput = {};
    for (const s of subjects) {
      // wrk adds its own Host unless given one spelled "Host": pass it apart.
      const { host, ...headers } = s.headers;
      const r = await wrk(s.url, { host, headers, seconds: 5, connections: 8 });
      throughput[s.name] = { rps: round(r.rps, 0), p50: r.p50, p99: r.p99, errors: r.errors };
    }
    printTable("Throughput, wrk -t1 -c8 -d5s", subjects.map((s) => ({ path: s.name, ...throughput![s.name]! })));
  } else console.log("\n(wrk not on PATH: throughput skipped; scripts/bench/run installs it)");

  await remove(f);
  await remove(c);
  const load = { atStart: loadAtStart, atEnd: loadavg().map((x) => round(x, 2)) };
  console.log(`\nload average (1, 5, 15 min) at start ${load.atStart.join(" ")}, at end ${load.atEnd.join(" ")} (other work on this machine counts in these figures)`);
  saveResults("overflow", {
    runs, requests, loadAverage: load,
    start: { fly: summary(fly.total), container: summary(local.total), fakeAlone: summary(ref.total), flyMinusFakeAlone: summary(added) },
    flyTimelineP50: { apiCall: p50(fly.apiCall), created: p50(fly.created), posted: p50(fly.posted), started: p50(fly.started), firstAnswer: p50(fly.total) },
    fakeAloneTimelineP50: { created: p50(ref.created), started: p50(ref.started), firstAnswer: p50(ref.total) },
    latency, hopsP50: Object.fromEntries(hops.map((h) => [h.hop, h["added p50 ms"]])),
    ...(throughput ? { throughput } : {}),
  });
}

let fake: FakeFly | undefined;
let d: TestDaemon | undefined;
try {
  fake = await startFakeFly();
  const image = await ensureBaseImage();
  d = await startTestDaemon({
    FLY_API_URL: fake.apiUrl, FLY_API_TOKEN: fake.token, FLY_APP: fake.app, FLY_EDGE_URL: fake.edgeUrl, FLY_IMAGE: image, FLY_REGIONS: "iad",
    // A local preview gets 1 CPU, as the Fly machine does (DEFAULT_GUEST, shared-cpu-1x): the default 0.25 would make the
    // local app, not the path to it, what the throughput compares.
    PREVIEWD_WARM_POOL: "2", PREVIEWD_CPUS: "1", PREVIEWD_NODE_ID: `bench-overflow-${Date.now().toString(36)}`,
  });
  await main(fake, d);
} finally {
  await d?.cleanup();
  await fake?.stop();
  await refs.removeAll();
}
process.exit(0); // the test PostgreSQL of this process stops with it
