// watch(): the preview's status, phase and deployment progress from
// GET /v1/previews/{id}/events, as an async iterable (or a callback).
//
// Why it reconnects: the stream is long-lived and crosses proxies, load
// balancers and daemon restarts, any of which may drop it. Each connection
// starts with the current state (the daemon sends it first), so a reconnect
// loses nothing that matters for a status display. It ends when the preview
// is deleted, on abort/close, or with a PreviewdError the caller must see
// (401/403 or 404 at the first connect: retrying cannot fix those).
import { PreviewdError } from "./errors.js";
import type { Http } from "./http.js";
import { parseSse } from "./sse.js";
import type { Deployment, Preview, PreviewEvent } from "./types.js";

export interface WatchOptions {
  signal?: AbortSignal;
  /** Called for each event; with it, the watch runs by itself (no need to iterate). */
  onEvent?: (event: PreviewEvent) => void;
  /** Backoff after a dropped connection: `initialMs` (default 250), doubling up to `maxMs` (default 10 000). */
  retry?: { initialMs?: number; maxMs?: number };
  /** No byte for this long (the daemon sends a keep-alive every 15 s) means a dead connection: reconnect. Default 45 000. */
  idleTimeoutMs?: number;
  /** Told before each reconnect, with the attempt number (1, 2, ...) and why the last connection ended. */
  onReconnect?: (attempt: number, reason: unknown) => void;
}

export interface PreviewWatch extends AsyncIterable<PreviewEvent> {
  /** Settles when the watch ends: resolves on delete/abort/close, rejects with a non-retryable PreviewdError. */
  readonly done: Promise<void>;
  /** Stops the watch and its connection. */
  close(): void;
}

export function watchPreview(http: Http, id: string, o: WatchOptions = {}): PreviewWatch {
  const ctrl = new AbortController();
  const onOuterAbort = () => ctrl.abort();
  if (o.signal?.aborted) ctrl.abort();
  else o.signal?.addEventListener("abort", onOuterAbort, { once: true });

  let settle!: (err?: unknown) => void;
  const done = new Promise<void>((resolve, reject) => (settle = (err) => (err === undefined ? resolve() : reject(err))));
  done.catch(() => {}); // an unobserved failure is not an unhandled rejection; awaiting `done` still sees it

  async function* run(): AsyncGenerator<PreviewEvent> {
    let failure: unknown;
    try {
      for await (const ev of connectLoop(http, id, o, ctrl.signal)) {
        o.onEvent?.(ev);
        yield ev;
      }
    } catch (e) {
      failure = e;
      throw e;
    } finally {
      o.signal?.removeEventListener("abort", onOuterAbort);
      ctrl.abort(); // a consumer that stops early also closes the connection
      settle(failure);
    }
  }

  const gen = run();
  let taken = false;
  const take = () => {
    if (taken) throw new Error("previewd: a watch can be iterated once (it was iterated already, or onEvent consumes it)");
    taken = true;
    return gen;
  };
  if (o.onEvent) {
    const it = take();
    void (async () => {
      try {
        for await (const _ of it);
      } catch {
        // reported through `done`
      }
    })();
  }
  return { done, close: () => ctrl.abort(), [Symbol.asyncIterator]: take };
}

async function* connectLoop(http: Http, id: string, o: WatchOptions, stop: AbortSignal): AsyncGenerator<PreviewEvent> {
  const initialMs = o.retry?.initialMs ?? 250;
  const maxMs = o.retry?.maxMs ?? 10_000;
  const idleMs = o.idleTimeoutMs ?? 45_000;
  const path = `/v1/previews/${encodeURIComponent(id)}/events`;
  let connectedOnce = false;
  let attempt = 0;
  let hintMs: number | undefined;
  while (!stop.aborted) {
    const conn = new AbortController();
    const onStop = () => conn.abort();
    stop.addEventListener("abort", onStop, { once: true });
    let idle: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(() => conn.abort(), idleMs);
    };
    let reason: unknown = new Error("the event stream ended");
    try {
      const res = await http.send("GET", path, { signal: conn.signal, accept: "text/event-stream" });
      if (!res.body) throw new PreviewdError(0, "network", "The event stream has no body.");
      connectedOnce = true;
      arm();
      for await (const msg of parseSse(res.body, arm)) {
        if (msg.retry !== undefined) hintMs = msg.retry;
        const ev = toEvent(msg.event, msg.data);
        if (!ev) continue;
        attempt = 0; // this connection works: the next drop starts the backoff afresh
        yield ev;
        if (ev.type === "preview" && ev.preview.status === "deleted") return;
      }
    } catch (e) {
      if (stop.aborted) return;
      if (e instanceof PreviewdError && !retryable(e)) {
        // Gone while we were reconnecting: that is the end of the story, not an error.
        if (e.status === 404 && connectedOnce) {
          yield { type: "preview", preview: { id, status: "deleted" } as Preview };
          return;
        }
        throw e;
      }
      reason = e;
    } finally {
      clearTimeout(idle);
      stop.removeEventListener("abort", onStop);
      conn.abort();
    }
    if (stop.aborted) return;
    attempt++;
    o.onReconnect?.(attempt, reason);
    const base = Math.max(hintMs ?? 0, Math.min(maxMs, initialMs * 2 ** (attempt - 1)));
    await sleep(base * (1 + Math.random() * 0.2), stop); // jitter: many clients do not reconnect in step
  }
}

/** Network trouble and server-side hiccups are worth retrying; refusals are not. */
function retryable(e: PreviewdError): boolean {
  return e.status === 0 || e.status === 408 || e.status === 429 || e.status >= 500;
}

function toEvent(event: string, data: string): PreviewEvent | undefined {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return undefined; // not ours: ignore rather than break the stream
  }
  if (event === "preview") return { type: "preview", preview: value as Preview };
  if (event === "deployment") return { type: "deployment", deployment: value as Deployment };
  return undefined;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
