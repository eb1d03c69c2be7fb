// WebSocket echo through previewd's proxy against the same app directly and
// through nginx, in one run: N sockets each doing ping-pong (send a text
// frame, wait for its echo, send the next) for T seconds. Reports echoed
// messages per second, the round trip of each message, and the CPU time the
// proxy's process used per message.
//   bun scripts/bench/ws.ts [sockets=16] [seconds=5] [rounds=2] [--app-cpus=N]
import { cpus } from "node:os";
import { freePort } from "../../test/support/process.ts";
import { startForwarder, type Forwarder } from "./forwarders.ts";
import { percentile, printTable, round, saveResults } from "./lib.ts";
import { startNginx } from "./nginx.ts";
import { cpuByThread, cpuDelta, machineCpu, processTree, total, userSys } from "./procstat.ts";
import { startTarget } from "./target.ts";

const args = process.argv.slice(2);
const positional = args.filter((a) => !a.startsWith("--"));
const sockets = Number(positional[0] ?? 16);
const seconds = Number(positional[1] ?? 5);
const rounds = Number(positional[2] ?? 2);
const appCpus = args.find((a) => a.startsWith("--app-cpus="))?.split("=")[1] ?? String(cpus().length);
const PAYLOAD = "ping-pong payload of 32 bytes..."; // a small chat-like frame

interface WsRun {
  msgs: number;
  rate: number;
  rttMs: number[];
}

/** N sockets ping-pong for `ms`; resolves once every socket has had its last echo. */
export async function pingPong(url: string, host: string | undefined, n: number, ms: number): Promise<WsRun> {
  const rttMs: number[] = [];
  let msgs = 0;
  const opened: WebSocket[] = [];
  // Open them all first, so the handshakes are not timed.
  await Promise.all(Array.from({ length: n }, () => new Promise<void>((resolve, reject) => {
    const ws = new WebSocket(url, host ? ({ headers: { host } } as never) : undefined);
    ws.onopen = () => {
      opened.push(ws);
      resolve();
    };
    ws.onerror = () => reject(new Error(`WebSocket to ${url} failed`));
  })));
  const t0 = performance.now();
  const until = t0 + ms;
  await Promise.all(opened.map((ws) => new Promise<void>((resolve, reject) => {
    let sent = performance.now();
    ws.onmessage = (ev) => {
      const now = performance.now();
      if (ev.data !== PAYLOAD) return reject(new Error(`echo differs: ${String(ev.data).slice(0, 40)}`));
      msgs++;
      rttMs.push(now - sent);
      if (now < until) {
        sent = now;
        ws.send(PAYLOAD);
      } else resolve();
    };
    ws.onerror = () => reject(new Error(`WebSocket to ${url} broke`));
    ws.onclose = () => reject(new Error(`WebSocket to ${url} closed early`));
    ws.send(PAYLOAD);
  })));
  const elapsed = performance.now() - t0;
  for (const ws of opened) {
    ws.onclose = null;
    ws.close();
  }
  return { msgs, rate: msgs / (elapsed / 1000), rttMs };
}

