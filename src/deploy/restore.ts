// Replays an export (db/export.ts: pg_dump text with COPY, renamed into
// `public`) into the provider's database with psql, in ONE transaction: a
// restore cut short (daemon killed, connection lost) leaves the target as it
// was, so the step can simply run again. psql, not a driver: pg_dump 15.14+
// writes \restrict meta-commands and COPY ... FROM stdin, which only psql reads.
import { pgEnv } from "../db/pgenv.ts";

export async function restoreDump(file: string, targetUrl: string, opts: { psql?: string; signal?: AbortSignal } = {}): Promise<void> {
  const proc = Bun.spawn([opts.psql ?? "psql", "-X", "-q", "--single-transaction", "-v", "ON_ERROR_STOP=1", "-f", file], {
    env: pgEnv(targetUrl, "previewd-restore"),
    stdout: "ignore",
    stderr: "pipe",
    stdin: "ignore",
  });
  const abort = () => proc.kill();
  opts.signal?.addEventListener("abort", abort, { once: true });
  try {
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    if (code !== 0) throw new Error(`psql stopped the restore (exit ${code}): ${lastLines(stderr, 5)}`);
  } finally {
    opts.signal?.removeEventListener("abort", abort);
  }
}

function lastLines(text: string, n: number): string {
  return text.trim().split("\n").slice(-n).join(" | ") || "(no output)";
}
