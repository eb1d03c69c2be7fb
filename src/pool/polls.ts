// Idle by traffic class (issue 29): what renews a preview's idle clock. A
// person's navigation, a hot-update socket with frames, an open stream, any
// write, renew it; a poller that only asks the same thing again and again (a
// health check, a status endpoint left open in a forgotten tab, a monitoring
// probe) does not, or the preview never sleeps: leaked, forever-awake
// previews are what the hosted anchors' users pay most for. A poll in flight
// still counts as open (a preview is never paused under a request); it only
// does not renew the clock. PREVIEWD_IDLE_POLLS=count turns this off.

/** The same background request seen this many times in a row, each at least POLL_GAP_MS after the last, is a poll from then on. */
export const POLL_REPEATS = 3;
/**
 * A poller has a period; a page's burst of the same call (several components
 * asking for /api/user at once, a reconnecting tab) does not: repeats closer
 * than this are one request for the count.
 */
export const POLL_GAP_MS = 1000;
/** Previews whose last background request is remembered (per front); past it the memory starts over. */
const MAX_TRACKED = 100_000;

/**
 * What a request is for the idle clock: undefined for foreground traffic
 * (a navigation, a write, an upgrade, a stream), else a key naming the
 * background request ("GET /health"; the query is left out, so a cache
 * buster does not make each poll new).
 */
export function backgroundKey(method: string, target: string, header: (name: string) => string | undefined): string | undefined {
  if (method !== "GET" && method !== "HEAD") return undefined;
  if (header("upgrade")) return undefined;
  if (header("sec-fetch-mode")?.toLowerCase() === "navigate") return undefined;
  const accept = header("accept")?.toLowerCase() ?? "";
  if (accept.includes("text/html") || accept.includes("text/event-stream")) return undefined;
  const q = target.indexOf("?");
  return `${method} ${q < 0 ? target : target.slice(0, q)}`;
}

/** Per front: which previews' requests are only repeating themselves. */
export class PollFilter {
  private readonly last = new Map<string, { key: string; repeats: number; at: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  /** True when this request is a poll (it must not renew the idle clock); foreground traffic resets the count. */
  isPoll(id: string, key: string | undefined): boolean {
    if (key === undefined) {
      this.last.delete(id);
      return false;
    }
    const now = this.now();
    const seen = this.last.get(id);
    if (seen && seen.key === key) {
      if (now - seen.at >= POLL_GAP_MS) {
        seen.repeats++;
        seen.at = now;
      }
      return seen.repeats >= POLL_REPEATS;
    }
    if (this.last.size >= MAX_TRACKED) this.last.clear();
    this.last.set(id, { key, repeats: 1, at: now });
    return false;
  }
}
