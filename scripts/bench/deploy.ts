#!/usr/bin/env bun
// Deploying a preview with a database to Railway, against the local fake
// Railway (test/fakes/railway: real GraphQL, a real PostgreSQL 15 server per
// Postgres service in its own container behind a real TCP relay, real
// containers for the app), through a real daemon started in this process
// (as test/support/daemon.ts does: the shared test PostgreSQL, fsync off,
// containers labelled previewd.test=1, deployPollMs 200).
//   node_modules/.bin/bun scripts/bench/deploy.ts [rows...]      default: 10000 1000000
//   BENCH_DEPLOY_ROUNDS=3   deployments per N (the preview is created once per N); tables show medians
// For each N: a preview whose schema holds `orders` (N rows: bigserial pk,
// customer_id FK, numeric total, status, timestamptz, a 32-char note on 2 of
// 3 rows, an index on customer_id) and `customers` (1000 rows), filled by the
// create request's migrations + a generate_series seed; the app is a tiny
// node:http server with no dependencies (so the build is not what is measured).
//
// 1. steps      seconds per deployment step and in total, from the deployment
//               object's steps[].startedAt/endedAt (GET /v1/deployments/{id}).
// 2. restore    rows/s of the daemon's `restoring` step (ONE `psql
//               --single-transaction -f <export>` of the file the `exporting`
//               step wrote earlier) and of `exporting` + `restoring`, against
//               the reference measured in the same run between the same two
//               servers: `pg_dump --schema=preview_{id} --no-owner
//               --no-privileges <admin URL> | psql -X -q -v ON_ERROR_STOP=1
//               <fresh empty database>`, timed end to end, where the fresh
//               database is created ON THE FAKE'S POSTGRES SERVER (the very
//               container the daemon restored into, reached through the same
//               TCP relay: fsync on, 512 MB memory limit). --no-owner and
//               --no-privileges because the preview's role does not exist
//               there (plain pg_dump's ALTER ... OWNER TO would stop psql);
//               they change no data. For context, the same pipe into a fresh
//               database on the test server itself (the source's server,
//               fsync off, no relay).
// 3. exporting  where the exporting step's time goes, each part run alone
//               after the deployment: the statistics pass (count + md5 of
//               every row, src/deploy/verify.ts), the daemon's dump path
//               (src/db/export.ts into Bun.write) and `pg_dump > file`; and the
//               same statistics pass on a freshly restored copy (verifying_data).
// 1b. update     the same preview deployed once more and then updated ROUNDS
//               times (scripts/bench/deploy-update.ts): production holds the N
//               rows, each update adds a column with a default and an index;
//               seconds per update step and to live, beside the same two
//               statements run by hand on production in the same run.
// Tables go to stdout; numbers (medians and every round) to
// bench/results.json ("deploy"). Everything the fake and the daemon made is
// removed at the end (also on failure or Ctrl-C). Traffic: loopback and the
// Docker bridge only (npm install of an app with no dependencies at the
// fake's builder). ~2 minutes on 2 cores with the defaults.
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import Docker from "dockerode";
import postgres from "postgres";
import { tinyApp, waitForDeployment, finished, type DeploymentJson } from "../../test/deploy/helpers.ts";
import { startFakeRailway, type FakeRailway } from "../../test/fakes/railway/index.ts";
import { createPreview, startTestDaemon, type TestDaemon } from "../../test/support/daemon.ts";
import { freshDatabase } from "../../test/support/postgres.ts";
import { dumpSchemaStream } from "../../src/db/export.ts";
import { schemaStats } from "../../src/deploy/verify.ts";
import { measureUpdates, UPDATE_STEPS, type UpdateRound } from "./deploy-update.ts";
import { printTable, round, runBench } from "./lib.ts";

const sizes = process.argv.slice(2).map(Number).filter((n) => Number.isInteger(n) && n > 0);
if (sizes.length === 0) sizes.push(10_000, 1_000_000);
const CUSTOMERS = 1000;
/** Deployments per N (the preview is created once per N); tables show medians. */
const ROUNDS = Number(process.env.BENCH_DEPLOY_ROUNDS ?? 3);
const PIPE = `pg_dump --schema="$SCHEMA" --no-owner --no-privileges "$SRC" | psql -X -q -v ON_ERROR_STOP=1 "$DST" >/dev/null`;
const STEPS = ["exporting", "provisioning", "restoring", "verifying_data", "uploading", "building", "deploying"] as const;
const tmp = mkdtempSync(join(tmpdir(), "previewd-bench-deploy-"));
const docker = new Docker();
const results: Record<string, unknown> = {};

