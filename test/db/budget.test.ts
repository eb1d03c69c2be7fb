// Issue 10 (1, 3): a preview's database is bounded in size and in temporary
// files, whatever its role does. Past PREVIEWD_DB_MB the role is shut out (its
// sessions end, it may not log in again) and the preview fails saying why; a
// sort spilling past temp_file_limit fails, and the role cannot lift the limit.
import { afterAll, beforeAll, expect, test } from "bun:test";
import postgres from "postgres";
import { DatabaseBudget } from "../../src/db/index.ts";
import { createLogger } from "../../src/log.ts";
import { createPreview, startTestDaemon } from "../support/daemon.ts";
import { waitForPreview } from "../support/apps.ts";
import { asRole, fixture, hostUrl, newId, type Fixture } from "./helpers.ts";

const MB = 1024 * 1024;
const BUDGET = 32 * MB;

let f: Fixture;
let budget: DatabaseBudget;
const over = new Map<string, string>();
beforeAll(async () => {
  f = await fixture({ tempFileLimitMb: 64 });
  budget = new DatabaseBudget({ sql: f.sql, log: createLogger("error"), limitBytes: BUDGET, everyMs: 500, onOver: (id, why) => void over.set(id, why) });
  budget.start();
});
afterAll(async () => {
  budget?.stop();
  await f?.end();
});

/** The size of a preview's relations as the admin sees them (committed). */
const sizeOf = async (id: string) =>
  Number((await f.sql<{ b: string }[]>`SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint AS b FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ${"preview_" + id} AND c.relkind IN ('r','m','S')`)[0]!.b);

