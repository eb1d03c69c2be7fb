// Per-preview schema + role against a real PostgreSQL: creation, what the
// app's URL can do, what it cannot (isolation, one assertion per test),
// failed migrations, drop, and cleanup after a crash.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import postgres from "postgres";
import { PreviewDatabases } from "../../src/db/index.ts";
import { isAppError } from "../../src/errors.ts";
import { createLogger } from "../../src/log.ts";
import type { PreviewDatabase } from "../../src/types.ts";
import { asRole, fixture, hostUrl, newId, pgError, roleExists, schemaExists, type Fixture } from "./helpers.ts";

const ITEMS = ["create table items (id serial primary key, name text not null)", "insert into items (name) values ('one'), ('two')"];

describe("create", () => {
  let f: Fixture;
  let id: string;
  let db: PreviewDatabase;
  beforeAll(async () => {
    f = await fixture();
    id = newId();
    db = await f.dbs.create(id, { migrations: ITEMS, seed: "insert into items (name) values ('three');" });
  });
  afterAll(() => f.end());

  test("names the schema preview_{id} and gives a URL for containers with the role's own login", () => {
    expect(db.schema).toBe(`preview_${id}`);
    const u = new URL(db.url);
    expect(u.username).toBe(`preview_${id}`);
    expect(u.password.length).toBeGreaterThanOrEqual(24);
    expect(u.hostname).toBe("host.docker.internal");
    expect(u.port).toBe(new URL(f.url).port);
    expect(u.pathname).toBe(new URL(f.url).pathname);
    expect(u.search).toBe("");
  });

  test("postgres.js reads the seeded rows with unqualified names (the role's search_path)", async () => {
    const sql = asRole(db.url, f.url);
    try {
      const rows = await sql`select name from items order by id`;
      expect(rows.map((r) => r.name)).toEqual(["one", "two", "three"]);
      const [who] = await sql`select current_user as u, current_schema() as s`;
      expect(who).toEqual({ u: db.schema, s: db.schema });
    } finally {
      await sql.end();
    }
  });

  test("node-postgres reads them too from the same URL", async () => {
    const { default: pg } = await import("pg" as string);
    const client = new pg.Client({ connectionString: hostUrl(db.url, f.url) });
    await client.connect();
    try {
      const { rows } = await client.query("select count(*)::int as n from items");
      expect(rows[0].n).toBe(3);
    } finally {
      await client.end();
    }
  });

  test("the role has its limits: connection limit, statement timeout, no special powers", async () => {
    const [r] = await f.sql`select rolconnlimit, rolsuper, rolcreaterole, rolcreatedb, rolinherit, rolbypassrls, rolconfig from pg_roles where rolname = ${db.schema}`;
    expect(r!.rolconnlimit).toBe(10);
    expect([r!.rolsuper, r!.rolcreaterole, r!.rolcreatedb, r!.rolbypassrls]).toEqual([false, false, false, false]);
    expect(r!.rolconfig).toContain(`search_path=${db.schema}`);
    const sql = asRole(db.url, f.url);
    try {
      const [t] = await sql`show statement_timeout`;
      expect(t!.statement_timeout).toBe("30s");
      const [owner] = await sql`select nspowner::regrole::text as o from pg_namespace where nspname = ${db.schema}`;
      expect(owner!.o).toBe(db.schema);
    } finally {
      await sql.end();
    }
  });

  test("`database: true` (no migrations) gives an empty schema the app can build in", async () => {
    const empty = await f.dbs.create(newId(), { migrations: [] });
    const sql = asRole(empty.url, f.url);
    try {
      expect(await sql`select tablename from pg_tables where schemaname = ${empty.schema}`).toHaveLength(0);
      await sql`create table notes (body text)`;
      await sql`insert into notes values ('hi')`;
      const [row] = await sql`select body from ${sql(empty.schema)}.notes`;
      expect(row!.body).toBe("hi");
    } finally {
      await sql.end();
    }
  });

  test("BEGIN/COMMIT in a migration are no-ops inside the one transaction", async () => {
    const d = await f.dbs.create(newId(), { migrations: ["BEGIN;\ncreate table a (id int);\nCOMMIT;", "start transaction; insert into a values (1); end;"] });
    const sql = asRole(d.url, f.url);
    try {
      expect((await sql`select count(*)::int as n from a`)[0]!.n).toBe(1);
    } finally {
      await sql.end();
    }
  });

  test("creating the same id twice is a conflict", async () => {
    const e = await f.dbs.create(id, { migrations: [] }).catch((e: unknown) => e);
    expect(isAppError(e) && e.code).toBe("conflict");
  });

  test("the connection limit is enforced by the server", async () => {
    const g = await fixture({ connectionLimit: 2 });
    try {
      const d = await g.dbs.create(newId(), { migrations: [] });
      const sql = postgres(hostUrl(d.url, g.url), { max: 3, onnotice: () => {} });
      const results = await Promise.allSettled([1, 2, 3].map(() => sql`select pg_sleep(0.3)`));
      await sql.end();
      const failed = results.filter((r) => r.status === "rejected") as PromiseRejectedResult[];
      expect(failed.length).toBeGreaterThanOrEqual(1);
      expect(String(failed[0]!.reason.message)).toContain("too many connections for role");
    } finally {
      await g.end();
    }
  });
});

