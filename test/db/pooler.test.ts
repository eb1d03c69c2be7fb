// Issue 10, item 4: connection exhaustion. Before, ten previews holding their
// 10 connections each filled max_connections=100, and every other preview's
// app (and a create's migrations) could no longer connect. Now previews reach
// the embedded PostgreSQL through PgBouncer in transaction mode, at most
// PREVIEWD_DB_POOL_SIZE server backends per preview, on a server sized for
// capacity x pool size plus the daemon's reserve.
//
// A real daemon with its embedded PostgreSQL and its own PgBouncer: capacity 6,
// pool size 2, so the server gets max_connections = 6*2 + 2 + 25 = 39. Four
// previews each open 10 clients (their old per-role limit: 40 in all, more
// than the server has) and hold a transaction open in every one; the fifth
// preview (Express + the real `pg` client, created with migrations while they
// hold) still starts, reads its rows, and takes writes.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
// @ts-expect-error -- pg ships no types and @types/pg is not installed (previewd itself uses postgres.js; pg is the apps')
import pgLib from "pg";
import postgres from "postgres";
import { ConfigError, loadConfig } from "../../src/config.ts";
import { choosePooler, DAEMON_RESERVE, POOLER_ROLE, poolerSizing } from "../../src/db/pooler.ts";
import { expressPgDatabase } from "../fixtures/apps/express-pg.db.ts";
import { loadApp } from "../fixtures/apps/index.ts";
import { createPreview, startTestDaemon, type TestDaemon } from "../support/daemon.ts";

interface PgClient {
  connect(): Promise<void>;
  query(text: string): Promise<{ rows: Array<Record<string, unknown>> }>;
  end(): Promise<void>;
  on(event: "error", listener: (err: Error) => void): void;
}
const pg = pgLib as { Client: new (o: { connectionString: string; connectionTimeoutMillis?: number }) => PgClient };

const CAPACITY = 6;
const POOL = 2;

let d: TestDaemon;
let admin: postgres.Sql;
const holders: Array<{ id: string; url: string; schema: string; prismaUrl: string }> = [];
const clients: PgClient[] = [];

const server = `require("http").createServer((q, s) => s.end("up")).listen(process.env.PORT, "0.0.0.0")`;

/** A preview's DATABASE_URL as this host reaches the pooler (the bridge address it listens on, same port). */
function viaPooler(containerUrl: string): string {
  const u = new URL(containerUrl);
  u.hostname = d.pooler!.listen[0]!;
  return u.toString();
}

/** The real `pg` client (node-postgres), connected. */
async function pgClient(url: string): Promise<PgClient> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  c.on("error", () => {}); // a session the test ends on purpose
  await c.connect();
  clients.push(c);
  return c;
}

/** Server backends per preview role, as PostgreSQL counts them. */
async function backends(): Promise<Record<string, number>> {
  const rows = await admin<{ usename: string; n: number }[]>`
    SELECT usename, count(*)::int AS n FROM pg_stat_activity WHERE usename LIKE 'preview\\_%' GROUP BY usename`;
  return Object.fromEntries(rows.map((r) => [r.usename, r.n]));
}

async function errorOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("expected a failure, and it succeeded");
}

beforeAll(async () => {
  d = await startTestDaemon({
    DATABASE_URL: "", // the embedded database: the pooler fronts only that one
    PREVIEWD_DB_POOLER: "on",
    PREVIEWD_CAPACITY: String(CAPACITY),
    PREVIEWD_DB_POOL_SIZE: String(POOL),
    PREVIEWD_WARM_POOL: "1",
    // The host firewall is host-wide: another process's daemon rewriting it for its own database port would refuse this
    // daemon's (a different port). Off here; POOLER_TEST_FIREWALL=on checks that the rules let the pooler's port through.
    PREVIEWD_FIREWALL: process.env.POOLER_TEST_FIREWALL ?? "off",
  });
  admin = postgres(d.databaseUrl, { max: 2, onnotice: () => {} });
  for (let i = 0; i < CAPACITY - 2; i++) {
    const p = await createPreview(d, {
      files: { "server.js": server },
      command: ["node", "server.js"],
      database: { migrations: ["create table secrets (v text)"], seed: `insert into secrets values ('secret of ${i}')` },
    });
    expect(p.status).toBe("running");
    holders.push({ id: p.id, url: p.database!.url, schema: p.database!.schema, prismaUrl: p.database!.prismaUrl });
  }
}, 180_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.end().catch(() => {})));
  await admin?.end({ timeout: 5 });
  await d?.cleanup();
});

