// More fronts on the public port, one per extra core (PREVIEWD_PROXY_THREADS):
// worker threads (thread.ts), each listening with SO_REUSEPORT beside the
// main thread's front. The main thread stays the one place that knows where
// previews run and how idle they are:
//  - it sends every thread the table of running previews' addresses whenever
//    it changes (and checks for a change every 250 ms), and the previews
//    recent lookups placed on siblings (threads sign their own hops to them);
//  - threads send back what they saw (touches, requests and sockets opened
//    and closed, latencies) every 250 ms, applied to the one idle clock and
//    the metrics;
//  - before a suspend pauses a preview, every thread drops its route and says
//    whether it is using it (a request in flight, or one since its last
//    batch): if one is, the suspend is called off.
// The per-preview in-flight limit is counted across the fronts in shared
// memory (shared-limit.ts): each route carries its preview's counter.
import type { Logger } from "../../log.ts";
import type { AccessSnapshot } from "../../access/table.ts";
import type { ProxyDeps } from "../index.ts";
import type { SlotTable } from "./shared-limit.ts";
import type { RouteEntry, SiblingEntry, SlottedRoute, ThreadInit, ToMain, ToThread } from "./thread-protocol.ts";

export interface FrontThreads {
  readonly count: number;
  /** Sends the running previews' table to every thread, if it changed since the last one sent. */
  publish(routes: RouteEntry[]): void;
  /** Sends the sibling hops' table to every thread, if it changed since the last one sent. */
  publishSiblings(siblings: SiblingEntry[]): void;
  /** Sends visibility and revoked shares to every thread. */
  publishAccess(access: AccessSnapshot): void;
  /** Every thread stops routing `id`; true when one of them is using it (do not pause it). */
  drop(id: string): Promise<boolean>;
  stop(graceMs: number): Promise<void>;
}

export interface ThreadsOptions {
  count: number;
  init: Omit<ThreadInit, "index" | "inflight">;
  /** The in-flight counters the main thread's limit uses too. */
  slots: SlotTable;
  activity: ProxyDeps["activity"];
  observe?: (seconds: number, status: number) => void;
  /** Previews threads reached through a sibling hop in their last batch. */
  siblingsUsed?: (ids: string[]) => void;
  log: Logger;
}

/** Fronts for PREVIEWD_PROXY_THREADS: as set, or with 0 one per core on 4 cores or more (on 2, wrk-style load and the apps want the other core). */
export function frontThreadCount(setting: number, cores = navigator.hardwareConcurrency): number {
  if (setting > 0) return setting;
  return cores >= 4 ? Math.min(cores, 8) : 1;
}

/**
 * The worker's entry: next to this file when run from source; in the executable (scripts/build lists it as a
 * second entry point) by its path from src/, the root of the bundle (measured on Bun 1.4.5).
 */
const THREAD_ENTRY = import.meta.url.includes("/$bunfs/") ? "./proxy/fast/thread.ts" : new URL("./thread.ts", import.meta.url).href;

/** How long a drop waits for a thread's answer before taking it as busy (a thread that does not answer is not trusted idle). */
const DROP_TIMEOUT_MS = 2000;

export async function startFrontThreads(o: ThreadsOptions): Promise<FrontThreads> {
  const workers: Worker[] = [];
  const waiting = new Map<number, { left: number; busy: boolean; done: (busy: boolean) => void }>();
  let seq = 0;
  let last = "";
  let lastSiblings = "";
  let onStopped: (() => void) | undefined;

  const apply = (m: Extract<ToMain, { t: "activity" }>) => {
    const a = o.activity;
    for (const [id, n] of m.started) for (let i = 0; i < n; i++) a.requestStarted(id);
    for (const [id, n] of m.opened) for (let i = 0; i < n; i++) a.socketOpened(id);
    for (const [id, n] of m.ended) for (let i = 0; i < n; i++) a.requestEnded(id);
    for (const [id, n] of m.closed) for (let i = 0; i < n; i++) a.socketClosed(id);
    for (const [id, n] of m.pollStarted) for (let i = 0; i < n; i++) (a.pollStarted ?? a.requestStarted).call(a, id);
    for (const [id, n] of m.pollEnded) for (let i = 0; i < n; i++) (a.pollEnded ?? a.requestEnded).call(a, id);
    for (const id of m.touched) a.touch(id);
    if (o.observe) for (let i = 0; i + 1 < m.latencies.length; i += 2) o.observe(m.latencies[i]!, m.latencies[i + 1]!);
    if (m.siblings.length) o.siblingsUsed?.(m.siblings);
  };

  const answered = (s: number, busy: boolean) => {
    const w = waiting.get(s);
    if (!w) return;
    w.busy ||= busy;
    if (--w.left === 0) {
      waiting.delete(s);
      w.done(w.busy);
    }
  };

  for (let index = 1; index <= o.count; index++) {
    const w = new Worker(THREAD_ENTRY);
    const ready = new Promise<void>((resolve, reject) => {
      w.onmessage = (e: MessageEvent<ToMain>) => {
        const m = e.data;
        if (m.t === "ready") resolve();
        else if (m.t === "activity") apply(m);
        else if (m.t === "dropped") answered(m.seq, m.busy);
        else if (m.t === "stopped") onStopped?.();
      };
      w.onerror = (e) => {
        o.log.error({ err: e.message, thread: index }, "proxy thread failed");
        reject(new Error(`proxy thread ${index} failed: ${e.message}`));
      };
    });
    w.postMessage({ t: "init", init: { ...o.init, index, inflight: o.slots.counters } } satisfies ToThread);
    await ready;
    workers.push(w);
  }

  const post = (m: ToThread) => {
    for (const w of workers) w.postMessage(m);
  };

  return {
    count: workers.length,
    publish(entries) {
      o.slots.sweep(new Set(entries.map((e) => e[0])));
      const routes: SlottedRoute[] = [];
      for (const [id, host, port] of entries) {
        const slot = o.slots.slotOf(id);
        if (slot !== undefined) routes.push([id, host, port, slot]); // without one (never: see SLOTS) the main thread serves it
      }
      const key = JSON.stringify(routes);
      if (key === last) return;
      last = key;
      post({ t: "routes", routes });
    },
    publishSiblings(siblings) {
      const key = JSON.stringify(siblings);
      if (key === lastSiblings) return;
      lastSiblings = key;
      post({ t: "siblings", siblings });
    },
    publishAccess(access) {
      post({ t: "access", access });
    },
    drop(id) {
      if (!workers.length) return Promise.resolve(false);
      last = ""; // the next table goes out whatever it holds: the threads' tables no longer match it
      const s = ++seq;
      return new Promise<boolean>((done) => {
        const timer = setTimeout(() => {
          if (waiting.delete(s)) done(true);
        }, DROP_TIMEOUT_MS);
        waiting.set(s, { left: workers.length, busy: false, done: (busy) => (clearTimeout(timer), done(busy)) });
        post({ t: "drop", id, seq: s });
      });
    },
    async stop(graceMs) {
      let left = workers.length;
      const all = new Promise<void>((resolve) => (onStopped = () => --left === 0 && resolve()));
      post({ t: "stop", graceMs });
      await Promise.race([all, Bun.sleep(graceMs + 2000)]);
      for (const w of workers) w.terminate();
    },
  };
}
