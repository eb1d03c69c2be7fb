// The daemon's own schema: migrations and the preview store, on a real PostgreSQL.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect, migrate, MIGRATIONS, PreviewStore, type Sql } from "../../src/db/index.ts";
import type { PreviewRecord } from "../../src/types.ts";
import { freshDatabase } from "../support/postgres.ts";
import { newId } from "./helpers.ts";

describe("migrate", () => {
  test("nodes starting together apply each migration once", async () => {
    const url = await freshDatabase();
    const pools = [connect(url), connect(url), connect(url)];
    try {
      const results = await Promise.all(pools.map((p) => migrate(p)));
      expect(results.flat().sort()).toEqual(MIGRATIONS.map((m) => m.version));
      expect(await migrate(pools[0]!)).toEqual([]);
      const rows = await pools[0]!`select version from previewd.schema_migrations`;
      expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  test("a failing migration applies nothing and records nothing", async () => {
    const url = await freshDatabase();
    const sql = connect(url);
    try {
      const bad = [...MIGRATIONS, { version: "999_bad", sql: "create table previewd.half (id int); select * from nowhere;" }];
      expect(await migrate(sql, bad).catch((e: Error) => e.message)).toContain('relation "nowhere" does not exist');
      expect(await sql`select 1 from pg_namespace where nspname = 'previewd'`).toHaveLength(0);
    } finally {
      await sql.end();
    }
  });

  test("002 keeps the text files a 001 database already holds", async () => {
    const sql = connect(await freshDatabase());
    try {
      await migrate(sql, MIGRATIONS.slice(0, 1));
      await sql`insert into previewd.previews (id, node, tier, status, spec) values ('old', 'n', 'container', 'running', '{}')`;
      await sql`insert into previewd.preview_files (preview_id, path, content) values ('old', 'a.js', 'x')`;
      expect(await migrate(sql)).toEqual(MIGRATIONS.slice(1).map((m) => m.version));
      expect(await new PreviewStore(sql).files("old")).toEqual({ "a.js": "x" });
    } finally {
      await sql.end();
    }
  });

  test("PUBLIC gets nothing in the previewd schema", async () => {
    const url = await freshDatabase();
    const sql = connect(url);
    try {
      await migrate(sql);
      const [r] = await sql`select has_schema_privilege('public', 'previewd', 'USAGE') as usage, has_schema_privilege('public', 'previewd', 'CREATE') as "create"`;
      expect(r).toEqual({ usage: false, create: false });
    } finally {
      await sql.end();
    }
  });
});

describe("PreviewStore", () => {
  let sql: Sql;
  let store: PreviewStore;
  beforeAll(async () => {
    sql = connect(await freshDatabase());
    await migrate(sql);
    store = new PreviewStore(sql);
  });
  afterAll(() => sql.end());

  const record = (over: Partial<PreviewRecord> = {}): PreviewRecord => ({
    id: newId(),
    node: "node-a",
    tier: "container",
    status: "starting",
    spec: { files: { "server.js": "x" }, command: ["node", "server.js"], port: 3000, env: { A: "1" }, database: { migrations: ["create table t (id int)"] }, tier: "auto" },
    createdAt: new Date("2026-11-24T12:00:00.000Z"),
    lastActiveAt: new Date("2026-11-24T12:05:00.000Z"),
    ...over,
  });

  test("insert then get returns the record; files are not part of the stored spec", async () => {
    const r = record({ database: { schema: "preview_x", url: "postgresql://u:p@h:1/d" } });
    await store.insert({ ...r, containerId: "c1" });
    expect(await store.get(r.id)).toEqual({ ...r, spec: { ...r.spec, files: {} }, visibility: "public" }); // its own column (sql/009_access.sql)
    const [raw] = await sql`select spec, container_id from previewd.previews where id = ${r.id}`;
    expect(raw!.spec.files).toBeUndefined();
    expect(raw!.container_id).toBe("c1");
    expect(await store.get("nope")).toBeUndefined();
  });

  test("visibility: the spec's at insert, its own column after", async () => {
    const r = record({ spec: { ...record().spec, visibility: "private" } });
    await store.insert(r);
    expect((await store.get(r.id))!.visibility).toBe("private");
    await sql`update previewd.previews set visibility = 'public' where id = ${r.id}`;
    await store.update(r.id, { spec: r.spec }); // a spec written from memory does not undo it
    expect((await store.get(r.id))!.visibility).toBe("public");
  });

  test("update patches each field; null clears failure and container id", async () => {
    const r = record();
    await store.insert(r);
    const at = new Date("2026-11-24T13:00:00.000Z");
    await store.update(r.id, { status: "failed", failure: "boom", node: "node-b", containerId: "c2", lastActiveAt: at, database: { schema: "s", url: "u" } });
    expect(await store.get(r.id)).toMatchObject({ status: "failed", failure: "boom", node: "node-b", lastActiveAt: at, database: { schema: "s", url: "u" } });
    await store.update(r.id, { status: "running", failure: null, containerId: null });
    const got = await store.get(r.id);
    expect(got!.status).toBe("running");
    expect(got!.failure).toBeUndefined();
    expect((await sql`select container_id from previewd.previews where id = ${r.id}`)[0]!.container_id).toBeNull();
  });

  test("list and listByNode", async () => {
    const a = record({ node: "list-a" });
    const b = record({ node: "list-b" });
    await store.insert(a);
    await store.insert(b);
    expect((await store.listByNode("list-a")).map((r) => r.id)).toEqual([a.id]);
    const all = (await store.list()).map((r) => r.id);
    expect(all).toContain(a.id);
    expect(all).toContain(b.id);
  });

  test("putFiles upserts and deletes; remove takes the files with it", async () => {
    const r = record();
    await store.insert(r);
    await store.putFiles(r.id, { "a.js": "1", "dir/b.js": "2", "c.txt": "it's \"quoted\"\n" });
    await store.putFiles(r.id, { "a.js": "1b", "d.js": "4" }, ["dir/b.js"]);
    expect(await store.files(r.id)).toEqual({ "a.js": "1b", "c.txt": "it's \"quoted\"\n", "d.js": "4" });
    await store.remove(r.id);
    expect(await store.get(r.id)).toBeUndefined();
    expect(await store.files(r.id)).toEqual({});
  });

  test("binary files survive byte for byte in a bytea column; text stays readable text", async () => {
    const r = record();
    await store.insert(r);
    const all = Buffer.from(Array.from({ length: 512 }, (_, i) => i & 0xff));
    const files = { "logo.png": { base64: all.toString("base64") }, "a.txt": "plain ü", "nul.txt": "a\0b", "unpadded.bin": { base64: "QQ" }, "empty.bin": { base64: "" } };
    await store.putFiles(r.id, files);
    expect(await store.files(r.id)).toEqual({
      "a.txt": "plain ü",
      "empty.bin": { base64: "" },
      "logo.png": { base64: all.toString("base64") },
      // a NUL cannot be in a PostgreSQL text: kept as bytes, the same bytes
      "nul.txt": { base64: Buffer.from("a\0b").toString("base64") },
      "unpadded.bin": { base64: "QQ==" },
    });
    const rows = await sql`select path, content, data from previewd.preview_files where preview_id = ${r.id} order by path`;
    expect(rows.find((x) => x.path === "a.txt")).toEqual({ path: "a.txt", content: "plain ü", data: null });
    expect(Buffer.from(rows.find((x) => x.path === "logo.png")!.data).equals(all)).toBe(true);
    // overwriting switches the column: binary becomes text and back
    await store.putFiles(r.id, { "logo.png": "now text", "a.txt": { base64: "AAEC" } });
    const again = await store.files(r.id);
    expect(again["logo.png"]).toBe("now text");
    expect(again["a.txt"]).toEqual({ base64: "AAEC" });
  });

  test("putFiles takes thousands of files in one call", async () => {
    const r = record();
    await store.insert(r);
    const files = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`src/f${i}.js`, `export const n = ${i};`]));
    await store.putFiles(r.id, files);
    expect(Object.keys(await store.files(r.id))).toHaveLength(5000);
  });
});