describe("isolation: preview B against preview A, the daemon's tables and the database", () => {
  let f: Fixture;
  let a: PreviewDatabase;
  let b: PreviewDatabase;
  let asB: postgres.Sql;
  beforeAll(async () => {
    f = await fixture();
    a = await f.dbs.create(newId(), {
      migrations: [...ITEMS, "create view item_names as select name from items", "create function secret() returns int language sql as 'select 42'"],
    });
    b = await f.dbs.create(newId(), { migrations: [] });
    asB = asRole(b.url, f.url);
    await f.sql`insert into previewd.previews (id, node, tier, status, spec) values ('p1', 'n', 'container', 'running', '{}')`;
  });
  afterAll(async () => {
    // A is exactly as it was: nothing B tried went through.
    const rows = await f.sql`select id, name from ${f.sql(a.schema)}.items order by id`;
    expect(rows.map((r) => r.name)).toEqual(["one", "two"]);
    const cols = await f.sql`select column_name from information_schema.columns where table_schema = ${a.schema} and table_name = 'items' order by 1`;
    expect(cols.map((c) => c.column_name)).toEqual(["id", "name"]);
    await asB.end();
    await f.end();
  });

  const denied = async (query: string) => {
    const e = await pgError(asB, query);
    expect(e.code).toBe("42501"); // insufficient_privilege
    return e;
  };

  test("B cannot read A's table", async () => {
    expect((await denied(`select * from "${a.schema}".items`)).message).toContain("permission denied for schema");
  });
  test("B cannot read A's view", async () => {
    await denied(`select * from "${a.schema}".item_names`);
  });
  test("B cannot call A's function", async () => {
    await denied(`select "${a.schema}".secret()`);
  });
  test("B cannot insert into A's table", async () => {
    await denied(`insert into "${a.schema}".items (name) values ('evil')`);
  });
  test("B cannot update or delete A's rows", async () => {
    await denied(`update "${a.schema}".items set name = 'evil'`);
    await denied(`delete from "${a.schema}".items`);
  });
  test("B cannot create a table in A's schema", async () => {
    await denied(`create table "${a.schema}".evil (id int)`);
  });
  test("B cannot alter A's table", async () => {
    await denied(`alter table "${a.schema}".items add column evil int`);
  });
  test("B cannot drop A's table", async () => {
    await denied(`drop table "${a.schema}".items`);
  });
  test("B cannot drop or rename A's schema", async () => {
    await denied(`drop schema "${a.schema}" cascade`);
    await denied(`alter schema "${a.schema}" rename to stolen`);
  });
  test("B cannot read the daemon's tables", async () => {
    expect((await denied("select * from previewd.previews")).message).toContain("permission denied for schema previewd");
    await denied("select * from previewd.schema_migrations");
  });
  test("B cannot write the daemon's tables", async () => {
    await denied("insert into previewd.previews (id, node, tier, status, spec) values ('x', 'n', 't', 's', '{}')");
  });
  test("B cannot create a schema", async () => {
    expect((await denied("create schema evil")).message).toContain("permission denied for database");
  });
  test("B cannot create in public", async () => {
    await denied("create table public.evil (id int)");
  });
  test("B cannot SET ROLE to A or to the superuser", async () => {
    await denied(`set role "${a.schema}"`);
    await denied("set role postgres");
  });
  test("B cannot create roles", async () => {
    await denied("create role evil login password 'x'");
  });
  test("B cannot grant itself into A's role", async () => {
    await denied(`grant "${a.schema}" to "${b.schema}"`);
  });
  test("B cannot log in with A's name and B's password", async () => {
    const u = new URL(hostUrl(b.url, f.url));
    u.username = a.schema;
    const sql = postgres(u.toString(), { max: 1 });
    const e = await sql`select 1`.catch((e: Error) => e);
    await sql.end();
    expect(String((e as Error).message)).toContain("password authentication failed");
  });
});

