// The public listener: `Host: {id}.{domain}` -> wherever the preview runs.
// Hono routes it, forward.ts streams it (hop-by-hop headers per RFC 9110
// §7.6.1), and WebSocket upgrades are relayed. Each request holds a slot of
// its preview's limit (limits.ts) and keeps it awake until its response has
// ended (body.ts); README.md lists what this path passes on and what not.
import { Hono } from "hono";
import type { Server } from "bun";
import type { Logger } from "../log.ts";
import { trackResponse, withDeadline } from "./body.ts";
import { backgroundKey, type PollFilter } from "../pool/polls.ts";
import { cookieHost, hostOnlyHeaders } from "./cookies.ts";
import { forward } from "./forward.ts";
import { forwardedHeaders, FRONT_CLIENT_HEADER, FRONT_SECRET_HEADER } from "./forwarded.ts";
import { previewIdFromHost } from "./host.ts";
import { InflightLimit, RETRY_AFTER_S, type SharedCounters } from "./limits.ts";
import { NodeFencedError } from "../orchestrator/fencing.ts";
import { bodyTimeoutPage, busyPage, isolatedPage, notFoundPage, upstreamErrorPage } from "./pages.ts";
import { createWaking, type PreviewState } from "./waking.ts";
import { relayHandler, relayUpgrade, type RelayData } from "./websocket.ts";

export interface ProxyTarget {
  host: string;
  port: number;
  /** Extra request headers (a sibling hop carries its marker and signature; Fly's edge the app's Host and the machine). */
  headers?: Record<string, string>;
  /** TLS to the target (Fly's edge at https://{app}.fly.dev). */
  tls?: boolean;
  /** Answered here, not forwarded (a browser-tier preview's built site). */
  respond?: (req: Request) => Promise<Response>;
}

export interface ProxyDeps {
  domain: string;
  log: Logger;
  /** Synchronous fast path: a running preview on this node. Renews its idle clock. */
  lookup(id: string): ProxyTarget | undefined;
  /** Slow path: wakes, waits for a starting app, or finds the node that runs it. */
  resolve(id: string, host: string): Promise<ProxyTarget | undefined>;
  activity: {
    touch(id: string): void;
    socketOpened(id: string): void;
    socketClosed(id: string): void;
    requestStarted(id: string): void;
    requestEnded(id: string): void;
    /** A poll (pool/polls.ts): open while in flight, renewing nothing (a sink without them counts polls as requests). */
    pollStarted?(id: string): void;
    pollEnded?(id: string): void;
  };
  /** Unless PREVIEWD_IDLE_POLLS=count: polls do not renew a preview's idle clock (pool/polls.ts). */
  polls?: PollFilter;
  /** Requests in flight to one preview at a time (PREVIEWD_PREVIEW_MAX_INFLIGHT); past it: 503. */
  maxInflight?: number;
  /** The limit's counters in shared memory, when front threads share the public port (fast/shared-limit.ts). */
  sharedInflight?: SharedCounters;
  /** Seconds a client has for its request body, plus one per KiB (PREVIEWD_CLIENT_BODY_TIMEOUT); past it: 408. */
  bodyTimeoutS?: number;
  /** The listener's Bun.serve idleTimeout, restored on a connection once its request is over. */
  idleTimeoutS?: number;
  /** The preview host a request is for; by default its Host header (the peer listener passes the signed one). */
  hostOf?: (req: Request) => string | null;
  /**
   * Whether the X-Forwarded-* / Forwarded headers a request arrives with may
   * be kept (a signed sibling hop, a configured TLS terminator). Otherwise
   * they are replaced: apps build links (password resets) from them.
   */
  trustsForwarded?: (clientIp: string | undefined) => boolean;
  /** A preview's status and phase, for the waking page a browser gets while it starts (waking.ts); unset: none. */
  wakingState?: (id: string) => Promise<PreviewState | undefined>;
  /**
   * Set when this path sits behind the byte-level front (fast/): a request
   * carrying this secret came from it, and its client address is the one
   * the front names (the connection itself is the front's, on loopback).
   */
  frontSecret?: string;
  /**
   * Access to private previews and share links (access/gate.ts), asked before
   * anything else: a Response stops the request there (401, a share link's
   * redirect). Unset on the peer listener: the entry node decided (access/index.ts).
   */
  access?: { check(req: Request, id: string, host: string): Promise<Response | undefined> };
  /** Metrics: seconds from a request's arrival to its response headers (a held wake included), and its status. */
  observe?: (seconds: number, status: number) => void;
}

type Env = { Bindings: Server<RelayData> };

/** The proxy listener's idle timeout (seconds): keep-alive connections and request heads. */
export const PROXY_IDLE_TIMEOUT_S = 120;

