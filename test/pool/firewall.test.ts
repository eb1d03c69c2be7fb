// The host firewall (issue 10, item 5), checked from inside a real preview:
// with the daemon listening on 0.0.0.0 (a cluster node's PREVIEWD_HOST), a
// preview reaches neither the daemon's API and peer ports nor a listener of
// the host's, through the preview bridge's gateway, docker0's gateway
// (host.docker.internal) or the host's primary address; it reaches its
// database and the npm registry (its own install job ran against it). The
// same probe with the rules taken out connects, so a refusal is the
// firewall's doing. A second daemon start leaves one jump and the same
// rules; a stop leaves nothing.
import type { TCPSocketListener } from "bun";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { networkInterfaces } from "node:os";
import { createLogger } from "../../src/log.ts";
import { FORWARD_CHAIN, HostFirewall, INPUT_CHAIN, listChain } from "../../src/pool/firewall.ts";
import { unique } from "../support/apps.ts";
import { createPreview, startTestDaemon, type TestDaemon } from "../support/daemon.ts";
import { loadApp } from "../fixtures/apps/index.ts";

const SECRET = "firewall-test-cluster-secret";

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
  const targets = JSON.parse(new URL(q.url, "http://x").searchParams.get("t") || "{}");
  const out = {};
  await Promise.all(Object.entries(targets).map(async ([k, [h, p]]) => { out[k] = await connect(h, p); }));
  try {
    const c = new Client({ connectionString: process.env.DATABASE_URL });
    await c.connect();
    out.query = (await c.query("select 41 + 1 as n")).rows[0].n;
    await c.end();
  } catch (e) { out.query = String(e.message); }
  try {
    const r = await fetch("https://registry.npmjs.org/pg", { signal: AbortSignal.timeout(15000) });
    out.registry = r.status;
  } catch (e) { out.registry = String((e.cause && e.cause.code) || e.message); }
  s.end(JSON.stringify(out));
}).listen(process.env.PORT, "0.0.0.0");
`;

let d: TestDaemon;
let listener: TCPSocketListener<undefined>;
let bridge: string;
let previewGateway: string;
let dbPort: number;
let previewId: string;
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

/** Connects from inside the preview to each host address × port; the database and the registry too. */
async function probe(): Promise<Record<string, string | number>> {
  const hosts = { gw: previewGateway, docker0: "host.docker.internal", primary: primaryAddress() };
  const ports = { api: d.apiPort, peer: d.peerPort, listener: listener.port };
  const t: Record<string, [string, number]> = {};
  for (const [hn, h] of Object.entries(hosts)) for (const [pn, p] of Object.entries(ports)) t[`${pn}@${hn}`] = [h, p];
  t.db = ["host.docker.internal", dbPort];
  const res = await d.preview(previewId, `/?t=${encodeURIComponent(JSON.stringify(t))}`);
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, string | number>;
}

describe("host firewall", () => {
  beforeAll(async () => {
    listener = Bun.listen({ hostname: "0.0.0.0", port: 0, socket: { open: (s) => void s.end("hello"), data() {} } });
    d = await startTestDaemon({ PREVIEWD_FIREWALL: "on", PREVIEWD_HOST: "0.0.0.0", PREVIEWD_CLUSTER_SECRET: SECRET });
    const net = (await new Docker().getNetwork("previewd").inspect()) as { Id: string; IPAM: { Config: Array<{ Gateway?: string }> } };
    bridge = `br-${net.Id.slice(0, 12)}`;
    previewGateway = net.IPAM.Config.find((c) => c.Gateway)!.Gateway!;
    dbPort = Number(new URL(d.databaseUrl).port);
  }, 120_000);

  afterAll(async () => {
    await d?.cleanup();
    listener?.stop(true);
    // Whatever happened above, the machine is left without our chains.
    await new HostFirewall({ bridge: bridge ?? "none", allowTcpPorts: [], log }).remove();
  });

  test("installed at start: one jump from INPUT and DOCKER-USER for the preview bridge only", async () => {
    expect(await jumpsTo(INPUT_CHAIN, "INPUT")).toEqual([`-A INPUT -i ${bridge} -j ${INPUT_CHAIN}`]);
    expect(await jumpsTo(FORWARD_CHAIN, "DOCKER-USER")).toEqual([`-A DOCKER-USER -i ${bridge} -j ${FORWARD_CHAIN}`]);
    const rules = (await listChain(INPUT_CHAIN))!;
    expect(rules).toContain(`-A ${INPUT_CHAIN} -p tcp -m tcp --dport ${dbPort} -j RETURN`);
    expect(rules.at(-1)).toBe(`-A ${INPUT_CHAIN} -j REJECT --reject-with icmp-port-unreachable`);
  });

  test("from inside a preview: the host's ports are refused, the database and the registry answer", async () => {
    // A real install (npm ci of express + pg) ran in an install container on the same network: the registry was reached.
    const files = { ...unique(loadApp("express-pg")), "server.js": probeServer };
    const p = await createPreview(d, { files, command: ["node", "server.js"], database: true });
    expect(p.status).toBe("running");
    previewId = p.id;
    const r = await probe();
    for (const [k, v] of Object.entries(r)) {
      if (k.includes("@")) expect([k, v]).toEqual([k, "ECONNREFUSED"]); // tcp-reset: refused at once, no timeout
    }
    expect(r.db).toBe("connected");
    expect(r.query).toBe(42);
    expect(r.registry).toBe(200);
  }, 300_000);

  test("the same probe without the rules connects (the refusal above is the firewall's)", async () => {
    const fw = new HostFirewall({ bridge, allowTcpPorts: [dbPort], log });
    await fw.remove();
    try {
      const r = await probe();
      for (const h of ["gw", "docker0", "primary"]) {
        expect(r[`listener@${h}`]).toBe("connected");
        expect(r[`api@${h}`]).toBe("connected");
        expect(r[`peer@${h}`]).toBe("connected");
      }
    } finally {
      await fw.install();
    }
    expect((await probe())["api@primary"]).toBe("ECONNREFUSED");
  }, 120_000);

  test("a second start installs no duplicate; a stop removes everything", async () => {
    const before = await listChain(INPUT_CHAIN);
    const d2 = await startTestDaemon({ PREVIEWD_FIREWALL: "on", PREVIEWD_WARM_POOL: "0" });
    try {
      expect(await jumpsTo(INPUT_CHAIN, "INPUT")).toHaveLength(1);
      expect(await jumpsTo(FORWARD_CHAIN, "DOCKER-USER")).toHaveLength(1);
      expect(await listChain(INPUT_CHAIN)).toEqual(before);
    } finally {
      await d2.cleanup();
    }
    expect(await listChain(INPUT_CHAIN)).toBeUndefined();
    expect(await listChain(FORWARD_CHAIN)).toBeUndefined();
    expect(await jumpsTo(INPUT_CHAIN, "INPUT")).toEqual([]);
    expect(await jumpsTo(FORWARD_CHAIN, "DOCKER-USER")).toEqual([]);
  }, 120_000);
});
