// Reads a .cpuprofile (Chrome DevTools format, written by `bun --cpu-prof`)
// into self time per function and per part of the stack. It samples the JS
// thread only: work on Bun's own threads (its fetch client runs on the
// "HTTP Client" thread) shows up in procstat.cpuByThread, not here.
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  /** Microseconds since the epoch (Bun). */
  startTime: number;
}

export interface ProfileSummary {
  sampledMs: number;
  /** Self time by part: previewd's proxy, the rest of previewd, hono, Bun's built-ins, GC, idle, other. */
  byPart: Record<string, number>;
  top: Array<{ fn: string; where: string; part: string; ms: number; pct: number }>;
}

function partOf(f: ProfileNode["callFrame"]): string {
  const url = f.url ?? "";
  if (f.functionName === "(idle)") return "idle (waiting for I/O)";
  if (f.functionName === "(program)" || f.functionName === "(root)") return "runtime (native, unattributed)";
  if (/garbage collector/i.test(f.functionName)) return "garbage collection";
  if (url.includes("/node_modules/hono/")) return "hono";
  if (url.includes("/src/proxy/")) return "previewd src/proxy";
  if (url.includes("/src/")) return "previewd (rest of src/)";
  if (url.includes("/node_modules/")) return "other dependencies";
  if (!url || url.startsWith("node:") || url.startsWith("bun:") || url.startsWith("builtin:") || url.startsWith("[")) return "Bun built-ins and native (Request, Headers, fetch, server)";
  return "other";
}

/**
 * Self time is counted in samples times the sampling interval: Bun records
 * samples only while JS runs, so a time delta can span idle time.
 */
export function summarizeProfile(path: string, intervalUs: number, window?: { from: number; to: number }, topN = 15): ProfileSummary {
  const p = JSON.parse(readFileSync(path, "utf8")) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let sampledUs = 0;
  let at = p.startTime / 1000;
  p.samples.forEach((id, i) => {
    at += (p.timeDeltas[i] ?? 0) / 1000;
    if (window && (at < window.from || at > window.to)) return; // only the load, not start-up and shutdown
    const dt = intervalUs;
    sampledUs += dt;
    self.set(id, (self.get(id) ?? 0) + dt);
  });
  const byPart: Record<string, number> = {};
  const byFn = new Map<string, { fn: string; where: string; part: string; us: number }>();
  for (const [id, us] of self) {
    const f = byId.get(id)!.callFrame;
    const part = partOf(f);
    byPart[part] = (byPart[part] ?? 0) + us / 1000;
    const where = f.url ? `${f.url.replace(/^.*\/(node_modules|src)\//, "$1/")}:${f.lineNumber + 1}` : "(native)";
    const key = `${f.functionName}@${where}`;
    const e = byFn.get(key) ?? { fn: f.functionName || "(anonymous)", where, part, us: 0 };
    e.us += us;
    byFn.set(key, e);
  }
  const top = [...byFn.values()].sort((a, b) => b.us - a.us).slice(0, topN)
    .map((e) => ({ fn: e.fn, where: e.where, part: e.part, ms: Math.round(e.us / 1000), pct: Math.round((e.us / sampledUs) * 1000) / 10 }));
  for (const k of Object.keys(byPart)) byPart[k] = Math.round(byPart[k]!);
  return { sampledMs: Math.round(sampledUs / 1000), byPart, top };
}
