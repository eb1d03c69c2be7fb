// This node's container tier: create, change files, suspend, resume, delete,
// and the lookup the proxy does on every request. State lives in three
// places, each the authority for one thing: the store (PostgreSQL) for what
// previews exist and where; Docker for what runs; the live set for the fast
// path (endpoint, idle clock, readiness). Every status change goes through
// the lifecycle (lifecycle/), one operation per preview at a time.
import { customAlphabet } from "nanoid";
import { Toolchain, type Prepared } from "../deps/index.ts";
import { isDatabaseUnavailable } from "../db/outage.ts";
import { conflict, noCapacity } from "../errors.ts";
import { Lifecycle } from "../lifecycle/index.ts";
import type { Logger } from "../log.ts";
import type { NodeLine } from "../nodejs/index.ts";
import { IdleClock, type ContainerState, WarmPool } from "../pool/index.ts";
import type { RouteEntry } from "../proxy/fast/thread-protocol.ts";
import type { Endpoint, FileMap, PreviewRecord, PreviewSpec, PreviewStatus, PreviewView } from "../types.ts";
import { BringUp, DEFAULT_PORT } from "./bringup.ts";
import { createHere } from "./create.ts";
import { DiskFloor } from "./disk-floor.ts";
import { DriftLoop, type DriftKind } from "./drift.ts";
import { Fencing, NodeFencedError } from "./fencing.ts";
import { updateFilesHere } from "./file-change.ts";
import { CleanExitPolicy } from "./clean-exit.ts";
import { Health } from "./health.ts";
import { LiveSet, type Live } from "./live.ts";
import { MemoryAccount, type MemoryFigures } from "./memory.ts";
import { tailLogs } from "./logs.ts";
import type { OrchestratorOptions } from "./options.ts";
import type { NodeParts } from "./parts.ts";
import { PreviewReads } from "./reads.ts";
import { reconcile, recreate, type Adopter } from "./reconcile.ts";
import { resyncAfterEngine } from "./resync.ts";
import { SleepCycle } from "./sleep.ts";

export type { PreviewDatabases, PreviewStore, RecordPatch } from "./ports.ts";
export type { OrchestratorOptions } from "./options.ts";

/** 16 characters of [a-z0-9]: DNS-safe, ~82 bits, never taken from input. */
export const newPreviewId = customAlphabet("0123456789abcdefghijklmnopqrstuvwxyz", 16);

export class Orchestrator implements Adopter {
  readonly idle = new IdleClock();
  /** Every status change of this node's container previews goes through it (lifecycle/). */
  readonly lifecycle: Lifecycle;
  readonly pool: WarmPool;
  private readonly reads: PreviewReads;
  private readonly live: LiveSet;
  private readonly timers: Array<ReturnType<typeof setInterval>> = [];
  private stopWatching?: () => void;
  private image = "";
  /** The Node.js lines and install plans for app files (set at start: it reads the image). */
  private toolchain = new Toolchain({ image: "", lines: [], installs: false });
  /** The Node.js lines the image offers (read at start). */
  nodeLines: NodeLine[] = [];
  private readonly bringUp: BringUp;
  private readonly health: Health;
  private readonly sleep: SleepCycle;
  private drift?: DriftLoop;
  /** Set by a drain (peer/drain.ts): creates and take-overs go to other nodes. */
  draining = false;
  /** Engaged by recovery when this node is cut off from the database and peers (fencing.ts). */
  private readonly fencing: Fencing;
  private readonly disk: DiskFloor;
  private readonly parts: NodeParts;
  /** The public port's extra fronts (proxy/fast/threads.ts), set by the daemon: they route from routes(). */
  proxyThreads?: { publish(routes: RouteEntry[]): void; drop(id: string): Promise<boolean> };

