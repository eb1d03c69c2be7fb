// The waking page: a browser navigation to a preview that is not answering
// yet (stopped, waking, installing, starting) is held ~1 s like any request;
// if the app still is not up, the browser gets a small page that shows the
// phase and reloads itself once the app answers, instead of a tab spinning
// on a blank page for many seconds. The wake goes on behind the page.
//
// Only navigations get it: an API call, a fetch() (Sec-Fetch-Mode cors,
// no-cors, same-origin) or a WebSocket upgrade is held and answered as
// before, never given HTML it did not ask for. A navigation is a GET with
// `Sec-Fetch-Mode: navigate`, or, from a client that sends no Sec-Fetch-*
// (older browsers, curl), one whose Accept names text/html. A POST form
// submission is held too: a page that reloads would send the form again.
//
// The page polls `/__previewd/status` on the preview's own host, answered
// by the proxy (never the app) only when the request carries the
// `X-Previewd-Status` header, so an app's own path of that name is untouched.
import type { Logger } from "../log.ts";

export const STATUS_PATH = "/__previewd/status";
export const STATUS_HEADER = "x-previewd-status";

export interface PreviewState {
  status: string;
  phase?: string;
}

export interface WakingOptions {
  /** Status and phase of a preview (throws or undefined when unknown). Without it there is no waking page. */
  state?: (id: string) => Promise<PreviewState | undefined>;
  /** How long a navigation is held before it gets the page (ms). */
  afterMs?: number;
  log: Logger;
}

/** Seconds a client may wait before it tries again (RFC 9110 §10.2.3); the page's script polls faster. */
const RETRY_AFTER_S = 2;

export function isNavigation(req: Request): boolean {
  if (req.method !== "GET" || req.headers.has("upgrade")) return false;
  const mode = req.headers.get("sec-fetch-mode");
  if (mode !== null) return mode === "navigate";
  return (req.headers.get("accept") ?? "").includes("text/html");
}

export function createWaking(o: WakingOptions) {
  const afterMs = o.afterMs ?? 1000;
  const state = async (id: string) => {
    try {
      return await o.state!(id);
    } catch {
      return undefined;
    }
  };

  return {
    /** The page's poll, answered here: `{status, phase}` and nothing more (no node, no database). */
    statusRequest(req: Request, id: string): Promise<Response> | undefined {
      if (!o.state || !req.headers.has(STATUS_HEADER)) return undefined;
      if (new URL(req.url).pathname !== STATUS_PATH) return undefined;
      return state(id).then((s) =>
        Response.json(s ? { status: s.status, ...(s.phase ? { phase: s.phase } : {}) } : { status: "deleted" }, {
          status: s ? 200 : 404,
          headers: { "cache-control": "no-store" },
        }),
      );
    },

    /**
     * `pending` (the proxy's resolve: wake, wait for the app) as it is; for a
     * navigation still waiting after `afterMs`, the waking page instead, if
     * the preview is indeed on its way up (else the wait goes on and the
     * usual answer, 404 or the app's, follows).
     */
    async hold<T>(req: Request, id: string, pending: Promise<T>): Promise<T | Response> {
      if (!o.state || !isNavigation(req)) return pending;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<"late">((res) => (timer = setTimeout(() => res("late"), afterMs)));
      const first = await Promise.race([pending, late]).finally(() => clearTimeout(timer));
      if (first !== "late") return first as T;
      const s = await state(id);
      if (!s || s.status === "running" || s.status === "failed" || s.status === "deleted") return pending;
      // The wake goes on without this request: its failure is logged, not thrown at no one.
      pending.catch((err: unknown) => o.log.warn({ err, id }, "could not wake preview"));
      return wakingPage(s);
    },
  };
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const STATUS_TEXT: Record<string, string> = { stopped: "waking up: the app restarts", suspended: "waking up", installing: "installing dependencies" };

/** What the page says the preview is doing: its phase when the orchestrator names one. */
export const phaseLine = (s: PreviewState): string => s.phase || STATUS_TEXT[s.status] || "starting the app";

export function wakingPage(s: PreviewState): Response {
  const phase = esc(phaseLine(s));
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>Starting preview…</title>
<meta name="viewport" content="width=device-width,initial-scale=1">
<noscript><meta http-equiv="refresh" content="${RETRY_AFTER_S}"></noscript>
<style>body{font:16px system-ui,sans-serif;max-width:36em;margin:15vh auto;padding:0 1em;color:#333}
.s{display:inline-block;width:.8em;height:.8em;border:2px solid #bbb;border-top-color:#333;border-radius:50%;animation:r 1s linear infinite;margin-right:.5em}
@keyframes r{to{transform:rotate(360deg)}}#p{color:#555}</style></head>
<body><h1><span class="s" id="s"></span>Starting this preview</h1>
<p id="p" data-status="${esc(s.status)}">${phase}…</p>
<p><small>This page reloads by itself when the app answers.</small></p>
<script>
(function () {
  var p = document.getElementById("p");
  function stop(text) { p.textContent = text; document.getElementById("s").style.display = "none"; }
  function poll() {
    fetch(${JSON.stringify(STATUS_PATH)}, { headers: { ${JSON.stringify(STATUS_HEADER)}: "1" }, cache: "no-store" })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        if (s.status === "running") return location.reload();
        if (s.status === "failed") return stop("This preview failed to start. Its logs are available from the control API.");
        if (s.status === "deleted") return stop("This preview no longer exists.");
        p.dataset.status = s.status;
        p.textContent = (s.phase || ${JSON.stringify(STATUS_TEXT)}[s.status] || "starting the app") + "…";
        setTimeout(poll, 700);
      })
      .catch(function () { setTimeout(poll, 1500); });
  }
  setTimeout(poll, 500);
})();
</script></body></html>`;
  return new Response(html, {
    status: 503,
    headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store", "retry-after": String(RETRY_AFTER_S) },
  });
}
