// Fake Railway: the public GraphQL API (backboard /graphql/v2), `railway up`'s
// source upload and the HTTP edge, on loopback ports, doing real work behind
// them (Docker containers built from the upload, real PostgreSQL servers,
// real TCP proxies). See README.md for what it implements and what differs.
import { mkdtempSync, chmodSync, existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DeployContext } from "./deploy.ts";
import { CA_BUNDLE, FakeDocker } from "./docker.ts";
import { startEdge } from "./edge.ts";
import { Faults, type Fault } from "./faults.ts";
import { Resources } from "./resources.ts";
import { startApiServer } from "./server.ts";
import { isPostgres, State } from "./state.ts";
import { DIR_PREFIX, sweepDeadFakes } from "./sweep.ts";

export type { Fault } from "./faults.ts";

export interface FakeRailway {
  apiUrl: string; // http://127.0.0.1:P/graphql/v2
  token: string; // valid token with access
  edgeUrl: string; // http://127.0.0.1:Q
  /** Inject a fault on the next `times` calls of a GraphQL operation field (e.g. "projectCreate") or "upload". */
  fault(op: string, f: Fault, times?: number): void;
  /** A token that authenticates but has no access to anything (every operation: "Not Authorized"). */
  noAccessToken: string;
  /** Snapshot of state for assertions. databaseUrl = host-side URL (via the TCP proxy) of each Postgres service. */
  projects(): Array<{
    id: string;
    name: string;
    services: Array<{ id: string; name: string; postgres: boolean; databaseUrl?: string; deployments: Array<{ id: string; status: string }> }>;
  }>;
  /** Every GraphQL root field (and "upload") received, in order; `fault` says which injected fault answered it. */
  calls(): Array<{ op: string; at: number; fault?: string }>;
  stop(): Promise<void>; // removes every container, network, proxy, data dir it made
  /** This fake's label value: everything it makes carries previewd.fake.instance=<instance> (other fakes may run beside it). */
  instance: string;
}

export interface FakeRailwayOptions {
  /** Image the containers run (default previewd/preview-base:latest, see scripts/build-base-image). */
  image?: string;
  /** Memory limit per container, MB (default 768: npm ci of a small app fits). */
  memoryMb?: number;
  buildTimeoutMs?: number;
  readyTimeoutMs?: number;
  /** How long a new TCP proxy says CREATING before ACTIVE (default 300 ms). */
  tcpProxyDelayMs?: number;
  /** Size cap of an upload (default 50 MB); larger ones get 413. */
  maxUploadBytes?: number;
  /** API port (default: a free one). */
  port?: number;
  /** Tokens (default: random). */
  token?: string;
  /** CA bundle the containers trust (default: the host's, when present). */
  caBundle?: string | null;
  /** Background errors (default: printed to stderr). */
  onError?: (err: unknown) => void;
}

/** The pieces of the answer to FakeRailway.projects() that need the state only. */
function snapshot(state: State): ReturnType<FakeRailway["projects"]> {
  return [...state.projects.values()].map((p) => ({
    id: p.id,
    name: p.name,
    services: p.services.map((s) => {
      const proxy = s.tcpProxies.find((t) => t.applicationPort === 5432);
      const v = s.variables;
      const user = v.POSTGRES_USER || "postgres";
      const databaseUrl =
        isPostgres(s) && proxy
          ? `postgresql://${encodeURIComponent(user)}:${encodeURIComponent(v.POSTGRES_PASSWORD ?? "")}@127.0.0.1:${proxy.proxyPort}/${encodeURIComponent(v.POSTGRES_DB || user)}`
          : undefined;
      return { id: s.id, name: s.name, postgres: isPostgres(s), ...(databaseUrl && { databaseUrl }), deployments: s.deployments.map((d) => ({ id: d.id, status: d.status })) };
    }),
  }));
}

export async function startFakeRailway(opts: FakeRailwayOptions = {}): Promise<FakeRailway> {
  const instance = Math.random().toString(36).slice(2, 8);
  const dir = mkdtempSync(join(tmpdir(), `${DIR_PREFIX}${process.pid}-`));
  chmodSync(dir, 0o755); // containers (uid 1000) read uploads below it
  const caBundle = opts.caBundle === undefined ? (existsSync(CA_BUNDLE) ? CA_BUNDLE : undefined) : (opts.caBundle ?? undefined);
  const docker = new FakeDocker(instance, opts.image ?? "previewd/preview-base:latest", caBundle);
  await sweepDeadFakes(docker).catch(() => {}); // best effort: a stale leftover must not stop a new fake
  const state = new State();
  const ctx: DeployContext = {
    state,
    docker,
    dir,
    memoryMb: opts.memoryMb ?? 768,
    buildTimeoutMs: opts.buildTimeoutMs ?? 300_000,
    readyTimeoutMs: opts.readyTimeoutMs ?? 60_000,
    onError: opts.onError ?? ((err) => console.error("fake railway:", err)),
  };
  const resources = new Resources(ctx, { tcpProxyDelayMs: opts.tcpProxyDelayMs ?? 300 });
  const faults = new Faults();
  const calls: Array<{ op: string; at: number; fault?: string }> = [];
  const token = opts.token ?? `fake-railway-${crypto.randomUUID()}`;
  const noAccessToken = `fake-railway-noaccess-${crypto.randomUUID()}`;
  const api = startApiServer(ctx, resources, { token, noAccessToken, faults, calls, maxUploadBytes: opts.maxUploadBytes ?? 50 * 1024 * 1024, port: opts.port });
  const edge = startEdge(state, docker);

  let stopped: Promise<void> | undefined;
  return {
    apiUrl: `${api.url}/graphql/v2`,
    edgeUrl: edge.url,
    token,
    noAccessToken,
    instance,
    fault: (op, f, times = 1) => faults.arm(op, f, times),
    projects: () => snapshot(state),
    calls: () => calls.map((c) => ({ ...c })),
    stop: () =>
      (stopped ??= (async () => {
        api.stop();
        edge.stop();
        await resources.deleteAll();
        // Anything a half-finished operation left behind still carries this instance's label.
        await docker.removeByLabel(`previewd.fake.instance=${instance}`);
        rmSync(dir, { recursive: true, force: true });
      })()),
  };
}
