// previewd's proxy side by side with its references, in one run on one
// machine, against the same container:
//   direct        the container's address on the preview network (what previewd connects to)
//   published     its port published on 127.0.0.1 (through Docker's userland proxy)
//   nginx         Debian's nginx, 1 worker, upstream keep-alive (nginx.ts)
//   previewd      the daemon's proxy (Host: {id}.localhost)
//   sibling hop   a second daemon forwarding to the first over the peer port
//   private       the same preview made private, reached with a share link's
//                 cookie (own node and sibling hop): the access check's cost
//                 (a table lookup, a Cookie scan, a cached HMAC, the cookie
//                 taken out of the head) beside the public rows
//   references    bare Bun forwarders in processes of their own (forwarders.ts),
//                 to split the proxy's cost into Bun's part and previewd's part
// Each: wrk -t1 -cC -dSs --latency after a 2 s warm-up, R rounds interleaved
// (medians reported), with the CPU time the proxy's process used per request.
// When previewd misses its target it is profiled (bun --cpu-prof) under the
// same load and the profile summarized; --profile profiles anyway.
//   bun scripts/bench/proxy.ts [seconds=10] [connections=32] [rounds=2] [--app-cpus=N] [--profile|--no-profile] [--no-refs]
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../test/support/process.ts";
import { summarizeProfile } from "./cpuprofile.ts";
import { FORWARDERS, startForwarder, type Forwarder } from "./forwarders.ts";
import { percentile, printTable, round, saveResults } from "./lib.ts";
import { startNginx, type Nginx } from "./nginx.ts";
import { cpuByThread, cpuDelta, machineCpu, processTree, total, userSys } from "./procstat.ts";
import { startTarget, type BenchTarget } from "./target.ts";
import { wrk, type WrkResult } from "./wrk.ts";

const args = process.argv.slice(2);
const flag = (name: string) => args.find((a) => a === `--${name}` || a.startsWith(`--${name}=`));
const positional = args.filter((a) => !a.startsWith("--"));
const seconds = Number(positional[0] ?? 10);
const connections = Number(positional[1] ?? 32);
const rounds = Number(positional[2] ?? 2);
// Default: the app may use every core, so the app's CPU quota is not what is measured (see target.ts).
const appCpus = flag("app-cpus")?.split("=")[1] ?? String(cpus().length);
const PATHS = ["/small", "/1mib"] as const;
const TARGET = { vsNginx: 1.0, addedP50Ms: 0.3 };

interface Subject {
  name: string;
  url: string;
  host?: string;
  /** Processes whose CPU time is the proxy's (none for direct). */
  pids: () => number[];
  reference?: boolean;
  headers?: Record<string, string>;
  /** Run before each measurement of this subject (the preview's visibility for it). */
  before?: () => Promise<void>;
}

interface Measured extends WrkResult {
  /** CPU ms the proxy's processes used, by thread name. */
  cpuMs: Record<string, number>;
  cpuUsPerReq: number;
  /** Share of that CPU time spent in the kernel (sockets, loopback, the Docker bridge). */
  sysShare: number;
  /** The proxy's kernel CPU time per request, us. */
  sysUsPerReq: number;
  /** CPU time the whole machine used per request (wrk, the app, the proxy, the kernel), us. */
  machineUsPerReq: number;
  /** Share of the machine's CPU left idle during the run (near 0: CPU-bound, so req/s = cores / machine CPU per request). */
  idleShare: number;
}

async function measure(s: Subject, path: string): Promise<Measured> {
  await s.before?.();
  const pids = s.pids();
  const before = cpuByThread(pids);
  const us0 = userSys(pids);
  const m0 = machineCpu();
  const r = await wrk(`${s.url}${path}`, { host: s.host, headers: s.headers, seconds, connections });
  const m1 = machineCpu();
  const cpuMs = cpuDelta(cpuByThread(pids), before);
  const us1 = userSys(pids);
  const sys = us1.sys - us0.sys;
  const all = sys + us1.user - us0.user;
  const busy = m1.busy - m0.busy;
  return {
    ...r, cpuMs, cpuUsPerReq: pids.length ? round((total(cpuMs) * 1000) / r.requests, 1) : NaN, sysShare: all ? round(sys / all, 2) : NaN,
    sysUsPerReq: pids.length ? round((sys * 1000) / r.requests, 1) : NaN, machineUsPerReq: round((busy * 1000) / r.requests, 1), idleShare: round((m1.idle - m0.idle) / (busy + m1.idle - m0.idle), 2),
  };
}

