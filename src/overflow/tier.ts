// The Fly tier: previews that run on Fly Machines when no node has room (or
// when asked). The record lives in the shared store like any preview, with
// node "fly" and the machine in spec.fly; any node routes its URL through
// Fly's edge (fly-force-instance-id picks the machine). The machine runs the
// same base image and runner: the runner installs the dependencies at first
// boot and relays one fixed port to wherever the app listens.
//
// Order of a create: record first (status starting, no machine), then the
// machine (its metadata names the preview), then the machine id into the
// record. A daemon killed in between leaves a record without a machine id and
// maybe a machine: reconcile() adopts that machine by its metadata, and
// destroys machines whose preview has no record.
import { Toolchain } from "../deps/toolchain.ts";
import { runtimeBinDir, type NodeLine } from "../nodejs/index.ts";
import { contentBytes } from "../files.ts";
import { tarFiles } from "../pool/tar.ts";
import { AppError, conflict, isAppError, unavailable } from "../errors.ts";
import { Lifecycle } from "../lifecycle/index.ts";
import type { Logger } from "../log.ts";
import type { PreviewDatabases, PreviewStore } from "../orchestrator/ports.ts";
import { envObject } from "../orchestrator/env.ts";
import { toView } from "../orchestrator/view.ts";
import type { FileMap, FlyState, PreviewRecord, PreviewSpec, PreviewView } from "../types.ts";
import { buildMachineConfig, METADATA } from "./config.ts";
import { FlyApiError, FlyCapacityError } from "./errors.ts";
import type { MachinesApi } from "./machines.ts";

/** Files above this total travel as one gzipped tar (see machineConfig). */
export const PACK_THRESHOLD = 256 * 1024;

/** The port Fly's service points at; the runner relays it to the app's port. */
export const SERVE_PORT = 8080;

/**
 * The relay's port on a machine: SERVE_PORT, unless the app asked for that
 * very port (the runner binds its relay first, so the app would get
 * EADDRINUSE), then the next one.
 */
export function servePortFor(appPort: number | undefined): number {
  return appPort === SERVE_PORT ? SERVE_PORT + 1 : SERVE_PORT;
}

export interface FlyTierOptions {
  machines: MachinesApi;
  store: PreviewStore;
  databases?: PreviewDatabases;
  node: string;
  cluster: string;
  image: string;
  /** Fly's edge for the app: https://{app}.fly.dev, or the local fake's address. */
  edgeUrl: string;
  /** host:port machines reach the preview databases at (Supabase's pooler); unset: database previews are refused. */
  databaseAddr?: string;
  prices: { runningPerHour: number; suspendedPerHour: number };
  previewUrl(id: string): string;
  newId(): string;
  log: Logger;
  /** How long a create waits for the app to answer through the edge with wait=1. */
  startTimeoutMs: number;
  /** The node's lifecycle (one for every tier); unset: one of its own. */
  lifecycle?: Lifecycle;
  /** The Node.js lines of the image (machines run the same image): an app runs on the line it asks for, as on a node. */
  nodeLines?: NodeLine[];
}

export interface FlyTarget {
  host: string;
  port: number;
  tls: boolean;
  headers: Record<string, string>;
}

export class FlyTier {
  private readonly edge: URL;
  private readonly lifecycle: Lifecycle;
  private readonly toolchain: Toolchain;

  constructor(private readonly o: FlyTierOptions) {
    this.edge = new URL(o.edgeUrl);
    // Machines install at first boot (no cache there): the plan is only its command.
    this.toolchain = new Toolchain({ image: "fly", lines: o.nodeLines ?? [], installs: true });
    this.lifecycle = o.lifecycle ?? new Lifecycle({ store: o.store, log: o.log });
  }

