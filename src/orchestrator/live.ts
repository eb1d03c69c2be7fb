// What this node keeps in memory for each preview it runs, and the set of
// them: the fast path's map (endpoint, idle clock, readiness), the slots they
// hold, and the route table the proxy's front threads are given.
import type { DepsCache, OutputLog } from "../deps/index.ts";
import { notFound } from "../errors.ts";
import { OCCUPYING, STATUSES } from "../lifecycle/index.ts";
import type { ContainerState, IdleClock, Runtime } from "../pool/index.ts";
import type { RouteEntry } from "../proxy/fast/thread-protocol.ts";
import type { PreviewRecord, PreviewStatus } from "../types.ts";

export interface Live {
  record: PreviewRecord;
  container?: ContainerState;
  /** The port the app serves on, once known (explicit, or found by the runner). */
  port?: number;
  /** What it is doing now, for progress displays. */
  phase?: string;
  /** The dependency install's output (the first part of the preview's logs). */
  installLog?: OutputLog;
  /** Settles when the install step is over (log followers then switch to the app's output). */
  installed?: Promise<unknown>;
  /** Cancels this preview's wait for an install (delete). */
  abort?: AbortController;
  /** Settles once the app answers or is given up on. */
  ready?: Promise<void>;
  /** The readiness watch in flight: at most one per preview, joined by every restart that asks. */
  watching?: Promise<void>;
  /** When the preview was last marked failed (ms): a failure during an engine outage is undone when it returns. */
  failedAt?: number;
  /** When it was last suspended (ms; set at the move, or at adoption after a restart): deep sleep counts from it. */
  sleptAt?: number;
  /** Code-0 exits the daemon restarted (ms, newest last) and the last OOM event: clean-exit.ts. */
  cleanExits?: number[];
  oomAt?: number;
  /** A resume or restart in flight, shared by all requests that wait on it. */
  waking?: Promise<void>;
}

export class LiveSet {
  private readonly map = new Map<string, Live>();
  /** Creates and take-overs in flight: they hold a slot before their entry exists. */
  reserved = 0;

  constructor(private readonly o: { idle: IdleClock; deps?: DepsCache; routesChanged(): void }) {}

  get(id: string): Live | undefined {
    return this.map.get(id);
  }

  /** The entry, or 404. */
  need(id: string): Live {
    const l = this.map.get(id);
    if (!l) throw notFound("preview", id);
    return l;
  }

  has(id: string): boolean {
    return this.map.has(id);
  }

  values(): IterableIterator<Live> {
    return this.map.values();
  }

  ids(): string[] {
    return [...this.map.keys()];
  }

  /** Takes a preview into this node's care: its idle clock starts, its dependency entry is held. */
  add(l: Live): Live {
    this.map.set(l.record.id, l);
    this.o.idle.touch(l.record.id);
    if (l.record.spec.deps) this.o.deps?.acquire(l.record.id, l.record.spec.deps.key);
    return l;
  }

  /** Drops a preview from this node's memory: no route, no idle clock, no install wait, its cache entry released. */
  forget(l: Live): void {
    this.map.delete(l.record.id);
    this.o.routesChanged();
    this.o.idle.forget(l.record.id);
    l.abort?.abort();
    this.o.deps?.release(l.record.id);
  }

  /** Previews holding a slot here, plus creates in flight. */
  get occupied(): number {
    let n = this.reserved;
    for (const l of this.map.values()) if (OCCUPYING.has(l.record.status)) n++;
    return n;
  }

  counts(): Record<PreviewStatus, number> {
    const c = Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<PreviewStatus, number>;
    for (const l of this.map.values()) c[l.record.status]++;
    return c;
  }

  /** Suspended previews by sleep stage. */
  asleep(): { frozen: number; reclaimed: number } {
    const c = { frozen: 0, reclaimed: 0 };
    for (const l of this.map.values()) if (l.record.status === "suspended" && l.record.sleep) c[l.record.sleep]++;
    return c;
  }

  /** Running previews' app addresses (the table the proxy threads route by); none while fenced. */
  routes(runtime: Pick<Runtime, "endpoint">, fenced: boolean): RouteEntry[] {
    const out: RouteEntry[] = [];
    if (fenced) return out;
    for (const l of this.map.values()) {
      if (l.record.status !== "running" || !l.container || l.port === undefined) continue;
      const e = runtime.endpoint(l.container, l.port);
      out.push([l.record.id, e.host, e.port]);
    }
    return out;
  }
}
