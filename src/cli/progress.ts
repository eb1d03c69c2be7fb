// `previewd create DIR`: follows a new preview through installing and
// starting until it runs (exit 0, its URL on the last line) or fails (exit 1,
// the reason on stderr). Same display as deploy.ts: on a terminal the current
// phase is one line redrawn with a spinner and its elapsed time, finished
// phases stay as ✓ lines; piped, each change is one plain line; --json
// prints the final preview object alone.
//
// Changes come from GET /v1/previews/{id}/events (SSE, one event per status
// or phase change); if that stream is unavailable or ends early (an older
// daemon, a proxy that buffers, a daemon restart), the preview is polled.
import { parseSse } from "../../sdk/src/sse.ts";
import { CliError } from "./args.ts";
import type { Api } from "./client.ts";

export interface PreviewLike {
  id: string;
  url: string;
  status: string;
  phase?: string;
  tier?: string;
  node?: string;
  error?: string;
}

export interface ProgressOptions {
  json: boolean;
  tty: boolean;
  write(s: string): void;
  writeErr(s: string): void;
  /** Poll interval when the event stream is not there (ms). */
  pollMs?: number;
}

const SPIN = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
const FINAL = new Set(["running", "failed", "deleted"]);
const STATUS_TEXT: Record<string, string> = {
  installing: "installing dependencies",
  starting: "starting the app",
  suspended: "suspended",
  stopped: "stopped",
};

/** The words shown for where a preview is: its phase when the daemon says one, else its status. */
export const phaseText = (p: PreviewLike) => p.phase || STATUS_TEXT[p.status] || p.status;

export async function followPreview(api: Api, first: PreviewLike, o: ProgressOptions): Promise<number> {
  const show = o.json ? undefined : display(o);
  show?.header(first);
  let p = first;
  try {
    for await (const next of updates(api, first, o.pollMs ?? 500)) {
      p = next;
      show?.update(p);
      if (FINAL.has(p.status)) break;
    }
  } finally {
    show?.stop();
  }
  if (o.json) o.write(JSON.stringify(p) + "\n");
  else if (p.status === "running") o.write(`running: ${p.url}\n`);
  if (p.status === "running") return 0;
  if (!o.json) {
    const why = p.status === "deleted" ? "it was deleted" : (p.error || p.phase || "no reason given").split("\n")[0];
    o.writeErr(`previewd create: preview ${p.id} failed: ${why} (see: previewd logs ${p.id})\n`);
  }
  return 1;
}

/** Each new state of the preview: from its event stream while that lasts, then by polling. */
async function* updates(api: Api, first: PreviewLike, pollMs: number): AsyncGenerator<PreviewLike> {
  if (FINAL.has(first.status)) return yield first;
  try {
    const res = await api(`/v1/previews/${first.id}/events`, { headers: { accept: "text/event-stream" } });
    if (res.ok && res.body && (res.headers.get("content-type") ?? "").includes("text/event-stream")) {
      for await (const m of parseSse(res.body)) {
        if (m.event !== "preview") continue;
        const p = JSON.parse(m.data) as PreviewLike;
        yield p;
        if (FINAL.has(p.status)) return;
      }
    } else {
      await res.body?.cancel();
    }
  } catch (e) {
    if (e instanceof CliError) throw e; // the daemon is unreachable: polling would not do better
  }
  for (;;) {
    await Bun.sleep(pollMs);
    const res = await api(`/v1/previews/${first.id}`);
    if (res.status === 404) return yield { ...first, status: "deleted", phase: undefined };
    if (!res.ok) throw new CliError(`the daemon answered HTTP ${res.status} while following preview ${first.id}`);
    const p = (await res.json()) as PreviewLike;
    yield p;
    if (FINAL.has(p.status)) return;
  }
}

/** The human display: plain lines when piped, a redrawn spinner line on a terminal. */
function display(o: ProgressOptions) {
  let line = "";
  let since = Date.now();
  let spin = 0;
  const redraw = () => o.write(`\r\x1b[2K${SPIN[spin++ % SPIN.length]} ${line} ${Math.floor((Date.now() - since) / 1000)}s`);
  // The spinner turns between events too: a long `npm ci` sends none for a while.
  const timer = o.tty ? setInterval(() => line && redraw(), 100) : undefined;
  return {
    header(p: PreviewLike) {
      const where = [p.tier, p.node && p.node !== p.tier ? `on ${p.node}` : ""].filter(Boolean).join(" ");
      o.write(`preview ${p.id} created${where ? ` (${where})` : ""}\n`);
    },
    update(p: PreviewLike) {
      const next = FINAL.has(p.status) ? "" : phaseText(p);
      if (next === line) return;
      if (o.tty && line) o.write(`\r\x1b[2K${p.status === "failed" ? "✗" : "✓"} ${line} (${Math.floor((Date.now() - since) / 1000)}s)\n`);
      line = next;
      since = Date.now();
      if (!line) return;
      if (o.tty) redraw();
      else o.write(`… ${line}\n`);
    },
    stop() {
      clearInterval(timer);
      if (o.tty && line) o.write("\r\x1b[2K");
    },
  };
}
