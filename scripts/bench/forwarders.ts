// Reference forwarders, each in a process of its own like the daemon, to
// split what previewd's proxy costs into its parts in the same run:
//   fetch   a bare Bun.serve + fetch() forwarder (no routing, no header work):
//           what Bun's HTTP server and client cost by themselves
//   module  previewd's own proxy module (src/proxy: Hono, forward.ts, X-Forwarded-*)
//           with a fixed target: what the daemon adds around it is the rest
//   splice  bytes copied between two TCP sockets after reading the Host of the
//           first request head: the floor of a user-space proxy in Bun
//           (no X-Forwarded-*, no per-request view; what a splice fast path would cost)
//   bun scripts/bench/forwarders.ts <fetch|module|splice> <upstream host:port>
// It prints "listening <port>" once ready.
import type { Socket, Subprocess } from "bun";
import { createLogger } from "../../src/log.ts";
import { createProxy } from "../../src/proxy/index.ts";

export type ForwarderKind = "fetch" | "module" | "splice";
export const FORWARDERS: ForwarderKind[] = ["fetch", "module", "splice"];

export interface Forwarder {
  port: number;
  pid: number;
  stop(): Promise<void>;
}

/** Starts a forwarder child process. */
export async function startForwarder(kind: ForwarderKind, upstream: string): Promise<Forwarder> {
  const proc: Subprocess<"ignore", "pipe", "inherit"> = Bun.spawn([process.execPath, import.meta.path, kind, upstream], { stdout: "pipe", stderr: "inherit" });
  const reader = proc.stdout.getReader();
  let text = "";
  while (!/listening (\d+)/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`forwarder ${kind} exited: ${text}`);
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return {
    port: Number(/listening (\d+)/.exec(text)![1]),
    pid: proc.pid,
    async stop() {
      proc.kill("SIGKILL");
      await proc.exited;
    },
  };
}

function serveFetch(upstream: string): number {
  const base = `http://${upstream}`;
  const server = Bun.serve({
    hostname: "127.0.0.1", port: 0,
    fetch(req) {
      const path = req.url.slice(req.url.indexOf("/", req.url.indexOf("//") + 2));
      return fetch(base + path, { method: req.method, headers: req.headers, body: req.body, redirect: "manual", decompress: false } as RequestInit);
    },
  });
  return server.port!;
}

function serveModule(upstream: string): number {
  const [host, port] = upstream.split(":") as [string, string];
  const target = { host, port: Number(port) };
  const proxy = createProxy({
    domain: "localhost", log: createLogger("warn"),
    lookup: () => target, resolve: async () => target,
    activity: { touch() {}, socketOpened() {}, socketClosed() {}, requestStarted() {}, requestEnded() {} },
  });
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: proxy.fetch, websocket: proxy.websocket, idleTimeout: 120 } as never) as { port: number };
  return server.port;
}

// ---- splice: two sockets joined, with backpressure both ways (a full
// socket pauses reading from its partner until it drains).
interface Side {
  peer?: Socket<Side>;
  queue: Uint8Array[];
  /** Client side only: bytes read before the upstream connection was open. */
  head?: Uint8Array[];
}

// Buffer#slice is a view in Node and Bun: what is kept past the callback is copied.
const copy = (c: Uint8Array): Uint8Array => new Uint8Array(c);

function send(to: Socket<Side>, from: Socket<Side> | undefined, chunk: Uint8Array): void {
  if (to.data.queue.length) {
    to.data.queue.push(copy(chunk));
    return;
  }
  const n = to.write(chunk);
  if (n < chunk.length) {
    to.data.queue.push(copy(chunk.subarray(Math.max(0, n))));
    from?.pause();
  }
}

function flush(s: Socket<Side>): void {
  while (s.data.queue.length) {
    const chunk = s.data.queue[0]!;
    const n = s.write(chunk);
    if (n < chunk.length) {
      s.data.queue[0] = chunk.subarray(Math.max(0, n));
      return;
    }
    s.data.queue.shift();
  }
  s.data.peer?.resume();
}

function serveSplice(upstream: string): number {
  const [uhost, uport] = upstream.split(":") as [string, string];
  const upstreamHandlers = {
    data: (u: Socket<Side>, chunk: Uint8Array) => void (u.data.peer && send(u.data.peer, u, chunk)),
    drain: flush,
    close: (u: Socket<Side>) => void u.data.peer?.end(),
    error: (u: Socket<Side>) => void u.data.peer?.end(),
  };
  const server = Bun.listen<Side>({
    hostname: "127.0.0.1", port: 0,
    socket: {
      open(s) {
        s.data = { queue: [], head: [] };
      },
      data(s, chunk) {
        if (s.data.peer) return send(s.data.peer, s, chunk);
        s.data.head!.push(copy(chunk));
        const head = Buffer.concat(s.data.head!).toString("latin1");
        if (!head.includes("\r\n\r\n")) return;
        // A real fast path would look `Host` up here (id -> container); this one has one upstream.
        if (!/^host:/im.test(head)) return void s.end("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
        s.pause();
        void Bun.connect<Side>({
          hostname: uhost, port: Number(uport), data: { queue: [], peer: s }, socket: {
            ...upstreamHandlers,
            open(u) {
              s.data.peer = u;
              for (const c of s.data.head!) send(u, s, c);
              s.data.head = undefined;
              s.resume();
            },
          },
        }).catch(() => void s.end());
      },
      drain: flush,
      close: (s) => void s.data.peer?.end(),
      error: (s) => void s.data.peer?.end(),
    },
  });
  return server.port;
}

if (import.meta.main) {
  const [kind, upstream] = process.argv.slice(2) as [ForwarderKind, string];
  const serve = { fetch: serveFetch, module: serveModule, splice: serveSplice }[kind];
  if (!serve || !/^[\w.-]+:\d+$/.test(upstream ?? "")) {
    console.error("usage: bun scripts/bench/forwarders.ts <fetch|module|splice> <host:port>");
    process.exit(2);
  }
  console.log(`listening ${serve(upstream)}`);
}