const median = (xs: number[]) => percentile(xs, 50);
function combine(runs: Measured[]): Measured & { rounds: number[] } {
  const cpuMs: Record<string, number> = {};
  for (const r of runs) for (const [k, v] of Object.entries(r.cpuMs)) cpuMs[k] = (cpuMs[k] ?? 0) + v / runs.length;
  return {
    rps: round(median(runs.map((r) => r.rps)), 0), p50: median(runs.map((r) => r.p50)), p99: median(runs.map((r) => r.p99)),
    errors: runs.reduce((a, r) => a + r.errors, 0), requests: runs.reduce((a, r) => a + r.requests, 0),
    cpuMs, cpuUsPerReq: median(runs.map((r) => r.cpuUsPerReq)), sysShare: median(runs.map((r) => r.sysShare)), rounds: runs.map((r) => round(r.rps, 0)),
    sysUsPerReq: median(runs.map((r) => r.sysUsPerReq)), machineUsPerReq: median(runs.map((r) => r.machineUsPerReq)), idleShare: median(runs.map((r) => r.idleShare)),
  };
}

/** Profiles a fresh daemon (bun --cpu-prof) under the /small load, and reads its threads' CPU time. */
async function profile(): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), "previewd-prof-"));
  const intervalUs = 250;
  const t = await startTarget({ appCpus, env: { BUN_OPTIONS: `--cpu-prof --cpu-prof-interval=${intervalUs} --cpu-prof-dir=${dir}` } });
  try {
    const url = `http://127.0.0.1:${t.daemon.proxyPort}/small`;
    await wrk(url, { host: t.host, seconds: 2, connections });
    const from = Date.now();
    const before = cpuByThread([t.daemon.proc.pid]);
    const r = await wrk(url, { host: t.host, seconds, connections });
    const threads = cpuDelta(cpuByThread([t.daemon.proc.pid]), before);
    const to = Date.now();
    t.daemon.proc.kill("SIGTERM"); // the profile is written on a clean exit
    await t.daemon.proc.exited;
    const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
    if (!file) throw new Error("the daemon wrote no .cpuprofile");
    const s = summarizeProfile(join(dir, file), intervalUs, { from, to });
    const threadRows = Object.entries(threads).sort((a, b) => b[1] - a[1])
      .map(([thread, ms]) => ({ thread, "CPU ms": ms, "us/req": round((ms * 1000) / r.requests, 1) }));
    printTable(`Profile: previewd under GET /small (${Math.round(r.rps)} req/s with the profiler on); CPU by thread (/proc)`, threadRows);
    printTable(`Profile: JS-thread self time by part (bun --cpu-prof, ${s.sampledMs} ms sampled in ${to - from} ms)`, Object.entries(s.byPart).sort((a, b) => b[1] - a[1])
      .map(([part, ms]) => ({ part, ms, share: `${round((ms / s.sampledMs) * 100, 1)}%` })));
    printTable("Profile: top functions by self time", s.top.map((f) => ({ function: f.fn, where: f.where, ms: f.ms, share: `${f.pct}%` })));
    return { rps: round(r.rps, 0), requests: r.requests, threadsMs: threads, ...s };
  } finally {
    await t.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * What a target leaves a proxy, from this run's own readings. The machine is
 * CPU-bound here (idle share near 0), so req/s = cores / (machine CPU per
 * request): reaching k x nginx's req/s means a machine CPU per request of
 * nginx's / k, and a proxy may add to the direct path's cost only the
 * difference. Set beside what the kernel alone spends per proxied request
 * (nginx's and the bare splice's sys time: the same reads and writes any
 * user-space proxy makes), it says whether a target is reachable at all.
 */
function budget(r: Record<string, ReturnType<typeof combine>>): Array<Record<string, string | number>> {
  const direct = r["direct (container address)"]!;
  const ng = r["nginx (1 worker, keepalive)"]!;
  const splice = r["ref: Bun TCP splice"];
  const rows = [
    { target: ">= 1.1x nginx req/s (own node)", k: 1.1, hops: 1 },
    { target: ">= 0.8x nginx req/s (sibling hop: two proxies)", k: 0.8, hops: 2 },
  ].map(({ target, k, hops }) => ({
    target,
    "machine CPU/req allowed": round(ng.machineUsPerReq / k, 1),
    "direct path's": direct.machineUsPerReq,
    "left for the proxy (us)": round(ng.machineUsPerReq / k - direct.machineUsPerReq, 1),
    "kernel alone (us)": `${round(ng.sysUsPerReq * hops, 1)} nginx, ${splice ? round(splice.sysUsPerReq * hops, 1) : "-"} splice${hops > 1 ? " (x2)" : ""}`,
    "previewd uses (us)": target.includes("sibling") ? r["previewd via sibling hop"]!.cpuUsPerReq : r["previewd"]!.cpuUsPerReq,
  }));
  printTable(`GET /small: the CPU a target leaves a proxy (machine idle during the runs: direct ${Math.round(direct.idleShare * 100)}%, nginx ${Math.round(ng.idleShare * 100)}%, previewd ${Math.round(r["previewd"]!.idleShare * 100)}%)`, rows);
  return rows;
}

/**
 * Turns the bench preview private or public through the API and waits until
 * both daemons' proxies enforce it (each reads visibility from the store once
 * a second); the share cookie for the private rows comes from a real link.
 */
async function accessSwitch(t: BenchTarget): Promise<{ cookie: string; set(v: "public" | "private"): Promise<void> }> {
  const res = await t.daemon.api(`/v1/previews/${t.id}/shares`, { method: "POST", body: JSON.stringify({ ttlSeconds: 86400 }) });
  if (res.status !== 201) throw new Error(`share: ${res.status} ${await res.text()}`);
  const link = new URL(((await res.json()) as { share: { url: string } }).share.url);
  const visit = await t.daemon.preview(t.id, `${link.pathname}${link.search}`, { redirect: "manual" });
  const cookie = visit.headers.getSetCookie()[0]?.split(";")[0];
  if (visit.status !== 302 || !cookie) throw new Error(`share link answered ${visit.status}`);
  let now: string | undefined;
  return {
    cookie,
    async set(v) {
      if (now === v) return;
      const r = await t.daemon.api(`/v1/previews/${t.id}`, { method: "PATCH", body: JSON.stringify({ visibility: v }) });
      if (r.status !== 200) throw new Error(`PATCH visibility: ${r.status}`);
      const want = v === "private" ? 401 : 200;
      const deadline = Date.now() + 10_000;
      for (const d of [t.daemon, t.sibling!]) {
        while ((await d.preview(t.id, "/small")).status !== want) {
          if (Date.now() > deadline) throw new Error(`the preview did not turn ${v} on ${d.nodeId}`);
          await Bun.sleep(50);
        }
      }
      now = v;
    },
  };
}

async function main() {
  const t: BenchTarget = await startTarget({ appCpus, sibling: true });
  const nginx: Nginx = await startNginx(t.containerAddr, await freePort());
  const refs: Array<[string, Forwarder]> = [];
  try {
    if (!flag("no-refs")) for (const kind of FORWARDERS) refs.push([kind, await startForwarder(kind, t.containerAddr)]);
    const refName: Record<string, string> = { fetch: "ref: bare Bun.serve + fetch", module: "ref: src/proxy module alone", splice: "ref: Bun TCP splice" };
    const access = await accessSwitch(t);
    const priv = { headers: { cookie: access.cookie }, before: () => access.set("private") };
    const pub = { before: () => access.set("public") };
    const subjects: Subject[] = [
      { name: "direct (container address)", url: `http://${t.containerAddr}`, pids: () => [] },
      { name: "direct (published port)", url: `http://${t.publishedAddr}`, pids: () => [] },
      { name: "nginx (1 worker, keepalive)", url: `http://127.0.0.1:${nginx.port}`, host: t.host, pids: () => processTree(nginx.pid) },
      { name: "previewd", url: `http://127.0.0.1:${t.daemon.proxyPort}`, host: t.host, pids: () => [t.daemon.proc.pid], ...pub },
      { name: "previewd, private (share cookie)", url: `http://127.0.0.1:${t.daemon.proxyPort}`, host: t.host, pids: () => [t.daemon.proc.pid], ...priv },
      { name: "previewd via sibling hop", url: `http://127.0.0.1:${t.sibling!.proxyPort}`, host: t.host, pids: () => [t.sibling!.proc.pid, t.daemon.proc.pid], ...pub },
      { name: "previewd via sibling hop, private (share cookie)", url: `http://127.0.0.1:${t.sibling!.proxyPort}`, host: t.host, pids: () => [t.sibling!.proc.pid, t.daemon.proc.pid], ...priv },
      ...refs.map(([kind, f]) => ({ name: refName[kind]!, url: `http://127.0.0.1:${f.port}`, host: t.host, pids: () => [f.pid], reference: true })),
    ];
    console.log(`proxy bench: wrk -t1 -c${connections} -d${seconds}s --latency, ${rounds} round(s) each, app container at ${appCpus} CPU, ${cpus().length} cores shared by wrk, the proxies and the app`);
    const runs: Record<string, Record<string, Measured[]>> = {};
    for (const path of PATHS) {
      runs[path] = {};
      for (let round_ = 0; round_ < rounds; round_++) {
        for (const s of subjects) {
          if (round_ === 0) {
            await s.before?.();
            await wrk(`${s.url}${path}`, { host: s.host, headers: s.headers, seconds: 2, connections }); // warm-up
          }
          (runs[path]![s.name] ??= []).push(await measure(s, path));
        }
      }
    }
    // At -c32 every path is saturated and its p50 is about 32 / (its req/s):
    // the added p50 there restates throughput. One connection, one request
    // at a time, shows the latency a proxy adds to each request by itself.
    const single: Record<string, WrkResult> = {};
    for (const s of subjects) {
      await s.before?.();
      single[s.name] = await wrk(`${s.url}/small`, { host: s.host, headers: s.headers, seconds: Math.min(seconds, 5), connections: 1 });
    }

    const out: Record<string, unknown> = { seconds, connections, rounds, appCpus, workers: { nginx: 1, previewd: 1 } };
    const verdicts: Array<Record<string, string>> = [];
    const combined: Record<string, Record<string, ReturnType<typeof combine>>> = {};
    for (const path of PATHS) {
      const r = (combined[path] = Object.fromEntries(Object.entries(runs[path]!).map(([k, v]) => [k, combine(v)])));
      const direct = r["direct (container address)"]!;
      const ng = r["nginx (1 worker, keepalive)"]!;
      printTable(`GET ${path} (${path === "/small" ? '"ok", 2 bytes' : "1 MiB"}), -c${connections}: medians of ${rounds} x ${seconds} s; proxy CPU = CPU time of the proxy's processes per request (kernel share)`, Object.entries(r).map(([name, x]) => ({
        target: name, "req/s": x.rps, "p50 ms": round(x.p50, 2), "p99 ms": round(x.p99, 2), errors: x.errors,
        "vs nginx": `${round(x.rps / ng.rps, 2)}x`, "vs direct": `${round(x.rps / direct.rps, 2)}x`,
        "added p50": name.startsWith("direct (container") ? "-" : `${round(x.p50 - direct.p50, 2)} ms`,
        "proxy CPU us/req": Number.isNaN(x.cpuUsPerReq) ? "-" : `${x.cpuUsPerReq} (${Math.round(x.sysShare * 100)}% sys)`,
      })));
      const p = r["previewd"]!;
      const ratios = { vsNginx: round(p.rps / ng.rps, 2), vsDirect: round(p.rps / direct.rps, 2), addedP50Ms: round(p.p50 - direct.p50, 2), nginxAddedP50Ms: round(ng.p50 - direct.p50, 2), cpuVsNginx: round(p.cpuUsPerReq / ng.cpuUsPerReq, 2) };
      out[path] = { ...r, ratios };
      verdicts.push(
        { path, measure: `previewd req/s / nginx req/s (-c${connections})`, value: `${ratios.vsNginx}x`, target: `>= ${TARGET.vsNginx}x`, met: ratios.vsNginx >= TARGET.vsNginx ? "yes" : "NO" },
        { path, measure: "previewd req/s / direct req/s", value: `${ratios.vsDirect}x`, target: "(for scale)", met: "" },
        { path, measure: `previewd p50 - direct p50 (-c${connections}, saturated)`, value: `${ratios.addedP50Ms} ms (nginx: ${ratios.nginxAddedP50Ms} ms)`, target: path === "/small" ? `<= ${TARGET.addedP50Ms} ms` : "(for scale)", met: path !== "/small" ? "" : ratios.addedP50Ms <= TARGET.addedP50Ms ? "yes" : "NO" },
        { path, measure: "previewd CPU per request / nginx's", value: `${ratios.cpuVsNginx}x (${p.cpuUsPerReq} vs ${ng.cpuUsPerReq} us)`, target: "(for scale)", met: "" },
      );
    }
    const d1 = single["direct (container address)"]!;
    printTable("GET /small, one connection (-c1): the latency each path adds by itself", Object.entries(single).map(([name, x]) => ({
      target: name, "req/s": Math.round(x.rps), "p50 ms": round(x.p50, 3), "p99 ms": round(x.p99, 3), "added p50": name.startsWith("direct (container") ? "-" : `${round(x.p50 - d1.p50, 3)} ms`,
    })));
    const added1 = round(single["previewd"]!.p50 - d1.p50, 3);
    verdicts.push({ path: "/small", measure: "previewd p50 - direct p50 (-c1)", value: `${added1} ms (nginx: ${round(single["nginx (1 worker, keepalive)"]!.p50 - d1.p50, 3)} ms)`, target: `<= ${TARGET.addedP50Ms} ms`, met: added1 <= TARGET.addedP50Ms ? "yes" : "NO" });
    out.oneConnection = single;
    // What a private preview's access check costs, beside the same preview public (same container, same run).
    const sm = combined["/small"]!;
    const accessRows = [["own node", "previewd", "previewd, private (share cookie)"], ["sibling hop", "previewd via sibling hop", "previewd via sibling hop, private (share cookie)"]].map(([way, pubName, privName]) => {
      const a = sm[pubName!]!;
      const b = sm[privName!]!;
      return {
        path: way!, "public req/s": a.rps, "private req/s": b.rps, "private / public": `${round(b.rps / a.rps, 2)}x`,
        "CPU us/req public": a.cpuUsPerReq, "CPU us/req private": b.cpuUsPerReq, "added CPU us/req": round(b.cpuUsPerReq - a.cpuUsPerReq, 1),
        "added p50 (-c1)": `${round(single[privName!]!.p50 - single[pubName!]!.p50, 3)} ms`,
      };
    });
    printTable("GET /small: the access check's cost, a private preview (share cookie) beside the same preview public", accessRows);
    out.access = accessRows;
    printTable("Proxy targets (goals, not tests)", verdicts);
    out.targets = verdicts;

    // Where each proxy's CPU goes, by thread: Bun's JS thread (which also runs
    // its HTTP server) and its fetch thread ("HTTP Client"); each nginx process.
    printTable("GET /small: proxy CPU per request by thread, us (from /proc/<pid>/task/*/stat)", Object.entries(combined["/small"]!)
      .filter(([, x]) => Object.keys(x.cpuMs).length)
      .map(([name, x]) => {
        const perReq = (ms = 0) => round((ms * 1000 * rounds) / x.requests, 1);
        const other = total(x.cpuMs) - (x.cpuMs["main"] ?? 0) - (x.cpuMs["HTTP Client"] ?? 0);
        return { target: name, "main thread(s)": perReq(x.cpuMs["main"]), "HTTP Client thread": perReq(x.cpuMs["HTTP Client"]), "other threads": perReq(other), total: perReq(total(x.cpuMs)), "kernel share": `${Math.round(x.sysShare * 100)}%` };
      }));

    out.budget = budget(combined["/small"]!);

    const missed = verdicts.some((v) => v.met === "NO");
    if ((missed && !flag("no-profile")) || flag("profile")) out.profile = await profile();
    saveResults("proxy", out);
  } finally {
    await Promise.all(refs.map(([, f]) => f.stop()));
    await nginx.stop();
    await t.stop();
  }
}

await main();
process.exit(0);
