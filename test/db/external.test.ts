// DATABASE_URL pointing at a server previewd does not run, logged in as a
// role that is no superuser but may create roles and owns the database (how
// Supabase's `postgres` user is set up), and the URLs handed to containers.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import postgres from "postgres";
import { connect, migrate, PreviewDatabases, PreviewStore, type Sql } from "../../src/db/index.ts";
import { isAppError } from "../../src/errors.ts";
import { createLogger } from "../../src/log.ts";
import { freshDatabase, testDatabaseUrl } from "../support/postgres.ts";
import { asRole, newId, pgError, roleExists, schemaExists } from "./helpers.ts";

describe("with a CREATEROLE admin that is not a superuser", () => {
  const admin = `adm_${newId()}`;
  const password = newId() + newId();
  let superSql: Sql;
  let url: string;
  let sql: Sql;
  let dbs: PreviewDatabases;
  beforeAll(async () => {
    superSql = postgres(await testDatabaseUrl(), { max: 1, onnotice: () => {} });
    await superSql.unsafe(`create role "${admin}" login createrole password '${password}'`);
    const dbUrl = new URL(await freshDatabase());
    await superSql.unsafe(`alter database "${dbUrl.pathname.slice(1)}" owner to "${admin}"`);
    dbUrl.username = admin;
    dbUrl.password = password;
    url = dbUrl.toString();
    sql = connect(url);
    await migrate(sql);
    dbs = new PreviewDatabases({ sql, adminUrl: url, containerHost: "host.docker.internal", log: createLogger("error") });
  });
  afterAll(async () => {
    await sql.end();
    await superSql.unsafe(`drop database "${new URL(url).pathname.slice(1)}" with (force)`);
    await superSql.unsafe(`drop role "${admin}"`);
    await superSql.end();
  });

  test("migrates the daemon schema and keeps previews in it", async () => {
    const store = new PreviewStore(sql);
    const id = newId();
    await store.insert({ id, node: "n", tier: "container", status: "running", spec: { files: {}, port: 3000, env: {}, tier: "auto" }, createdAt: new Date(), lastActiveAt: new Date() });
    expect((await store.get(id))!.status).toBe("running");
  });

  test("creates, isolates, exports and drops preview databases", async () => {
    const id = newId();
    const d = await dbs.create(id, { migrations: ["create table t (id serial primary key, v text)"], seed: "insert into t (v) values ('x')" });
    const other = await dbs.create(newId(), { migrations: [] });
    const b = asRole(other.url, url);
    try {
      expect((await pgError(b, `select * from "${d.schema}".t`)).code).toBe("42501");
      expect((await pgError(b, "select * from previewd.previews")).code).toBe("42501");
    } finally {
      await b.end();
    }
    expect(await dbs.exportSql(id)).toContain(`COPY "${d.schema}"."t"`);
    await dbs.drop(id);
    expect(await schemaExists(sql, d.schema)).toBe(false);
    expect(await roleExists(sql, d.schema)).toBe(false);
  });

  test("a failed migration still leaves nothing", async () => {
    const id = newId();
    const e = await dbs.create(id, { migrations: ["create table t (id int)", "select 1/0"] }).catch((e: unknown) => e);
    expect(isAppError(e) && e.code).toBe("migration_failed");
    expect(await roleExists(sql, `preview_${id}`)).toBe(false);
  });

  test("cleanup (in a restarted process) drops an orphan", async () => {
    const id = newId();
    await dbs.create(id, { migrations: [] });
    const restarted = new PreviewDatabases({ sql, adminUrl: url, containerHost: "h", log: createLogger("error") });
    expect((await restarted.cleanup({ liveIds: new Set(), retentionSeconds: 0 })).dropped).toContain(id);
    expect(await roleExists(sql, `preview_${id}`)).toBe(false);
  });
});

describe("container URLs", () => {
  const dbs = (adminUrl: string) => new PreviewDatabases({ sql: undefined as never, adminUrl, containerHost: "host.docker.internal", log: createLogger("error") });

  test("a loopback host becomes the container host; port, database and sslmode stay; other parameters go", () => {
    for (const host of ["127.0.0.1", "localhost", "[::1]", "127.0.1.1"]) {
      const u = new URL(dbs(`postgresql://admin:pw@${host}:6543/app?sslmode=require&prepare=false`).containerUrl("preview_abc", "s3cret"));
      expect(u.toString()).toBe("postgresql://preview_abc:s3cret@host.docker.internal:6543/app?sslmode=require");
    }
  });

  test("a remote host (Supabase) is kept", () => {
    expect(dbs("postgres://postgres:pw@db.abcd.supabase.co:5432/postgres").containerUrl("preview_abc", "pw2")).toBe(
      "postgres://preview_abc:pw2@db.abcd.supabase.co:5432/postgres",
    );
  });

  test("Supabase's pooler gets the tenant suffix on the user name", () => {
    expect(dbs("postgresql://postgres.abcd:pw@aws-0-eu-central-1.pooler.supabase.com:6543/postgres").containerUrl("preview_abc", "pw2")).toBe(
      "postgresql://preview_abc.abcd:pw2@aws-0-eu-central-1.pooler.supabase.com:6543/postgres",
    );
  });
});
