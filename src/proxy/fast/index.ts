// The public proxy port as a TCP listener (Bun.listen) relaying HTTP/1.1 at
// the byte level (relay.ts), with the fetch-based proxy (../index.ts) behind
// it on loopback for everything the byte relay does not handle itself.
// Measured why (issue 16): a per-request fetch and a re-streamed body cost
// ~4x nginx's CPU per request; a byte relay costs about what a splice does.
import type { TCPSocketListener } from "bun";
import { ClientRelay, type ClientData, type RelayDeps } from "./relay.ts";
import { UpstreamPool } from "./upstream.ts";

export interface Front {
  port: number;
  /** Client connections open now. */
  readonly connections: number;
  /** Upstream connections open now, pooled or in use (for leak checks). */
  readonly upstreams: number;
  /** A preview's requests in flight, on every front when they share counters (for leak checks). */
  inflight(previewId: string): number;
  /** Stops listening, lets exchanges in flight end for at most `graceMs`, then closes what is left. */
  stop(graceMs: number): Promise<void>;
}

export interface FrontOptions extends Omit<RelayDeps, "pool"> {
  hostname: string;
  port: number;
  /** Share the port with other fronts (SO_REUSEPORT: the kernel spreads connections over them; threads.ts). */
  reusePort?: boolean;
}

export function startFront(opts: FrontOptions): Front {
  const pool = new UpstreamPool();
  const deps: RelayDeps = { ...opts, pool };
  const clients = new Set<ClientRelay>();
  const listener: TCPSocketListener<ClientData> = Bun.listen<ClientData>({
    // reusePort is honoured by Bun.listen (without it a second front gets EADDRINUSE: measured on Bun 1.4.5), though
    // its listen options do not declare it.
    hostname: opts.hostname, port: opts.port, ...({ reusePort: !!opts.reusePort } as object),
    socket: {
      open(s) {
        const relay = new ClientRelay(s, deps);
        s.data = { queue: [], relay };
        clients.add(relay);
      },
      data: (s, chunk) => s.data.relay.data(chunk),
      drain: (s) => s.data.relay.drain(),
      close(s) {
        s.data.relay.close();
        clients.delete(s.data.relay);
      },
      error: () => {}, // close follows
    },
  });
  // One sweep a second for every connection's deadline, instead of a timer per request.
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const c of clients) c.tick(now);
  }, 1000);
  sweep.unref();
  return {
    port: listener.port,
    get connections() {
      return clients.size;
    },
    get upstreams() {
      return pool.open;
    },
    inflight: (previewId) => deps.limit.inflight(previewId),
    async stop(graceMs) {
      listener.stop(false);
      deps.draining = true;
      for (const c of clients) c.closeIfIdle();
      const until = Date.now() + graceMs;
      while (clients.size && Date.now() < until) await Bun.sleep(50);
      clearInterval(sweep);
      listener.stop(true);
      for (const c of clients) c.terminate();
      pool.closeIdle();
    },
  };
}
