// The host firewall (issue 10, item 5; per daemon, issue 26), checked from
// inside real previews: with the daemon listening on 0.0.0.0 (a cluster
// node's PREVIEWD_HOST), a preview reaches neither the daemon's API and peer
// ports nor a listener of the host's, through the preview bridge's gateway,
// docker0's gateway (host.docker.internal) or the host's primary address; it
// reaches its database and the npm registry (its own install job ran against
// it). The same probe with the rules taken out connects, so a refusal is the
// firewall's doing. Then several daemons on the one bridge, each with its own
// database port (a TCP relay to the test PostgreSQL): each one's previews
// reach their database while the other runs and after it stops; rules flushed
// by hand come back within two reconcile intervals; a daemon killed with -9
// leaves nothing that refuses the others or breaks its next start.
import type { TCPSocketListener } from "bun";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createServer, connect as tcpConnect, type Server } from "node:net";
import { networkInterfaces } from "node:os";
import { createLogger } from "../../src/log.ts";
import { daemonChain, daemonChainId, FORWARD_CHAIN, HostFirewall, INPUT_CHAIN, listChain } from "../../src/pool/firewall.ts";
import { unique } from "../support/apps.ts";
import { createPreview, startTestDaemon, type TestDaemon } from "../support/daemon.ts";
import { ensureBaseImage } from "../support/docker.ts";
import { eventually } from "../support/eventually.ts";
import { freshDatabase } from "../support/postgres.ts";
import { killDaemons, spawnDaemon, type DaemonProcess } from "../support/process.ts";
import { loadApp } from "../fixtures/apps/index.ts";

const SECRET = "firewall-test-cluster-secret";
/** Seconds between firewall checks of this file's daemons (PREVIEWD_RECONCILE_INTERVAL). */
const INTERVAL = 2;
const INPUT_ALLOW = "PREVIEWD-INPUT-ALLOW";
const FORWARD_ALLOW = "PREVIEWD-FORWARD-ALLOW";

const probeServer = `
const net = require("net");
const http = require("http");
const { Client } = require("pg");
const connect = (h, p) => new Promise((res) => {
  const c = net.connect({ host: h, port: p, timeout: 3000 });
  const end = (v) => { c.destroy(); res(v); };
  c.on("connect", () => end("connected"));
  c.on("timeout", () => end("timeout"));
  c.on("error", (e) => end(e.code));
});
http.createServer(async (q, s) => {
  const params = new URL(q.url, "http://x").searchParams;
  const targets = JSON.parse(params.get("t") || "{}");
  const out = {};
  await Promise.all(Object.entries(targets).map(async ([k, [h, p]]) => { out[k] = await connect(h, p); }));
  try {
    const c = new Client({ connectionString: process.env.DATABASE_URL, connectionTimeoutMillis: 5000 });
    await c.connect();
    out.query = (await c.query("select 41 + 1 as n")).rows[0].n;
    await c.end();
  } catch (e) { out.query = String(e.message); }
  if (params.get("registry")) {
    try {
      const r = await fetch("https://registry.npmjs.org/pg", { signal: AbortSignal.timeout(15000) });
      out.registry = r.status;
    } catch (e) { out.registry = String((e.cause && e.cause.code) || e.message); }
  }
  s.end(JSON.stringify(out));
}).listen(process.env.PORT, "0.0.0.0");
`;

let d: TestDaemon | undefined;
let listener: TCPSocketListener<undefined>;
let bridge: string;
let previewGateway: string;
let dbPort: number;
let previewId: string;
const relays: Server[] = [];
/** Data dirs of every daemon this file started with the firewall on: afterAll removes their chains, whatever happened. */
const ourDataDirs: string[] = [];
const log = createLogger("error");

/** The host's own address outside Docker (eth0's). */
function primaryAddress(): string {
  for (const [name, list] of Object.entries(networkInterfaces())) {
    if (name.startsWith("docker") || name.startsWith("br-") || name.startsWith("veth")) continue;
    for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  }
  throw new Error("no primary IPv4 address");
}

async function jumpsTo(chain: string, parent: string): Promise<string[]> {
  return ((await listChain(parent)) ?? []).filter((l) => l.endsWith(`-j ${chain}`));
}

