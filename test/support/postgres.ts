// The test suite's PostgreSQL: ONE real server per test process, started on
// first use, shared by every test file (the suite runs in one bun process).
//
// - TEST_DATABASE_URL set: use that server instead (it must allow CREATE
//   DATABASE and CREATE ROLE).
// - Otherwise: an embedded PostgreSQL 15 in $TMPDIR/previewd-test-pg/run-<pid>-*,
//   durability off (fsync, full-page writes) because test data is disposable.
//   It stops when this process exits, even by kill -9 (the server gets a
//   parent-death signal); data dirs of dead runs are swept at the next start.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { startEmbeddedPostgres } from "../../src/db/embedded.ts";
import { ident } from "../../src/db/ident.ts";
import { createLogger } from "../../src/log.ts";

const BASE = join(tmpdir(), "previewd-test-pg");

let server: Promise<string> | undefined;

/** The superuser URL of the shared test server (127.0.0.1; containers reach it via the Docker bridge). */
export function testDatabaseUrl(): Promise<string> {
  server ??= start();
  server.catch(() => (server = undefined));
  return server;
}

async function start(): Promise<string> {
  if (process.env.TEST_DATABASE_URL) return process.env.TEST_DATABASE_URL;
  mkdirSync(BASE, { recursive: true, mode: 0o755 });
  await sweepDeadRuns();
  const dataDir = join(BASE, `run-${process.pid}-${Date.now().toString(36)}`);
  const pg = await startEmbeddedPostgres({
    dataDir,
    // the server logs expected FATALs (auth failures, terminated sessions) at warn
    log: createLogger(process.env.TEST_LOG_LEVEL ?? "error").child({ mod: "test-pg" }),
    settings: { fsync: "off", synchronous_commit: "off", full_page_writes: "off", max_connections: "400" },
  });
  // The server's own exit hook (registered first) has sent it SIGINT by now.
  process.once("exit", () => rmSync(dataDir, { recursive: true, force: true }));
  return pg.url;
}

let dbCounter = 0;

/**
 * An empty database on the test server (for export replays and anything that
 * wants the cluster to itself). A given name is dropped first if it exists.
 * Returns its superuser URL.
 */
export async function freshDatabase(name?: string): Promise<string> {
  const url = await testDatabaseUrl();
  const db = name ?? `t_${process.pid}_${++dbCounter}_${Date.now().toString(36)}`;
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    if (name) await sql.unsafe(`DROP DATABASE IF EXISTS ${ident(db)} WITH (FORCE)`);
    await sql.unsafe(`CREATE DATABASE ${ident(db)}`);
  } finally {
    await sql.end({ timeout: 5 });
  }
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

/** Removes the data dirs of runs whose process is gone, stopping any server still running in them. */
async function sweepDeadRuns() {
  for (const entry of readdirSync(BASE)) {
    const m = /^run-(\d+)-/.exec(entry);
    if (!m || alive(Number(m[1]))) continue;
    const dir = join(BASE, entry);
    const pidFile = join(dir, "postmaster.pid");
    if (existsSync(pidFile)) {
      const pid = Number(readFileSync(pidFile, "utf8").split("\n")[0]);
      if (pid > 0 && alive(pid)) {
        try { process.kill(pid, "SIGQUIT"); } catch { /* gone */ }
        for (let i = 0; i < 100 && alive(pid); i++) await Bun.sleep(20);
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z ");
  } catch {
    return false;
  }
}
