// "Up" means the app answers HTTP on its port: any status code counts (a 404
// from a fresh app is still an app). Polled every 20 ms so a warm start is not
// rounded up to a coarse tick.
import type { Endpoint } from "../types.ts";

export async function answersHttp(ep: Endpoint, timeoutMs = 1000): Promise<boolean> {
  try {
    const res = await fetch(`http://${ep.host}:${ep.port}/`, {
      signal: AbortSignal.timeout(timeoutMs),
      redirect: "manual",
      headers: { "user-agent": "previewd-readiness" },
    });
    await res.body?.cancel();
    return true;
  } catch {
    return false;
  }
}

/**
 * Polls until the app answers, `gaveUp()` says to stop (the app crashed for
 * good, or the preview was deleted), or the deadline passes.
 */
export async function waitUntilAnswering(
  endpoint: () => Endpoint | undefined | Promise<Endpoint | undefined>,
  gaveUp: () => boolean,
  timeoutMs: number,
): Promise<"up" | "gave_up" | "timeout"> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (gaveUp()) return "gave_up";
    const ep = await endpoint();
    // A dev server may compile its first page on the first request (Next.js: seconds):
    // wait for that answer rather than abort and ask again.
    if (ep && ep.host && (await answersHttp(ep, Math.max(500, Math.min(10_000, deadline - Date.now()))))) return gaveUp() ? "gave_up" : "up";
    await Bun.sleep(20);
  }
  return "timeout";
}
