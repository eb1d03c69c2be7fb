// Kept-alive connections to the apps (and to the general path on loopback),
// pooled per address as nginx's `keepalive` does: a response that ended
// cleanly gives its connection back, anything else closes it. The app may
// close an idle one at any time (Node does after 5 s); the pool forgets it
// then, and a request that finds its reused connection closed before any
// answer is sent again once on a fresh one when that is safe (relay.ts).
import type { Socket, SocketHandler } from "bun";
import type { Outbox } from "./io.ts";

export interface UpstreamData extends Outbox {
  key: string;
  /** Who reads this connection now; unset while it idles in the pool. */
  owner: UpstreamOwner | undefined;
  /** Served a request before: a close before any answer may be a race with the app's idle timeout. */
  reused: boolean;
  /** A sibling hop's signed request went on it: the sibling holds it as this node's (relay.ts). */
  signed: boolean;
}

export interface UpstreamOwner {
  upstreamData(chunk: Buffer): void;
  upstreamDrain(): void;
  upstreamClosed(): void;
}

export type Upstream = Socket<UpstreamData>;

/** Idle connections kept per address; past it, a returned connection is closed. */
const MAX_IDLE_PER_TARGET = 128;
/** Seconds an idle pooled connection is kept. */
const IDLE_S = 60;

export class UpstreamPool {
  private readonly idle = new Map<string, Upstream[]>();
  /** Connections open now, idle or in use (tests count them for leaks). */
  open = 0;

  private readonly handlers: SocketHandler<UpstreamData> = {
    data: (s, chunk) => s.data.owner?.upstreamData(chunk),
    drain: (s) => s.data.owner?.upstreamDrain(),
    close: (s) => this.closed(s),
    error: () => {}, // close follows
    timeout: (s) => {
      if (!s.data.owner) s.end();
    },
  };

  /** A connection to host:port for `owner`: a pooled one at once when there is one, else a new one (a promise). */
  acquire(host: string, port: number, owner: UpstreamOwner): Upstream | Promise<Upstream> {
    const key = `${host}:${port}`;
    const list = this.idle.get(key);
    const s = list?.pop();
    if (s) {
      s.data.owner = owner;
      s.data.reused = true;
      s.timeout(0);
      return s;
    }
    return this.connect(host, port, owner);
  }

  /** Always a new connection (the retry after a pooled one turned out closed). */
  async connect(host: string, port: number, owner: UpstreamOwner): Promise<Upstream> {
    const data: UpstreamData = { key: `${host}:${port}`, owner, reused: false, signed: false, queue: [] };
    const s = await Bun.connect<UpstreamData>({ hostname: host, port, data, socket: this.handlers });
    this.open++;
    return s;
  }

  /** Gives back a connection whose exchange ended cleanly. */
  release(s: Upstream): void {
    s.data.owner = undefined;
    if (s.readyState <= 0 || s.data.queue.length) return void s.end();
    let list = this.idle.get(s.data.key);
    if (!list) this.idle.set(s.data.key, (list = []));
    if (list.length >= MAX_IDLE_PER_TARGET) return void s.end();
    s.timeout(IDLE_S);
    list.push(s);
  }

  /** Closes a connection that is not fit to reuse. */
  discard(s: Upstream): void {
    s.data.owner = undefined;
    s.terminate();
  }

  /** Ends a connection gracefully (a tunnel whose client left: the app sees a FIN, not a reset). */
  close(s: Upstream): void {
    s.data.owner = undefined;
    s.end();
  }

  /** Closes every idle connection (at stop). */
  closeIdle(): void {
    for (const list of this.idle.values()) for (const s of list.splice(0)) s.end();
  }

  private closed(s: Upstream): void {
    this.open--;
    const owner = s.data.owner;
    s.data.owner = undefined;
    if (owner) return owner.upstreamClosed();
    const list = this.idle.get(s.data.key);
    const i = list?.indexOf(s) ?? -1;
    if (i >= 0) list!.splice(i, 1);
    if (list && list.length === 0) this.idle.delete(s.data.key);
  }
}
