#!/usr/bin/env bun
// Per-preview database costs, on the embedded PostgreSQL with its production
// settings (fsync on), or on DATABASE_URL if set:
//   - schema + role alone, and schema + role + migrations + seed: p50/p95 over 50 runs
//   - drop: p50/p95
//   - export of a 100k-row preview (pg_dump + epilogue), and its psql replay
// Usage: ./node_modules/.bin/bun scripts/bench/db.ts [runs]
// Talks to 127.0.0.1 only (or the DATABASE_URL you give it).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { customAlphabet } from "nanoid";
import { connect, migrate, PreviewDatabases, startEmbeddedPostgres } from "../../src/db/index.ts";
import { createLogger } from "../../src/log.ts";

const runs = Number(process.argv[2] ?? 50);
const newId = customAlphabet("abcdefghijklmnopqrstuvwxyz0123456789", 12);
const log = createLogger("error");

const MIGRATIONS = [
  "create type role as enum ('admin', 'member')",
  "create table users (id serial primary key, email text not null unique, role role not null default 'member', created_at timestamptz not null default now())",
  "create table projects (id serial primary key, owner_id int not null references users (id) on delete cascade, name text not null)",
  "create index projects_owner_idx on projects (owner_id)",
  "create table tasks (id bigint generated always as identity primary key, project_id int not null references projects (id), title text not null, done boolean not null default false)",
];
const SEED = `
  insert into users (email, role) values ('a@example.com', 'admin'), ('b@example.com', 'member');
  insert into projects (owner_id, name) values (1, 'one'), (2, 'two');
  insert into tasks (project_id, title) select 1 + (g % 2), 'task ' || g from generate_series(1, 20) g;`;

const root = mkdtempSync(join(tmpdir(), "previewd-bench-db-"));
const embedded = process.env.DATABASE_URL ? undefined : await startEmbeddedPostgres({ dataDir: join(root, "pg"), log });
const url = process.env.DATABASE_URL || embedded!.url;
const sql = connect(url);
await migrate(sql);
const dbs = new PreviewDatabases({ sql, adminUrl: url, containerHost: "host.docker.internal", log });

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const row = (what: string, xs: number[]) =>
  console.log(`${what.padEnd(42)} p50 ${pct(xs, 50).toFixed(1).padStart(7)} ms   p95 ${pct(xs, 95).toFixed(1).padStart(7)} ms   (n=${xs.length})`);
const time = async (f: () => Promise<unknown>) => {
  const t = performance.now();
  await f();
  return performance.now() - t;
};

try {
  // warm-up: first connections, catalog caches
  for (let i = 0; i < 3; i++) {
    const id = newId();
    await dbs.create(id, { migrations: MIGRATIONS, seed: SEED });
    await dbs.drop(id);
  }

  const bare: number[] = [];
  const full: number[] = [];
  const drops: number[] = [];
  const ids: string[] = [];
  for (let i = 0; i < runs; i++) {
    const a = newId();
    bare.push(await time(() => dbs.create(a, { migrations: [] })));
    const b = newId();
    full.push(await time(() => dbs.create(b, { migrations: MIGRATIONS, seed: SEED })));
    ids.push(a, b);
  }
  for (const id of ids) drops.push(await time(() => dbs.drop(id)));

  const big = newId();
  await dbs.create(big, {
    migrations: ["create table events (id bigserial primary key, kind text not null, payload jsonb not null, at timestamptz not null default now())", "create index events_kind_idx on events (kind)"],
    seed: "insert into events (kind, payload) select 'kind' || (g % 10), jsonb_build_object('n', g, 'note', repeat('x', 40)) from generate_series(1, 100000) g",
  });
  let script = "";
  const exportMs = await time(async () => (script = await dbs.exportSql(big)));
  const file = join(root, "export.sql");
  writeFileSync(file, script);
  await sql`CREATE DATABASE bench_replay`;
  const target = new URL(url);
  target.pathname = "/bench_replay";
  let replayCode = -1;
  const replayMs = await time(async () => {
    const p = Bun.spawn(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", file, target.toString()], { stdout: "ignore", stderr: "inherit" });
    replayCode = await p.exited;
  });
  await dbs.drop(big);
  await sql`DROP DATABASE bench_replay`;

  console.log(`previewd db bench on ${embedded ? "embedded PostgreSQL 15 (fsync on)" : "DATABASE_URL"}, ${runs} runs each`);
  row("schema + role", bare);
  row(`schema + role + ${MIGRATIONS.length} migrations + seed`, full);
  row("drop (schema + role)", drops);
  console.log(`${"export 100k rows (pg_dump)".padEnd(42)} ${exportMs.toFixed(0).padStart(7)} ms   ${(script.length / 1024 / 1024).toFixed(1)} MiB of SQL`);
  console.log(`${"replay of that export (psql)".padEnd(42)} ${replayMs.toFixed(0).padStart(7)} ms   exit ${replayCode}`);
} finally {
  await sql.end({ timeout: 5 });
  await embedded?.stop();
  rmSync(root, { recursive: true, force: true });
}