export function createProxy(deps: ProxyDeps) {
  const app = new Hono<Env>();
  const log = deps.log.child({ mod: "proxy" });
  const hostOf = deps.hostOf ?? ((req: Request) => req.headers.get("host"));
  const limit = new InflightLimit(deps.maxInflight ?? 64, deps.sharedInflight);
  /** A background request repeating itself (pool/polls.ts): it does not renew the idle clock. */
  const isPoll = (id: string, req: Request, path: string) => !!deps.polls?.isPoll(id, backgroundKey(req.method, path, (name) => req.headers.get(name) ?? undefined));
  const asleep = async (id: string) => {
    try {
      const status = (await deps.wakingState?.(id))?.status;
      return status === "suspended" || status === "stopped";
    } catch {
      return false; // not known here: the wake path answers as before
    }
  };
  const bodyGraceMs = (deps.bodyTimeoutS ?? 30) * 1000;
  const idleTimeoutS = deps.idleTimeoutS ?? PROXY_IDLE_TIMEOUT_S;
  const waking = createWaking({ state: deps.wakingState, log });
  const fromFront = (req: Request) => !!deps.frontSecret && req.headers.get(FRONT_SECRET_HEADER) === deps.frontSecret;

  app.all("*", async (c) => {
    const req = c.req.raw;
    const host = hostOf(req);
    const id = previewIdFromHost(host, deps.domain);
    if (!id) return notFoundPage();
    if (deps.access) {
      const stop = await deps.access.check(req, id, host ?? "");
      if (stop) return stop;
    }
    const status = waking.statusRequest(req, id);
    if (status) return status;
    let target = deps.lookup(id);
    // Counted once per request, here: whether it only repeats a background request (pool/polls.ts).
    const poll = !!deps.polls && !!deps.activity.pollStarted && isPoll(id, req, new URL(req.url).pathname);
    // Asleep, a poll does not wake it (a leaked poller would keep it awake for ever); a page load does.
    if (!target && poll && (await asleep(id))) return pollWhileAsleep();
    if (!target) {
      try {
        // A browser navigation still waiting after ~1 s gets the waking page; the wake goes on.
        const held = await waking.hold(req, id, deps.resolve(id, host ?? ""));
        if (held instanceof Response) return held;
        target = held;
      } catch (err) {
        if (err instanceof NodeFencedError) return isolatedPage(req, RETRY_AFTER_S);
        log.warn({ err, id }, "could not wake preview");
        return upstreamErrorPage();
      }
    }
    if (!target) return notFoundPage();
    if (target.respond) {
      // Files served by this node (the browser tier): a poll of them renews nothing either.
      if (!poll) deps.activity.touch(id);
      const res = await target.respond(req);
      hostOnlyHeaders(res.headers, cookieHost(host));
      return res;
    }

    // req.url is absolute (http://host/path?query); the path starts at the first "/" after the scheme.
    const path = req.url.slice(req.url.indexOf("/", req.url.indexOf("//") + 2));
    const clientIp = fromFront(req) ? req.headers.get(FRONT_CLIENT_HEADER) ?? undefined : c.env?.requestIP?.(req)?.address;
    const forwarded = forwardedHeaders((name) => req.headers.get(name), clientIp, deps.trustsForwarded?.(clientIp) ?? false);
    if (req.headers.get("upgrade")?.toLowerCase() === "websocket" && c.env) {
      const wsUrl = `${target.tls ? "wss" : "ws"}://${target.host}:${target.port}${path}`;
      const res = await relayUpgrade(req, c.env, wsUrl, {
        previewId: id,
        onOpen: (pid) => deps.activity.socketOpened(pid),
        onClose: (pid) => deps.activity.socketClosed(pid),
        onMessage: (pid) => deps.activity.touch(pid),
      }, { ...forwarded, ...target.headers });
      return res ?? new Response(null);
    }
    if (!limit.tryAcquire(id)) return busyPage(req, RETRY_AFTER_S);
    const a = deps.activity;
    if (poll) a.pollStarted!(id);
    else a.requestStarted(id);
    const server = c.env;
    // Bun.serve's idleTimeout counts from the request's start whatever flows
    // (an SSE stream, an upload in progress are cut at 120 s: measured on Bun
    // 1.4.5), so it is off while the app's response is in flight, and back on
    // before its last byte (set after the response, it no longer applies).
    setIdleTimeout(server, req, 0);
    const deadline = req.body ? withDeadline(req.body, bodyGraceMs) : undefined;
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      deadline?.stop();
      limit.release(id);
      if (poll) a.pollEnded?.(id);
      else a.requestEnded(id);
      setIdleTimeout(server, req, idleTimeoutS);
    };
    try {
      const res = await forward(req, `${target.tls ? "https" : "http"}://${target.host}:${target.port}${path}`, { ...forwarded, ...target.headers }, deadline?.body, cookieHost(host));
      return trackResponse(res, end);
    } catch (err) {
      end();
      if (deadline?.expired) return bodyTimeoutPage(req);
      if (req.signal.aborted) return new Response(null, { status: 499 });
      log.warn({ err, id }, "upstream request failed");
      return upstreamErrorPage();
    }
  });

  // Timed around the whole handler, so every way out (404, 503, 502, a woken
  // preview's answer) is counted; a streamed body's own duration is not.
  const observe = deps.observe;
  const fetch: typeof app.fetch = observe
    ? async (req, ...rest) => {
        const t0 = performance.now();
        const res = await app.fetch(req, ...rest);
        observe((performance.now() - t0) / 1000, res.status);
        return res;
      }
    : app.fetch;
  return { app, fetch, websocket: relayHandler, limit };
}

/** Sets a connection's idle timeout; a no-op outside Bun.serve (tests calling fetch) or once the request is gone. */
function setIdleTimeout(server: Server<RelayData> | undefined, req: Request, seconds: number): void {
  try {
    server?.timeout(req, seconds);
  } catch {}
}

/** A poll's answer while its preview sleeps: try later; nothing was woken. */
function pollWhileAsleep(): Response {
  return new Response("This preview is asleep: a repeated background request does not wake it (a page load does).\n", {
    status: 503,
    headers: { "retry-after": "30", "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" },
  });
}
