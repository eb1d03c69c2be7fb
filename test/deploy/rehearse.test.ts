// The rehearsal (src/deploy/schema/rehearse.ts) against the real test
// PostgreSQL: the copy is made on production's own server, the migration
// runs on it and is rolled back, production is only read, and a sample
// past the row limit keeps its foreign keys whole.
import { afterAll, expect, test } from "bun:test";
import postgres from "postgres";
import { readModel } from "../../src/deploy/schema/catalog.ts";
import { emptyModel } from "../../src/deploy/schema/model.ts";
import { readKeywords } from "../../src/deploy/schema/names.ts";
import { RehearsalFailed, rehearse } from "../../src/deploy/schema/rehearse.ts";
import type { Statement } from "../../src/deploy/schema/statement.ts";
import { freshDatabase } from "../support/postgres.ts";

const open: postgres.Sql[] = [];
afterAll(async () => {
  await Promise.all(open.map((s) => s.end({ timeout: 5 })));
});

async function production() {
  const sql = postgres(await freshDatabase(), { max: 1, onnotice: () => {} });
  open.push(sql);
  await sql.unsafe(`
    CREATE TYPE kind AS ENUM ('a', 'b');
    CREATE TABLE parents (id serial PRIMARY KEY, name text NOT NULL, kind kind NOT NULL DEFAULT 'a', tags kind[]);
    CREATE TABLE children (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, parent_id int NOT NULL REFERENCES parents (id), v int, doubled int GENERATED ALWAYS AS (v * 2) STORED);
    CREATE VIEW big AS SELECT * FROM children WHERE v > 5;
    INSERT INTO parents (name, kind, tags) SELECT 'p' || g, (CASE WHEN g % 2 = 0 THEN 'b' ELSE 'a' END)::kind, ARRAY['a'::kind] FROM generate_series(1, 200) g;
    INSERT INTO children (parent_id, v) SELECT 1 + (g * 37) % 200, g FROM generate_series(1, 1000) g;`);
  const [keywords, model] = await Promise.all([readKeywords(sql), sql.begin((tx) => readModel(tx as never, "public"))]);
  const fingerprint = async () => (await sql`SELECT (SELECT count(*) FROM parents)::int AS p, (SELECT count(*) FROM children)::int AS c,
    (SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public')::int AS cols, (SELECT last_value FROM parents_id_seq)::int AS seq,
    (SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'rehearsal%')::int AS scratch`)[0];
  return { sql, keywords, model, fingerprint };
}

const stmt = (sql: string, table?: string): Statement => ({ sql, class: "rewriting", summary: sql, phase: 0, ...(table ? { table } : {}) });

test("a full copy: the migration runs on it, reports rows and time, and production is as it was", async () => {
  const p = await production();
  const before = await p.fingerprint();
  const report = await rehearse(p.sql, {
    scratch: "rehearsal_full", production: p.model, keywords: p.keywords, maxRows: 10_000,
    statements: [stmt("ALTER TABLE children ADD COLUMN w int NOT NULL DEFAULT 0", "children"), stmt("ALTER TABLE parents ALTER COLUMN name SET NOT NULL", "parents"), stmt("UPDATE children SET w = v WHERE v < 10")],
  });
  expect(report.copiedRows).toBe(1200);
  expect(report.sampled).toEqual([]);
  expect(report.statements.map((s) => s.rows)).toEqual([1000, 200, 9]);
  expect(await p.fingerprint()).toEqual(before);
});

test("a failing statement is named, and production and the scratch schema are left as they were", async () => {
  const p = await production();
  const before = await p.fingerprint();
  const bad = stmt("ALTER TABLE parents ADD CONSTRAINT one_kind UNIQUE (kind)", "parents");
  const err = await rehearse(p.sql, { scratch: "rehearsal_bad", production: p.model, keywords: p.keywords, maxRows: 10_000, statements: [stmt("ALTER TABLE parents ADD COLUMN x int"), bad] }).catch((e) => e);
  expect(err).toBeInstanceOf(RehearsalFailed);
  expect((err as RehearsalFailed).statement).toBe(bad);
  expect((err as Error).message).toContain("could not create unique index");
  expect(await p.fingerprint()).toEqual(before);
  expect((await p.sql`SELECT count(*)::int AS n FROM pg_constraint WHERE conname = 'one_kind'`)[0]!.n).toBe(0);
});

test("past the row limit each table is sampled, and children of parents left out go too, so the copy's foreign keys hold", async () => {
  const p = await production();
  // A new foreign key on the sample: it must not fail for rows the sample cut off.
  const report = await rehearse(p.sql, {
    scratch: "rehearsal_sample", production: p.model, keywords: p.keywords, maxRows: 50,
    statements: [stmt("ALTER TABLE children ADD CONSTRAINT children_parent_again FOREIGN KEY (parent_id) REFERENCES parents (id)", "children")],
  });
  expect(report.sampled.sort()).toEqual(["children", "parents"]);
  expect(report.copiedRows).toBeLessThanOrEqual(100);
  expect(report.copiedRows).toBeGreaterThan(50);
  // Nothing of it is left; an empty production copies nothing and still rehearses.
  expect((await p.sql`SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'rehearsal_sample'`)[0]!.n).toBe(0);
  const empty = await rehearse(p.sql, { scratch: "rehearsal_empty", production: emptyModel(), keywords: p.keywords, maxRows: 50, statements: [stmt("CREATE TABLE fresh (id int)")] });
  expect(empty.copiedRows).toBe(0);
});