/**
 * A TCP relay on 0.0.0.0 to the test PostgreSQL: the same server at a port of its own, and an empty database
 * (a daemon on the shared one would take over the previews another test's stopped daemon left in it).
 */
async function relayToTestDatabase(): Promise<{ port: number; url: string }> {
  const target = new URL(await freshDatabase());
  const server = createServer((c) => {
    const up = tcpConnect(Number(target.port), target.hostname);
    c.pipe(up).pipe(c);
    c.on("error", () => up.destroy());
    up.on("error", () => c.destroy());
    c.on("close", () => up.destroy());
    up.on("close", () => c.destroy());
  });
  await new Promise<void>((res) => server.listen(0, "0.0.0.0", res));
  relays.push(server);
  const port = (server.address() as { port: number }).port;
  const url = new URL(target);
  url.port = String(port);
  return { port, url: url.toString() };
}

interface Probed {
  [target: string]: string | number;
}

/**
 * From inside preview `id` of daemon `via`: a connect to each host address × port (each named port@host), to
 * each extra target, a query on its database and (when asked) the npm registry.
 */
async function probe(via: { preview(id: string, path?: string): Promise<Response> }, id: string, ports: Record<string, number>, extra: Record<string, number> = {}, registry = false): Promise<Probed> {
  const hosts = { gw: previewGateway, docker0: "host.docker.internal", primary: primaryAddress() };
  const t: Record<string, [string, number]> = {};
  for (const [hn, h] of Object.entries(hosts)) for (const [pn, p] of Object.entries(ports)) t[`${pn}@${hn}`] = [h, p];
  for (const [k, p] of Object.entries(extra)) t[k] = ["host.docker.internal", p];
  const res = await via.preview(id, `/?t=${encodeURIComponent(JSON.stringify(t))}${registry ? "&registry=1" : ""}`);
  expect(res.status).toBe(200);
  return (await res.json()) as Probed;
}

/** Every port@host of a probe refused at once (tcp-reset: no timeout). */
function expectHostPortsRefused(r: Probed): void {
  for (const [k, v] of Object.entries(r)) if (k.includes("@")) expect([k, v]).toEqual([k, "ECONNREFUSED"]);
}

const daemonPorts = (x: TestDaemon) => ({ api: x.apiPort, peer: x.peerPort, listener: listener.port });

async function startFirewalledDaemon(env: Record<string, string> = {}): Promise<TestDaemon> {
  const x = await startTestDaemon({ PREVIEWD_FIREWALL: "on", PREVIEWD_RECONCILE_INTERVAL: String(INTERVAL), ...env });
  ourDataDirs.push(x.dataDir);
  return x;
}

async function probePreview(on: TestDaemon): Promise<string> {
  // A real install (npm ci of express + pg) runs in an install container on the same network: the registry is reached.
  const files = { ...unique(loadApp("express-pg")), "server.js": probeServer };
  const p = await createPreview(on, { files, command: ["node", "server.js"], database: true });
  expect(p.status).toBe("running");
  return p.id;
}