  async create(spec: PreviewSpec, reason: string, opts: { wait?: boolean } = {}): Promise<PreviewView> {
    if (spec.database && !this.o.databaseAddr) {
      throw new AppError("database_unreachable_from_fly", 400, "A preview with a database cannot run on Fly here: FLY_DATABASE_ADDR (the database's public address, such as Supabase's pooler host:port) is not set, so a machine could not reach it.");
    }
    const { plan, runtime } = this.toolchain.prepare(spec.files); // a broken package.json is a 400 before anything is made
    if (runtime) spec = { ...spec, runtime };
    const id = this.o.newId();
    const now = new Date();
    const fly: FlyState = { createdBy: this.o.node, runningSeconds: 0, suspendedSeconds: 0, since: now.toISOString() };
    const database = spec.database && this.o.databases ? await this.o.databases.create(id, spec.database) : undefined;
    const record: PreviewRecord = { id, node: "fly", tier: "fly", status: "starting", spec: { ...spec, files: {}, tierReason: reason, fly }, database, createdAt: now, lastActiveAt: now };
    try {
      await this.lifecycle.insert({ record }, {}, `placed on Fly: ${reason}`);
      await this.o.store.putFiles(id, spec.files);
      const machine = await this.o.machines.createMachine(await this.machineConfig(record, spec.files, plan?.command));
      fly.machineId = machine.id;
      fly.region = machine.region;
      await this.o.store.update(id, { spec: record.spec });
      this.o.log.info({ id, machine: machine.id, region: machine.region, reason }, "preview placed on Fly");
    } catch (err) {
      await this.o.store.remove(id).catch(() => {});
      await this.o.databases?.drop(id).catch(() => {});
      throw this.asAppError(err);
    }
    const ready = this.watchStart(record);
    if (opts.wait) await ready;
    else void ready;
    return this.view(record);
  }

  /** Waits for the machine, then for the app to answer through the edge; running or failed. Never rejects. */
  private async watchStart(r: PreviewRecord): Promise<void> {
    const fly = r.spec.fly!;
    try {
      await this.o.machines.waitFor(fly.machineId!, "started", { timeoutS: 60 });
      const deadline = Date.now() + this.o.startTimeoutMs;
      for (;;) {
        const t = this.target(r);
        const res = await fetch(`${t.tls ? "https" : "http"}://${t.host}:${t.port}/`, { headers: t.headers, redirect: "manual", signal: AbortSignal.timeout(10_000) }).catch(() => undefined);
        await res?.body?.cancel();
        if (res && ![502, 503, 504].includes(res.status)) break;
        if (Date.now() > deadline) throw new Error(`the app did not answer through Fly's edge within ${this.o.startTimeoutMs / 1000} s`);
        await Bun.sleep(300);
      }
      await this.setStatus(r, "running", "the app answers through Fly's edge");
    } catch (err) {
      this.o.log.warn({ id: r.id, err: (err as Error).message }, "Fly preview did not start");
      await this.setStatus(r, "failed", "did not start on Fly", `On Fly: ${(err as Error).message}`).catch(() => {});
    }
  }

  /**
   * The machine's config. Files go in `config.files`, written by Fly before
   * the machine boots: one entry per file for a small app; past
   * PACK_THRESHOLD, one gzipped tar the runner unpacks at first boot (text
   * compresses several times over, and base64 adds a third: a 50 MB project
   * stays a request Fly takes, where per-file base64 would not).
   */
  async machineConfig(r: PreviewRecord, files: FileMap, install?: string[]) {
    const appFiles: Record<string, FileMap[string]> = {};
    const total = Object.values(files).reduce((n, c) => n + contentBytes(c).byteLength, 0);
    if (total > PACK_THRESHOLD) appFiles["/app/.previewd/files.tgz"] = { base64: Buffer.from(Bun.gzipSync(new Uint8Array(await tarFiles(files)))).toString("base64") };
    else for (const [path, content] of Object.entries(files)) appFiles[`/app/${path}`] = content;
    const env = envObject(r.spec.env, r.database && this.databaseEnv(r.database.url));
    const servePort = servePortFor(r.spec.port);
    const nodeBin = runtimeBinDir(r.spec.runtime);
    const order = { command: r.spec.command, port: r.spec.port, portHint: r.spec.port ?? 3000, env, servePort, install, installKey: install?.join(" "), nodeBin };
    appFiles["/app/.previewd/start.json"] = JSON.stringify(order);
    return buildMachineConfig({ previewId: r.id, cluster: this.o.cluster, node: this.o.node, image: this.o.image, env: {}, files: appFiles, port: servePort });
  }

  /** The preview's database URL with the public address machines can reach. */
  private databaseEnv(url: string): Record<string, string> {
    const u = new URL(url);
    u.host = this.o.databaseAddr!;
    return { DATABASE_URL: u.toString() };
  }

  /** Where the proxy sends a request for this preview: Fly's edge, the machine forced by header. */
  target(r: PreviewRecord): FlyTarget {
    const tls = this.edge.protocol === "https:";
    return {
      host: this.edge.hostname,
      port: Number(this.edge.port) || (tls ? 443 : 80),
      tls,
      headers: { host: `${this.o.machines.app}.fly.dev`, "fly-force-instance-id": r.spec.fly?.machineId ?? "" },
    };
  }

