// A starved node is not a dead node (issue 11, item 2): three real daemons,
// once with the production gossip timings (LAN profile: 1 s probes, 0.5 s
// ack timeout, 4 s suspicion at this size) and once with the local profile
// the suite's clusters use (0.3 s probes and ack timeout, 1.5 s suspicion).
// One is stopped with SIGSTOP (2.5 s, five ack timeouts; local: 1 s, three)
// and continued: nobody marks anyone dead, the stopped node accuses no one
// when it runs again (Lifeguard: its late timers judge no one; its local
// health multiplier rises, visible in /v1/cluster and /metrics), and it
// refutes the suspicion its siblings had of it. Then one node is killed with
// SIGKILL: the survivors still find it dead within the profile's bound.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eventually } from "../support/cluster.ts";
import { ensureBaseImage } from "../support/docker.ts";
import { freshDatabase } from "../support/postgres.ts";
import { freePort, killDaemons, spawnDaemon, type DaemonProcess } from "../support/process.ts";

const SECRET = "starved-node-test-secret-0123456789";
const idOf = (d: DaemonProcess) => d.env.PREVIEWD_NODE_ID!;
type ClusterBody = { nodes: Array<{ id: string; state: string; localHealth?: number }> };
const clusterOf = async (d: DaemonProcess, init: RequestInit = {}) => (await (await d.api("/v1/cluster", init)).json()) as ClusterBody;

const PROFILES = [
  // README: about two probe intervals to be probed + 4 s of suspicion + spread; 9 s leaves room for a busy machine.
  { profile: "lan", stopMs: 2500, suspicionMs: 4000, deadBoundMs: 9000 },
  // README: "a node must miss acks ~2 s to be dead" (1.8 s measured before Lifeguard); 4 s for a busy machine.
  { profile: "local", stopMs: 1000, suspicionMs: 1500, deadBoundMs: 4000 },
] as const;

/** Polls every node's /v1/cluster every 100 ms (each on its own: a stopped one does not hold up the others). */
function watch(list: DaemonProcess[]) {
  const seen: string[] = [];
  let maxHealth = 0;
  let on = true;
  const loops = list.map(async (d) => {
    while (on) {
      try {
        const body = await clusterOf(d, { signal: AbortSignal.timeout(1000) });
        for (const n of body.nodes) {
          if (n.state !== "alive") seen.push(`${idOf(d)} saw ${n.id} ${n.state}`);
          if (n.id === idOf(d)) maxHealth = Math.max(maxHealth, n.localHealth ?? 0);
        }
      } catch {} // the stopped node does not answer
      await Bun.sleep(100);
    }
  });
  return {
    seen,
    maxHealth: () => maxHealth,
    async stop() {
      on = false;
      await Promise.all(loops);
    },
  };
}

const count = (text: string, needle: string) => text.split(needle).length - 1;
const LATE = "a timer fired late";
/** The daemon's "a timer fired late" log lines (JSON, piped), oldest first, with the multiplier each one reports. */
const lateTimerLines = (text: string) =>
  text.split("\n").filter((l) => l.includes(LATE)).map((l) => ({ localHealth: Number(/"localHealth":(\d+)/.exec(l)?.[1] ?? -1) }));