test("the server is sized for capacity x pool size plus the daemon's reserve, and listens on loopback only", async () => {
  const [{ max_connections }] = (await admin`SHOW max_connections`) as unknown as [{ max_connections: string }];
  expect(Number(max_connections)).toBe(CAPACITY * POOL + 2 + DAEMON_RESERVE);
  const [{ listen_addresses }] = (await admin`SHOW listen_addresses`) as unknown as [{ listen_addresses: string }];
  expect(listen_addresses).toBe("127.0.0.1"); // the bridge addresses, same port, are PgBouncer's
  expect(d.pooler!.port).toBe(Number(new URL(d.databaseUrl).port));
  expect(new URL(holders[0]!.url).hostname).toBe("host.docker.internal");
  expect(new URL(holders[0]!.url).port).toBe(new URL(d.databaseUrl).port);
  // Prisma is told it talks to PgBouncer (no named prepared statements kept across transactions).
  expect(new URL(holders[0]!.prismaUrl).searchParams.get("pgbouncer")).toBe("true");
});

describe("previews holding every connection they can", () => {
  const pending: Array<Promise<unknown>> = [];
  let firstOwn: PgClient[] = [];

  beforeAll(async () => {
    // Each holder opens 10 clients (its former CONNECTION LIMIT) and begins a transaction in each:
    // 40 clients in open transactions, more than max_connections (39).
    for (const h of holders) {
      const own: PgClient[] = [];
      for (let i = 0; i < 10; i++) own.push(await pgClient(viaPooler(h.url)));
      for (const c of own) {
        const p = c.query("BEGIN").then(() => c.query("SELECT count(*) FROM secrets"));
        p.catch(() => {});
        pending.push(p);
      }
      if (!firstOwn.length) firstOwn = own;
    }
    // every pool is full: two backends per role
    const until = Date.now() + 10_000;
    while (Date.now() < until && Object.values(await backends()).reduce((a, b) => a + b, 0) < holders.length * POOL) await Bun.sleep(100);
  }, 60_000);

  // The holders let go (a client that leaves mid-transaction: PgBouncer closes that backend).
  afterAll(async () => {
    await Promise.all(clients.splice(0).map((c) => c.end().catch(() => {})));
  });

  test("a preview cannot exceed its pool: two server backends each, its other clients wait in the pooler", async () => {
    await Bun.sleep(1000); // time for any backend beyond the pool to show up, if one could
    const counts = await backends();
    for (const h of holders) expect(counts[h.schema]).toBe(POOL);
    const settled = await Promise.all(pending.map((p) => Promise.race([p.then(() => "done", () => "failed"), Bun.sleep(200).then(() => "waiting")])));
    expect(settled.filter((s) => s === "done")).toHaveLength(holders.length * POOL);
    expect(settled.filter((s) => s === "waiting")).toHaveLength(holders.length * (10 - POOL));

    // The first holder commits one transaction: one of its waiting clients gets the backend, still two in all.
    const first = pending.slice(0, 10);
    const before = (await Promise.all(first.map((p) => Promise.race([p.then(() => 1), Bun.sleep(100).then(() => 0)])))).reduce((a: number, b) => a + b, 0);
    expect(before).toBe(POOL);
    const running = (await Promise.all(firstOwn.map(async (c, i) => ((await Promise.race([first[i]!.then(() => true), Bun.sleep(50).then(() => false)])) ? c : undefined)))).filter(Boolean) as PgClient[];
    await running[0]!.query("COMMIT");
    const until = Date.now() + 10_000;
    let after = 0;
    while (Date.now() < until && after <= POOL) {
      after = (await Promise.all(first.map((p) => Promise.race([p.then(() => 1), Bun.sleep(50).then(() => 0)])))).reduce((a: number, b) => a + b, 0);
    }
    expect(after).toBe(POOL + 1);
    expect((await backends())[holders[0]!.schema]).toBe(POOL);
  }, 30_000);

  test("another preview is still created (migrations included) and its Express + pg app reads and writes through the pooler", async () => {
    const t0 = performance.now();
    const p = await createPreview(d, { files: loadApp("express-pg"), database: expressPgDatabase });
    console.log(`express-pg created while ${holders.length} previews held ${holders.length * 10} clients: ${Math.round(performance.now() - t0)} ms`);
    expect(p.status).toBe("running");
    expect(await (await d.preview(p.id, "/api/items")).json()).toEqual([{ id: 1, name: "apple" }, { id: 2, name: "banana" }]);
    const posted = await d.preview(p.id, "/api/items", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "cherry" }) });
    expect(posted.status).toBe(201);
    expect(((await (await d.preview(p.id, "/api/items")).json()) as Array<{ name: string }>).map((r) => r.name)).toEqual(["apple", "banana", "cherry"]);
    // Its backends are the pooler's (it logs in from 127.0.0.1), never more than its pool.
    const rows = await admin<{ addr: string }[]>`SELECT host(client_addr) AS addr FROM pg_stat_activity WHERE usename = ${p.database!.schema}`;
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.length).toBeLessThanOrEqual(POOL);
    for (const r of rows) expect(r.addr).toBe("127.0.0.1");
    // And a fresh client of it runs a query at once, from this host too.
    const c = await pgClient(viaPooler(p.database!.url));
    expect((await c.query("SELECT count(*)::int AS n FROM items")).rows[0]!.n).toBe(3);
    // The holders still hold: nothing was taken from them.
    const counts = await backends();
    for (const h of holders) expect(counts[h.schema]).toBe(POOL);
  }, 240_000);
});

