// Preview lifecycle on this node: create, change files, suspend, resume,
// delete, and the lookup the proxy does on every request. State lives in
// three places, each the authority for one thing: the store (PostgreSQL) for
// what previews exist and where; Docker for what runs; this object's `live`
// map for the fast path (endpoint, idle clock, readiness).
import { customAlphabet } from "nanoid";
import type { DepsCache, InstallPlan } from "../deps/index.ts";
import { INSTALL_INPUTS, PlanError } from "../deps/index.ts";
import { badRequest, conflict, insufficientStorage, isAppError, isNoSpace, noCapacity, notFound, unavailable } from "../errors.ts";
import type { Logger } from "../log.ts";
import { IdleClock, type ContainerState, type Runtime, WarmPool } from "../pool/index.ts";
import type { Endpoint, FileMap, PreviewRecord, PreviewSpec, PreviewStatus, PreviewView } from "../types.ts";
import { BringUp, DEFAULT_PORT } from "./bringup.ts";
import { DiskFloor } from "./disk-floor.ts";
import { DriftLoop, type DriftKind } from "./drift.ts";
import type { RouteEntry } from "../proxy/fast/thread-protocol.ts";
import { Fencing, NodeFencedError } from "./fencing.ts";
import { Health } from "./health.ts";
import { SleepCycle } from "./sleep.ts";
import { serially, type Live } from "./live.ts";
import { followLogs } from "./logs.ts";
import type { PreviewDatabases, PreviewStore, RecordPatch } from "./ports.ts";
import { toView } from "./view.ts";
import { UsageMeter } from "../pool/usage.ts";
import { isDatabaseUnavailable } from "../db/outage.ts";

export type { PreviewDatabases, PreviewStore, RecordPatch } from "./ports.ts";

/** 16 characters of [a-z0-9]: DNS-safe, ~82 bits, never taken from input. */
export const newPreviewId = customAlphabet("0123456789abcdefghijklmnopqrstuvwxyz", 16);

export interface OrchestratorOptions {
  nodeId: string;
  /** Activity this node saw for a preview it does not run (its idle clock is kept elsewhere). */
  foreignActivity?: (id: string, at: Date) => void;
  runtime: Runtime;
  store: PreviewStore;
  databases?: PreviewDatabases;
  log: Logger;
  warmPoolSize: number;
  capacity: number;
  idleTimeoutMs: number;
  stopAfterMs: number;
  startTimeoutMs: number;
  previewUrl: (id: string) => string;
  /** The dependency cache; without it, apps get no install step. */
  deps?: DepsCache;
  /** The CPU limit of a running preview (containers start boosted). */
  cpus: number;
  /** CPUs while installing and starting (startup boost). */
  boostCpus?: number;
  /** Latencies for metrics: a create reached running (or failed), a wake finished. */
  observe?: (event: "create" | "wake", seconds: number, labels: Record<string, string>) => void;
  /** How often records, containers and routes are compared (drift.ts); unset: never. */
  driftIntervalMs?: number;
  /**
   * Directories whose disk a create or a file change writes to (preview disks, dependency cache). Below
   * `minFreeMb` free, both answer 507 before writing anything (disk-floor.ts).
   */
  storage?: { dirs: string[]; minFreeMb: number };
}

/** Occupy a slot on this node (memory is held while suspended). */
const OCCUPYING: PreviewStatus[] = ["installing", "starting", "running", "suspended"];

/** Files whose change means the dependencies must be installed again. */
const DEPENDENCY_FILES = new Set(INSTALL_INPUTS);

export class Orchestrator {
  readonly idle = new IdleClock();
  readonly pool: WarmPool;
  /** Memory and CPU of this node's previews, for their views (read from their cgroups). */
  private readonly usage = new UsageMeter();
  private readonly live = new Map<string, Live>();
  private readonly timers: Array<ReturnType<typeof setInterval>> = [];
  private stopWatching?: () => void;
  private reserved = 0;
  private image = "";
  private readonly bringUp: BringUp;
  private readonly health: Health;
  private readonly sleep: SleepCycle;
  private drift?: DriftLoop;
  /** Set by a drain (peer/drain.ts): creates and take-overs go to other nodes. */
  draining = false;
  /** Engaged by recovery when this node is cut off from the database and peers (fencing.ts). */
  private readonly fencing: Fencing;
  private readonly disk: DiskFloor;
  /** The public port's extra fronts (proxy/fast/threads.ts), set by the daemon: they route from routes(). */
  proxyThreads?: { publish(routes: RouteEntry[]): void; drop(id: string): Promise<boolean> };

