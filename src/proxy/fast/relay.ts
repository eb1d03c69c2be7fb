// One client connection on the public port, relayed at the byte level.
// Request heads are parsed (head.ts) to find the preview and rewrite the
// hop-by-hop and forwarding fields; bodies pass through as they came, the
// relay only tracking where each message ends (framing.ts). A request for a
// preview running on this node goes straight to its container over a pooled
// connection; any other request (a preview that must wake, a sibling's, Fly,
// the browser tier, the waking page, HTTP/1.0, unknown hosts) goes, bytes
// unchanged, to the general path (index.ts on loopback), which answers it
// as before. Requests on one connection are answered in order, one at a
// time: pipelining works, and a 1xx or an upgrade is passed on as it comes.
import type { Socket } from "bun";
import type { Logger } from "../../log.ts";
import type { ProxyDeps } from "../index.ts";
import type { InflightLimit } from "../limits.ts";
import { backgroundKey, type PollFilter } from "../../pool/polls.ts";
import { BodyEnd } from "./framing.ts";
import { field, parseRequestHead, parseResponseHead, type RequestHead, type ResponseHead } from "./head.ts";
import { flush, pending, send, type Outbox } from "./io.ts";
import { bodyTimeout, busy, refusedHead, serialize, upstreamError } from "./respond.ts";
import { clientHead, requestHead } from "./rewrite.ts";
import type { ClientConnection, Route, Routing } from "./routes.ts";
import type { Upstream, UpstreamOwner, UpstreamPool } from "./upstream.ts";

export interface RelayDeps {
  /** Where a request goes; `fastPathable` says whether the relay could take it to an app itself. */
  route(head: RequestHead, conn: ClientConnection, fastPathable: boolean): Routing;
  activity: ProxyDeps["activity"];
  /** Set unless PREVIEWD_IDLE_POLLS=count: a poll does not renew its preview's idle clock (pool/polls.ts). */
  polls?: PollFilter;
  limit: InflightLimit;
  frontSecret: string;
  observe?(seconds: number, status: number): void;
  /** A request body's allowance: this, plus a second per KiB received (mod_reqtimeout's MinRate). */
  bodyTimeoutMs: number;
  /** An idle keep-alive connection, or a request head in progress, is closed after this. */
  idleTimeoutMs: number;
  pool: UpstreamPool;
  log: Logger;
  /** Set at stop: a connection closes once its exchange in flight has ended. */
  draining?: boolean;
}

export interface ClientData extends Outbox {
  relay: ClientRelay;
}

/** Pipelined bytes held while a response is in flight before the client is paused. */
const MAX_HELD = 256 * 1024;
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS"]);
interface Exchange {
  to: { host: string; port: number };
  observe: boolean;
  /** The preview it is for (idle clock), or undefined on the general path. */
  id: string | undefined;
  /** Holds one of the preview's in-flight slots and counts as open in its idle clock (not an upgrade). */
  slot: boolean;
  /** Its slot was taken as a poll: it renews no idle clock (pool/polls.ts). */
  poll?: boolean;
  method: string;
  upgrade: boolean;
  up: Upstream | undefined;
  /** Bytes for the upstream before its connection was ready. */
  early: Uint8Array[];
  /** The rewritten head, kept for one resend when it is safe (no body, idempotent). */
  resend: Uint8Array | undefined;
  /** Where it goes and what was asked: a sibling hop's resend is signed anew from them. */
  route: Route;
  head: RequestHead;
  /** The head sent is signed: the connection it goes on is authenticated at the sibling from then on. */
  signs: boolean;
  reqBody: BodyEnd;
  res: BodyEnd | undefined;
  /** Response bytes not yet parsed as a head. */
  resBuf: Buffer | undefined;
  /** Bytes of the answer already written to the client. */
  answered: boolean;
  /** The client connection closes once this exchange is over. */
  close: boolean;
  /** The upstream connection is not fit for another request (the app said close, or broke framing). */
  upClose: boolean;
  t0: number;
  bodyStart: number;
  bodyBytes: number;
  /** Bytes waiting in `early`. */
  earlyBytes: number;
}