  constructor(private readonly o: OrchestratorOptions) {
    this.live = new LiveSet({ idle: this.idle, deps: o.deps, routesChanged: () => this.routesChanged() });
    const lifecycle = (this.lifecycle = o.lifecycle ?? new Lifecycle({ store: o.store, log: o.log.child({ mod: "lifecycle" }) }));
    lifecycle.react("container", (s, from, to) => this.moved(s as Live, from, to));
    this.pool = new WarmPool({ runtime: o.runtime, size: o.warmPoolSize, newId: newPreviewId, log: o.log.child({ mod: "pool" }) });
    this.bringUp = new BringUp({
      runtime: o.runtime, store: o.store, deps: o.deps, log: o.log, cpus: o.cpus, startTimeoutMs: o.startTimeoutMs, lifecycle,
      previewHost: (id) => new URL(o.previewUrl(id)).hostname,
      isLive: (id) => this.live.has(id),
      memory: o.memoryMb && o.largeMemoryMb ? { memoryMb: o.memoryMb, largeMemoryMb: o.largeMemoryMb } : undefined,
      tail: (l, n) => tailLogs(o.runtime, l, n),
    });
    this.health = new Health({
      runtime: o.runtime, log: o.log, bringUp: this.bringUp, lifecycle,
      live: (id) => this.live.get(id),
      forgetSpare: (containerId) => this.pool.forget(containerId),
      tail: (l, n) => tailLogs(o.runtime, l, n),
      cleanExit: new CleanExitPolicy({ ...o.cleanExit, memoryMb: o.memoryMb }),
    });
    this.sleep = new SleepCycle({
      live: this.live, idle: this.idle, runtime: o.runtime, store: o.store, log: o.log, lifecycle,
      idleTimeoutMs: o.idleTimeoutMs, stopAfterMs: o.stopAfterMs, reclaimAfterMs: o.reclaimAfterMs, reclaimer: o.reclaimer, cpus: o.cpus, boostCpus: o.boostCpus, observe: o.observe, foreignActivity: o.foreignActivity,
      watchReadiness: (l) => this.bringUp.watchReadiness(l),
      beforePause: (id) => this.proxyThreads?.drop(id) ?? Promise.resolve(false),
    });
    this.disk = new DiskFloor(o.storage);
    this.fencing = new Fencing({ runtime: o.runtime, lifecycle, log: o.log.child({ mod: "fence" }) });
    this.reads = new PreviewReads({ ...o, live: this.live, idle: this.idle });
    const memory = o.memory && new MemoryAccount({ ...o.memory, live: this.live, idle: this.idle, resident: o.memory.resident ?? ((cid) => o.reclaimer?.resident(cid)) });
    this.parts = { ...o, lifecycle, live: this.live, pool: this.pool, bringUp: this.bringUp, disk: this.disk, sleep: this.sleep, idle: this.idle, memory };
  }

  /**
   * The container tier's reaction to every status change, before it is written: the proxy's routes follow
   * at once, and a woken preview's idle clock starts again (the sweep must not put it back to sleep at once).
   */
  private moved(l: Live, from: PreviewStatus | undefined, to: PreviewStatus): void {
    this.routesChanged();
    if (to === "suspended" && from !== "suspended") l.sleptAt = Date.now();
    this.parts?.memory?.invalidate();
    if ((from === "suspended" || from === "stopped") && (to === "running" || to === "starting")) this.idle.touch(l.record.id);
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
    return this.live.occupied;
  }

  get capacity(): number {
    return this.o.capacity;
  }

  /** Memory for previews on this node, and previews that would still fit by it (undefined: capacity by count only). */
  memory(): MemoryFigures | undefined {
    return this.parts.memory?.figures();
  }

  counts(): Record<PreviewStatus, number> {
    return this.live.counts();
  }

  asleep(): { frozen: number; reclaimed: number } {
    return this.live.asleep();
  }

  view(r: PreviewRecord, phase?: string): PreviewView {
    return this.reads.view(r, phase);
  }

  // ---- start-up and shutdown ------------------------------------------------

