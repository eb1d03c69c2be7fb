// What the proxy, WebSocket and footprint benches measure: real `previewd
// serve` processes (child processes, so their /proc readings are theirs
// alone) running the echo app as a preview, and where its container answers.
import Docker from "dockerode";
import { echoApp } from "../../test/fixtures/apps.ts";
import { ensureBaseImage } from "../../test/support/docker.ts";
import { testDatabaseUrl } from "../../test/support/postgres.ts";
import { freePort, killDaemons, spawnDaemon, type DaemonProcess } from "../../test/support/process.ts";

export interface BenchTarget {
  /** The daemon that runs the preview. */
  daemon: DaemonProcess;
  /** A second daemon that reaches the preview through one peer hop (with `sibling`). */
  sibling?: DaemonProcess;
  id: string;
  /** The Host header that routes to the preview. */
  host: string;
  /** The container's address on the preview network: what previewd's proxy connects to. */
  containerAddr: string;
  /** The container's port published on 127.0.0.1 (through Docker's userland proxy). */
  publishedAddr: string;
  stop(): Promise<void>;
}

export interface TargetOptions {
  /**
   * CPU limit of the preview container. The daemon's default (0.25) makes
   * the app the bottleneck of every path and its CFS throttling the p99 of
   * every path, which hides what the proxies cost; benches pass more.
   */
  appCpus?: string;
  sibling?: boolean;
  /** No DATABASE_URL: the daemon runs its embedded PostgreSQL, as `previewd serve` does by default. */
  embeddedDb?: boolean;
  /** Extra environment of the daemon (BUN_OPTIONS=--cpu-prof for a profile). */
  env?: Record<string, string>;
}

export async function startTarget(opts: TargetOptions = {}): Promise<BenchTarget> {
  const run = `bench-${Date.now().toString(36)}`;
  const [databaseUrl, image] = await Promise.all([opts.embeddedDb ? undefined : testDatabaseUrl(), ensureBaseImage()]);
  const daemons: DaemonProcess[] = [];
  const stop = () => killDaemons(daemons);
  try {
    const common: Record<string, string> = {
      PREVIEWD_IMAGE: image, PREVIEWD_WARM_POOL: "1", ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
      ...(opts.appCpus ? { PREVIEWD_CPUS: opts.appCpus } : {}), ...opts.env,
    };
    if (opts.sibling) {
      const peerPorts = [await freePort(), await freePort()];
      for (let i = 0; i < 2; i++) {
        daemons.push(await spawnDaemon({
          ...common, PREVIEWD_NODE_ID: `${run}-${i}`, PREVIEWD_PEER_PORT: String(peerPorts[i]),
          PREVIEWD_PEERS: peerPorts.map((p) => `127.0.0.1:${p}`).join(","), PREVIEWD_CLUSTER_SECRET: "bench-cluster-secret-0123456789",
          PREVIEWD_GOSSIP_PROFILE: "local",
          // the sibling must not place the preview on itself or run containers of its own
          ...(i === 1 ? { PREVIEWD_WARM_POOL: "0" } : {}),
        }));
      }
    } else {
      daemons.push(await spawnDaemon({ ...common, PREVIEWD_NODE_ID: run }));
    }
    const [daemon, sibling] = daemons as [DaemonProcess, DaemonProcess | undefined];
    const res = await daemon.api("/v1/previews?wait=1", { method: "POST", body: JSON.stringify({ files: echoApp }) });
    const body = (await res.json()) as { id: string; status: string };
    if (res.status !== 201 && res.status !== 200) throw new Error(`create: ${res.status} ${JSON.stringify(body)}`);
    if (body.status !== "running") throw new Error(`preview ${body.id} is ${body.status}`);
    const id = body.id;
    const [c] = await new Docker().listContainers({ filters: { label: [`previewd.preview=${id}`] } });
    if (!c) throw new Error(`no container for preview ${id}`);
    const ip = Object.values(c.NetworkSettings.Networks)[0]!.IPAddress;
    const published = c.Ports.find((p) => p.PrivatePort === 3000 && p.PublicPort)?.PublicPort;
    if (!ip || !published) throw new Error(`preview ${id}: no address (${ip}) or published port (${published})`);
    // The sibling learns where the preview lives through the store and gossip.
    if (sibling) {
      const deadline = Date.now() + 30_000;
      while ((await sibling.preview(id, "/small").then((r) => r.status, () => 0)) !== 200) {
        if (Date.now() > deadline) throw new Error("the sibling never reached the preview");
        await Bun.sleep(100);
      }
    }
    return { daemon, sibling, id, host: `${id}.localhost`, containerAddr: `${ip}:3000`, publishedAddr: `127.0.0.1:${published}`, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