describe("a failing migration leaves nothing behind", () => {
  let f: Fixture;
  beforeAll(async () => (f = await fixture()));
  afterAll(() => f.end());

  const expectNothingLeft = async (id: string) => {
    expect(await schemaExists(f.sql, `preview_${id}`)).toBe(false);
    expect(await roleExists(f.sql, `preview_${id}`)).toBe(false);
  };

  test("a bad statement fails with migration_failed naming it and PostgreSQL's message", async () => {
    const id = newId();
    const e = await f.dbs.create(id, { migrations: ["create table a (id int);\ninsert into nope values (1);\ncreate table b (id int)"] }).catch((e: unknown) => e);
    expect(isAppError(e)).toBe(true);
    if (!isAppError(e)) return;
    expect(e.code).toBe("migration_failed");
    expect(e.status).toBe(400);
    expect(e.details).toEqual({ statement: "insert into nope values (1)", message: 'relation "nope" does not exist' });
    await expectNothingLeft(id);
  });

  test("a failing seed undoes the migrations too", async () => {
    const id = newId();
    const e = await f.dbs.create(id, { migrations: ITEMS, seed: "insert into items (id, name) values (1, 'dup')" }).catch((e: unknown) => e);
    expect(isAppError(e) && e.code).toBe("migration_failed");
    expect(isAppError(e) && (e.details as { message: string }).message).toContain("duplicate key");
    await expectNothingLeft(id);
  });

  test("a migration that tries to escape its role fails the same way", async () => {
    const id = newId();
    const e = await f.dbs.create(id, { migrations: ["reset role; create schema escaped"] }).catch((e: unknown) => e);
    expect(isAppError(e) && e.code).toBe("migration_failed");
    expect(isAppError(e) && (e.details as { statement: string }).statement).toBe("create schema escaped");
    expect(await schemaExists(f.sql, "escaped")).toBe(false);
    await expectNothingLeft(id);
  });

  test("ROLLBACK is refused rather than half-applied", async () => {
    const id = newId();
    const e = await f.dbs.create(id, { migrations: ["create table a (id int); rollback; create table b (id int)"] }).catch((e: unknown) => e);
    expect(isAppError(e) && (e.details as { statement: string }).statement).toBe("rollback");
    await expectNothingLeft(id);
  });
});

describe("drop", () => {
  test("drops schema and role, ends the role's sessions, leaves other schemas alone; twice is fine", async () => {
    const f = await fixture();
    try {
      const keep = await f.dbs.create(newId(), { migrations: ITEMS });
      const id = newId();
      const d = await f.dbs.create(id, { migrations: ITEMS });
      const session = asRole(d.url, f.url);
      await session`select 1`;
      await f.dbs.drop(id);
      expect(await schemaExists(f.sql, d.schema)).toBe(false);
      expect(await roleExists(f.sql, d.schema)).toBe(false);
      expect(await session`select 1`.catch((e: Error) => e)).toBeInstanceOf(Error);
      await session.end();
      await f.dbs.drop(id);
      expect((await f.sql`select count(*)::int as n from ${f.sql(keep.schema)}.items`)[0]!.n).toBe(2);
      expect(await schemaExists(f.sql, "previewd")).toBe(true);
    } finally {
      await f.end();
    }
  });
});

