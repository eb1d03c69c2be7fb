// The data check of a deploy, on a real PostgreSQL: equal copies compare
// equal whatever the physical row order; a changed value, a missing row or a
// sequence left behind is named.
import { afterAll, beforeAll, expect, test } from "bun:test";
import postgres from "postgres";
import { compareStats, schemaStats } from "../../src/deploy/verify.ts";
import { freshDatabase } from "../support/postgres.ts";

let sql: postgres.Sql;

beforeAll(async () => {
  sql = postgres(await freshDatabase(), { max: 1, onnotice: () => {} });
  for (const schema of ["src", "copy"]) {
    await sql.unsafe(`CREATE SCHEMA ${schema};
      CREATE TABLE ${schema}.t (id serial PRIMARY KEY, name text, at timestamptz, price float8);
      INSERT INTO ${schema}.t (name, at, price) SELECT 'n' || g, '2026-01-01'::timestamptz + g * interval '1 hour', g / 3.0 FROM generate_series(1, 1000) g;`);
  }
  // The copy's rows in another physical order: same data.
  await sql.unsafe(`CREATE TABLE copy.t2 AS SELECT * FROM copy.t ORDER BY id DESC; DELETE FROM copy.t; INSERT INTO copy.t SELECT * FROM copy.t2; DROP TABLE copy.t2;`);
});

afterAll(() => sql?.end());

const stats = (schema: string) => sql.begin((tx) => schemaStats(tx as never, schema));

test("equal data in another row order is verified, with counts of tables, rows and sequences", async () => {
  const r = compareStats(await stats("src"), await stats("copy"));
  expect(r.differences).toEqual([]);
  expect(r.check).toEqual({ tables: 1, rows: 1000, sequences: 1, verified: true });
});

test("a changed value, a missing row and a sequence behind are each named", async () => {
  await sql.unsafe(`UPDATE copy.t SET name = 'changed' WHERE id = 7`);
  let r = compareStats(await stats("src"), await stats("copy"));
  expect(r.check.verified).toBe(false);
  expect(r.differences).toEqual(["table t has the same row count but different contents"]);

  await sql.unsafe(`UPDATE copy.t SET name = 'n7' WHERE id = 7; DELETE FROM copy.t WHERE id = 1000`);
  r = compareStats(await stats("src"), await stats("copy"));
  expect(r.differences).toEqual(["table t has 999 rows, the preview 1000"]);

  await sql.unsafe(`INSERT INTO copy.t (id, name, at, price) VALUES (1000, 'n1000', '2026-01-01'::timestamptz + 1000 * interval '1 hour', 1000 / 3.0); SELECT setval('copy.t_id_seq', 10)`);
  r = compareStats(await stats("src"), await stats("copy"));
  expect(r.differences).toEqual(["sequence t_id_seq is at 10+, the preview's at 1000+"]);
});

test("the session's time zone does not change the checksum", async () => {
  const a = await stats("src");
  const b = await sql.begin(async (tx) => {
    await tx.unsafe(`SET LOCAL TimeZone = 'Asia/Kolkata'`);
    return schemaStats(tx as never, "src");
  });
  expect(b.tables.t!.checksum).toBe(a.tables.t!.checksum);
});
