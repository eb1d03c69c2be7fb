// Shared helpers of the benchmark scripts: percentiles, tables, results file.
import { mkdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export const summary = (values: number[]) => ({ n: values.length, p50: round(percentile(values, 50)), p95: round(percentile(values, 95)), max: round(Math.max(...values)) });
export const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

export function printTable(title: string, rows: Array<Record<string, string | number>>): void {
  console.log(`\n${title}`);
  if (rows.length === 0) return;
  const cols = Object.keys(rows[0]!);
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)));
  const line = (cells: string[]) => "  " + cells.map((s, i) => s.padEnd(width[i]!)).join("  ");
  console.log(line(cols));
  console.log(line(width.map((w) => "-".repeat(w))));
  for (const r of rows) console.log(line(cols.map((c) => String(r[c]))));
}

/** Merges one section into bench/results.json (each script owns its section). */
export function saveResults(section: string, data: unknown): void {
  const dir = join(import.meta.dir, "..", "..", "bench");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, "results.json");
  const all = existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : {};
  all[section] = { date: new Date().toISOString(), cores: cpus().length, ...((data as object) ?? {}) };
  writeFileSync(file, JSON.stringify(all, null, 2) + "\n");
}

/** MemAvailable from /proc/meminfo, in MiB. */
export function memAvailableMiB(): number {
  const m = /MemAvailable:\s+(\d+) kB/.exec(readFileSync("/proc/meminfo", "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

/**
 * Docker's events for containers with these labels, as container id ->
 * action -> epoch ms (first time each action was seen). Subscribes again if
 * the engine restarts under the bench (a shared machine). stop() ends it.
 */
export function watchContainerEvents(docker: import("dockerode"), labels: string[]): { events: Map<string, Record<string, number>>; stop(): void } {
  const events = new Map<string, Record<string, number>>();
  let stopped = false;
  let current: { destroy(): void } | undefined;
  const subscribe = async () => {
    const stream = (await docker.getEvents({ filters: { type: ["container"], label: labels } })) as unknown as NodeJS.ReadableStream & { destroy(): void };
    current = stream;
    let buf = "";
    stream.on("data", (chunk: Buffer) => {
      buf += chunk.toString("utf8");
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const ev = JSON.parse(buf.slice(0, nl)) as { id: string; Action: string; timeNano: number };
        buf = buf.slice(nl + 1);
        const e = events.get(ev.id) ?? {};
        e[ev.Action] ??= ev.timeNano / 1e6;
        events.set(ev.id, e);
      }
    });
    stream.on("error", () => {});
    stream.on("end", () => again());
  };
  const again = () => {
    if (!stopped) setTimeout(() => void subscribe().catch(again), 1000);
  };
  void subscribe().catch(again);
  return { events, stop: () => ((stopped = true), current?.destroy()) };
}

/** Runs a benchmark: what it measured is saved even when it fails, and cleanup runs after it, on failure and on Ctrl-C too. */
export async function runBench(section: string, results: Record<string, unknown>, main: () => Promise<void>, cleanup: () => Promise<void>, extra: () => Record<string, unknown> = () => ({})): Promise<void> {
  process.once("SIGINT", () => void cleanup().finally(() => process.exit(130)));
  try {
    await main();
  } catch (e) {
    results.error = (e as Error).stack ?? String(e);
    throw e;
  } finally {
    if (Object.keys(results).length) saveResults(section, { ...extra(), ...results });
    await cleanup();
  }
}