describe("isolation through the pooler", () => {
  test("a preview's role cannot read another's schema", async () => {
    const [a, b] = holders;
    const asB = await pgClient(viaPooler(b!.url));
    const err = await errorOf(asB.query(`SELECT * FROM ${a!.schema}.secrets`));
    expect(err).toContain(`permission denied for schema ${a!.schema}`);
    expect((await asB.query("SELECT v FROM secrets")).rows).toEqual([{ v: "secret of 1" }]);
    expect((await asB.query("SELECT current_user AS u")).rows[0]!.u).toBe(b!.schema);
  });

  test("nobody logs in through the pooler as another preview, the superuser or the pooler's auth role", async () => {
    const [a, b] = holders;
    // A's name with B's password
    const wrong = new URL(viaPooler(a!.url));
    wrong.password = new URL(b!.url).password;
    expect(await errorOf(pgClient(wrong.toString()))).toMatch(/password authentication failed|SASL|authentication/i);
    // the superuser, with its real password
    const su = new URL(d.databaseUrl);
    su.hostname = d.pooler!.listen[0]!;
    expect(await errorOf(pgClient(su.toString()))).toMatch(/no such user|authentication failed/i);
    // the auth role, with its real password (read from the pooler's auth file, as root)
    const line = readFileSync(join(d.dataDir, "pgbouncer", "users.txt"), "utf8").trim();
    const password = /^"[^"]+" "([^"]+)"$/.exec(line)![1]!;
    const authRole = new URL(su.toString());
    authRole.username = POOLER_ROLE;
    authRole.password = encodeURIComponent(password);
    expect(await errorOf(pgClient(authRole.toString()))).toMatch(/reject|not allowed|authentication/i);
    // and that password does not reach PostgreSQL from outside loopback either (pg_hba): it only works on 127.0.0.1
    const direct = new URL(authRole.toString());
    direct.hostname = "127.0.0.1";
    const c = await pgClient(direct.toString());
    expect(await errorOf(c.query("SELECT * FROM previewd.previews"))).toContain("permission denied");
  });
});

test("a create whose migrations find the server out of connections answers 503 database_busy naming the cause", async () => {
  // Take every slot a non-superuser may have (a throwaway role, direct on 127.0.0.1), until PostgreSQL
  // refuses with "remaining connection slots are reserved": the daemon's superuser keeps its 3 reserved
  // slots, a new preview role's migrations find none. A loop keeps them taken while the create runs.
  await admin.unsafe(`DROP ROLE IF EXISTS filler; CREATE ROLE filler LOGIN PASSWORD 'filler-password'`);
  const u = new URL(d.databaseUrl);
  u.username = "filler";
  u.password = "filler-password";
  const fillers: PgClient[] = [];
  const fill = async () => {
    for (;;) {
      const c = new pg.Client({ connectionString: u.toString() });
      c.on("error", () => {});
      try {
        await c.connect();
        fillers.push(c);
      } catch (e) {
        expect((e as { code?: string }).code).toBe("53300");
        return;
      }
    }
  };
  await fill();
  expect(fillers.length).toBeGreaterThan(0);
  let topping = true;
  const topper = (async () => {
    while (topping) {
      await fill();
      await Bun.sleep(10);
    }
  })();
  try {
    const res = await d.api("/v1/previews?wait=1", {
      method: "POST",
      body: JSON.stringify({ files: { "server.js": server }, command: ["node", "server.js"], database: { migrations: ["create table t (x int)"] } }),
    });
    const body = (await res.json()) as { error: { code: string; message: string; details?: { cause: string } } };
    expect(res.status).toBe(503);
    expect(body.error.code).toBe("database_busy");
    expect(body.error.message).toContain("out of connections");
    expect(body.error.message).toMatch(/reserved|too many/);
    expect(body.error.details?.cause).toBe("too many connections");
    expect(res.headers.get("retry-after")).toBe("5");
  } finally {
    topping = false;
    await topper;
    await Promise.all(fillers.map((c) => c.end().catch(() => {})));
    await admin.unsafe("DROP ROLE filler");
  }
  // Nothing was left behind, and once slots are free a create works again.
  const [{ n }] = (await admin`SELECT count(*)::int AS n FROM pg_roles WHERE rolname LIKE 'preview\\_%'`) as unknown as [{ n: number }];
  expect(n).toBe(holders.length + 1);
}, 120_000);

test("the setting: on needs the embedded database; off and DATABASE_URL mean no pooler; sizing fits capacity x pool", () => {
  expect(() => loadConfig({ DATABASE_URL: "postgresql://u:p@db.example.com:5432/postgres", PREVIEWD_DB_POOLER: "on" })).toThrow(ConfigError);
  expect(() => loadConfig({ PREVIEWD_DB_POOLER: "sometimes" })).toThrow("PREVIEWD_DB_POOLER");
  expect(() => loadConfig({ PREVIEWD_DB_POOL_SIZE: "0" })).toThrow("PREVIEWD_DB_POOL_SIZE");
  expect(loadConfig({}).dbPooler).toBe("auto");
  const bridges = () => ["172.17.0.1"];
  expect(choosePooler({ setting: "off", external: false, capacity: 10, poolSize: 3, bridges }).plan).toBeUndefined();
  expect(choosePooler({ setting: "auto", external: true, capacity: 10, poolSize: 3, bridges }).reason).toContain("DATABASE_URL");
  expect(choosePooler({ setting: "auto", external: false, capacity: 10, poolSize: 3, bridges: () => [] }).plan).toBeUndefined();
  expect(() => choosePooler({ setting: "on", external: false, capacity: 10, poolSize: 3, bridges: () => [] })).toThrow("no Docker bridge address");
  expect(choosePooler({ setting: "auto", external: false, capacity: 10, poolSize: 3, bridges }).plan?.listen).toEqual(["172.17.0.1"]);
  // ~100 previews on 8 GB: every one at its pool's maximum, and the daemon's reserve, fit the server
  const s = poolerSizing(100, 3);
  expect(s.maxDbConnections).toBe(302);
  expect(s.maxConnections - s.maxDbConnections).toBe(DAEMON_RESERVE);
  expect(s.maxClientConn).toBe(5000);
});
