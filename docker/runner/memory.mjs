// The container's memory, as the kernel will judge it, and what the runner
// does about it: a V8 heap cap for the app's Node.js processes and a guard
// that restarts the dev server before the kernel's OOM killer does.
//
// Why: `next dev` sizes its server's heap from os.totalmem() (half the HOST's
// memory), far past the container's limit, so V8 never feels pressure and the
// kernel kills the server process; `next dev` itself then exits 0 and the
// preview was failed. With a heap cap Next restarts its own server near the
// cap (it exits 77 at 80% of heap_size_limit and `next dev` starts a new
// one); the guard covers what the heap cap cannot see (Turbopack's native
// memory, child processes).
import { readFileSync } from "node:fs";

const MiB = 1024 * 1024;
/** Limits at or above this are "no limit" (cgroup v1 writes 2^63 rounded to pages). */
const UNLIMITED = 2 ** 60;

function read(path) {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/** `key value` lines (memory.stat, memory.events, memory.oom_control) as numbers. */
function keyed(text) {
  const out = {};
  for (const line of (text ?? "").split("\n")) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}

/**
 * The container's memory from its cgroup (v2, else v1): limit (bytes or
 * undefined when none), usage, workingSet (usage less inactive page cache, as
 * the kernel can drop that before it kills: what kubelet and `docker stats`
 * count) and oomKills so far (undefined where the kernel does not count).
 */
export function cgroupMemory(root = "/sys/fs/cgroup") {
  const v2max = read(`${root}/memory.max`);
  if (v2max !== undefined) {
    const usage = Number(read(`${root}/memory.current`) ?? NaN);
    const stat = keyed(read(`${root}/memory.stat`));
    const events = keyed(read(`${root}/memory.events`));
    const limit = v2max.trim() === "max" ? undefined : Number(v2max);
    return shape(limit, usage, stat.inactive_file, events.oom_kill, 2);
  }
  const v1 = `${root}/memory`;
  const v1limit = read(`${v1}/memory.limit_in_bytes`);
  if (v1limit === undefined) return undefined;
  const usage = Number(read(`${v1}/memory.usage_in_bytes`) ?? NaN);
  const stat = keyed(read(`${v1}/memory.stat`));
  const oom = keyed(read(`${v1}/memory.oom_control`));
  return shape(Number(v1limit), usage, stat.total_inactive_file ?? stat.inactive_file, oom.oom_kill, 1);
}

function shape(limit, usage, inactiveFile, oomKills, version) {
  const bounded = Number.isFinite(limit) && limit > 0 && limit < UNLIMITED ? limit : undefined;
  const used = Number.isFinite(usage) ? usage : 0;
  return { version, limit: bounded, usage: used, workingSet: Math.max(0, used - (inactiveFile ?? 0)), oomKills };
}

/**
 * The heap cap for each Node.js process of the app, in MiB: the container's
 * limit less what the rest needs (the `next dev` parent and other small
 * Node processes, Turbopack's or esbuild's native memory, a shell): 55% of
 * the limit and at least 160 MiB stay outside the heap (Turbopack's caches
 * live in next-server's own process: 40% was not enough in 512 MB).
 * Undefined with no limit.
 */
export function heapCapMiB(limitBytes) {
  if (!limitBytes) return undefined;
  const mib = Math.floor(limitBytes / MiB);
  const reserve = Math.max(160, Math.ceil(mib * 0.55));
  return Math.max(64, mib - reserve);
}

/**
 * NODE_OPTIONS for the app: its own, plus the heap cap unless it sets one
 * (`--max-old-space-size` or `--max_old_space_size`: the app knows better),
 * plus the preloads (`--require <file>`).
 */
export function nodeOptions(own, capMiB, preloads = []) {
  const parts = own ? [own.trim()] : [];
  if (capMiB && !/--max[-_]old[-_]space[-_]size/.test(own ?? "")) parts.push(`--max-old-space-size=${capMiB}`);
  for (const p of preloads) parts.push(`--require=${p}`);
  return parts.filter(Boolean).join(" ");
}

/**
 * Watches the container's working set; when it stays at or above `ratio` of
 * the limit for `samples` readings in a row, calls `restart(reason)` (at most
 * once per `minGapMs`, so an app that needs more than it has is restarted
 * now and then, not in a loop). Returns a stop function. No limit: no guard.
 */
export function guardMemory(restart, opts = {}) {
  const { ratio = 0.88, samples = 1, everyMs = 250, minGapMs = 60_000, read: readMem = cgroupMemory } = opts;
  let over = 0;
  let lastRestart = -Infinity;
  let busy = false;
  const timer = setInterval(async () => {
    if (busy) return;
    const m = readMem();
    if (!m?.limit) return;
    if (m.workingSet < ratio * m.limit) {
      over = 0;
      return;
    }
    if (++over < samples || Date.now() - lastRestart < minGapMs) return;
    over = 0;
    lastRestart = Date.now();
    busy = true;
    const pct = Math.round((100 * m.workingSet) / m.limit);
    try {
      await restart(`memory at ${Math.round(m.workingSet / MiB)} of ${Math.round(m.limit / MiB)} MiB (${pct}%)`);
    } finally {
      busy = false;
    }
  }, everyMs);
  timer.unref?.();
  return () => clearInterval(timer);
}