  view(r: PreviewRecord): PreviewView {
    const v = toView(r, this.o.previewUrl(r.id));
    const f = r.spec.fly;
    if (f) {
      const { running, suspended } = this.seconds(r);
      const cost = (running * this.o.prices.runningPerHour + suspended * this.o.prices.suspendedPerHour) / 3600;
      v.fly = { machineId: f.machineId, region: f.region, runningSeconds: Math.round(running * 10) / 10, suspendedSeconds: Math.round(suspended * 10) / 10, estimatedCostUsd: Math.round(cost * 1e6) / 1e6 };
    }
    return v;
  }

  /** Seconds run and suspended so far, the current state's included. */
  seconds(r: PreviewRecord): { running: number; suspended: number } {
    const f = r.spec.fly!;
    const current = Math.max(0, (Date.now() - Date.parse(f.since)) / 1000);
    return {
      running: f.runningSeconds + (r.status === "running" || r.status === "starting" ? current : 0),
      suspended: f.suspendedSeconds + (r.status === "suspended" ? current : 0),
    };
  }

  /** Moves it (lifecycle), closing the seconds of the state it leaves. */
  private async setStatus(r: PreviewRecord, status: PreviewRecord["status"], reason: string, failure?: string): Promise<void> {
    const { running, suspended } = this.seconds(r);
    const f = r.spec.fly!;
    f.runningSeconds = running;
    f.suspendedSeconds = suspended;
    f.since = new Date().toISOString();
    // Woken or started: active now (the idle sweep must not suspend it straight away).
    if (status === "running") r.lastActiveAt = new Date();
    await this.lifecycle.move({ record: r }, status, reason, { failure, patch: { spec: r.spec, lastActiveAt: r.lastActiveAt } });
  }

  async suspend(r: PreviewRecord): Promise<PreviewView> {
    if (r.status !== "running") throw conflict(`Preview ${r.id} is ${r.status}; only a running preview can be suspended.`);
    await this.o.machines.suspend(r.spec.fly!.machineId!).catch((e) => { throw this.asAppError(e); });
    await this.setStatus(r, "suspended", "suspended on Fly");
    return this.view(r);
  }

  async resume(r: PreviewRecord): Promise<PreviewView> {
    if (r.status === "suspended" || r.status === "stopped") {
      await this.o.machines.start(r.spec.fly!.machineId!).catch((e) => { throw this.asAppError(e); });
      await this.setStatus(r, "running", "resumed on Fly");
    }
    return this.view(r);
  }

  /** A request reached a suspended preview: Fly's edge wakes the machine (autostart); the record follows. */
  async woke(r: PreviewRecord): Promise<void> {
    if (r.status === "suspended" || r.status === "stopped") await this.setStatus(r, "running", "Fly's edge started it for a request");
  }

  /** New files: a new machine with them (Fly has no file write into a running machine), the old one destroyed. */
  async updateFiles(r: PreviewRecord, files: FileMap, remove: string[]): Promise<PreviewView> {
    await this.o.store.putFiles(r.id, files, remove);
    const all = await this.o.store.files(r.id);
    const old = r.spec.fly!.machineId;
    const { plan, runtime } = this.toolchain.prepare(all);
    r.spec.runtime = runtime;
    const machine = await this.o.machines.createMachine(await this.machineConfig(r, all, plan?.command)).catch((e) => { throw this.asAppError(e); });
    r.spec.fly!.machineId = machine.id;
    r.spec.fly!.region = machine.region;
    await this.setStatus(r, "starting", "new files: a new Fly machine");
    if (old) await this.o.machines.destroy(old, { force: true }).catch((err) => this.o.log.warn({ err, machine: old }, "old Fly machine not destroyed"));
    void this.watchStart(r);
    return this.view(r);
  }

  async delete(r: PreviewRecord): Promise<void> {
    const m = r.spec.fly?.machineId;
    if (m) {
      try {
        await this.o.machines.destroy(m, { force: true });
      } catch (e) {
        if (!(e instanceof FlyApiError && e.status === 404)) throw this.asAppError(e);
      }
    }
    await this.o.store.remove(r.id);
    await this.o.databases?.drop(r.id);
  }

  /** Totals over the cluster's Fly previews, refreshed by sweep() (for /metrics). */
  totals = { running: 0, suspended: 0, other: 0, runningSeconds: 0, suspendedSeconds: 0, costUsd: 0 };