async function main() {
  const t = await startTarget({ appCpus });
  const nginx = await startNginx(t.containerAddr, await freePort());
  let splice: Forwarder | undefined;
  try {
    splice = await startForwarder("splice", t.containerAddr);
    const subjects = [
      { name: "direct (container address)", url: `ws://${t.containerAddr}/ws`, host: undefined, pids: () => [] as number[] },
      { name: "nginx (1 worker)", url: `ws://127.0.0.1:${nginx.port}/ws`, host: t.host, pids: () => processTree(nginx.pid) },
      { name: "previewd", url: `ws://127.0.0.1:${t.daemon.proxyPort}/ws`, host: t.host, pids: () => [t.daemon.proc.pid] },
      { name: "ref: Bun TCP splice", url: `ws://127.0.0.1:${splice.port}/ws`, host: t.host, pids: () => [splice!.pid] },
    ];
    console.log(`WebSocket bench: ${sockets} sockets ping-pong for ${seconds} s, ${rounds} round(s), app container at ${appCpus} CPU`);
    const runs: Record<string, Array<WsRun & { cpuMs: number; sysMs: number; machineMs: number }>> = {};
    for (let r = 0; r < rounds; r++) {
      for (const s of subjects) {
        if (r === 0) await pingPong(s.url, s.host, sockets, 1000); // warm-up
        const before = cpuByThread(s.pids());
        const [sys0, m0] = [userSys(s.pids()).sys, machineCpu().busy];
        const run = await pingPong(s.url, s.host, sockets, seconds * 1000);
        const [sys1, m1] = [userSys(s.pids()).sys, machineCpu().busy];
        (runs[s.name] ??= []).push({ ...run, cpuMs: total(cpuDelta(cpuByThread(s.pids()), before)), sysMs: sys1 - sys0, machineMs: m1 - m0 });
      }
    }
    const rows = Object.entries(runs).map(([name, rs]) => {
      const rate = percentile(rs.map((x) => x.rate), 50);
      const rtt = rs.flatMap((x) => x.rttMs);
      const msgs = rs.reduce((a, x) => a + x.msgs, 0);
      const cpu = rs.reduce((a, x) => a + x.cpuMs, 0);
      const perMsg = (ms: number) => round((ms * 1000) / msgs, 1);
      return {
        name, rate: Math.round(rate), p50: round(percentile(rtt, 50), 3), p99: round(percentile(rtt, 99), 3), cpuUsPerMsg: name.startsWith("direct") ? NaN : perMsg(cpu), rounds: rs.map((x) => Math.round(x.rate)),
        sysUsPerMsg: perMsg(rs.reduce((a, x) => a + x.sysMs, 0)), machineUsPerMsg: perMsg(rs.reduce((a, x) => a + x.machineMs, 0)),
      };
    });
    const direct = rows.find((r) => r.name.startsWith("direct"))!;
    const ng = rows.find((r) => r.name.startsWith("nginx"))!;
    printTable(`WebSocket echo: ${sockets} sockets, ${PAYLOAD.length}-byte text frames, medians of ${rounds} x ${seconds} s`, rows.map((r) => ({
      target: r.name, "msgs/s": r.rate, "vs direct": `${round(r.rate / direct.rate, 2)}x`, "vs nginx": `${round(r.rate / ng.rate, 2)}x`,
      "round trip p50 ms": r.p50, "p99 ms": r.p99, "proxy CPU us/msg": Number.isNaN(r.cpuUsPerMsg) ? "-" : r.cpuUsPerMsg,
    })));
    // As in proxy.ts's budget: CPU-bound, so 0.9x direct's rate means a machine CPU per message of direct's / 0.9.
    const splice_ = rows.find((r) => r.name.startsWith("ref: Bun TCP splice"))!;
    const budget = {
      target: ">= 0.9x direct msgs/s", "machine CPU/msg allowed": round(direct.machineUsPerMsg / 0.9, 1), "direct path's": direct.machineUsPerMsg,
      "left for the proxy (us)": round(direct.machineUsPerMsg / 0.9 - direct.machineUsPerMsg, 1),
      "kernel alone (us)": `${ng.sysUsPerMsg} nginx, ${splice_.sysUsPerMsg} splice`, "previewd uses (us)": rows.find((r) => r.name === "previewd")!.cpuUsPerMsg,
    };
    printTable("The CPU the target leaves a proxy, per message", [budget]);
    saveResults("websocket", { sockets, seconds, rounds, appCpus, payloadBytes: PAYLOAD.length, results: Object.fromEntries(rows.map(({ name, ...x }) => [name, x])), budget });
  } finally {
    await splice?.stop();
    await nginx.stop();
    await t.stop();
  }
}

if (import.meta.main) {
  await main();
  process.exit(0);
}
