// Helpers for tests that run several real daemons: condition waits, the
// cluster as a node sees it, and a preview's containers across all nodes
// (they share this machine's Docker engine).
import Docker from "dockerode";
import type { DaemonProcess } from "./process.ts";

export type ClusterBody = { nodes: Array<{ id: string; state: string; free: number; capacity: number }> };

export const clusterOf = async (d: DaemonProcess) => (await (await d.api("/v1/cluster")).json()) as ClusterBody;
export const stateOf = async (d: DaemonProcess, node: string) => (await clusterOf(d)).nodes.find((n) => n.id === node)?.state;
export const aliveIds = async (d: DaemonProcess) => (await clusterOf(d)).nodes.filter((n) => n.state === "alive").map((n) => n.id).sort();

export { eventually } from "./eventually.ts";

const docker = new Docker();

/** Every container of a preview on this engine, whichever node made it, with its node and state. */
export async function containersOf(previewId: string): Promise<Array<{ node: string; state: string }>> {
  const found = await docker.listContainers({ all: true, filters: { label: [`previewd.preview=${previewId}`] } });
  return found.map((c) => ({ node: c.Labels["previewd.node"] ?? "", state: c.State }));
}

/** Creates a preview on `d` (placed there while it has room) and waits for it to run. */
export async function createOn(d: DaemonProcess, files: Record<string, string>): Promise<{ id: string; node: string }> {
  const res = await d.api("/v1/previews?wait=1", { method: "POST", body: JSON.stringify({ files }) });
  if (res.status !== 201) throw new Error(`create answered ${res.status}: ${await res.text()}`);
  const p = (await res.json()) as { id: string; node: string; status: string };
  if (p.status !== "running") throw new Error(`preview ${p.id} is ${p.status}`);
  return p;
}

/** The preview's counter through `d` (the echo app counts requests in memory). */
export async function counter(d: DaemonProcess, id: string): Promise<number> {
  const r = await d.preview(id, "/counter");
  if (r.status !== 200) throw new Error(`counter answered ${r.status}`);
  return Number(await r.text());
}

/** SIGTERM and wait for the process to exit (a clean stop: it says it is leaving). */
export async function stopDaemon(d: DaemonProcess): Promise<number | null> {
  d.proc.kill("SIGTERM");
  await d.proc.exited;
  return d.proc.exitCode;
}

/**
 * Two real daemons on one fresh database, each the other's peer, both seeing
 * two alive nodes. `env` is added to both (a daemon's own settings win).
 */
export async function startPair(env: Record<string, string>, label = "pair"): Promise<[DaemonProcess, DaemonProcess]> {
  const { ensureBaseImage } = await import("./docker.ts");
  const { freshDatabase } = await import("./postgres.ts");
  const { freePort, killDaemons, spawnDaemon } = await import("./process.ts");
  const { eventually } = await import("./eventually.ts");
  const run = `${label}${process.pid}${Date.now().toString(36)}`;
  const [databaseUrl, image] = await Promise.all([freshDatabase(), ensureBaseImage()]);
  const peerPorts = [await freePort(), await freePort()];
  const nodes: DaemonProcess[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      nodes.push(await spawnDaemon({
        DATABASE_URL: databaseUrl, PREVIEWD_IMAGE: image, PREVIEWD_NODE_ID: `${run}-n${i}`,
        PREVIEWD_PEER_PORT: String(peerPorts[i]), PREVIEWD_PEERS: peerPorts.map((p) => `127.0.0.1:${p}`).join(","),
        PREVIEWD_CLUSTER_SECRET: `${label}-secret-0123456789abcdef`, PREVIEWD_GOSSIP_PROFILE: "local", ...env,
      }));
    }
    await Promise.all(nodes.map((n) => eventually("two alive", () => aliveIds(n), (ids) => ids.length === 2, 30_000)));
  } catch (err) {
    await killDaemons(nodes);
    throw err;
  }
  return nodes as [DaemonProcess, DaemonProcess];
}