  constructor(private readonly o: OrchestratorOptions) {
    this.pool = new WarmPool({ runtime: o.runtime, size: o.warmPoolSize, newId: newPreviewId, log: o.log.child({ mod: "pool" }) });
    this.bringUp = new BringUp({
      runtime: o.runtime, store: o.store, deps: o.deps, log: o.log, cpus: o.cpus, startTimeoutMs: o.startTimeoutMs,
      previewHost: (id) => new URL(o.previewUrl(id)).hostname,
      setStatus: (l, status, failure) => this.setStatus(l, status, failure),
      isLive: (id) => this.live.has(id),
      tail: (l, n) => this.tail(l, n),
    });
    this.health = new Health({
      runtime: o.runtime, log: o.log, bringUp: this.bringUp,
      live: (id) => this.live.get(id),
      forgetSpare: (containerId) => this.pool.forget(containerId),
      setStatus: (l, status, failure) => this.setStatus(l, status, failure),
      tail: (l, n) => this.tail(l, n),
    });
    this.sleep = new SleepCycle({
      live: this.live, idle: this.idle, runtime: o.runtime, store: o.store, log: o.log,
      idleTimeoutMs: o.idleTimeoutMs, stopAfterMs: o.stopAfterMs, cpus: o.cpus, boostCpus: o.boostCpus, observe: o.observe, foreignActivity: o.foreignActivity,
      setStatus: (l, status) => this.setStatus(l, status),
      watchReadiness: (l) => this.bringUp.watchReadiness(l),
      beforePause: (id) => this.proxyThreads?.drop(id) ?? Promise.resolve(false),
    });
    this.disk = new DiskFloor(o.storage);
    this.fencing = new Fencing({ runtime: o.runtime, log: o.log.child({ mod: "fence" }) });
  }

  /** What identifies the image's Node.js build (part of dependency cache keys). */
  get imageIdentity(): string {
    return this.image;
  }

  get log(): Logger {
    return this.o.log;
  }

  /** Previews holding a slot here, plus creates in flight. */
  get occupied(): number {
    let n = this.reserved;
    for (const l of this.live.values()) if (OCCUPYING.includes(l.record.status)) n++;
    return n;
  }

  get capacity(): number {
    return this.o.capacity;
  }

  counts(): Record<PreviewStatus, number> {
    const c: Record<PreviewStatus, number> = { installing: 0, starting: 0, running: 0, suspended: 0, stopped: 0, failed: 0, deleted: 0 };
    for (const l of this.live.values()) c[l.record.status]++;
    return c;
  }

  view(r: PreviewRecord, phase?: string): PreviewView {
    const v = toView(r, this.o.previewUrl(r.id));
    if (phase) v.phase = phase;
    return v;
  }

  // ---- start-up and shutdown ------------------------------------------------

  /** Adopts this node's containers and records (after a restart or a crash), then starts the pool and timers. */
  async start(): Promise<void> {
    this.image = await this.o.runtime.imageIdentity();
    this.stopWatching = await this.o.runtime.watch(
      (e) => void this.health.onEvent(e).catch((err) => this.o.log.error({ err, e }, "event handling failed")),
      // The engine came back (restart, upgrade): events were missed while it was away, so look at everything.
      (downSince) => void this.engineReturned(downSince),
    );
    const { reconcile } = await import("./reconcile.ts");
    await reconcile(this, this.o.runtime, this.o.store, this.o.nodeId);
    this.pool.refill();
    const sweepEvery = Math.max(50, Math.min(this.o.idleTimeoutMs / 4, 15_000));
    this.timers.push(setInterval(() => void this.sweepIdle(), sweepEvery));
    this.timers.push(setInterval(() => void this.sleep.flushActivity(), 5_000));
    if (this.o.driftIntervalMs) {
      this.drift = new DriftLoop({
        nodeId: this.o.nodeId, runtime: this.o.runtime, store: this.o.store, log: this.o.log.child({ mod: "drift" }), intervalMs: this.o.driftIntervalMs,
        live: () => [...this.live.values()],
        busy: () => this.reserved > 0,
        setStatus: (l, status, failure) => this.setStatus(l, status, failure),
        watchReadiness: (l) => (l.ready = this.bringUp.watchReadiness(l)),
        recreate: (l) => this.recreateLive(l),
        replace: (l) => this.recreateLive(l, { removeOld: true }),
        hasSpace: () => this.disk.ok,
        evict: (id) => this.evict(id),
      });
      this.drift.start();
    }
  }

