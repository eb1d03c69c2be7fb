// One more front on the public port, in a worker thread (threads.ts starts
// them): the kernel spreads new connections over every front listening with
// SO_REUSEPORT. A thread routes a running preview of this node from the
// table the main thread sends it, and a preview on a sibling over its own
// signed hop connections from the table of recent lookups the main thread
// sends too; anything else (waking, a lookup not made yet, the 404 and error
// pages, Fly, the browser tier) goes to the general path on the main thread. What it sees of each preview (touches, requests and sockets
// opened and closed, latencies) goes back in a batch every 250 ms; the main
// thread keeps the one idle clock and the metrics.
import { createLogger, type LogFormat } from "../../log.ts";
import { InflightLimit } from "../limits.ts";
import { PollFilter } from "../../pool/polls.ts";
import type { ProxyTarget } from "../index.ts";
import { startFront, type Front } from "./index.ts";
import { publicRoutes } from "./routes.ts";
import type { SiblingEntry, ThreadInit, ToMain, ToThread } from "./thread-protocol.ts";
import { HopTargets } from "../../peer/client.ts";
import { AccessSigner } from "../../access/tokens.ts";
import { AccessTable } from "../../access/table.ts";

declare const self: Worker;

const BATCH_MS = 250;

/** Activity counted here, sent to the main thread in batches. */
class ActivityBatch {
  touched = new Set<string>();
  counts = this.fresh();
  /** Requests in flight plus open sockets, per preview, on this thread (not reset by a flush). */
  readonly open = new Map<string, number>();
  latencies: number[] = [];
  siblings = new Set<string>();

  touch(id: string): void {
    this.touched.add(id);
  }
  requestStarted(id: string): void {
    this.add("started", id, 1);
  }
  requestEnded(id: string): void {
    this.add("ended", id, -1);
  }
  /** A poll: open while in flight here, but it is no use of the preview (not touched). */
  pollStarted(id: string): void {
    this.add("pollStarted", id, 1, false);
  }
  pollEnded(id: string): void {
    this.add("pollEnded", id, -1, false);
  }
  socketOpened(id: string): void {
    this.add("opened", id, 1);
  }
  socketClosed(id: string): void {
    this.add("closed", id, -1);
  }

  /** In use here now, or used since the last batch (the main thread's idle clock has not heard of it yet). */
  busy(id: string): boolean {
    return (this.open.get(id) ?? 0) > 0 || this.touched.has(id);
  }

  take(): ToMain | undefined {
    if (!this.touched.size && !this.latencies.length && !this.siblings.size && !this.counts.pollStarted.size && !this.counts.pollEnded.size) return undefined;
    const entries = (m: Map<string, number>) => [...m];
    const msg: ToMain = {
      t: "activity", touched: [...this.touched], started: entries(this.counts.started), ended: entries(this.counts.ended),
      opened: entries(this.counts.opened), closed: entries(this.counts.closed), pollStarted: entries(this.counts.pollStarted), pollEnded: entries(this.counts.pollEnded), latencies: this.latencies,
      siblings: [...this.siblings],
    };
    this.siblings = new Set();
    this.touched = new Set();
    this.counts = this.fresh();
    this.latencies = [];
    return msg;
  }

  private fresh() {
    return { started: new Map<string, number>(), ended: new Map<string, number>(), opened: new Map<string, number>(), closed: new Map<string, number>(), pollStarted: new Map<string, number>(), pollEnded: new Map<string, number>() };
  }

  private add(kind: keyof ActivityBatch["counts"], id: string, delta: number, touches = true): void {
    const m = this.counts[kind];
    m.set(id, (m.get(id) ?? 0) + 1);
    const n = (this.open.get(id) ?? 0) + delta;
    if (n > 0) this.open.set(id, n);
    else this.open.delete(id);
    if (touches) this.touched.add(id);
  }
}

function run(init: ThreadInit): void {
  const log = createLogger(init.logLevel, init.logFormat as LogFormat).child({ mod: "front", thread: init.index });
  const batch = new ActivityBatch();
  let table = new Map<string, ProxyTarget>();
  let slots = new Map<string, number>();
  let siblings = new Map<string, SiblingEntry>();
  const cluster = init.cluster;
  const trusted = new Set(init.trustedProxies);
  const hops = cluster && new HopTargets(cluster.secret, cluster.self);
  // Empty until the main thread's first copy: every preview is then unknown, and goes to the general path.
  const access = new AccessTable(AccessSigner.fromExported(init.accessKey));
  const front: Front = startFront({
    hostname: init.hostname, port: init.port, reusePort: true, log, activity: batch, polls: init.ignorePolls ? new PollFilter() : undefined, limit: new InflightLimit(init.maxInflight, { counters: init.inflight, slotOf: (id) => slots.get(id) }), frontSecret: init.frontSecret,
    route: publicRoutes({
      domain: init.domain,
      access,
      // No touch on lookup: the request's start (or its socket's) is counted, unless it is a poll (pool/polls.ts).
      lookup: (id) => table.get(id),
      sibling: hops && ((id, host) => {
        const e = siblings.get(id);
        if (!e || e[4] <= Date.now()) return undefined;
        batch.siblings.add(id);
        return hops.get(e[1], e[2], e[3], host);
      }),
      general: init.general,
      trustsForwarded: (ip) => trusted.size > 0 && trusted.has(ip.replace(/^::ffff:/, "")),
    }),
    observe: (seconds, status) => batch.latencies.push(seconds, status),
    bodyTimeoutMs: init.bodyTimeoutMs, idleTimeoutMs: init.idleTimeoutMs,
  });
  const send = (m: ToMain) => self.postMessage(m);
  const flush = setInterval(() => {
    const m = batch.take();
    if (m) send(m);
  }, BATCH_MS);

  self.onmessage = async (e: MessageEvent<ToThread>) => {
    const m = e.data;
    if (m.t === "routes") {
      table = new Map(m.routes.map(([id, host, port]) => [id, { host, port }]));
      slots = new Map(m.routes.map(([id, , , slot]) => [id, slot]));
    }
    else if (m.t === "access") access.apply(m.access);
    else if (m.t === "siblings") siblings = new Map(m.siblings.map((e) => [e[0], e]));
    else if (m.t === "drop") {
      table.delete(m.id);
      send({ t: "dropped", seq: m.seq, busy: batch.busy(m.id) });
    } else if (m.t === "stop") {
      await front.stop(m.graceMs);
      clearInterval(flush);
      const last = batch.take();
      if (last) send(last);
      send({ t: "stopped" });
    }
  };
  send({ t: "ready", port: front.port });
}

self.onmessage = (e: MessageEvent<ToThread>) => {
  if (e.data.t === "init") run(e.data.init);
};