describe("cleanup", () => {
  test("after a crash, drops preview schemas and roles with no live preview, and nothing else", async () => {
    const f = await fixture();
    const other = await fixture();
    try {
      const live = newId();
      const orphan = newId();
      await f.dbs.create(live, { migrations: ITEMS });
      await f.dbs.create(orphan, { migrations: ITEMS });
      // A role whose schema went missing is an orphan too.
      const roleOnly = newId();
      await f.dbs.create(roleOnly, { migrations: [] });
      await f.sql.unsafe(`drop schema "preview_${roleOnly}"`);
      // Look-alikes previewd did not make, and an ordinary schema.
      await f.sql.unsafe(`create schema preview_handmade; create table preview_handmade.t (id int)`);
      await f.sql.unsafe(`create schema keepme; create table keepme.t (id int)`);
      // The same marker in another database of the same server is not ours to drop.
      const elsewhere = newId();
      await other.dbs.create(elsewhere, { migrations: [] });

      // "Crash": a new process knows nothing of the old one's in-flight state.
      const restarted = new PreviewDatabases({ sql: f.sql, adminUrl: f.url, containerHost: "h", log: createLogger("warn") });
      const young = await restarted.cleanup({ liveIds: new Set([live]), retentionSeconds: 3600 });
      expect(young.dropped).toEqual([]);
      const { dropped } = await restarted.cleanup({ liveIds: new Set([live]), retentionSeconds: 0 });
      expect(dropped.sort()).toEqual([orphan, roleOnly].sort());

      for (const gone of [orphan, roleOnly]) {
        expect(await schemaExists(f.sql, `preview_${gone}`)).toBe(false);
        expect(await roleExists(f.sql, `preview_${gone}`)).toBe(false);
      }
      expect(await schemaExists(f.sql, `preview_${live}`)).toBe(true);
      expect(await roleExists(f.sql, `preview_${live}`)).toBe(true);
      expect((await f.sql`select count(*)::int as n from ${f.sql(`preview_${live}`)}.items`)[0]!.n).toBe(2);
      expect(await schemaExists(f.sql, "preview_handmade")).toBe(true);
      expect(await schemaExists(f.sql, "keepme")).toBe(true);
      expect(await schemaExists(f.sql, "previewd")).toBe(true);
      expect(await roleExists(f.sql, `preview_${elsewhere}`)).toBe(true);
      expect(await schemaExists(other.sql, `preview_${elsewhere}`)).toBe(true);
      expect((await restarted.cleanup({ liveIds: new Set([live]), retentionSeconds: 0 })).dropped).toEqual([]);
    } finally {
      await f.end();
      await other.end();
    }
  });

  test("a preview between create() and its record is safe, and so is one recorded after liveIds was read", async () => {
    const f = await fixture();
    try {
      // This process just handed the database out; the caller has not stored the preview yet.
      const handoff = newId();
      await f.dbs.create(handoff, { migrations: [] });
      expect((await f.dbs.cleanup({ liveIds: new Set(), retentionSeconds: 0 })).dropped).toEqual([]);
      expect(await schemaExists(f.sql, `preview_${handoff}`)).toBe(true);

      // Another node's preview, recorded in previewd.previews after our liveIds snapshot.
      const recorded = newId();
      const otherNode = new PreviewDatabases({ sql: f.sql, adminUrl: f.url, containerHost: "h", log: createLogger("warn") });
      await otherNode.create(recorded, { migrations: [] });
      await f.sql`insert into previewd.previews (id, node, tier, status, spec) values (${recorded}, 'other', 'container', 'running', '{}')`;
      const restarted = new PreviewDatabases({ sql: f.sql, adminUrl: f.url, containerHost: "h", log: createLogger("warn") });
      const { dropped } = await restarted.cleanup({ liveIds: new Set(), retentionSeconds: 0 });
      expect(dropped).toEqual([handoff]); // a restarted process no longer knows the handoff
      expect(await schemaExists(f.sql, `preview_${recorded}`)).toBe(true);
      expect(await roleExists(f.sql, `preview_${recorded}`)).toBe(true);
    } finally {
      await f.end();
    }
  });
});

describe("a migration that disables its own timeout", () => {
  test("is cancelled at the daemon's deadline; the create fails naming the statement and leaves nothing", async () => {
    const f = await fixture({ migrationTimeoutMs: 1500 });
    try {
      const id = newId();
      const started = Date.now();
      const err = await f.dbs.create(id, { migrations: ["SET statement_timeout = 0", "SELECT pg_sleep(600)"] }).catch((e) => e);
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(isAppError(err)).toBe(true);
      expect(err.code).toBe("migration_failed");
      expect(err.details.statement).toBe("SELECT pg_sleep(600)");
      expect(err.message).toContain("did not finish within 2 s");
      expect(await schemaExists(f.sql, `preview_${id}`)).toBe(false);
      expect(await roleExists(f.sql, `preview_${id}`)).toBe(false);
    } finally {
      await f.end();
    }
  });
});
