// The WebContainer runtime's HTTP side (PREVIEWD_BROWSER_RUNTIME=webcontainer).
// A page navigation to a browser preview's URL gets the launcher page,
// which boots StackBlitz's WebContainer in the visitor's browser; the
// launcher's own requests are under /__previewd/. `?runtime=static` (where
// the launcher falls back to) and every non-navigation request (the static
// build's assets) are left to the static runtime.
//
// Isolation: the page is sent with COOP same-origin + COEP (credentialless
// by default) so it is crossOriginIsolated, as boot() requires, and with
// CORP cross-origin so an isolated host page may embed it; its assets are
// CORP same-origin.
import type { Logger } from "../log.ts";
import type { PreviewStore } from "../orchestrator/ports.ts";
import type { FileMap, PreviewRecord } from "../types.ts";
import type { LauncherConfig } from "./launcher-client/machine.ts";
import { diffFiles, toWireTree } from "./launcher-client/tree.ts";

export interface LauncherSettings {
  coep: "credentialless" | "require-corp";
  bootTimeoutMs: number;
  /** StackBlitz's commercial key; sent to the page (configureAPIKey runs in the browser). */
  apiKey?: string;
  /** StackBlitz Enterprise origin (WEBCONTAINER_API_IFRAME_URL). */
  origin?: string;
}

export interface LauncherOptions extends LauncherSettings {
  store: Pick<PreviewStore, "files">;
  log: Logger;
  /** How long a failure is shown before the page turns to the static build. */
  fallbackDelayMs?: number;
  /** How often an open events stream looks for changes made through another node. */
  pollMs?: number;
}

const SSE_LIFETIME_MS = 100_000; // under the proxy's 120 s idle cap; EventSource reconnects by itself
const SSE_HEARTBEAT_MS = 15_000;
const MAX_REPORT_BYTES = 8192;

export class Launcher {
  private readonly watches = new Map<string, Watch>();
  private script?: Promise<{ js: string; etag: string }>;

  constructor(private readonly o: LauncherOptions) {}

  /** The launcher's answer to this request, or undefined when the static runtime answers it. */
  handle(r: PreviewRecord, req: Request): Promise<Response> | undefined {
    const url = new URL(req.url, "http://x");
    if (url.pathname.startsWith("/__previewd/")) return this.asset(r, req, url.pathname.slice("/__previewd/".length));
    if (req.method === "GET" && isNavigation(req) && url.searchParams.get("runtime") !== "static") return Promise.resolve(this.page());
    return undefined;
  }

  /** The preview's files changed on this node (a PATCH): tell its open pages now rather than at the next poll. */
  changed(id: string): void {
    void this.watches.get(id)?.check();
  }

  stop(): void {
    for (const w of this.watches.values()) w.close();
    this.watches.clear();
  }

  private page(): Response {
    const config: LauncherConfig & { fallbackDelayMs: number } = {
      coep: this.o.coep,
      bootTimeoutMs: this.o.bootTimeoutMs,
      ...(this.o.apiKey ? { apiKey: this.o.apiKey } : {}),
      ...(this.o.origin ? { origin: this.o.origin } : {}),
      fallbackDelayMs: this.o.fallbackDelayMs ?? 3000,
    };
    // "<" escaped: the JSON sits inside a <script> element.
    const json = JSON.stringify(config).replace(/</g, "\\u003c");
    return new Response(launcherHtml(json), {
      headers: {
        "content-type": "text/html; charset=utf-8",
        "cache-control": "no-store",
        "cross-origin-opener-policy": "same-origin",
        "cross-origin-embedder-policy": this.o.coep,
        "cross-origin-resource-policy": "cross-origin",
        "x-content-type-options": "nosniff",
      },
    });
  }

  private async asset(r: PreviewRecord, req: Request, name: string): Promise<Response> {
    const own = { "cross-origin-resource-policy": "same-origin", "x-content-type-options": "nosniff" };
    if (name === "launcher.js" && req.method === "GET") {
      const { js, etag } = await (this.script ??= loadScript());
      const headers = { ...own, "content-type": "text/javascript; charset=utf-8", "cache-control": "no-cache", etag };
      if (req.headers.get("if-none-match") === etag) return new Response(null, { status: 304, headers });
      return new Response(js, { headers });
    }
    if (name === "files" && req.method === "GET") {
      const files = await this.o.store.files(r.id);
      return Response.json(toWireTree(files), { headers: { ...own, "cache-control": "no-store", "x-previewd-digest": digest(files) } });
    }
    if (name === "events" && req.method === "GET") return this.events(r.id, req, own);
    if (name === "report" && req.method === "POST") {
      const text = (await req.text()).slice(0, MAX_REPORT_BYTES);
      let report: { state?: unknown; detail?: unknown } = {};
      try {
        report = JSON.parse(text) as typeof report;
      } catch {
        return new Response("Bad Request", { status: 400, headers: own });
      }
      this.o.log.info({ id: r.id, state: String(report.state), detail: typeof report.detail === "string" ? report.detail : undefined }, "webcontainer launcher");
      return new Response(null, { status: 204, headers: own });
    }
    return new Response("Not Found", { status: 404, headers: { ...own, "content-type": "text/plain; charset=utf-8" } });
  }

