// A stand-in for Fly's edge proxy (reference §1.9-1.10): `Host: {app}.fly.dev`
// with `fly-force-instance-id: <machine id>` goes to that machine's service
// (no fallback to another machine, as the docs say of "force"). A stopped or
// suspended machine whose service has autostart is started first and the
// request is then answered, not dropped. Bodies stream both ways; WebSocket
// upgrades are relayed frame by frame. HTTP only: TLS ends before this, as it
// would at Fly's edge for the ["tls","http"] port.
import type { Server, ServerWebSocket } from "bun";
import type { FakeApp } from "./api.ts";
import { type FakeMachine, type Machines, ulid } from "./machines.ts";

const HOP_BY_HOP = ["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "host"];
const WS_HEADERS = ["sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions", "sec-websocket-protocol", "content-length"];

interface Relay {
  upstream: WebSocket;
  m: FakeMachine;
  /** Frames the machine sent before the client's upgrade completed, and the listener collecting them. */
  early: Array<string | ArrayBuffer>;
  collect: (ev: MessageEvent) => void;
}

export interface EdgeDeps {
  apps: Map<string, FakeApp>;
  machines: Machines;
  region: string;
  /** How long a request waits for its machine to start (Fly's proxy holds it too). */
  startTimeoutMs: number;
}

export function startEdge(d: EdgeDeps, hostname: string, port: number): Server<Relay> {
  const fail = (status: number, msg: string) => new Response(`${msg}\n`, { status, headers: { "fly-request-id": `${ulid()}-${d.region}` } });

  return Bun.serve<Relay>({
    hostname,
    port,
    idleTimeout: 120,
    async fetch(req, server) {
      const host = (req.headers.get("host") ?? "").replace(/:\d+$/, "").toLowerCase();
      const app = /^([a-z0-9-]+)\.fly\.dev$/.exec(host)?.[1];
      if (!app || !d.apps.has(app)) return fail(404, `no Fly app for host ${JSON.stringify(host)}`);
      // At Fly, {app}.fly.dev resolves only once the app has a public IP (docs apps-resource, networking/services).
      if (!d.apps.get(app)!.ips.some((ip) => !ip.ip.startsWith("fdaa:"))) {
        return fail(502, `app ${app} has no public IP assigned, so ${app}.fly.dev would not resolve (POST /v1/apps/${app}/ip_assignments)`);
      }
      const m = pickMachine(d, app, req.headers.get("fly-force-instance-id"));
      if (!m) return fail(404, `no machine ${req.headers.get("fly-force-instance-id") ?? ""} in app ${app}`);
      const service = m.config.services?.find((s) => s.protocol === "tcp" && s.ports?.some((p) => p.handlers?.includes("http")));
      if (!service) return fail(502, `machine ${m.id} has no service with an http handler`);
      const wasStarted = m.state === "started";
      if (!wasStarted) {
        if (m.state !== "starting" && !service.autostart) return fail(503, `machine ${m.id} is ${m.state} and its service has autostart off`);
        try {
          if (m.state !== "starting") d.machines.start(m, "fly-proxy");
        } catch (e) {
          return fail(503, (e as Error).message);
        }
        if (!(await d.machines.wait(m, ["started"], undefined, d.startTimeoutMs))) return fail(503, `machine ${m.id} did not start in time (${m.state})`);
      }
      const hostPort = m.ports.get(service.internal_port);
      if (!hostPort) return fail(502, `machine ${m.id} has no published port for ${service.internal_port}`);
      m.lastActive = Date.now();
      const deadline = Date.now() + d.startTimeoutMs;
      // After a boot the app may not listen yet; after a resume it does at once.
      if (!wasStarted) await untilListening(hostPort, deadline);
      if (req.headers.get("upgrade")?.toLowerCase() === "websocket") return relayUpgrade(req, server, m, hostPort);
      return forward(req, m, hostPort, app, d.region, deadline);
    },
    websocket: {
      open(ws: ServerWebSocket<Relay>) {
        const { upstream } = ws.data;
        upstream.removeEventListener("message", ws.data.collect);
        for (const msg of ws.data.early) ws.send(msg);
        upstream.addEventListener("message", (ev) => ws.send(ev.data as string | ArrayBuffer));
        upstream.addEventListener("close", (ev) => ws.close(closeCode(ev.code), ev.reason));
        upstream.addEventListener("error", () => ws.close(1011, "upstream error"));
      },
      message(ws, msg) {
        ws.data.m.lastActive = Date.now();
        ws.data.upstream.send(msg);
      },
      close(ws, code, reason) {
        if (ws.data.upstream.readyState <= WebSocket.OPEN) ws.data.upstream.close(closeCode(code), reason);
      },
      idleTimeout: 0,
    },
  });
}

/** The forced instance (no fallback); without one, a started machine, else one that autostart can wake. */
function pickMachine(d: EdgeDeps, app: string, forced: string | null): FakeMachine | undefined {
  const mine = [...d.machines.all.values()].filter((m) => m.app === app && m.state !== "destroyed" && m.state !== "destroying");
  if (forced) return mine.find((m) => m.id === forced);
  return mine.find((m) => m.state === "started") ?? mine.find((m) => m.config.services?.some((s) => s.autostart));
}

async function forward(req: Request, m: FakeMachine, port: number, app: string, region: string, deadline: number): Promise<Response> {
  const url = new URL(req.url);
  const headers = new Headers(req.headers);
  for (const h of HOP_BY_HOP) headers.delete(h);
  const requestId = `${ulid()}-${region}`;
  headers.set("host", `${app}.fly.dev`);
  headers.set("x-forwarded-host", `${app}.fly.dev`);
  headers.set("x-forwarded-proto", "http");
  headers.set("fly-forwarded-port", "80");
  headers.set("fly-region", region);
  headers.set("fly-request-id", requestId);
  const init = { method: req.method, headers, body: req.body, redirect: "manual", decompress: false, duplex: "half", signal: req.signal } as RequestInit;
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}${url.pathname}${url.search}`, init);
      const out = new Headers(res.headers);
      for (const h of HOP_BY_HOP) out.delete(h);
      out.set("fly-request-id", requestId);
      out.set("server", "Fly/fake");
      m.lastActive = Date.now();
      return new Response(res.body, { status: res.status, statusText: res.statusText, headers: out });
    } catch (e) {
      // A body already sent cannot be replayed; a bodiless request can wait for the app (Fly's proxy retries too).
      if (req.body || req.signal.aborted || Date.now() > deadline) {
        return new Response(`could not reach machine ${m.id}: ${(e as Error).message}\n`, { status: 502, headers: { "fly-request-id": requestId } });
      }
      await Bun.sleep(100);
    }
  }
}

/**
 * Waits until something in the container accepts on the port. Docker's
 * userland proxy accepts on 127.0.0.1 even when the app does not listen yet
 * and then closes, so "accepted and still open after 50 ms" is the test.
 */
async function untilListening(port: number, deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      let settled = false;
      const done = (v: boolean, s?: { end(): void }) => {
        if (settled) return;
        settled = true;
        s?.end();
        resolve(v);
      };
      Bun.connect({
        hostname: "127.0.0.1",
        port,
        socket: {
          open(s) {
            setTimeout(() => done(true, s), 50);
          },
          close() {
            done(false);
          },
          end() {
            done(false);
          },
          error() {
            done(false);
          },
          data() {},
        },
      }).catch(() => done(false));
    });
    if (ok) return;
    await Bun.sleep(100);
  }
}

async function relayUpgrade(req: Request, server: Server<Relay>, m: FakeMachine, port: number): Promise<Response | undefined> {
  const url = new URL(req.url);
  const protocols = (req.headers.get("sec-websocket-protocol") ?? "").split(",").map((p) => p.trim()).filter(Boolean);
  const headers: Record<string, string> = {};
  req.headers.forEach((val, k) => {
    if (!HOP_BY_HOP.includes(k) && !WS_HEADERS.includes(k)) headers[k] = val;
  });
  const upstream = new WebSocket(`ws://127.0.0.1:${port}${url.pathname}${url.search}`, { headers, protocols } as unknown as string[]);
  upstream.binaryType = "arraybuffer";
  const early: Array<string | ArrayBuffer> = [];
  const collect = (ev: MessageEvent) => void early.push(ev.data);
  upstream.addEventListener("message", collect);
  const opened = await new Promise<boolean>((resolve) => {
    upstream.addEventListener("open", () => resolve(true), { once: true });
    upstream.addEventListener("error", () => resolve(false), { once: true });
  });
  if (!opened) return new Response("machine refused the WebSocket\n", { status: 502 });
  const ok = server.upgrade(req, { data: { upstream, m, early, collect }, headers: upstream.protocol ? { "sec-websocket-protocol": upstream.protocol } : undefined });
  if (!ok) {
    upstream.close();
    return new Response("expected a WebSocket upgrade\n", { status: 400 });
  }
  return undefined;
}

const closeCode = (c: number) => (c === 1000 || (c >= 3000 && c <= 4999) || (c >= 1001 && c <= 1014 && c !== 1005 && c !== 1006) ? c : 1000);