export class ClientRelay implements UpstreamOwner {
  private buf: Buffer | undefined;
  private ex: Exchange | undefined;
  private tunnelId: string | undefined;
  private tunnel = false;
  private closed = false;
  private ending = false;
  private paused = false;
  private upPaused = false;
  private lastTouch = 0;
  private readonly conn: ClientConnection;
  /** When the connection times out (ms epoch), 0 for never; checked by the listener's sweep. */
  deadline: number;

  constructor(
    private readonly sock: Socket<ClientData>,
    private readonly deps: RelayDeps,
  ) {
    this.deadline = Date.now() + deps.idleTimeoutMs;
    this.conn = { ip: sock.remoteAddress };
  }

  // ---- client side

  data(chunk: Buffer): void {
    if (this.tunnel) return this.toUpstream(chunk);
    if (this.ending) return;
    const fresh = !this.buf;
    this.buf = fresh ? chunk : Buffer.concat([this.buf!, chunk]);
    this.pump();
    // Pipelined bytes kept past this callback are copied, so a few bytes do not hold a whole read's buffer.
    if (fresh && this.buf && this.buf.length < chunk.length) this.buf = Buffer.from(this.buf);
  }

  /** Ends the client connection once what was written has gone out; nothing more is read. */
  private end(): void {
    this.ending = true;
    this.buf = undefined;
    this.sock.end();
  }