  /** Server-sent events: `hello` with the current digest, then a `change` per new version of the files. */
  private async events(id: string, req: Request, own: Record<string, string>): Promise<Response> {
    let w = this.watches.get(id);
    if (!w) {
      w = new Watch(id, this.o.store, this.o.pollMs ?? 3000, () => this.watches.delete(id));
      this.watches.set(id, w);
    }
    const watch = w;
    await watch.ready;
    const enc = new TextEncoder();
    let stop = () => {};
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        const send = (event: string, data: unknown) => c.enqueue(enc.encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`));
        c.enqueue(enc.encode("retry: 1000\n\n"));
        send("hello", { digest: watch.digest });
        const off = watch.listen(send);
        const beat = setInterval(() => c.enqueue(enc.encode(": keep-alive\n\n")), SSE_HEARTBEAT_MS);
        const end = setTimeout(() => stop(), SSE_LIFETIME_MS);
        stop = () => {
          stop = () => {};
          off();
          clearInterval(beat);
          clearTimeout(end);
          try {
            c.close();
          } catch {
            // already closed by the client going away
          }
        };
        req.signal?.addEventListener("abort", () => stop());
      },
      cancel() {
        stop();
      },
    });
    return new Response(body, { headers: { ...own, "content-type": "text/event-stream", "cache-control": "no-store" } });
  }
}

/** A page load, not a script's fetch: the static runtime keeps answering fetch() and assets. */
function isNavigation(req: Request): boolean {
  const dest = req.headers.get("sec-fetch-dest");
  if (dest) return dest === "document" || dest === "iframe";
  return req.headers.get("sec-fetch-mode") === "navigate" || (req.headers.get("accept") ?? "").includes("text/html");
}

async function loadScript(): Promise<{ js: string; etag: string }> {
  const { LAUNCHER_JS } = await import("./launcher-bundle.ts");
  return { js: LAUNCHER_JS, etag: `"${Bun.hash(LAUNCHER_JS).toString(36)}"` };
}

/** A version name for a file set: equal sets, equal digests. */
export function digest(files: FileMap): string {
  const entries = Object.keys(files).sort().map((p) => [p, files[p]]);
  return Bun.hash(JSON.stringify(entries)).toString(36);
}

/**
 * One per preview with open event streams on this node: holds the files last
 * seen, reads them again when told (a PATCH here) or every pollMs (a PATCH
 * through another node), and sends each listener the difference. Closed with
 * its last listener.
 */
class Watch {
  readonly ready: Promise<void>;
  digest = "";
  private files: FileMap = {};
  private readonly listeners = new Set<(event: string, data: unknown) => void>();
  private readonly timer: ReturnType<typeof setInterval>;
  private running?: Promise<void>;
  private again = false;

  constructor(private readonly id: string, private readonly store: Pick<PreviewStore, "files">, pollMs: number, private readonly onClose: () => void) {
    // Unreadable now: digest "" makes every page resync on hello, and the next poll catches up.
    this.ready = this.store.files(id).then(
      (f) => {
        this.files = f;
        this.digest = digest(f);
      },
      () => {},
    );
    this.timer = setInterval(() => void this.check(), pollMs);
  }

  listen(fn: (event: string, data: unknown) => void): () => void {
    this.listeners.add(fn);
    return () => {
      this.listeners.delete(fn);
      if (this.listeners.size === 0) this.close();
    };
  }

  /** Reads the files again; a check asked for while one runs runs once more after it. */
  check(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        await this.ready;
        do {
          this.again = false;
          const next = await this.store.files(this.id);
          const d = digest(next);
          if (d === this.digest) continue;
          const change = { from: this.digest, digest: d, ...diffFiles(this.files, next) };
          this.files = next;
          this.digest = d;
          for (const fn of this.listeners) fn("change", change);
        } while (this.again);
      } catch {
        // The store did not answer: the next poll tries again.
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  close(): void {
    clearInterval(this.timer);
    this.onClose();
  }
}

function launcherHtml(configJson: string): string {
  return `<!doctype html>
<html lang="en" data-state="loading">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Starting preview…</title>
<style>
  html, body { margin: 0; height: 100%; font: 15px/1.5 system-ui, sans-serif; }
  #status { max-width: 46rem; margin: 12vh auto; padding: 0 1.5rem; }
  #detail { white-space: pre-wrap; max-height: 50vh; overflow: auto; background: #f4f4f5; padding: .75rem; border-radius: 6px; }
  #detail:empty { display: none; }
  #app { position: fixed; inset: 0; width: 100%; height: 100%; border: 0; }
</style>
<script id="previewd-launcher-config" type="application/json">${configJson}</script>
</head>
<body>
<main id="status">
  <h1 id="state">Loading the preview launcher…</h1>
  <pre id="detail"></pre>
  <p id="actions"><a id="static-link" href="?runtime=static">Show the static build</a></p>
  <noscript>JavaScript is off: <a href="?runtime=static">show the static build</a>.</noscript>
</main>
<script type="module" src="/__previewd/launcher.js"></script>
</body>
</html>
`;
}
