// Start steps of the daemon that stand on their own (daemon.ts wires them):
// the host firewall, the Fly tier, the orphaned-database cleanup, and a
// listener's drain. Each returns what the caller stops, or undefined (logged)
// when this host cannot have it.
import type { Server } from "bun";
import { networkInterfaces } from "node:os";
import type { Config } from "../config.ts";
import type { PreviewDatabases, PreviewStore } from "../db/index.ts";
import type { Lifecycle } from "../lifecycle/index.ts";
import type { Logger } from "../log.ts";
import type { NodeLine } from "../nodejs/index.ts";
import { FlyMachines } from "../overflow/machines.ts";
import { FlyTier } from "../overflow/tier.ts";
import type { DockerRuntime } from "../pool/docker.ts";
import { HostFirewall, hostPortsOf } from "../pool/firewall.ts";

/**
 * Stops taking connections and lets requests in flight finish, for at most
 * `ms`: a log follower or a WebSocket never ends by itself, and must not hold
 * a restart hostage.
 */
export async function drain(server: Server<unknown>, ms: number): Promise<void> {
  const graceful = server.stop();
  const timer = setTimeout(() => void server.stop(true), ms);
  await graceful;
  clearTimeout(timer);
}

/** Drops schemas and roles a crash or an abandoned create left behind, past the retention. */
export function scheduleCleanup(config: Config, store: PreviewStore, databases: PreviewDatabases, log: Logger): () => void {
  const timer = setInterval(async () => {
    try {
      const liveIds = new Set((await store.list()).map((r) => r.id));
      const { dropped } = await databases.cleanup({ liveIds, retentionSeconds: config.dbRetention });
      if (dropped.length) log.info({ dropped }, "dropped orphaned preview databases");
    } catch (err) {
      log.warn({ err }, "database cleanup failed");
    }
  }, Math.max(1000, Math.min(60_000, config.dbRetention * 1000)));
  timer.unref();
  return () => clearInterval(timer);
}

/** The host firewall, installed; or undefined (logged loudly) when this host cannot have it (not root, no iptables). */
export async function startFirewall(config: Config, runtime: DockerRuntime, databaseUrl: string, log: Logger): Promise<HostFirewall | undefined> {
  const local = Object.values(networkInterfaces()).flatMap((l) => (l ?? []).map((a) => a.address));
  const fw = new HostFirewall({
    bridge: await runtime.bridgeInterface(),
    // The database when it runs on this host (embedded, or a local server), a registry mirror on this host.
    allowTcpPorts: hostPortsOf([databaseUrl, config.npmRegistry], local),
    dataDir: config.dataDir, // names this daemon's chains: a restart takes its own back
    log: log.child({ mod: "firewall" }),
  });
  const problem = await fw.probe();
  try {
    if (problem) throw new Error(problem);
    await fw.install();
    // Anything that flushes iptables under us (a package upgrade, another tool, a hand) is put back within two intervals.
    fw.watch(config.reconcileInterval * 1000);
    return fw;
  } catch (err) {
    log.error({ reason: (err as Error).message }, "the host firewall cannot be installed (needs root and iptables; PREVIEWD_FIREWALL=off to silence): previews can reach the host's own ports");
    return undefined;
  }
}

/** The Fly tier: the app ensured and this cluster's machines reconciled with the store, or undefined (logged) when Fly refuses. */
export async function startFly(
  config: Config,
  deps: { store: PreviewStore; databases: PreviewDatabases; log: Logger; lifecycle: Lifecycle; newId: () => string; previewUrl: (id: string) => string; nodeLines: NodeLine[] },
): Promise<FlyTier | undefined> {
  const log = deps.log.child({ mod: "fly" });
  const machines = new FlyMachines({ apiUrl: config.flyApiUrl, token: config.flyApiToken, app: config.flyApp, orgSlug: config.flyOrg, regions: config.flyRegions, log });
  const fly = new FlyTier({
    machines, store: deps.store, databases: deps.databases, node: config.nodeId, cluster: config.clusterName,
    image: config.flyImage || `registry.fly.io/${config.flyApp}:preview-base`,
    edgeUrl: config.flyEdgeUrl || `https://${config.flyApp}.fly.dev`,
    databaseAddr: config.flyDatabaseAddr || undefined,
    prices: { runningPerHour: config.flyPriceRunningHour, suspendedPerHour: config.flyPriceSuspendedHour },
    previewUrl: deps.previewUrl, newId: deps.newId, log, startTimeoutMs: Math.max(config.startTimeout, 120) * 1000, lifecycle: deps.lifecycle,
    nodeLines: deps.nodeLines, // machines run the image this node runs (FLY_IMAGE: push the same one)
  });
  try {
    await machines.ensureApp();
    const r = await fly.reconcile();
    log.info({ app: config.flyApp, ...r }, "Fly overflow on");
    return fly;
  } catch (err) {
    log.error({ err: (err as Error).message }, "Fly overflow is OFF: Fly.io refused or could not be reached at start");
    return undefined;
  }
}