  drain(): void {
    if (flush(this.sock) && this.upPaused) {
      this.upPaused = false;
      this.ex?.up?.resume();
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const ex = this.ex;
    this.ex = undefined;
    if (ex) this.endExchange(ex, false);
    if (this.tunnelUp) this.deps.pool.close(this.tunnelUp);
    if (this.tunnelId) this.deps.activity.socketClosed(this.tunnelId);
  }

  /** At stop: a connection between requests is closed now, one with a request in flight is left to end. */
  closeIfIdle(): void {
    if (!this.ex && !this.tunnel) this.end();
  }

  terminate(): void {
    this.sock.terminate();
  }

  /** Called about once a second by the listener. */
  tick(now: number): void {
    if (!this.deadline || now < this.deadline || this.closed) return;
    const ex = this.ex;
    if (ex && !ex.answered && !ex.reqBody.done) return void this.fail(ex, bodyTimeout(acceptOf(ex)), true);
    this.end();
  }

  // ---- requests

  /** Reads what the client sent: the next head, or the body of the request in progress. */
  private pump(): void {
    while (this.buf && !this.closed && !this.tunnel) {
      const ex = this.ex;
      if (ex) {
        if (ex.reqBody.done) return this.holdPipelined();
        this.relayBody(ex);
        if (!ex.reqBody.done) return;
        continue;
      }
      const parsed = parseRequestHead(this.buf);
      if (parsed.kind === "incomplete") return;
      if (parsed.kind === "error") return this.refuse(parsed.status, parsed.reason);
      const rest = this.buf.length > parsed.length ? this.buf.subarray(parsed.length) : undefined;
      this.buf = rest;
      this.begin(parsed.head);
    }
  }

  private begin(head: RequestHead): void {
    const route = this.deps.route(head, this.conn, fastPathable(head));
    if ("refuse" in route) return this.refuse(route.refuse, route.reason);
    const reqBody = head.chunked ? BodyEnd.chunked() : head.contentLength > 0 ? BodyEnd.length(head.contentLength) : BodyEnd.none();
    const now = Date.now();
    const ex: Exchange = {
      to: route.to, observe: !!route.observe, id: route.id, slot: false, method: head.method, upgrade: head.upgrade !== undefined, up: undefined, early: [], resend: undefined, route, head, signs: false,
      reqBody, res: undefined, resBuf: undefined, answered: false, close: head.close, upClose: false, t0: performance.now(), bodyStart: now, bodyBytes: 0, earlyBytes: 0,
    };
    this.ex = ex;
    this.deadline = reqBody.done ? 0 : now + this.deps.bodyTimeoutMs;
    const id = route.id;
    if (id !== undefined && !ex.upgrade) {
      if (!this.deps.limit.tryAcquire(id)) return void this.fail(ex, busy(acceptOf(ex)), !reqBody.done);
      ex.slot = true;
      const a = this.deps.activity;
      ex.poll = !!a.pollStarted && !!this.deps.polls?.isPoll(id, backgroundKey(head.method, head.target, (name) => field(head, name)));
      if (ex.poll) a.pollStarted!(id);
      else a.requestStarted(id);
    }
    const to = route.to;
    const up = this.deps.pool.acquire(to.host, to.port, this);
    // A sibling hop is signed on a connection's first request only (a pooled one was signed when it was new).
    ex.signs = !!route.hop && (up instanceof Promise || !up.data.signed);
    const bytes = requestHead(head, route, this.conn.ip, this.deps.frontSecret, ex.signs);
    if (reqBody.done && IDEMPOTENT.has(head.method)) ex.resend = bytes;
    if (up instanceof Promise) {
      up.then(
        (u) => this.attached(ex, u),
        (err) => {
          if (this.ex !== ex) return;
          this.deps.log.warn({ err, id: ex.id }, "upstream connection failed");
          this.fail(ex, upstreamError(), true);
        },
      );
    } else {
      ex.up = up;
      if (ex.signs) up.data.signed = true;
    }
    this.toUpstream(bytes);
  }

  private attached(ex: Exchange, up: Upstream): void {
    if (this.ex !== ex || this.closed) return this.deps.pool.discard(up);
    ex.up = up;
    if (ex.signs) up.data.signed = true;
    for (const chunk of ex.early.splice(0)) send(up, chunk);
    ex.earlyBytes = 0;
    this.updatePause();
  }

  private relayBody(ex: Exchange): void {
    const buf = this.buf!;
    const end = ex.reqBody.feed(buf, 0);
    if (ex.reqBody.error) return this.refuse(400, ex.reqBody.error);
    const body = end < 0 ? buf : buf.subarray(0, end);
    this.buf = end < 0 || end === buf.length ? undefined : buf.subarray(end);
    ex.bodyBytes += body.length;
    this.deadline = ex.reqBody.done ? 0 : ex.bodyStart + this.deps.bodyTimeoutMs + ex.bodyBytes;
    this.toUpstream(body);
  }

  private toUpstream(bytes: Uint8Array): void {
    const up = this.tunnel ? this.tunnelUp : this.ex?.up;
    if (up) {
      if (!send(up, bytes)) this.updatePause();
    } else if (this.ex) {
      this.ex.early.push(bytes); // a view is safe to keep: see io.ts
      this.ex.earlyBytes += bytes.length;
      this.updatePause();
    }
    if (this.tunnelId) this.touch(this.tunnelId);
  }

  private holdPipelined(): void {
    this.updatePause();
  }

  /** The client is paused while its upstream cannot take more, or while it has piled up pipelined requests. */
  private updatePause(): void {
    const up = this.tunnel ? this.tunnelUp : this.ex?.up;
    const early = this.ex?.earlyBytes ?? 0;
    const full = (up ? pending(up) : early > MAX_HELD) || (this.buf?.length ?? 0) > MAX_HELD;
    if (full !== this.paused) {
      this.paused = full;
      if (full) this.sock.pause();
      else this.sock.resume();
    }
  }

  // ---- responses (UpstreamOwner)

  upstreamData(chunk: Buffer): void {
    if (this.tunnel) {
      if (!send(this.sock, chunk)) this.pauseUpstream(this.tunnelUp!);
      if (this.tunnelId) this.touch(this.tunnelId);
      return;
    }
    const ex = this.ex;
    if (!ex) return;
    const buf: Buffer = ex.resBuf ? Buffer.concat([ex.resBuf, chunk]) : chunk;
    ex.resBuf = undefined;
    // buf[from, off) goes to the client in one write: a small answer is one write, not head + body.
    let from = 0;
    let off = 0;
    while (off < buf.length) {
      if (!ex.res) {
        const parsed = parseResponseHead(buf, off);
        if (parsed.kind === "incomplete") {
          ex.resBuf = Buffer.from(buf.subarray(off));
          return this.write(buf, from, off);
        }
        if (parsed.kind === "error") {
          this.write(buf, from, off);
          this.deps.log.warn({ id: ex.id, reason: parsed.reason }, "app sent a malformed response");
          return void this.fail(ex, upstreamError(), true);
        }
        const head = parsed.head;
        const start = off;
        off += parsed.length;
        if (head.status === 101) {
          this.write(buf, from, start);
          return this.startTunnel(ex, buf.subarray(start, off), buf.subarray(off));
        }
        if (head.status < 200) continue; // 100 Continue, 103 Early Hints: passed on as they came
        // The general path times what it answers itself; the front, only what it relays to an app.
        if (ex.observe) this.deps.observe?.((performance.now() - ex.t0) / 1000, head.status);
        ex.res = responseBody(ex.method, head);
        // The client connection must close when the body runs to the upstream's close, or the request's body was not all read.
        if (ex.res.untilClose || !ex.reqBody.done) ex.close = true;
        if (head.close) ex.resend = undefined;
        const at = clientHead(buf, start, head, ex.close, ex.head.host);
        if (typeof at !== "number") {
          this.write(buf, from, start);
          this.write(at);
          from = off;
        } else if (at !== start) {
          this.write(buf, from, start);
          from = at;
        }
        ex.answered = true;
        if (head.close) ex.upClose = true;
      }
      const end = ex.res.feed(buf, off);
      if (ex.res.error) {
        this.write(buf, from, off);
        this.deps.log.warn({ id: ex.id, reason: ex.res.error }, "app sent malformed chunked framing");
        return void this.fail(ex, upstreamError(), true);
      }
      this.write(buf, from, end < 0 ? buf.length : end);
      if (end < 0) return;
      // Bytes past the response's end: the app broke framing; its connection is not reused.
      if (end < buf.length) ex.upClose = true;
      return this.finish(ex);
    }
    this.write(buf, from, off);
  }

  upstreamDrain(): void {
    const up = this.tunnel ? this.tunnelUp : this.ex?.up;
    if (up && flush(up)) this.updatePause();
  }

  upstreamClosed(): void {
    if (this.tunnel) return this.end();
    const ex = this.ex;
    if (!ex) return;
    const up = ex.up;
    ex.up = undefined;
    if (ex.res?.untilClose) return this.finish(ex, true);
    if (!ex.answered && !ex.res && !ex.resBuf && ex.resend && up?.data.reused) {
      // A pooled connection the app closed as it was reused (as nginx's proxy_next_upstream): once more, on a fresh one.
      // On a fresh connection a sibling hop is signed again.
      const bytes = ex.route.hop ? requestHead(ex.head, ex.route, this.conn.ip, this.deps.frontSecret, true) : ex.resend;
      ex.signs = !!ex.route.hop;
      ex.resend = undefined;
      this.deps.pool.connect(ex.to.host, ex.to.port, this).then((u) => this.attached(ex, u), () => this.fail(ex, upstreamError(), true));
      ex.early.push(bytes);
      ex.earlyBytes += bytes.length;
      return;
    }
    if (ex.answered) return this.end(); // cut mid-response: the client sees a short body
    this.fail(ex, upstreamError(), true);
  }

  private startTunnel(ex: Exchange, raw: Uint8Array, rest: Uint8Array): void {
    if (!ex.upgrade) return void this.fail(ex, upstreamError(), true);
    this.write(raw);
    this.tunnel = true;
    this.tunnelUp = ex.up;
    this.ex = undefined;
    this.deadline = 0;
    if (ex.id) {
      this.tunnelId = ex.id;
      this.deps.activity.socketOpened(ex.id);
    }
    if (rest.length) this.write(rest);
    const held = this.buf;
    this.buf = undefined;
    if (held?.length) this.toUpstream(held);
  }

  private tunnelUp: Upstream | undefined;

  // ---- ends

  private finish(ex: Exchange, upstreamGone = false): void {
    if (this.ex !== ex) return;
    this.ex = undefined;
    this.endExchange(ex, !upstreamGone && !ex.upClose);
    if (ex.close || this.deps.draining) return this.end();
    this.deadline = Date.now() + this.deps.idleTimeoutMs;
    this.updatePause();
    if (this.buf) this.pump();
  }

  /** Gives the upstream back (when it ended cleanly) and releases the preview's slot. */
  private endExchange(ex: Exchange, reusable: boolean): void {
    if (ex.slot) {
      ex.slot = false;
      this.deps.limit.release(ex.id!);
      if (ex.poll) this.deps.activity.pollEnded?.(ex.id!);
      else this.deps.activity.requestEnded(ex.id!);
    }
    const up = ex.up;
    ex.up = undefined;
    if (!up) return;
    if (this.upPaused) {
      this.upPaused = false;
      up.resume();
    }
    if (reusable && ex.reqBody.done) this.deps.pool.release(up);
    else this.deps.pool.discard(up);
  }

  /** Answers with one of the front's own responses instead of the app's, when nothing of the app's was sent yet. */
  private fail(ex: Exchange, res: Response, close: boolean): void {
    if (this.ex !== ex) return;
    if (ex.answered) return this.end();
    ex.answered = true;
    this.endExchange(ex, false);
    if (close) {
      this.ending = true;
      this.sock.pause();
    }
    void serialize(res, close).then((bytes) => {
      if (this.closed) return;
      this.write(bytes);
      if (close) return this.end();
      this.finish(ex, true);
    });
  }

  private refuse(status: number, reason: string): void {
    const ex = this.ex;
    this.buf = undefined;
    this.sock.pause(); // nothing more is read from a connection whose framing is lost
    if (ex) return this.fail(ex, refusedHead(status, reason), true);
    this.ending = true;
    void serialize(refusedHead(status, reason), true).then((bytes) => {
      if (this.closed) return;
      this.write(bytes);
      this.end();
    });
  }

  /** Writes `bytes[from, end)` to the client; its upstream is paused while the client cannot take more. */
  private write(bytes: Uint8Array, from = 0, end = bytes.length): void {
    if (end > from && !send(this.sock, bytes, from, end)) {
      const up = this.tunnel ? this.tunnelUp : this.ex?.up;
      if (up) this.pauseUpstream(up);
    }
  }

  private pauseUpstream(up: Upstream): void {
    if (this.upPaused) return;
    this.upPaused = true;
    up.pause();
  }

  /** An open WebSocket keeps its preview awake: renewed at most once a second. */
  private touch(id: string): void {
    const now = Date.now();
    if (now - this.lastTouch < 1000) return;
    this.lastTouch = now;
    this.deps.activity.touch(id);
  }
}

/** The client's Accept field, for the front's own answers only (not read on the relay path). */
const acceptOf = (ex: Exchange) => field(ex.head, "accept") ?? "";

/** What the fast path relays itself: HTTP/1.1 in origin form, framing it understands, plain or WebSocket. */
export function fastPathable(head: RequestHead): boolean {
  if (head.minor !== 1 || head.otherCoding || head.target[0] !== "/" || head.method === "CONNECT") return false;
  if (head.upgrade !== undefined && head.upgrade !== "websocket") return false;
  return !head.lower.includes("\r\nx-previewd-status:"); // the waking page's poll: the general path's
}

function responseBody(method: string, head: ResponseHead): BodyEnd {
  if (method === "HEAD" || head.status === 204 || head.status === 304) return BodyEnd.none();
  if (head.chunked) return BodyEnd.chunked();
  if (head.contentLength >= 0) return BodyEnd.length(head.contentLength);
  return BodyEnd.untilClose();
}