/** previewd_firewall_repairs_total by part, from a daemon's /metrics. */
async function repairs(x: TestDaemon): Promise<Record<string, number>> {
  const text = await (await x.api("/metrics")).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^previewd_firewall_repairs_total\{part="([a-z_]+)"\} (\d+)$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

/** What a daemon's firewall is, as iptables shows it: the parents' jumps, the shared chains and its own. */
async function installed(x: TestDaemon) {
  const id = daemonChainId(x.dataDir);
  return {
    inputJumps: await jumpsTo(INPUT_CHAIN, "INPUT"),
    forwardJumps: await jumpsTo(FORWARD_CHAIN, "DOCKER-USER"),
    input: await listChain(INPUT_CHAIN),
    forward: await listChain(FORWARD_CHAIN),
    inputAllow: await listChain(INPUT_ALLOW),
    forwardAllow: await listChain(FORWARD_ALLOW),
    own: await listChain(daemonChain("input", id)),
    ownForward: await listChain(daemonChain("forward", id)),
  };
}

async function sh(cmd: string[]): Promise<void> {
  await Bun.spawn(cmd, { stdout: "ignore", stderr: "ignore" }).exited;
}

describe("host firewall", () => {
  beforeAll(async () => {
    listener = Bun.listen({ hostname: "0.0.0.0", port: 0, socket: { open: (s) => void s.end("hello"), data() {} } });
    d = await startFirewalledDaemon({ PREVIEWD_HOST: "0.0.0.0", PREVIEWD_CLUSTER_SECRET: SECRET });
    const net = (await new Docker().getNetwork("previewd").inspect()) as { Id: string; IPAM: { Config: Array<{ Gateway?: string }> } };
    bridge = `br-${net.Id.slice(0, 12)}`;
    previewGateway = net.IPAM.Config.find((c) => c.Gateway)!.Gateway!;
    dbPort = Number(new URL(d.databaseUrl).port);
  }, 120_000);

  afterAll(async () => {
    await d?.cleanup();
    listener?.stop(true);
    for (const r of relays) r.close();
    // Whatever happened above, the machine is left without this file's daemons' chains (and the shared ones, once none is left).
    for (const dataDir of ourDataDirs) await new HostFirewall({ bridge: bridge ?? "none", allowTcpPorts: [], dataDir, log }).remove().catch(() => {});
  });

  test("installed at start: one jump from INPUT and DOCKER-USER for the preview bridge; the daemon's port in its own chain", async () => {
    const s = await installed(d!);
    expect(s.inputJumps).toEqual([`-A INPUT -i ${bridge} -j ${INPUT_CHAIN}`]);
    expect(s.forwardJumps).toEqual([`-A DOCKER-USER -i ${bridge} -j ${FORWARD_CHAIN}`]);
    const own = daemonChain("input", daemonChainId(d!.dataDir));
    expect(s.own).toContain(`-A ${own} -i ${bridge} -p tcp -m tcp --dport ${dbPort} -j MARK --set-xmark 0x20000000/0x20000000`);
    expect(s.inputAllow).toEqual([`-A ${INPUT_ALLOW} -j ${own}`]);
    expect(s.input).toContain(`-A ${INPUT_CHAIN} -j ${INPUT_ALLOW}`);
    expect(s.input!.at(-2)).toBe(`-A ${INPUT_CHAIN} -m mark ! --mark 0x20000000/0x20000000 -j REJECT --reject-with icmp-port-unreachable`);
    expect(s.input!.at(-1)).toBe(`-A ${INPUT_CHAIN} -j MARK --set-xmark 0x0/0x20000000`); // the bit never leaves our chains
    expect(await d!.firewall!.check()).toEqual([]); // what was installed is what a check wants: nothing to repair
  });

  test("from inside a preview: the host's ports are refused, the database and the registry answer", async () => {
    previewId = await probePreview(d!);
    const r = await probe(d!, previewId, daemonPorts(d!), { db: dbPort }, true);
    expectHostPortsRefused(r);
    expect(r.db).toBe("connected");
    expect(r.query).toBe(42);
    expect(r.registry).toBe(200);
  }, 300_000);

  test("the same probe without the rules connects (the refusal above is the firewall's); a check puts them back", async () => {
    await d!.firewall!.unwatch();
    try {
      await sh(["iptables", "-w", "-D", "INPUT", "-i", bridge, "-j", INPUT_CHAIN]);
      await sh(["iptables", "-w", "-D", "DOCKER-USER", "-i", bridge, "-j", FORWARD_CHAIN]);
      const r = await probe(d!, previewId, daemonPorts(d!));
      for (const h of ["gw", "docker0", "primary"]) {
        expect(r[`listener@${h}`]).toBe("connected");
        expect(r[`api@${h}`]).toBe("connected");
        expect(r[`peer@${h}`]).toBe("connected");
      }
      expect(await d!.firewall!.check()).toEqual(["input_jump", "forward_jump"]);
    } finally {
      d!.firewall!.watch(INTERVAL * 1000);
    }
    expect((await probe(d!, previewId, daemonPorts(d!)))["api@primary"]).toBe("ECONNREFUSED");
  }, 120_000);

  test("two daemons on one bridge, other database ports: each one's previews reach their own; the second's stop leaves the first's protected", async () => {
    const relay = await relayToTestDatabase();
    const b = await startFirewalledDaemon({ DATABASE_URL: relay.url, PREVIEWD_WARM_POOL: "0", PREVIEWD_HOST: "0.0.0.0", PREVIEWD_CLUSTER_SECRET: SECRET });
    try {
      const bPreview = await probePreview(b);
      for (const [via, id] of [[d!, previewId], [b, bPreview]] as const) {
        const r = await probe(via, id, { ...daemonPorts(d!), bApi: b.apiPort, bPeer: b.peerPort }, { db: dbPort, relay: relay.port });
        expectHostPortsRefused(r);
        expect([via.nodeId, r.query]).toEqual([via.nodeId, 42]); // each reaches its own database
        // A union over the daemons on the bridge: either one's database port passes.
        expect([r.db, r.relay]).toEqual(["connected", "connected"]);
      }
      // One skeleton for both: still one jump per parent, each daemon's port in its own chain.
      expect(await jumpsTo(INPUT_CHAIN, "INPUT")).toHaveLength(1);
      expect(await jumpsTo(FORWARD_CHAIN, "DOCKER-USER")).toHaveLength(1);
      expect(((await listChain(INPUT_ALLOW)) ?? []).sort()).toEqual([d!.dataDir, b.dataDir].map((x) => `-A ${INPUT_ALLOW} -j ${daemonChain("input", daemonChainId(x))}`).sort());
    } finally {
      await b.cleanup();
    }
    // The first daemon's previews: still refused the host's ports, still reaching their database; the second's port went with it.
    const r = await probe(d!, previewId, daemonPorts(d!), { db: dbPort, relay: relay.port });
    expectHostPortsRefused(r);
    expect(r.query).toBe(42);
    expect(r.relay).toBe("ECONNREFUSED");
    expect(await listChain(INPUT_ALLOW)).toEqual([`-A ${INPUT_ALLOW} -j ${daemonChain("input", daemonChainId(d!.dataDir))}`]);
    expect(await listChain(daemonChain("input", daemonChainId(b.dataDir)))).toBeUndefined();
    expect(await jumpsTo(INPUT_CHAIN, "INPUT")).toEqual([`-A INPUT -i ${bridge} -j ${INPUT_CHAIN}`]);
  }, 300_000);

  test("two daemons stopping at once take only their own chains away", async () => {
    const before = await installed(d!);
    const [b, c] = await Promise.all([0, 1].map(() => startFirewalledDaemon({ PREVIEWD_WARM_POOL: "0" })));
    expect(((await listChain(INPUT_ALLOW)) ?? []).length).toBe(3);
    await Promise.all([b!.cleanup(), c!.cleanup()]);
    expect(await installed(d!)).toEqual(before);
    for (const x of [b!, c!]) for (const dir of ["input", "forward"] as const) expect(await listChain(daemonChain(dir, daemonChainId(x.dataDir)))).toBeUndefined();
  }, 120_000);

  test("chains flushed and deleted by hand under a running daemon are back within two reconcile intervals, and counted", async () => {
    const before = await installed(d!);
    const counted = await repairs(d!);
    const own = daemonChain("input", daemonChainId(d!.dataDir));
    // What a package upgrade or a careless hand does: every chain of ours emptied, the INPUT jump and two chains gone.
    for (const cmd of [
      ["-F", INPUT_CHAIN], ["-F", FORWARD_CHAIN], ["-D", "INPUT", "-i", bridge, "-j", INPUT_CHAIN],
      ["-F", INPUT_ALLOW], ["-F", own], ["-X", own], ["-X", INPUT_ALLOW],
    ]) await sh(["iptables", "-w", ...cmd]);
    const back = await eventually("the firewall put back", () => installed(d!), (s) => JSON.stringify(s) === JSON.stringify(before), (2 * INTERVAL + 3) * 1000, 200);
    expect(back).toEqual(before);
    const r = await probe(d!, previewId, daemonPorts(d!), { db: dbPort });
    expectHostPortsRefused(r);
    expect(r.query).toBe(42);
    const now = await repairs(d!);
    for (const part of ["input_jump", "input_skeleton", "forward_skeleton"]) expect([part, now[part]! > (counted[part] ?? 0)]).toEqual([part, true]);
  }, 120_000);

  test("a daemon killed with -9: its port stops passing within two intervals, the others keep theirs, and its next start works", async () => {
    const relay = await relayToTestDatabase();
    const env = { DATABASE_URL: relay.url, PREVIEWD_FIREWALL: "on", PREVIEWD_WARM_POOL: "0", PREVIEWD_IMAGE: await ensureBaseImage(), PREVIEWD_RECONCILE_INTERVAL: String(INTERVAL), PREVIEWD_NODE_ID: `fwk${process.pid}` };
    let k: DaemonProcess | undefined = await spawnDaemon(env);
    ourDataDirs.push(k.dataDir);
    const kChain = daemonChain("input", daemonChainId(k.dataDir));
    try {
      // While it runs, the first daemon's previews reach both ports (a union), and nothing else.
      let r = await probe(d!, previewId, daemonPorts(d!), { relay: relay.port });
      expectHostPortsRefused(r);
      expect([r.query, r.relay]).toEqual([42, "connected"]);
      expect(await listChain(kChain)).toContain(`-A ${kChain} -i ${bridge} -p tcp -m tcp --dport ${relay.port} -j MARK --set-xmark 0x20000000/0x20000000`);
      k.proc.kill("SIGKILL");
      await k.proc.exited;
      // Its chains are left behind; the first daemon's check sees that its process is gone and removes them.
      await eventually("the dead daemon's chains removed", () => listChain(kChain), (c) => c === undefined, (2 * INTERVAL + 3) * 1000, 200);
      r = await probe(d!, previewId, daemonPorts(d!), { relay: relay.port });
      expectHostPortsRefused(r);
      expect([r.query, r.relay]).toEqual([42, "ECONNREFUSED"]);
      // The same daemon again, on its data dir: it starts, and its port passes again.
      k = await spawnDaemon(k.env, k.dataDir);
      expect(await listChain(kChain)).toContain(`-A ${kChain} -i ${bridge} -p tcp -m tcp --dport ${relay.port} -j MARK --set-xmark 0x20000000/0x20000000`);
      expect((await probe(d!, previewId, daemonPorts(d!), { relay: relay.port })).relay).toBe("connected");
      // A clean stop (SIGTERM) takes only its own chains.
      k.proc.kill("SIGTERM");
      expect(await k.proc.exited).toBe(0);
      expect(await listChain(kChain)).toBeUndefined();
      r = await probe(d!, previewId, daemonPorts(d!), { relay: relay.port });
      expectHostPortsRefused(r);
      expect([r.query, r.relay]).toEqual([42, "ECONNREFUSED"]);
    } finally {
      await killDaemons([k]);
    }
  }, 300_000);

  test("a second start of the same data dir installs no duplicate; the last two stopping at once remove everything", async () => {
    const before = await installed(d!);
    const again = new HostFirewall({ bridge, allowTcpPorts: [dbPort], dataDir: d!.dataDir, log });
    await again.install();
    expect(await installed(d!)).toEqual(before);
    const other = await startFirewalledDaemon({ PREVIEWD_WARM_POOL: "0" });
    await Promise.all([d!.cleanup(), other.cleanup()]);
    d = undefined;
    for (const chain of [INPUT_CHAIN, FORWARD_CHAIN, INPUT_ALLOW, FORWARD_ALLOW]) expect([chain, await listChain(chain)]).toEqual([chain, undefined]);
    const left = ((await listChain("INPUT")) ?? []).concat((await listChain("DOCKER-USER")) ?? []).filter((l) => l.includes("PREVIEWD-"));
    expect(left).toEqual([]);
    // No chain named PREVIEWD-* at all (not even a daemon chain of ours).
    const all = await new Response(Bun.spawn(["iptables", "-w", "-S"], { stdout: "pipe" }).stdout).text();
    expect(all.split("\n").filter((l) => l.startsWith("-N PREVIEWD-"))).toEqual([]);
  }, 120_000);
});
