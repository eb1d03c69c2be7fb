// GET /v1/events: the whole cluster as ONE Server-Sent Events stream, for the
// dashboard. A page showing 500 previews must not open 500 per-preview
// streams (or poll 500 URLs), so this API instance keeps one shared loop
// that lists every preview (one or two store queries) and the cluster view
// about once a second while anyone listens, diffs the list against the last
// one, and sends each listener only what changed:
//
//   event: snapshot  data: {"previews": [...], "cluster": {...}}   first, and after a reconnect
//   event: changes   data: {"upsert": [preview, ...], "remove": ["id", ...]}
//   event: cluster   data: {"nodes": [...], "overflow": {...}, ...} when the cluster view changed
//
// Looking (rather than hooking every place a preview changes) is what works
// from any node: the state lives in the shared store and on whichever node
// runs each preview, as for /v1/previews/{id}/events. The loop stops when the
// last listener leaves. Scoped tokens never reach it (api/scoped.ts
// routeNeeds lists no such route), so a browser holding one preview's token
// cannot see the others.
import type { PreviewView } from "../types.ts";
import type { ClusterService, PreviewService } from "./service.ts";

const encoder = new TextEncoder();

/** A listener whose unread backlog passes this is cut off; it reconnects and gets a fresh snapshot instead of stale diffs. */
const MAX_BACKLOG_BYTES = 8 * 1024 * 1024;
const KEEP_ALIVE_MS = 15_000;

interface Listener {
  ctrl: ReadableStreamDefaultController<Uint8Array>;
  /** Has not had a snapshot yet. */
  fresh: boolean;
  close(): void;
}

export class ClusterEvents {
  private readonly listeners = new Set<Listener>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** Last list sent, by id: the JSON of each view (what the diff compares) and the view itself (for snapshots). */
  private last: Map<string, { key: string; view: PreviewView }> | undefined;
  private lastCluster = "";
  private clusterView: unknown;
  private sinceBeat = 0;
  private ticking = false;

  constructor(private readonly previews: PreviewService, private readonly cluster: ClusterService, private readonly everyMs = 1000) {}

  /** Listeners now connected (for tests and metrics). */
  get size(): number {
    return this.listeners.size;
  }

  /** The SSE body for one listener; it ends when `signal` aborts or the client goes away. */
  stream(signal: AbortSignal): ReadableStream<Uint8Array> {
    let me: Listener | undefined;
    return new ReadableStream<Uint8Array>(
      {
        start: (ctrl) => {
          const l: Listener = {
            ctrl,
            fresh: true,
            close: () => {
              this.leave(l);
              try { ctrl.close(); } catch { /* already closed */ }
            },
          };
          me = l;
          this.listeners.add(l);
          signal.addEventListener("abort", l.close, { once: true });
          if (signal.aborted) return l.close();
          // A loop already running has a current list: answer with it now rather than at the next tick.
          if (this.last) this.sendSnapshot(l);
          if (!this.timer && !this.ticking) void this.tick();
        },
        cancel: () => {
          if (me) this.leave(me);
        },
      },
      new ByteLengthQueuingStrategy({ highWaterMark: 64 * 1024 }),
    );
  }

  private leave(l: Listener): void {
    this.listeners.delete(l);
    if (this.listeners.size === 0) {
      clearTimeout(this.timer);
      this.timer = undefined;
      // Nobody listens: a later listener must not be answered from a list that is minutes old.
      this.last = undefined;
      this.lastCluster = "";
    }
  }

  private async tick(): Promise<void> {
    this.timer = undefined;
    this.ticking = true;
    try {
      const [views, cluster] = await Promise.all([this.previews.list(), this.cluster.view()]);
      if (this.listeners.size === 0) return;
      const next = new Map<string, { key: string; view: PreviewView }>();
      const upsert: PreviewView[] = [];
      for (const view of views) {
        const key = JSON.stringify(view);
        next.set(view.id, { key, view });
        if (this.last && this.last.get(view.id)?.key !== key) upsert.push(view);
      }
      const remove = this.last ? [...this.last.keys()].filter((id) => !next.has(id)) : [];
      const clusterKey = JSON.stringify(cluster);
      const clusterChanged = clusterKey !== this.lastCluster;
      this.last = next;
      this.lastCluster = clusterKey;
      this.clusterView = cluster;
      const changes = upsert.length || remove.length ? frame("changes", { upsert, remove }) : undefined;
      const clusterFrame = clusterChanged ? frame("cluster", cluster) : undefined;
      const beat = (this.sinceBeat += this.everyMs) >= KEEP_ALIVE_MS;
      if (beat) this.sinceBeat = 0;
      for (const l of [...this.listeners]) {
        if (l.fresh) this.sendSnapshot(l);
        else {
          if (changes) this.send(l, changes);
          if (clusterFrame) this.send(l, clusterFrame);
        }
        // A comment line keeps proxies from closing a quiet stream.
        if (beat && !changes) this.send(l, encoder.encode(": keep-alive\n\n"));
      }
    } catch {
      // A store that blinks: the next tick looks again (the diff base is unchanged).
    } finally {
      this.ticking = false;
      if (this.listeners.size > 0 && !this.timer) this.timer = setTimeout(() => void this.tick(), this.everyMs);
    }
  }

  private sendSnapshot(l: Listener): void {
    l.fresh = false;
    this.send(l, frame("snapshot", { previews: [...this.last!.values()].map((e) => e.view), cluster: this.clusterView }));
  }

  private send(l: Listener, bytes: Uint8Array): void {
    try {
      if ((l.ctrl.desiredSize ?? 0) < -MAX_BACKLOG_BYTES) return l.close();
      l.ctrl.enqueue(bytes);
    } catch {
      l.close();
    }
  }
}

function frame(event: string, data: unknown): Uint8Array {
  return encoder.encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

/** The HTTP answer of GET /v1/events. */
export function clusterEventsResponse(hub: ClusterEvents, signal: AbortSignal): Response {
  return new Response(hub.stream(signal), { headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", "x-accel-buffering": "no" } });
}