const database = (n: number) => ({
  migrations: [
    "CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, email text NOT NULL UNIQUE, created_at timestamptz NOT NULL DEFAULT now())",
    "CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int NOT NULL REFERENCES customers (id), total numeric(10,2) NOT NULL, status text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), note text)",
    "CREATE INDEX orders_customer_id_idx ON orders (customer_id)",
  ],
  seed:
    `INSERT INTO customers (name, email) SELECT 'customer ' || g, 'c' || g || '@example.com' FROM generate_series(1, ${CUSTOMERS}) g; ` +
    `INSERT INTO orders (customer_id, total, status, created_at, note) SELECT 1 + g % ${CUSTOMERS}, ((g::bigint * 7919) % 100000) / 100.0, ` +
    `(ARRAY['new', 'paid', 'shipped', 'cancelled'])[1 + g % 4], timestamptz '2024-01-01 00:00:00+00' + g * interval '17 seconds', ` +
    `CASE WHEN g % 3 = 0 THEN NULL ELSE md5(g::text) END FROM generate_series(1, ${n}) g`,
});

let fake: FakeRailway | undefined;
let d: TestDaemon | undefined;

const secs = (a: string, b: string) => (Date.parse(b) - Date.parse(a)) / 1000;
const fmt = (x: number | undefined, digits = 2) => (x === undefined || !Number.isFinite(x) ? "-" : x.toFixed(digits));
const rate = (rows: number, s: number) => Math.round(rows / s);
const thousands = (x: number) => x.toLocaleString("en-US");

/** Runs a shell line with these variables; returns seconds, end to end. Throws with stderr on failure. */
async function timedShell(line: string, env: Record<string, string>): Promise<number> {
  const t = performance.now();
  const p = Bun.spawn(["bash", "-c", `set -euo pipefail; ${line}`], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", PGPASSFILE: "/dev/null", PGSERVICEFILE: "/dev/null", PGCONNECT_TIMEOUT: "10", ...env },
    stdout: "ignore",
    stderr: "pipe",
  });
  const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
  const s = (performance.now() - t) / 1000;
  if (code !== 0) throw new Error(`\`${line}\` exited ${code}: ${err.trim().split("\n").slice(-5).join(" | ")}`);
  return s;
}