for (const p of PROFILES) {
  describe(`${p.profile} profile`, () => {
    const run = `s${process.pid}${Date.now().toString(36)}`;
    const nodes: DaemonProcess[] = [];

  beforeAll(async () => {
    const [databaseUrl, image] = await Promise.all([freshDatabase(), ensureBaseImage()]);
    const peerPorts = [await freePort(), await freePort(), await freePort()];
    const seeds = peerPorts.map((p) => `127.0.0.1:${p}`).join(",");
    for (let i = 0; i < 3; i++) {
      nodes.push(
        await spawnDaemon({
          DATABASE_URL: databaseUrl, PREVIEWD_IMAGE: image, PREVIEWD_NODE_ID: `${run}-${p.profile}-n${i}`,
          PREVIEWD_PEER_PORT: String(peerPorts[i]), PREVIEWD_PEERS: seeds, PREVIEWD_CLUSTER_SECRET: SECRET,
          PREVIEWD_CAPACITY: "2", PREVIEWD_WARM_POOL: "0", PREVIEWD_GOSSIP_PROFILE: p.profile,
        }),
      );
    }
    for (const n of nodes) await eventually("three alive", () => clusterOf(n), (b) => b.nodes.filter((x) => x.state === "alive").length === 3, 30_000);
  }, 120_000);

  afterAll(async () => {
    for (const n of nodes) n.proc.kill("SIGCONT");
    await killDaemons(nodes);
  });

  test(`SIGSTOP for ${p.stopMs} ms, then SIGCONT: nobody is marked dead, and the stopped node accuses no one`, async () => {
    const victim = nodes[2]!;
    const accusedBefore = count(victim.output(), "no ack from cluster member");
    const lateBefore = lateTimerLines(victim.output()).length;
    const w = watch(nodes);
    await Bun.sleep(300);
    victim.proc.kill("SIGSTOP");
    await Bun.sleep(p.stopMs);
    victim.proc.kill("SIGCONT");
    const t0 = performance.now();
    // Its siblings' suspicion of it (if any) is refuted, and it sees them alive.
    for (const n of nodes) await eventually("all alive everywhere", () => clusterOf(n), (b) => b.nodes.every((x) => x.state === "alive"), 20_000);
    // Past a whole suspicion window after it ran again, where a wrong accusation would end in a death.
    while (performance.now() - t0 < p.suspicionMs + 2000) await Bun.sleep(100);
    await w.stop();
    console.log(`${p.profile}: non-alive states seen: ${JSON.stringify([...new Set(w.seen)])}; stopped node's highest local health: ${w.maxHealth()}`);
    expect(w.seen.filter((s) => s.endsWith(" dead"))).toEqual([]);
    // Only the stopped node may have been suspected, and never by itself.
    expect(w.seen.filter((s) => !s.endsWith(`${idOf(victim)} suspect`))).toEqual([]);
    expect(count(victim.output(), "no ack from cluster member")).toBe(accusedBefore);
    for (const n of nodes) expect(n.output()).not.toContain("cluster member is dead");
    // Lifeguard noticed: its timers fired late and each raised its local health multiplier. (Read from the log,
    // which says the multiplier after each rise: the next ack lowers it again, often before a poll could see it.)
    const late = lateTimerLines(victim.output()).slice(lateBefore);
    expect(late.length).toBeGreaterThan(0);
    expect(Math.max(...late.map((l) => l.localHealth))).toBeGreaterThan(0);
    const metrics = await (await victim.api("/metrics")).text();
    expect(metrics).toMatch(/^previewd_gossip_local_health \d+$/m);
  });

  test(`SIGKILL: the survivors find the node dead within ${p.deadBoundMs} ms`, async () => {
    const victim = nodes[1]!;
    const survivors = [nodes[0]!, nodes[2]!];
    // A clean slate: the stopped node's local health is back to 0 (its probes stretch while it is raised).
    await eventually("healthy", () => clusterOf(nodes[2]!), (b) => b.nodes.find((x) => x.id === idOf(nodes[2]!))?.localHealth === 0, 30_000);
    victim.proc.kill("SIGKILL");
    const t0 = performance.now();
    await Promise.all(survivors.map((s) => eventually("dead", () => clusterOf(s), (b) => b.nodes.find((x) => x.id === idOf(victim))?.state === "dead", 30_000, 50)));
    const ms = performance.now() - t0;
    console.log(`SIGKILL found dead by both survivors in ${ms.toFixed(0)} ms (${p.profile} profile)`);
    expect(ms).toBeLessThan(p.deadBoundMs);
    // Their probes of the dead node failed, but the other survivor nacked: their own health stayed good.
    for (const s of survivors) expect((await clusterOf(s)).nodes.find((x) => x.id === idOf(s))?.localHealth).toBeLessThanOrEqual(1);
  });
  });
}