  /**
   * The idle policy for the Fly previews this node created: suspended past
   * the idle timeout (last activity: the store's, which every node's proxy
   * writes, or this node's clock; none while a request or socket is open
   * here). A node that is gone leaves it to Fly's own autostop.
   */
  async sweep(clock: { lastActiveAt(id: string): number | undefined; busy(id: string): boolean }, idleMs: number): Promise<number> {
    let suspended = 0;
    const totals = { running: 0, suspended: 0, other: 0, runningSeconds: 0, suspendedSeconds: 0, costUsd: 0 };
    for (const r of await this.o.store.list()) {
      if (r.tier !== "fly" || !r.spec.fly) continue;
      if (r.status === "running" && r.spec.fly.createdBy === this.o.node && !clock.busy(r.id)) {
        const last = Math.max(r.lastActiveAt.getTime(), clock.lastActiveAt(r.id) ?? 0);
        if (Date.now() - last >= idleMs) {
          await this.suspend(r).then(() => suspended++, (err) => this.o.log.warn({ err, id: r.id }, "could not suspend an idle Fly preview"));
        }
      }
      const s = this.seconds(r);
      totals[r.status === "running" ? "running" : r.status === "suspended" ? "suspended" : "other"]++;
      totals.runningSeconds += s.running;
      totals.suspendedSeconds += s.suspended;
      totals.costUsd += (s.running * this.o.prices.runningPerHour + s.suspended * this.o.prices.suspendedPerHour) / 3600;
    }
    this.totals = totals;
    return suspended;
  }

  async exportDatabase(r: PreviewRecord): Promise<ReadableStream<Uint8Array>> {
    if (!r.database || !this.o.databases) throw conflict(`Preview ${r.id} has no database.`);
    return this.o.databases.exportStream(r.id);
  }

  logs(r: PreviewRecord): ReadableStream<Uint8Array> {
    const text = `[previewd] preview ${r.id} runs on Fly machine ${r.spec.fly?.machineId ?? "(none yet)"} of app ${this.o.machines.app}: its output is in Fly's logs (fly logs -a ${this.o.machines.app} -i ${r.spec.fly?.machineId ?? "MACHINE"}).\n`;
    return new Response(text).body!;
  }

  /**
   * Nothing leaks: machines of this cluster whose preview has no record are
   * destroyed; a record without a machine id adopts the machine its metadata
   * names (a create cut short), or fails if there is none.
   */
  async reconcile(): Promise<{ destroyed: number; adopted: number; failed: number }> {
    const out = { destroyed: 0, adopted: 0, failed: 0 };
    const machines = await this.o.machines.list({ metadata: { [METADATA.cluster]: this.o.cluster } });
    const records = new Map((await this.o.store.list()).filter((r) => r.tier === "fly").map((r) => [r.id, r]));
    const byPreview = new Map(machines.map((m) => [m.config.metadata?.[METADATA.preview] as string, m]));
    for (const m of machines) {
      const r = records.get(m.config.metadata?.[METADATA.preview] as string);
      if (r && (!r.spec.fly?.machineId || r.spec.fly.machineId === m.id)) continue;
      await this.o.machines.destroy(m.id, { force: true }).catch((err) => this.o.log.warn({ err, machine: m.id }, "could not destroy a leaked machine"));
      this.o.log.warn({ machine: m.id }, "destroyed a Fly machine with no preview record");
      out.destroyed++;
    }
    for (const r of records.values()) {
      if (r.spec.fly?.machineId && byPreview.get(r.id)?.id === r.spec.fly.machineId) continue;
      const m = byPreview.get(r.id);
      if (m && !r.spec.fly?.machineId) {
        r.spec.fly = { ...r.spec.fly!, machineId: m.id, region: m.region };
        await this.o.store.update(r.id, { spec: r.spec });
        void this.watchStart(r);
        out.adopted++;
      } else if (r.status !== "failed") {
        await this.setStatus(r, "failed", "its machine is gone", "Its Fly machine is gone (destroyed outside previewd, or never created).");
        out.failed++;
      }
    }
    return out;
  }

  private asAppError(err: unknown): Error {
    if (isAppError(err)) return err;
    if (err instanceof FlyCapacityError) return unavailable(`Fly has no capacity in any of the regions tried: ${err.message}`);
    if (err instanceof FlyApiError) return unavailable(`Fly.io refused: ${err.message}`);
    return unavailable(`Fly.io could not be reached: ${(err as Error).message}`);
  }
}