  /** Adopts this node's containers and records (after a restart or a crash), then starts the pool and timers. */
  async start(): Promise<void> {
    this.image = await this.o.runtime.imageIdentity();
    this.nodeLines = await this.o.runtime.nodeLines();
    this.toolchain = new Toolchain({ image: this.image, lines: this.nodeLines, installs: this.o.deps !== undefined });
    this.stopWatching = await this.o.runtime.watch(
      (e) => void this.health.onEvent(e).catch((err) => this.o.log.error({ err, e }, "event handling failed")),
      // The engine came back (restart, upgrade): events were missed while it was away, so look at everything.
      (downSince) => void this.engineReturned(downSince),
    );
    await reconcile(this, this.o.runtime, this.o.store, this.o.nodeId);
    this.pool.refill();
    this.timers.push(setInterval(() => void this.sweepIdle(), this.sleep.sweepEveryMs));
    this.timers.push(setInterval(() => void this.sleep.flushActivity(), 5_000));
    if (this.o.driftIntervalMs) {
      this.drift = new DriftLoop({
        nodeId: this.o.nodeId, runtime: this.o.runtime, store: this.o.store, log: this.o.log.child({ mod: "drift" }), intervalMs: this.o.driftIntervalMs,
        live: () => [...this.live.values()],
        busy: () => this.live.reserved > 0,
        lifecycle: this.lifecycle,
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

  /**
   * Leaves previews running (a restart must not interrupt them); removes only spare containers. Spares first: removing them needs only Docker, so a stop whose database is
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

  /** Writes the idle clock's renewed times to the store now (the timer does every 5 s); a failed write is kept for the next. */
  flushActivity(): Promise<void> {
    return this.sleep.flushActivity();
  }

  /** Registers a preview found at start-up (used by reconcile). */
  adopt(record: PreviewRecord, container?: ContainerState): Live {
    return this.live.add({ record, container, port: record.spec.port, ...(record.status === "suspended" && { sleptAt: Date.now() }) });
  }

  /** Watches a (re)started preview until it answers; does not wait for it. */
  async resumeReadiness(id: string): Promise<void> {
    const l = this.live.need(id);
    l.ready = this.bringUp.watchReadiness(l);
  }

  /** Installs and starts a recreated preview's app from its stored files (reconcile, take-over). */
  restartFromFiles(id: string, files: FileMap): void {
    const l = this.live.need(id);
    let prepared: Prepared;
    try {
      prepared = this.prepare(files);
    } catch (err) {
      l.ready = this.lifecycle.move(l, "failed", "its files cannot be prepared", { failure: (err as Error).message }).then(() => {});
      return;
    }
    if (prepared.runtime) l.record.spec.runtime = prepared.runtime;
    l.ready = this.bringUp.start(l, prepared.plan);
  }

  /** The Node.js line and install these files need; a 400 when either cannot be (a broken package.json, a version nothing offers). */
  prepare(files: FileMap): Prepared {
    return this.toolchain.prepare(files);
  }

  /** Runs here a preview moved from a dead node (the store already says it is ours). */
  async takeOver(record: PreviewRecord): Promise<void> {
    if (this.live.has(record.id)) return;
    this.live.reserved++;
    try {
      await recreate(this, this.o.runtime, this.o.store, record);
    } finally {
      this.live.reserved--;
    }
  }

  /** A deep-asleep preview's memory limit back (reconcile: its container was thawed or exited while the daemon was away). */
  restoreMemory = async (containerId: string): Promise<void> => void (await this.o.reclaimer?.restore(containerId));

  /** Idle warm containers found at start-up (reconcile): the pool keeps them. */
  adoptSpares(spares: ContainerState[]): void {
    this.pool.adopt(spares);
  }

  /** Stops running a preview that the store gives to another node (or no longer has): forgotten at once, then removed in turn. */
  async evict(id: string): Promise<void> {
    const l = this.live.get(id);
    if (!l) return;
    this.live.forget(l);
    await this.lifecycle.queue(id, async () => {
      if (l.container) await this.o.runtime.remove(l.container.containerId);
    });
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
    await this.lifecycle.queue(id, async () => {
      if (l.record.status === "failed" || l.record.status === "deleted") return;
      await this.lifecycle.move(l, "failed", "a limit enforced outside the container", { failure: reason }); // before the stop, so its "die" event is not taken for a crash
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

  /** Running previews' app addresses, as endpointIfRunning gives them (without renewing any idle clock). */
  routes(): RouteEntry[] {
    return this.live.routes(this.o.runtime, this.fencing.active);
  }

  /** Tells the proxy threads at once (a deleted or suspended preview must not be routed a moment longer). */
  routesChanged(): void {
    this.proxyThreads?.publish(this.routes());
  }

  get fenced(): boolean {
    return this.fencing.active;
  }

  localIds(): string[] {
    return this.live.ids();
  }

  /** After a Docker engine restart: previews and spares as the engine has them now (resync.ts). */
  async engineReturned(downSince: number): Promise<void> {
    await resyncAfterEngine({
      runtime: this.o.runtime, store: this.o.store, log: this.o.log.child({ mod: "resync" }), pool: this.pool, downSince,
      live: () => [...this.live.values()],
      lifecycle: this.lifecycle,
      watchReadiness: (l) => (l.ready = this.bringUp.watchReadiness(l)),
      recreate: (l) => this.recreateLive(l),
    }).catch((err) => this.o.log.error({ err }, "resync after the engine returned failed"));
  }

  /** Its container is gone (or, with removeOld, goes now): a new one from the stored files (reconcile.ts's recreate). */
  private async recreateLive(l: Live, opts: { removeOld?: boolean } = {}): Promise<void> {
    this.live.forget(l);
    if (opts.removeOld && l.container) await this.o.runtime.remove(l.container.containerId);
    await recreate(this, this.o.runtime, this.o.store, l.record);
  }

  // ---- create ---------------------------------------------------------------

  async create(spec: PreviewSpec, opts: { wait?: boolean } = {}): Promise<PreviewView> {
    if (this.draining) throw noCapacity(`Node ${this.o.nodeId} is draining: it takes no new previews.`);
    const { runtime, plan } = this.prepare(spec.files); // a broken package.json is a 400 before anything is claimed
    return createHere(this.parts, runtime ? { ...spec, runtime } : spec, plan, (l) => this.view(l.record, l.phase), !!opts.wait);
  }

  // ---- reads ----------------------------------------------------------------

  has(id: string): boolean {
    return this.live.has(id);
  }

  localView(id: string): PreviewView {
    return this.reads.local(id);
  }

  /** A preview of this node (live view) or of any node (stored record). */
  get(id: string): Promise<PreviewView> {
    return this.reads.get(id);
  }

  /** Every preview of the cluster: the store knows them all, this node knows its own best. */
  list(): Promise<PreviewView[]> {
    return this.reads.list();
  }

  logs(id: string, opts: { tail?: number; follow?: boolean; signal?: AbortSignal }): Promise<ReadableStream<Uint8Array>> {
    return this.reads.logs(id, opts);
  }

  exportDatabase(id: string): Promise<ReadableStream<Uint8Array>> {
    return this.reads.exportDatabase(id);
  }

  // ---- changes --------------------------------------------------------------

  /** New files in place (the app's own watcher reloads them); new dependencies reinstall and restart it. */
  updateFiles(id: string, files: FileMap, remove: string[]): Promise<PreviewView> {
    return updateFilesHere(this.parts, id, files, remove, (f) => this.prepare(f), (l) => this.view(l.record, l.phase));
  }


  async suspend(id: string): Promise<PreviewView> {
    const l = this.live.need(id);
    if (l.record.status === "running" || l.record.status === "starting") await this.sleep.pause(l);
    else if (l.record.status !== "suspended") throw conflict(`Preview ${id} is ${l.record.status}, not running.`);
    return this.view(l.record);
  }

  async resume(id: string): Promise<PreviewView> {
    const l = this.live.need(id);
    if (l.record.status === "failed") throw conflict(`Preview ${id} failed; create it again.`);
    await this.sleep.wake(l);
    this.idle.touch(id);
    return this.view(l.record);
  }

  /**
   * Deleted at once (no route, no idle clock, its install wait cancelled, whatever runs on it gives up),
   * then its container, schema and record go in their turn, after the operation in flight.
   */
  async delete(id: string): Promise<void> {
    const l = this.live.need(id);
    this.live.forget(l);
    await this.lifecycle.move(l, "deleted", "deleted by request").catch((err) => {
      if (!isDatabaseUnavailable(err)) throw err; // the record goes below, or the delete fails there and says so
    });
    await this.lifecycle.queue(id, async () => {
      if (l.container) await this.o.runtime.remove(l.container.containerId);
      if (l.record.database) await this.o.databases?.drop(id);
      await this.o.store.remove(id);
    });
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
    // No touch here: the request's own start (or its socket's) renews the idle clock, unless it is a poll (pool/polls.ts).
    return this.o.runtime.endpoint(l.container, l.port);
  }

  // ---- background -------------------------------------------------------------

  /** Suspends previews idle past the timeout; stops those suspended past the second stage (sleep.ts). */
  sweepIdle(): Promise<void> {
    return this.sleep.sweepIdle();
  }
}
