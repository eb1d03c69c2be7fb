// A preview's database work is bounded in time whatever it SETs: the
// watchdog cancels a statement past the limit, terminates a backend that
// shrugs off the cancel, and ends a transaction left open.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { DatabaseWatchdog } from "../../src/db/index.ts";
import { createLogger } from "../../src/log.ts";
import { asRole, fixture, newId, type Fixture } from "./helpers.ts";

let f: Fixture;
let dog: DatabaseWatchdog;
let url: string;
beforeAll(async () => {
  f = await fixture();
  url = (await f.dbs.create(newId(), { migrations: [] })).url;
  dog = new DatabaseWatchdog({ sql: f.sql, log: createLogger("error"), limitMs: 1000, migrationLimitMs: 5000, everyMs: 200 });
  dog.start();
});
afterAll(async () => {
  dog?.stop();
  await f?.end();
});

test("a statement whose role lifted its own timeout is cancelled past the limit", async () => {
  const sql = asRole(url, f.url);
  try {
    await sql`ALTER ROLE CURRENT_USER SET statement_timeout = 0`.catch(() => {}); // allowed or not, it must not matter
    await sql`SET statement_timeout = 0`;
    const started = Date.now();
    const err = await sql`SELECT pg_sleep(600)`.catch((e) => e);
    expect(String(err.message)).toContain("canceling statement due to user request");
    expect(Date.now() - started).toBeLessThan(10_000);
    expect([...(await sql`SELECT 1 AS one`)]).toEqual([{ one: 1 }]); // the session lives on
  } finally {
    await sql.end({ timeout: 1 });
  }
});

test("a backend that catches the cancel and goes on is terminated", async () => {
  const sql = asRole(url, f.url);
  try {
    await sql`SET statement_timeout = 0`;
    const loop = `DO $$ BEGIN LOOP BEGIN PERFORM pg_sleep(0.5); EXCEPTION WHEN query_canceled THEN NULL; END; END LOOP; END $$`;
    const started = Date.now();
    const before = dog.counts.terminated;
    const err = await sql.unsafe(loop).catch((e) => e);
    expect(`${err.code} ${err.message}`).toMatch(/terminating connection due to administrator command|CONNECTION_CLOSED/);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(dog.counts.terminated).toBeGreaterThan(before);
  } finally {
    await sql.end({ timeout: 1 });
  }
});

test("a transaction left open (idle, holding its locks) is ended", async () => {
  const sql = asRole(url, f.url);
  try {
    const reserved = await sql.reserve();
    await reserved`BEGIN`;
    const pid = (await reserved<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`)[0]!.pid;
    // Idle inside the transaction (no statement runs): the watchdog ends the session.
    const gone = async () => (await f.sql`SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = ${pid}`)[0]!.n === 0;
    const deadline = Date.now() + 15_000;
    while (!(await gone()) && Date.now() < deadline) await Bun.sleep(100);
    expect(await gone()).toBe(true);
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
});