test("a role writing past its budget in committed batches is shut out, with a clear reason", async () => {
  const id = newId();
  const db = await f.dbs.create(id, { migrations: ["CREATE TABLE t (x text)"] });
  const sql = asRole(db.url, f.url);
  let err: { code?: string; message: string } | undefined;
  const t0 = Date.now();
  try {
    // 4 MB a statement, each its own transaction, as fast as it can, until refused (at most 1 GB).
    for (let i = 0; i < 256 && !err; i++) await sql`INSERT INTO t SELECT repeat(md5(g::text), 31) FROM generate_series(1, 4000) g`.catch((e) => (err = e));
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
  const stoppedAt = await sizeOf(id);
  console.log(`[db budget] batches: stopped at ${(stoppedAt / MB).toFixed(1)} MB of a ${BUDGET / MB} MB budget (${((stoppedAt - BUDGET) / MB).toFixed(1)} MB past it) after ${Date.now() - t0} ms`);
  expect(err).toBeDefined();
  expect(`${err!.code} ${err!.message}`).toMatch(/terminating connection due to administrator command|CONNECTION_(CLOSED|ENDED)|not permitted to log in/);
  expect(stoppedAt).toBeLessThan(BUDGET + 400 * MB);
  expect(over.get(id)).toMatch(/past its budget of 32 MB \(PREVIEWD_DB_MB\): its role may no longer log in/);

  // It stays out: a new session is refused.
  const again = asRole(db.url, f.url);
  try {
    const e = await again`SELECT 1`.catch((e) => e);
    expect(String(e.message)).toContain("is not permitted to log in");
  } finally {
    await again.end({ timeout: 1 }).catch(() => {});
  }
}, 120_000);

test("one long CREATE TABLE AS (invisible in pg_class until it commits) is stopped mid-statement", async () => {
  const id = newId();
  const db = await f.dbs.create(id, { migrations: [] });
  const sql = asRole(db.url, f.url);
  const t0 = Date.now();
  try {
    // ~10 GB if nothing stopped it; statement_timeout off so that only the budget can.
    await sql`SET statement_timeout = 0`;
    // Two small series joined: rows stream into the table (one big series would spill to a temporary file and meet temp_file_limit first).
    const err = await sql`CREATE TABLE big AS SELECT repeat(md5((a * b)::text), 31) AS x FROM generate_series(1, 10000) a, generate_series(1, 1000) b`.catch((e) => e);
    expect(`${err.code} ${err.message}`).toMatch(/terminating connection due to administrator command|CONNECTION_(CLOSED|ENDED)/);
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
  console.log(`[db budget] one CREATE TABLE AS: ended after ${Date.now() - t0} ms; ${over.get(id)?.split(":")[0]}`);
  expect(Date.now() - t0).toBeLessThan(30_000);
  expect(over.get(id)).toContain("past its budget");
}, 120_000);

test("temporary tables count against the budget", async () => {
  const id = newId();
  const db = await f.dbs.create(id, { migrations: [] });
  const sql = asRole(db.url, f.url);
  let err: { code?: string; message: string } | undefined;
  try {
    const s = await sql.reserve(); // one session: temporary tables live as long as it does
    await s`CREATE TEMP TABLE scratch (x text)`;
    for (let i = 0; i < 256 && !err; i++) await s`INSERT INTO scratch SELECT repeat(md5(g::text), 31) FROM generate_series(1, 4000) g`.catch((e) => (err = e));
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
  expect(err).toBeDefined();
  expect(over.get(id)).toContain("past its budget");
}, 120_000);

test("a sort spilling past temp_file_limit fails, and the role cannot lift the limit", async () => {
  const id = newId();
  const db = await f.dbs.create(id, { migrations: [] });
  const sql = asRole(db.url, f.url);
  try {
    // Every way a role might lift it: SET, set_config, its own role defaults (SET, RESET, RESET ALL).
    for (const q of ["SET temp_file_limit = -1", "SELECT set_config('temp_file_limit', '-1', false)", "ALTER ROLE CURRENT_USER SET temp_file_limit = -1", "ALTER ROLE CURRENT_USER RESET temp_file_limit"]) {
      const e = await sql.unsafe(q).catch((e) => e);
      expect(`${q}: ${e?.message}`).toMatch(/permission denied/);
    }
    await sql.unsafe("ALTER ROLE CURRENT_USER RESET ALL"); // allowed, but skips what it may not reset
    // A new session, so role defaults are read again.
    await sql.end({ timeout: 1 });
    const fresh = asRole(db.url, f.url);
    try {
      expect((await fresh`SHOW temp_file_limit`)[0]!.temp_file_limit).toBe("64MB");
      await fresh`SET work_mem = '64kB'`; // a small work_mem: the sort spills to temporary files
      await fresh`SET statement_timeout = 0`;
      const e = await fresh`SELECT count(*) FROM (SELECT md5(g::text) FROM generate_series(1, 20000000) g ORDER BY 1) s`.catch((e) => e);
      expect(String(e.message)).toContain("temporary file size exceeds temp_file_limit");
    } finally {
      await fresh.end({ timeout: 1 });
    }
    // Nor as a startup parameter (PGOPTIONS-style).
    const opts = postgres(hostUrl(db.url, f.url), { max: 1, onnotice: () => {}, connection: { temp_file_limit: "-1" } });
    try {
      const e = await opts`SELECT 1`.catch((e) => e);
      expect(String(e.message)).toMatch(/permission denied/);
    } finally {
      await opts.end({ timeout: 1 }).catch(() => {});
    }
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}, 120_000);

test("the embedded server caps temporary files server-wide", async () => {
  if (process.env.TEST_DATABASE_URL) return; // not ours to configure
  expect((await f.sql`SELECT setting, unit, context FROM pg_settings WHERE name = 'temp_file_limit'`)[0]).toEqual({ setting: "1048576", unit: "kB", context: "superuser" });
});

test("through the daemon: a preview whose database grows past PREVIEWD_DB_MB is failed with the reason", async () => {
  const d = await startTestDaemon({ PREVIEWD_DB_MB: "16", PREVIEWD_WARM_POOL: "0" });
  try {
    const p = await createPreview(d, {
      files: { "server.js": `require("http").createServer((q, s) => s.end("up")).listen(process.env.PORT, "0.0.0.0");` },
      command: ["node", "server.js"],
      // The seed alone is ~30 MB: the next budget round finds it over.
      database: { migrations: ["CREATE TABLE t (x text)"], seed: "INSERT INTO t SELECT repeat(md5(g::text), 31) FROM generate_series(1, 30000) g" },
    });
    const failed = await waitForPreview(d, p.id, (v) => v.status === "failed", 60_000);
    expect(failed.error).toMatch(/past its budget of 16 MB \(PREVIEWD_DB_MB\)/);
  } finally {
    await d.cleanup();
  }
}, 180_000);