async function withSql<T>(url: string, f: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    return await f(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

const countRows = (url: string, schema: string) =>
  withSql(url, async (sql) => {
    const [r] = await sql.unsafe(`SELECT (SELECT count(*) FROM "${schema}".orders) + (SELECT count(*) FROM "${schema}".customers) AS n`);
    return Number(r!.n);
  });

interface Round {
  steps: Record<string, number>;
  totalS: number;
  postToLiveS: number;
  dumpMiB: number;
  restoreDetail: string;
  pipeFakeS: number;
  pipeTestS: number;
  dumpOnlyS: number;
  daemonDumpS: number;
  statsSourceS: number;
  statsTargetS: number;
}

interface Measured {
  rows: number;
  createS: number;
  rounds: Round[];
  updates: UpdateRound[];
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Seconds of f(). */
async function timed(f: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await f();
  return (performance.now() - t) / 1000;
}

/** The statistics pass of the exporting/verifying steps (src/deploy/verify.ts), alone, in the transaction kind the exporting step uses. */
const statsPass = (url: string, schema: string) =>
  withSql(url, (sql) => sql.begin("ISOLATION LEVEL REPEATABLE READ READ ONLY", (tx) => schemaStats(tx as never, schema)));

async function measure(n: number): Promise<Measured> {
  const api = d!.api;
  console.log(`\n[deploy bench] N=${thousands(n)}: creating the preview (migrations + seed)...`);
  const t = performance.now();
  const p = await createPreview(d!, { files: tinyApp({ marker: `bench-deploy-${n}` }), database: database(n) });
  const createS = (performance.now() - t) / 1000;
  if (p.status !== "running") throw new Error(`preview ${p.id} is ${p.status}: ${p.error}`);
  const schema = p.database!.schema;
  const rows = await countRows(d!.databaseUrl, schema);
  if (rows !== n + CUSTOMERS) throw new Error(`preview holds ${rows} rows, expected ${n + CUSTOMERS}`);
  // Let the seed's dirty pages and autovacuum (it would analyze the new tables) settle before the clock starts.
  await withSql(d!.databaseUrl, async (sql) => {
    await sql.unsafe(`VACUUM ANALYZE "${schema}".orders`);
    await sql.unsafe(`VACUUM ANALYZE "${schema}".customers`);
    await sql.unsafe("CHECKPOINT");
  });
  console.log(`[deploy bench] N=${thousands(n)}: preview ${p.id} created in ${createS.toFixed(1)} s`);

  const rounds: Round[] = [];
  for (let r = 1; r <= ROUNDS; r++) {
    const t0 = performance.now();
    const res = await api(`/v1/previews/${p.id}/deploy`, { method: "POST", body: JSON.stringify({ provider: "railway", projectName: `bench-${n}-${r}` }) });
    if (res.status !== 202) throw new Error(`deploy: ${res.status} ${await res.text()}`);
    const started = ((await res.json()) as { deployment: DeploymentJson }).deployment;
    const dep = await waitForDeployment(api, started.id, finished, 900_000);
    const postToLiveS = (performance.now() - t0) / 1000;
    if (dep.status !== "live") throw new Error(`deployment ${dep.id} ${dep.status}: ${JSON.stringify(dep.error)}`);
    const steps: Record<string, number> = {};
    for (const s of dep.steps) if (s.endedAt) steps[s.name] = secs(s.startedAt, s.endedAt);
    const totalS = secs(dep.steps[0]!.startedAt, dep.steps.at(-1)!.endedAt!);
    const detail = (name: string) => dep.steps.find((s) => s.name === name)?.detail ?? "";
    const kib = Number(/\((\d+) KiB\)/.exec(detail("exporting"))?.[1] ?? NaN);
    if (!dep.data?.verified || dep.data.rows !== rows) throw new Error(`deployment ${dep.id} data check: ${JSON.stringify(dep.data)}`);

    // The references, between the same servers, while the deployment's database still exists.
    const target = fake!.projects().find((x) => x.id === dep.providerIds.projectId)?.services.find((s) => s.postgres)?.databaseUrl;
    if (!target) throw new Error("the fake has no Postgres service URL for this deployment");
    const refName = `bench_ref_${n}_${r}`;
    await withSql(target, (sql) => sql.unsafe(`CREATE DATABASE ${refName}`));
    const refUrl = Object.assign(new URL(target), { pathname: `/${refName}` }).toString();
    const pipeFakeS = await timedShell(PIPE, { SCHEMA: schema, SRC: d!.databaseUrl, DST: refUrl });
    // The verifying step's pass on a freshly restored copy (before anything else reads it: hint bits not yet set, as there).
    const statsTargetS = await timed(() => statsPass(refUrl, schema));
    const onFake = await countRows(refUrl, schema);
    if (onFake !== rows) throw new Error(`the reference copy on the fake's server holds ${onFake} rows, not ${rows}`);
    await withSql(target, (sql) => sql.unsafe(`DROP DATABASE ${refName}`));

    const local = await freshDatabase();
    const pipeTestS = await timedShell(PIPE, { SCHEMA: schema, SRC: d!.databaseUrl, DST: local });
    const onTest = await countRows(local, schema);
    await withSql(d!.databaseUrl, (sql) => sql.unsafe(`DROP DATABASE "${new URL(local).pathname.slice(1)}"`));
    if (onTest !== rows) throw new Error(`the reference copy on the test server holds ${onTest} rows, not ${rows}`);

    // Where the exporting step's time goes: pg_dump to a file by the shell, the daemon's own dump path (pg_dump's
    // stdout through a ReadableStream into Bun.write, src/db/export.ts), and the statistics pass.
    const file = join(tmp, `dump-${n}.sql`);
    const dumpOnlyS = await timedShell(`pg_dump --schema="$SCHEMA" --no-owner --no-privileges "$SRC" > "$OUT"`, { SCHEMA: schema, SRC: d!.databaseUrl, OUT: file });
    const daemonDumpS = await timed(async () => Bun.write(file, new Response(await dumpSchemaStream({ url: d!.databaseUrl, schema }))));
    rmSync(file, { force: true });
    const statsSourceS = await timed(() => statsPass(d!.databaseUrl, schema));

    const del = await api(`/v1/deployments/${dep.id}`, { method: "DELETE" });
    if (del.status !== 202) console.log(`  (DELETE deployment answered ${del.status})`);
    await del.body?.cancel();
    const round: Round = { steps, totalS, postToLiveS, dumpMiB: kib / 1024, restoreDetail: detail("restoring"), pipeFakeS, pipeTestS, dumpOnlyS, daemonDumpS, statsSourceS, statsTargetS };
    rounds.push(round);
    console.log(
      `[deploy bench] N=${thousands(n)} round ${r}/${ROUNDS}: live in ${postToLiveS.toFixed(1)} s (${STEPS.map((x) => `${x} ${fmt(steps[x])}`).join(", ")}); ` +
        `pipe to fake ${fmt(pipeFakeS)} s, to test server ${fmt(pipeTestS)} s; pg_dump>file ${fmt(dumpOnlyS)} s, daemon dump path ${fmt(daemonDumpS)} s, ` +
        `stats source ${fmt(statsSourceS)} s, target ${fmt(statsTargetS)} s`,
    );
  }
  // The update path: the same preview deployed once more, then updated ROUNDS times (deploy-update.ts).
  const updates = await measureUpdates(d!, fake!, { id: p.id, schema }, n, ROUNDS, console.log);
  await api(`/v1/previews/${p.id}`, { method: "DELETE" }).then((r) => r.body?.cancel());
  return { rows, createS, rounds, updates };
}

async function cleanup(): Promise<void> {
  const labels = [fake && `previewd.fake.instance=${fake.instance}`, d && `previewd.node=${d.nodeId}`].filter(Boolean) as string[];
  await d?.cleanup().catch((e) => console.error("daemon cleanup:", e));
  await fake?.stop().catch((e) => console.error("fake stop:", e));
  rmSync(tmp, { recursive: true, force: true });
  const left: string[] = [];
  for (const l of labels) left.push(...(await docker.listContainers({ all: true, filters: { label: [l] } })).map((c) => `${c.Names[0]} (${c.State})`));
  console.log(`  after cleanup: ${left.length} containers left by this run${left.length ? `: ${left.join(", ")}` : ""}`);
}

async function main() {
  const wall = performance.now();
  fake = await startFakeRailway();
  d = await startTestDaemon(
    { RAILWAY_API_TOKEN: fake.token, RAILWAY_API_URL: fake.apiUrl, RAILWAY_EDGE_URL: fake.edgeUrl, PREVIEWD_WARM_POOL: "0" },
    { deployPollMs: 200 },
  );
  console.log(`previewd bench deploy: N = ${sizes.map(thousands).join(", ")} order rows (+${CUSTOMERS} customers), ${ROUNDS} deployments each, ${cpus().length} cores, load ${loadavg().map((x) => round(x, 2)).join(" ")}`);
  results.loadBefore = loadavg().map((x) => round(x, 2));
  const m: Measured[] = [];
  for (const n of sizes) m.push(await measure(n));
  const col = (i: number) => `N=${thousands(sizes[i]!)}`;
  /** Median over the rounds of one figure, and the spread as "min-max". */
  const med = (x: Measured, f: (r: Round) => number) => median(x.rounds.map(f));
  const spread = (x: Measured, f: (r: Round) => number) => {
    const v = x.rounds.map(f);
    return `${fmt(Math.min(...v))}-${fmt(Math.max(...v))}`;
  };
  const stepRow = (label: string, f: (r: Round) => number) =>
    Object.fromEntries([["step", label], ...m.flatMap((x, i) => [[`${col(i)} s`, fmt(med(x, f))], [`${col(i)} min-max`, spread(x, f)]])]);

  printTable(`1. Deployment steps, seconds, median of ${ROUNDS} deployments (steps[].startedAt/endedAt of GET /v1/deployments/{id}; ms resolution)`, [
    ...STEPS.map((step) => stepRow(step, (r) => r.steps[step] ?? NaN)),
    stepRow("total (first step start -> live)", (r) => r.totalS),
    stepRow("POST deploy -> seen live (polled 200 ms)", (r) => r.postToLiveS),
  ]);
  console.log(`  preview create with migrations + seed (POST ?wait=1, once per N): ${m.map((x, i) => `${col(i)} ${fmt(x.createS)} s`).join(", ")}`);
  console.log(`  export size (exporting step): ${m.map((x, i) => `${col(i)} ${fmt(med(x, (r) => r.dumpMiB), 1)} MiB`).join(", ")}`);

  const updMed = (x: Measured, f: (u: UpdateRound) => number) => median(x.updates.map(f));
  printTable(`1b. Update path (deploy again: same project, production holds the N orders), seconds, median of ${ROUNDS} updates; ref = the same two statements by hand on production (BEGIN; ...; ROLLBACK), same run`, [
    ...UPDATE_STEPS.map((s) => Object.fromEntries([["step", s], ...m.map((x, i) => [col(i), fmt(updMed(x, (u) => u.steps[s] ?? NaN))])])),
    Object.fromEntries([["step", "  of rehearsing: copying production on its own server"], ...m.map((x, i) => [col(i), `${fmt(updMed(x, (u) => u.copyS))} (${thousands(updMed(x, (u) => u.copiedRows))} rows)`])]),
    Object.fromEntries([["step", "total, first step -> live"], ...m.map((x, i) => [col(i), fmt(updMed(x, (u) => u.totalS))])]),
    Object.fromEntries([["step", "POST deploy -> seen live (polled 200 ms)"], ...m.map((x, i) => [col(i), fmt(updMed(x, (u) => u.postToLiveS))])]),
    Object.fromEntries([["step", "ref: the migration by hand on production"], ...m.map((x, i) => [col(i), fmt(updMed(x, (u) => u.handS))])]),
    Object.fromEntries([["step", "  migrating step / by hand (time)"], ...m.map((x, i) => [col(i), fmt(median(x.updates.map((u) => u.steps.migrating! / u.handS)))])]),
    Object.fromEntries([["step", "create path total, for comparison (table 1)"], ...m.map((x, i) => [col(i), fmt(med(x, (r) => r.totalS))])]),
  ]);

  const exportPlusRestore = (r: Round) => r.steps.exporting! + r.steps.restoring!;
  type Line = [string, ((r: Round) => number) | [(r: Round) => number, (r: Round) => number]];
  const lines: Line[] = [
    ["daemon  restoring step: psql --single-transaction -f <export file> -> fake's PG (TCP relay)", (r) => r.steps.restoring!],
    ["ref     pg_dump | psql -> fresh db on the fake's PG server (same relay), end to end", (r) => r.pipeFakeS],
    ["  ratio daemon restoring / ref (time; <1 = daemon faster)", [(r) => r.steps.restoring!, (r) => r.pipeFakeS]],
    ["daemon  exporting + restoring steps (dump + stats pass, then psql)", exportPlusRestore],
    ["ref     pg_dump | psql -> fake's PG (the same figure as above)", (r) => r.pipeFakeS],
    ["  ratio daemon exporting+restoring / ref (time)", [exportPlusRestore, (r) => r.pipeFakeS]],
    ["context pg_dump | psql -> fresh db on the test server (source's server, fsync off, no relay)", (r) => r.pipeTestS],
  ];
  printTable(`2. Restore throughput, rows/s (${m.map((x, i) => `${col(i)}: ${thousands(x.rows)} rows`).join(", ")}); medians of ${ROUNDS}; ref = in the same run, between the same servers`, lines.map(([what, f]) => {
    const row: Record<string, string | number> = { measure: what };
    m.forEach((x, i) => {
      if (typeof f === "function") {
        const sec = med(x, f);
        row[`${col(i)} s`] = fmt(sec);
        row[`${col(i)} rows/s`] = thousands(rate(x.rows, sec));
      } else {
        row[`${col(i)} s`] = fmt(median(x.rounds.map((r) => f[0](r) / f[1](r))));
        row[`${col(i)} rows/s`] = "";
      }
    });
    return row;
  }));

  printTable(`3. Where the exporting step's time goes, seconds, medians of ${ROUNDS} (each part run alone, after the deployment)`, [
    ["exporting step (stats pass + dump in one REPEATABLE READ snapshot)", (r: Round) => r.steps.exporting!],
    ["  stats pass alone on the source (count + md5 of every row)", (r: Round) => r.statsSourceS],
    ["  daemon's dump path alone (pg_dump stdout -> ReadableStream -> Bun.write)", (r: Round) => r.daemonDumpS],
    ["  pg_dump > file by the shell", (r: Round) => r.dumpOnlyS],
    ["verifying_data step (stats pass on the restored copy at the fake's PG)", (r: Round) => r.steps.verifying_data!],
    ["  stats pass alone on the freshly restored reference copy (fake's PG)", (r: Round) => r.statsTargetS],
  ].map(([what, f]) => Object.fromEntries([["part", what as string], ...m.map((x, i) => [col(i), fmt(med(x, f as (r: Round) => number))])])));

  results.sizes = sizes;
  results.customers = CUSTOMERS;
  results.roundsPerSize = ROUNDS;
  results.reference = "pg_dump --schema=preview_{id} --no-owner --no-privileges <admin URL> | psql -X -q -v ON_ERROR_STOP=1 <fresh database on the fake's Postgres server (the container the daemon restored into, via the same TCP relay)>";
  const r3 = (v: number) => round(v, 3);
  results.runs = m.map((x, i) => ({
    orders: sizes[i],
    rows: x.rows,
    createWithSeedS: r3(x.createS),
    exportMiB: round(med(x, (r) => r.dumpMiB), 1),
    medianStepsS: Object.fromEntries(STEPS.map((s) => [s, r3(med(x, (r) => r.steps[s] ?? NaN))])),
    medianTotalS: r3(med(x, (r) => r.totalS)),
    update: {
      medianStepsS: Object.fromEntries(UPDATE_STEPS.map((s) => [s, r3(median(x.updates.map((u) => u.steps[s] ?? NaN)))])),
      medianTotalS: r3(median(x.updates.map((u) => u.totalS))),
      medianByHandS: r3(median(x.updates.map((u) => u.handS))),
      medianRehearsalCopyS: r3(median(x.updates.map((u) => u.copyS))),
      rounds: x.updates.map((u) => ({ ...u, steps: Object.fromEntries(Object.entries(u.steps).map(([k, v]) => [k, r3(v)])) })),
    },
    restore: {
      daemonRestoringRowsPerS: rate(x.rows, med(x, (r) => r.steps.restoring!)),
      daemonExportPlusRestoreRowsPerS: rate(x.rows, med(x, exportPlusRestore)),
      referencePipeRowsPerS: rate(x.rows, med(x, (r) => r.pipeFakeS)),
      ratioRestoringToReference: round(median(x.rounds.map((r) => r.steps.restoring! / r.pipeFakeS)), 2),
      ratioExportPlusRestoreToReference: round(median(x.rounds.map((r) => exportPlusRestore(r) / r.pipeFakeS)), 2),
      contextPipeToTestServerRowsPerS: rate(x.rows, med(x, (r) => r.pipeTestS)),
    },
    rounds: x.rounds.map((r) => ({
      stepsS: Object.fromEntries(Object.entries(r.steps).map(([k, v]) => [k, r3(v)])),
      totalS: r3(r.totalS), postToLiveS: r3(r.postToLiveS), restoreDetail: r.restoreDetail,
      pipeToFakeS: r3(r.pipeFakeS), pipeToTestServerS: r3(r.pipeTestS), pgDumpToFileS: r3(r.dumpOnlyS),
      daemonDumpPathS: r3(r.daemonDumpS), statsSourceS: r3(r.statsSourceS), statsTargetS: r3(r.statsTargetS),
    })),
  }));
  results.loadAfter = loadavg().map((x) => round(x, 2));
  results.wallS = round((performance.now() - wall) / 1000, 1);
  console.log(`\n  bench wall time ${fmt(results.wallS as number, 1)} s, load after ${(results.loadAfter as number[]).join(" ")}`);
}

await runBench("deploy", results, main, cleanup);
