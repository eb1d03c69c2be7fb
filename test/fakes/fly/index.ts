// A local fake of Fly.io's Machines API and edge proxy, for tests and
// scripts/fake. Each machine is a real Docker container (containers.ts); see
// README.md for what is implemented, the sources, and where it differs from Fly.
//
//   const fly = await startFakeFly();
//   new FlyMachines({ apiUrl: fly.apiUrl, token: fly.token, app: fly.app, regions: ["iad"] });
//   fetch(`${fly.edgeUrl}/`, { headers: { host: `${fly.app}.fly.dev`, "fly-force-instance-id": id } });
//   await fly.stop(); // every container it made is removed
import type Docker from "dockerode";
import { randomBytes } from "node:crypto";
import { assignIp, type Call, type FakeApp, machinesApi } from "./api.ts";
import { Containers } from "./containers.ts";
import { startEdge } from "./edge.ts";
import { type Fault, Faults, RateLimits } from "./limits.ts";
import { Machines, type State, ulid } from "./machines.ts";
import type { MachineConfig } from "./schemas.ts";

export type { Call } from "./api.ts";
export type { Fault, FaultKind } from "./limits.ts";

export interface FakeFlyOptions {
  hostname?: string;
  /** 0 (default): a free port. */
  apiPort?: number;
  edgePort?: number;
  token?: string;
  app?: string;
  org?: string;
  /** Create the app up front, with a shared IPv4 and an IPv6 (default false: the client's ensureApp creates it). */
  createApp?: boolean;
  /** Where machines "run" when a create names no region. */
  defaultRegion?: string;
  /** Enforce Fly's per-action rate limits (default true). */
  rateLimits?: boolean;
  /** Suspend/stop a machine whose service has autostop after this much edge idleness (default: off; Fly checks "every few minutes"). */
  autostopIdleMs?: number;
  /** How long the edge holds a request while its machine starts (default 30 s). */
  startTimeoutMs?: number;
  docker?: Docker;
}

export interface FakeMachineView {
  id: string;
  name: string;
  app: string;
  region: string;
  state: State;
  instanceId: string;
  containerId: string;
  /** internal_port -> 127.0.0.1 port while started. */
  ports: Record<number, number>;
  config: MachineConfig;
}

export interface FakeFly {
  apiUrl: string;
  token: string;
  app: string;
  edgeUrl: string;
  /** The next `times` calls of `action` (create, start, stop, suspend, destroy, get, list, wait, app_get, app_create, app_list, app_delete, ip_list, ip_assign) fail this way. */
  fault(action: string, fault: Fault, times?: number): void;
  machines(): FakeMachineView[];
  calls(): Call[];
  stop(): Promise<void>;
}

export async function startFakeFly(o: FakeFlyOptions = {}): Promise<FakeFly> {
  const hostname = o.hostname ?? "127.0.0.1";
  const instance = randomBytes(4).toString("hex");
  const token = o.token ?? `fake_fly_${randomBytes(12).toString("hex")}`;
  const app = o.app ?? `previewd-fake-${instance}`;
  const region = o.defaultRegion ?? "iad";
  const containers = new Containers(instance, o.docker);
  const machines = new Machines(containers);
  const apps = new Map<string, FakeApp>();
  // A pre-made app is one set up by hand (fly apps create + fly ips allocate-v4 --shared + allocate-v6).
  if (o.createApp) {
    apps.set(app, { id: ulid().toLowerCase(), name: app, org: o.org ?? "personal", created_at: Date.now(), ips: [assignIp("shared_v4"), assignIp("v6")] });
  }
  const faults = new Faults();
  const calls: Call[] = [];

  const api = machinesApi({ token, defaultRegion: region, apps, machines, limits: new RateLimits(o.rateLimits ?? true), faults, calls });
  // wait long-polls up to 60 s: the idle timeout must outlast it.
  const apiServer = Bun.serve({ hostname, port: o.apiPort ?? 0, idleTimeout: 120, fetch: api.fetch });
  const edge = startEdge({ apps, machines, region, startTimeoutMs: o.startTimeoutMs ?? 30_000 }, hostname, o.edgePort ?? 0);

  // Fly's proxy stops or suspends idle machines whose service asks for it (docs fly-proxy-autostop-autostart).
  const sweeper = o.autostopIdleMs
    ? setInterval(() => {
        for (const m of machines.all.values()) {
          const mode = m.config.services?.map((s) => s.autostop).find((a) => a && a !== "off");
          if (m.state !== "started" || !mode || Date.now() - m.lastActive < o.autostopIdleMs!) continue;
          try {
            if (mode === "suspend") machines.suspend(m, "fly-proxy");
            else machines.stop(m, 10, "fly-proxy");
          } catch {}
        }
      }, Math.max(100, Math.min(1000, o.autostopIdleMs / 4)))
    : undefined;

  return {
    apiUrl: `http://${hostname}:${apiServer.port}`,
    token,
    app,
    edgeUrl: `http://${hostname}:${edge.port}`,
    fault: (action, fault, times = 1) => faults.add(action, fault, times),
    machines: () =>
      [...machines.all.values()].map((m) => ({
        id: m.id, name: m.name, app: m.app, region: m.region, state: m.state, instanceId: m.instance_id,
        containerId: m.containerId, ports: Object.fromEntries(m.ports), config: m.config,
      })),
    calls: () => calls.slice(),
    async stop() {
      if (sweeper) clearInterval(sweeper);
      apiServer.stop(true);
      edge.stop(true);
      await machines.settle();
      await containers.removeAll();
    },
  };
}
