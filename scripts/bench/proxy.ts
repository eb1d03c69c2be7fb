// The proxy side by side with the references, in one run on one machine:
// the container directly (its address on the preview network, which is what
// previewd connects to), its port published on 127.0.0.1 (through Docker's
// userland proxy), nginx in front of the container, previewd's proxy, and
// previewd through a sibling hop (a second daemon forwarding to the first).
//   bun scripts/bench/proxy.ts [seconds=8] [connections=32]
// Then WebSocket echo messages/s through previewd vs direct, and the
// daemon's RSS idle and under load.
import Docker from "dockerode";
import { readFileSync } from "node:fs";
import { echoApp } from "../../test/fixtures/apps.ts";
import { ensureBaseImage } from "../../test/support/docker.ts";
import { testDatabaseUrl } from "../../test/support/postgres.ts";
import { freePort, killDaemons, spawnDaemon, type DaemonProcess } from "../../test/support/process.ts";
import { round, printTable, saveResults } from "./lib.ts";
import { startNginx } from "./nginx.ts";
import { wrk, type WrkResult } from "./wrk.ts";

const seconds = Number(process.argv[2] ?? 8);
const connections = Number(process.argv[3] ?? 32);
const run = `pbench${Date.now().toString(36)}`;
const daemons: DaemonProcess[] = [];

const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;

async function wsRate(url: string, host: string | undefined, sockets = 16, ms = 5000): Promise<number> {
  let count = 0;
  const until = Date.now() + ms;
  await Promise.all(Array.from({ length: sockets }, () => new Promise<void>((resolve, reject) => {
    const ws = new WebSocket(url, host ? ({ headers: { host } } as never) : undefined);
    ws.onopen = () => ws.send("ping-pong payload");
    ws.onmessage = () => {
      count++;
      if (Date.now() < until) ws.send("ping-pong payload");
      else {
        ws.close();
        resolve();
      }
    };
    ws.onerror = () => reject(new Error(`ws error on ${url}`));
  })));
  return count / (ms / 1000);
}

async function main() {
  const [databaseUrl, image] = await Promise.all([testDatabaseUrl(), ensureBaseImage()]);
  const peerPorts = [await freePort(), await freePort()];
  for (let i = 0; i < 2; i++) {
    daemons.push(await spawnDaemon({
      DATABASE_URL: databaseUrl, PREVIEWD_IMAGE: image, PREVIEWD_NODE_ID: `${run}-${i}`, PREVIEWD_PEER_PORT: String(peerPorts[i]),
      PREVIEWD_PEERS: peerPorts.map((p) => `127.0.0.1:${p}`).join(","), PREVIEWD_CLUSTER_SECRET: "proxy-bench-secret-0123456789",
      PREVIEWD_WARM_POOL: "1", PREVIEWD_GOSSIP_PROFILE: "test",
    }));
  }
  const [a, b] = daemons as [DaemonProcess, DaemonProcess];
  const res = await a.api("/v1/previews?wait=1", { method: "POST", body: JSON.stringify({ files: echoApp }) });
  const { id } = (await res.json()) as { id: string };
  const host = `${id}.localhost`;
  const [c] = await new Docker().listContainers({ filters: { label: [`previewd.preview=${id}`] } });
  const ip = c!.NetworkSettings.Networks.previewd!.IPAddress;
  const published = c!.Ports.find((p) => p.PrivatePort === 3000 && p.PublicPort)!.PublicPort;
  // the sibling must know where the preview lives before we measure it
  while ((await b.preview(id, "/small")).status !== 200) await Bun.sleep(100);
  const nginxPort = await freePort();
  const nginx = await startNginx(`${ip}:3000`, nginxPort);
  const rssIdle = rssMiB(a.proc.pid);

  const targets: Array<{ name: string; url: string; host?: string }> = [
    { name: "direct (container address)", url: `http://${ip}:3000` },
    { name: "direct (published 127.0.0.1 port)", url: `http://127.0.0.1:${published}` },
    { name: "nginx (1 worker, keepalive)", url: `http://127.0.0.1:${nginxPort}`, host },
    { name: "previewd", url: `http://127.0.0.1:${a.proxyPort}`, host },
    { name: "previewd via sibling hop", url: `http://127.0.0.1:${b.proxyPort}`, host },
  ];
  const results: Record<string, Record<string, WrkResult>> = {};
  let rssLoad = 0;
  for (const path of ["/small", "/1mib"]) {
    results[path] = {};
    for (const t of targets) {
      await wrk(`${t.url}${path}`, { host: t.host, seconds: 2, connections }); // warm-up
      const sampler = setInterval(() => (rssLoad = Math.max(rssLoad, rssMiB(a.proc.pid))), 500);
      results[path]![t.name] = await wrk(`${t.url}${path}`, { host: t.host, seconds, connections });
      clearInterval(sampler);
    }
  }
  const wsDirect = await wsRate(`ws://${ip}:3000/ws`, undefined);
  const wsProxy = await wsRate(`ws://127.0.0.1:${a.proxyPort}/ws`, host);
  await nginx.stop();

  const out: Record<string, unknown> = { seconds, connections };
  for (const path of ["/small", "/1mib"]) {
    const r = results[path]!;
    const direct = r["direct (container address)"]!;
    const ng = r["nginx (1 worker, keepalive)"]!;
    printTable(`GET ${path}: wrk -t1 -c${connections} -d${seconds}s (${path === "/small" ? "2-byte body" : "1 MiB body"})`, Object.entries(r).map(([name, x]) => ({
      target: name, "req/s": Math.round(x.rps), "p50 ms": round(x.p50, 2), "p99 ms": round(x.p99, 2), errors: x.errors,
      "vs nginx": `${round(x.rps / ng.rps, 2)}x`, "added p50 vs direct": `${round(x.p50 - direct.p50, 2)} ms`,
    })));
    out[path] = r;
  }
  printTable("WebSocket echo, 16 sockets ping-pong for 5 s", [
    { path: "direct", "msgs/s": Math.round(wsDirect) },
    { path: "previewd", "msgs/s": Math.round(wsProxy), ratio: `${round(wsProxy / wsDirect, 2)}x` },
  ]);
  printTable("previewd's own footprint (RSS)", [{ idle: `${round(rssIdle)} MiB`, "under proxy load (max)": `${round(rssLoad)} MiB` }]);
  saveResults("proxy", { ...out, websocket: { direct: Math.round(wsDirect), previewd: Math.round(wsProxy) }, rssMiB: { idle: round(rssIdle), load: round(rssLoad) } });
}

try {
  await main();
} finally {
  await killDaemons(daemons);
  process.exit(0);
}