  /** Drift found and fixed (or reported) since start, by kind; empty without the loop. */
  get driftCounts(): Partial<Record<DriftKind, number>> {
    return this.drift?.counts ?? {};
  }

  /** Leaves previews running (a restart must not interrupt them); removes only spare containers. */
  /**
   * Spares first: removing them needs only Docker, so a stop whose database is
   * already gone (a whole process group signalled at once) still leaves no
   * spare behind. The idle clock is written last, for at most 3 s.
   */
  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.drift?.stop();
    this.stopWatching?.();
    await this.pool.drain();
    await Promise.race([this.sleep.flushActivity(), Bun.sleep(3000)]);
  }

  /** Registers a preview found at start-up (used by reconcile). */
  adopt(record: PreviewRecord, container?: ContainerState): Live {
    const l: Live = { record, container, port: record.spec.port };
    this.live.set(record.id, l);
    this.idle.touch(record.id);
    if (record.spec.deps) this.o.deps?.acquire(record.id, record.spec.deps.key);
    return l;
  }

  /** Watches a (re)started preview until it answers; does not wait for it. */
  async resumeReadiness(id: string): Promise<void> {
    const l = this.need(id);
    l.ready = this.bringUp.watchReadiness(l);
  }

  /** Installs and starts a recreated preview's app from its stored files (reconcile, take-over). */
  restartFromFiles(id: string, files: FileMap): void {
    const l = this.need(id);
    let plan: InstallPlan | undefined;
    try {
      plan = this.planFor(files);
    } catch (err) {
      l.ready = this.setStatus(l, "failed", (err as Error).message);
      return;
    }
    l.ready = this.bringUp.start(l, plan);
  }

  private planFor(files: FileMap): InstallPlan | undefined {
    try {
      return this.bringUp.plan(files, this.image);
    } catch (err) {
      if (err instanceof PlanError) throw badRequest(err.message);
      throw err;
    }
  }

  /** Runs here a preview moved from a dead node (the store already says it is ours). */
  async takeOver(record: PreviewRecord): Promise<void> {
    if (this.live.has(record.id)) return;
    this.reserved++;
    try {
      const { recreate } = await import("./reconcile.ts");
      await recreate(this, this.o.runtime, this.o.store, record);
    } finally {
      this.reserved--;
    }
  }

  /** Stops running a preview that the store gives to another node (or no longer has). */
  async evict(id: string): Promise<void> {
    const l = this.live.get(id);
    if (!l) return;
    this.forgetLive(l);
    if (l.container) await this.o.runtime.remove(l.container.containerId);
    this.o.log.warn({ id }, "evicted a preview this node no longer owns");
  }

  /**
   * A limit enforced outside the container (the database budget) ended the
   * preview: it is failed with the reason, and its app stopped (it could not
   * reach its database any more). Idempotent; previews of other nodes are theirs to fail.
   */
  async failFromOutside(id: string, reason: string): Promise<void> {
    const l = this.live.get(id);
    if (!l || l.record.status === "failed" || l.record.status === "deleted") return;
    await serially(l, async () => {
      await this.setStatus(l, "failed", reason); // before the stop, so its "die" event is not taken for a crash
      if (l.container) await this.o.runtime.stop(l.container.containerId).catch(() => {});
    });
    this.o.log.warn({ id, reason }, "preview failed by a limit");
  }

  /** Stops serving every preview here until unfence() (recovery decides when: fencing.ts). */
  fence(why: Record<string, unknown>): Promise<void> {
    const engaged = this.fencing.engage([...this.live.values()], why);
    this.routesChanged();
    return engaged;
  }

  /** Serves again what the fence paused and still runs here. */
  async unfence(): Promise<void> {
    await this.fencing.release((id) => this.live.get(id));
    this.routesChanged();
  }

  /**
   * Running previews' app addresses, as endpointIfRunning gives them (without renewing any idle clock):
   * the table the proxy threads route by.
   */
  routes(): RouteEntry[] {
    const out: RouteEntry[] = [];
    if (this.fencing.active) return out;
    for (const l of this.live.values()) {
      if (l.record.status !== "running" || !l.container || l.port === undefined) continue;
      const e = this.o.runtime.endpoint(l.container, l.port);
      out.push([l.record.id, e.host, e.port]);
    }
    return out;
  }

  /** Tells the proxy threads at once (a deleted or suspended preview must not be routed a moment longer). */
  routesChanged(): void {
    this.proxyThreads?.publish(this.routes());
  }

  get fenced(): boolean {
    return this.fencing.active;
  }

  localIds(): string[] {
    return [...this.live.keys()];
  }

  /** After a Docker engine restart: previews and spares as the engine has them now (resync.ts). */
  async engineReturned(downSince: number): Promise<void> {
    const { resyncAfterEngine } = await import("./resync.ts");
    await resyncAfterEngine({
      runtime: this.o.runtime, store: this.o.store, log: this.o.log.child({ mod: "resync" }), pool: this.pool, downSince,
      live: () => [...this.live.values()],
      setStatus: (l, status) => this.setStatus(l, status),
      watchReadiness: (l) => (l.ready = this.bringUp.watchReadiness(l)),
      recreate: (l) => this.recreateLive(l),
    }).catch((err) => this.o.log.error({ err }, "resync after the engine returned failed"));
  }

  /** Its container is gone (or, with removeOld, goes now): a new one from the stored files (reconcile.ts's recreate). */
  private async recreateLive(l: Live, opts: { removeOld?: boolean } = {}): Promise<void> {
    this.forgetLive(l);
    if (opts.removeOld && l.container) await this.o.runtime.remove(l.container.containerId);
    const { recreate } = await import("./reconcile.ts");
    await recreate(this, this.o.runtime, this.o.store, l.record);
  }

  // ---- create ---------------------------------------------------------------

  async create(spec: PreviewSpec, opts: { wait?: boolean } = {}): Promise<PreviewView> {
    if (this.draining) throw noCapacity(`Node ${this.o.nodeId} is draining: it takes no new previews.`);
    if (this.occupied >= this.o.capacity) throw noCapacity(`Node ${this.o.nodeId} is full (${this.o.capacity} previews).`);
    const plan = this.planFor(spec.files); // a broken package.json is a 400 before anything is claimed
    this.disk.check(); // a full disk is a 507 before anything is claimed
    const t0 = performance.now();
    this.reserved++;
    let claimed: ContainerState | undefined;
    let id: string | undefined;
    try {
      claimed = (await this.pool.claim()).state;
      id = claimed.previewId;
      let database;
      try {
        database = spec.database && this.o.databases ? await this.o.databases.create(id, spec.database) : undefined;
      } catch (err) {
        // Nothing of the app reached the container: it can serve the next create.
        this.pool.giveBack(claimed);
        claimed = undefined;
        throw err;
      }
      const now = new Date();
      // Files live in the store and the container, not in this process's memory.
      const installing = plan !== undefined && !this.o.deps!.has(plan.key);
      const deps = plan && { key: plan.key, manager: plan.manager };
      const record: PreviewRecord = { id, node: this.o.nodeId, tier: "container", status: installing ? "installing" : "starting", spec: { ...spec, files: {}, deps }, database, createdAt: now, lastActiveAt: now };
      await this.o.store.insert({ ...record, containerId: claimed.containerId });
      await this.o.store.putFiles(id, spec.files);
      const l: Live = { record, container: claimed, port: spec.port };
      if (installing) l.phase = `installing dependencies (${plan.label})`;
      this.live.set(id, l);
      this.idle.touch(id);
      await this.o.runtime.putFiles(claimed.containerId, spec.files);
      l.ready = this.bringUp.start(l, plan);
      const depsFrom = plan ? (installing ? "installed" : "cached") : "none";
      void l.ready.then(() => this.o.observe?.("create", (performance.now() - t0) / 1000, { outcome: l.record.status === "running" ? "running" : "failed", deps: depsFrom }));
      if (opts.wait) await l.ready;
      return this.view(l.record, l.phase);
    } catch (err) {
      if (id && claimed) await this.undoCreate(id, claimed, err);
      if (isAppError(err) || isDatabaseUnavailable(err)) throw err; // the API answers the latter 503 with Retry-After
      // The disk filled between the check and the write (mkfs of the preview's disk, the files): same answer.
      if (isNoSpace(err)) throw insufficientStorage(this.disk.firstDir, (err as Error).message);
      throw unavailable(`Could not start a container on node ${this.o.nodeId}: ${(err as Error).message}`);
    } finally {
      this.reserved--;
    }
  }

  /** A create that failed before the app ran leaves nothing behind. */
  private async undoCreate(id: string, c: ContainerState, err: unknown): Promise<void> {
    this.o.log.warn({ id, err }, "create failed, cleaning up");
    const l = this.live.get(id);
    if (l) this.forgetLive(l);
    await this.o.runtime.remove(c.containerId).catch(() => {});
    await this.o.store.remove(id).catch(() => {});
    await this.o.databases?.drop(id).catch(() => {});
  }

  private async setStatus(l: Live, status: PreviewStatus, failure?: string): Promise<void> {
    l.record.status = status;
    this.routesChanged();
    const patch: RecordPatch = { status };
    if (failure !== undefined) {
      l.record.failure = failure;
      patch.failure = failure;
    } else if (status === "running") {
      l.record.failure = undefined;
      patch.failure = null;
    }
    await this.o.store.update(l.record.id, patch);
  }

  private async tail(l: Live, lines: number): Promise<string> {
    if (!l.container) return "";
    try {
      const stream = await this.o.runtime.logs(l.container.containerId, { tail: lines });
      return (await new Response(stream).text()).trimEnd();
    } catch {
      return "(logs unavailable)";
    }
  }

  // ---- reads ----------------------------------------------------------------

  /** Drops a preview from this node's memory: no idle clock, no install wait, its cache entry released. */
  private forgetLive(l: Live): void {
    this.live.delete(l.record.id);
    this.routesChanged();
    this.idle.forget(l.record.id);
    l.abort?.abort();
    this.o.deps?.release(l.record.id);
  }

  private need(id: string): Live {
    const l = this.live.get(id);
    if (!l) throw notFound("preview", id);
    return l;
  }

  has(id: string): boolean {
    return this.live.has(id);
  }

  localView(id: string): PreviewView {
    const l = this.need(id);
    const t = this.idle.lastActiveAt(id);
    if (t) l.record.lastActiveAt = new Date(t);
    const v = this.view(l.record, l.phase);
    const usage = l.container && this.usage.read(l.container.containerId);
    if (usage) v.usage = usage;
    return v;
  }

  /** A preview of this node (live view) or of any node (stored record). */
  async get(id: string): Promise<PreviewView> {
    if (this.live.has(id)) return this.localView(id);
    const r = await this.o.store.get(id);
    if (!r) throw notFound("preview", id);
    return this.view(r);
  }

  /** Every preview of the cluster: the store knows them all, this node knows its own best. */
  async list(): Promise<PreviewView[]> {
    const records = await this.o.store.list();
    return records.map((r) => (this.live.has(r.id) ? this.localView(r.id) : this.view(r)));
  }

  async logs(id: string, opts: { tail?: number; follow?: boolean; signal?: AbortSignal }): Promise<ReadableStream<Uint8Array>> {
    const l = this.need(id);
    if (!l.container) return new Response("").body!;
    return followLogs(l, this.o.runtime, opts);
  }

  async exportDatabase(id: string): Promise<ReadableStream<Uint8Array>> {
    const l = this.need(id);
    if (!l.record.database || !this.o.databases) throw conflict(`Preview ${id} has no database.`);
    return this.o.databases.exportStream(id);
  }

  // ---- changes --------------------------------------------------------------

  async updateFiles(id: string, files: FileMap, remove: string[]): Promise<PreviewView> {
    const l = this.need(id);
    if (!l.container || l.record.status === "failed") throw conflict(`Preview ${id} is ${l.record.status}; its files cannot change in place.`);
    if (l.record.status === "installing") throw conflict(`Preview ${id} is installing its dependencies; change its files once it runs.`);
    // Before the store changes: a refused change leaves the stored files and the container's as they were.
    if (Object.keys(files).length) this.disk.check();
    await this.sleep.wake(l); // a paused container takes no archive and no exec
    await this.o.store.putFiles(id, files, remove);
    await this.o.runtime.putFiles(l.container.containerId, files);
    await this.o.runtime.deleteFiles(l.container.containerId, remove);
    this.idle.touch(id);
    if ([...Object.keys(files), ...remove].some((p) => DEPENDENCY_FILES.has(p))) await this.reinstall(l);
    return this.view(l.record, l.phase);
  }

  /**
   * Dependencies changed: install the new set (cache first) and restart the
   * app in place. Any other change leaves the app running: its own watcher
   * reloads it.
   */
  private async reinstall(l: Live): Promise<void> {
    const plan = this.planFor(await this.o.store.files(l.record.id));
    if (plan?.key === l.record.spec.deps?.key) return;
    l.record.spec.deps = plan && { key: plan.key, manager: plan.manager };
    await this.o.store.update(l.record.id, { spec: l.record.spec });
    l.ready = this.bringUp.start(l, plan, true);
    // The status the caller sees: installing (cache miss) or starting, set before the answer.
    await Promise.race([l.ready, Bun.sleep(0)]);
  }

  async suspend(id: string): Promise<PreviewView> {
    const l = this.need(id);
    if (l.record.status === "running" || l.record.status === "starting") await this.sleep.pause(l);
    else if (l.record.status !== "suspended") throw conflict(`Preview ${id} is ${l.record.status}, not running.`);
    return this.view(l.record);
  }

  async resume(id: string): Promise<PreviewView> {
    const l = this.need(id);
    if (l.record.status === "failed") throw conflict(`Preview ${id} failed; create it again.`);
    await this.sleep.wake(l);
    this.idle.touch(id);
    return this.view(l.record);
  }

  async delete(id: string): Promise<void> {
    const l = this.need(id);
    this.forgetLive(l);
    l.record.status = "deleted";
    if (l.container) await this.o.runtime.remove(l.container.containerId);
    if (l.record.database) await this.o.databases?.drop(id);
    await this.o.store.remove(id);
  }

  /**
   * The proxy's lookup: where to send a request for `id`, waking the preview
   * first if it sleeps and holding until a starting app answers. Undefined
   * when the preview does not live on this node.
   */
  async resolve(id: string): Promise<Endpoint | undefined> {
    const l = this.live.get(id);
    if (!l || !l.container) return undefined;
    if (this.fencing.active) throw new NodeFencedError(this.o.nodeId);
    this.idle.touch(id);
    if (l.record.status !== "running") {
      if (l.record.status === "failed") return undefined;
      await this.sleep.wake(l);
      if (l.record.status === "starting" || l.record.status === "installing") await l.ready;
    }
    // Adopted after a restart, or woken: ask the runner where the app listens.
    l.port ??= await this.o.runtime.appPort(l.container);
    // Again now that it answers: a wake from stopped can outlast the idle timeout, and the sweep would
    // suspend it again before this request counts as in flight (seen with a 1 s timeout).
    this.idle.touch(id);
    return this.o.runtime.endpoint(l.container, l.port ?? DEFAULT_PORT);
  }

  /** The fast path for a running preview: no promise, no allocation beyond the endpoint. */
  endpointIfRunning(id: string): Endpoint | undefined {
    const l = this.live.get(id);
    if (!l || l.record.status !== "running" || !l.container || l.port === undefined || this.fencing.active) return undefined;
    this.idle.touch(id);
    return this.o.runtime.endpoint(l.container, l.port);
  }

  // ---- background -------------------------------------------------------------

  /** Suspends previews idle past the timeout; stops those suspended past the second stage (sleep.ts). */
  sweepIdle(): Promise<void> {
    return this.sleep.sweepIdle();
  }
}
