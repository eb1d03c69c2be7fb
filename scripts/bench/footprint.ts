// The daemon's own footprint, as `previewd serve` runs by default (a child
// process with its embedded PostgreSQL, one preview), beside nginx in front
// of the same app: memory idle, under HTTP load, holding many WebSockets and
// after the load, holding many idle keep-alive HTTP connections (each after
// one request); and the CPU it uses while idle.
//   bun scripts/bench/footprint.ts [seconds=10] [websockets=1000] [keepalive=10000] [--app-cpus=N]
import { connect, type Socket } from "node:net";
import { cpus } from "node:os";
import { freePort } from "../../test/support/process.ts";
import { printTable, round, saveResults } from "./lib.ts";
import { startNginx } from "./nginx.ts";
import { cpuByThread, processTree, pssMiB, rssMiB, rssSampler, total } from "./procstat.ts";
import { startTarget } from "./target.ts";
import { wrk } from "./wrk.ts";

const args = process.argv.slice(2);
const positional = args.filter((a) => !a.startsWith("--"));
const seconds = Number(positional[0] ?? 10);
const websockets = Number(positional[1] ?? 1000);
const keepalive = Number(positional[2] ?? 10_000);
const appCpus = args.find((a) => a.startsWith("--app-cpus="))?.split("=")[1] ?? String(cpus().length);

interface Proxy {
  name: string;
  url: string;
  /** The processes that are the proxy (nginx: master and worker; previewd: the daemon alone, not its PostgreSQL). */
  pids: () => number[];
}

const rssOf = (pids: number[]) => pids.reduce((a, p) => a + (rssMiB(p) || 0), 0);

/** Opens n sockets through the proxy, one echo each, holds them while `during` runs, then closes them. */
async function holdSockets(url: string, host: string, n: number, during: () => Promise<void>): Promise<void> {
  const open: WebSocket[] = [];
  try {
    for (let i = 0; i < n; i += 100) {
      await Promise.all(Array.from({ length: Math.min(100, n - i) }, () => new Promise<void>((resolve, reject) => {
        const ws = new WebSocket(url, { headers: { host } } as never);
        open.push(ws);
        ws.onopen = () => ws.send("hello");
        ws.onmessage = () => resolve();
        ws.onerror = () => reject(new Error(`WebSocket ${open.length} of ${n} failed`));
      })));
    }
    await during();
  } finally {
    for (const ws of open) ws.close();
  }
}

/** Opens n keep-alive connections through the proxy, one answered GET each, holds them idle while `during` runs. */
async function holdKeepAlive(addr: string, host: string, n: number, during: () => Promise<void>): Promise<void> {
  const [h, port] = addr.split(":") as [string, string];
  const open: Socket[] = [];
  try {
    for (let i = 0; i < n; i += 200) {
      await Promise.all(Array.from({ length: Math.min(200, n - i) }, () => new Promise<void>((resolve, reject) => {
        const s = connect(Number(port), h);
        open.push(s);
        s.on("error", () => reject(new Error(`connection ${open.length} of ${n} failed`)));
        s.once("data", () => resolve());
        s.write(`GET /small HTTP/1.1\r\nhost: ${host}\r\n\r\n`);
      })));
    }
    await during();
  } finally {
    for (const s of open) s.destroy();
  }
}

async function main() {
  const t = await startTarget({ embeddedDb: true, appCpus });
  const nginx = await startNginx(t.containerAddr, await freePort());
  const daemonPid = t.daemon.proc.pid;
  const proxies: Proxy[] = [
    { name: "previewd", url: `127.0.0.1:${t.daemon.proxyPort}`, pids: () => [daemonPid] },
    { name: "nginx (1 worker)", url: `127.0.0.1:${nginx.port}`, pids: () => processTree(nginx.pid) },
  ];
  try {
    await Bun.sleep(5000); // let start-up garbage be collected and the pool settle
    const rows: Array<Record<string, string | number>> = [];
    const out: Record<string, Record<string, number>> = {};
    for (const p of proxies) {
      const r: Record<string, number> = {};
      r.idleRssMiB = rssOf(p.pids());
      const cpu0 = total(cpuByThread(p.pids()));
      await Bun.sleep(10_000);
      r.idleCpuPct = (total(cpuByThread(p.pids())) - cpu0) / 100; // ms per 10 s -> % of one core
      for (const path of ["/small", "/1mib"]) {
        const sampler = rssSampler(p.pids);
        await wrk(`http://${p.url}${path}`, { host: t.host, seconds, connections: 32 });
        r[`${path}LoadMaxRssMiB`] = sampler.stop();
      }
      const before = rssOf(p.pids());
      await holdSockets(`ws://${p.url}/ws`, t.host, websockets, async () => {
        await Bun.sleep(2000);
        r.websocketsRssMiB = rssOf(p.pids());
      });
      r.perThousandSocketsMiB = (((r.websocketsRssMiB ?? NaN) - before) / websockets) * 1000;
      await Bun.sleep(3000);
      const beforeKeepAlive = rssOf(p.pids());
      await holdKeepAlive(p.url, t.host, keepalive, async () => {
        await Bun.sleep(2000);
        r.keepAliveRssMiB = rssOf(p.pids());
      });
      r.perThousandKeepAliveMiB = (((r.keepAliveRssMiB ?? NaN) - beforeKeepAlive) / keepalive) * 1000;
      await Bun.sleep(10_000);
      r.afterRssMiB = rssOf(p.pids());
      for (const k of Object.keys(r)) r[k] = round(r[k]!, 1);
      out[p.name] = r;
      rows.push({
        process: p.name, "idle RSS": `${r.idleRssMiB} MiB`, "idle CPU": `${r.idleCpuPct}%`,
        "max RSS /small load": `${r["/smallLoadMaxRssMiB"]} MiB`, "max RSS /1mib load": `${r["/1mibLoadMaxRssMiB"]} MiB`,
        [`RSS with ${websockets} WebSockets`]: `${r.websocketsRssMiB} MiB`, [`RSS with ${keepalive} keep-alive`]: `${r.keepAliveRssMiB} MiB`, "10 s after load": `${r.afterRssMiB} MiB`,
      });
    }
    // The embedded PostgreSQL is the daemon's child: its processes share memory, so PSS, not RSS.
    const pg = processTree(daemonPid).filter((p) => p !== daemonPid);
    const pgPss = round(pssMiB(pg), 1);
    rows.push({ process: `embedded PostgreSQL (${pg.length} processes)`, "idle RSS": `${pgPss} MiB (PSS)`, "idle CPU": "-", "max RSS /small load": "-", "max RSS /1mib load": "-", [`RSS with ${websockets} WebSockets`]: "-", [`RSS with ${keepalive} keep-alive`]: "-", "10 s after load": "-" });
    printTable(`Footprint: one previewd process (1 preview, embedded PostgreSQL) beside nginx; wrk -t1 -c32 -d${seconds}s; RSS = VmRSS (nginx: master + worker)`, rows);
    saveResults("footprint", { seconds, websockets, keepalive, appCpus, ...out, embeddedPostgres: { processes: pg.length, pssMiB: pgPss } });
  } finally {
    await nginx.stop();
    t.daemon.proc.kill("SIGTERM"); // lets the daemon stop its PostgreSQL cleanly
    await Promise.race([t.daemon.proc.exited, Bun.sleep(15_000)]);
    await t.stop();
  }
}

await main();
process.exit(0);
