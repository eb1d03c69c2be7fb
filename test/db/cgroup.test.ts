// The embedded PostgreSQL runs in a cgroup of its own (issue 10, item 3): a
// preview's queries run in the server's backends, outside the preview's
// container, so only the server's own cgroup bounds them. A real server,
// started as the daemon starts it, with a small memory limit and half a CPU;
// a real preview role as the attacker.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { ConfigError, effectiveDbCpus, effectiveDbMemoryMb, loadConfig } from "../../src/config.ts";
import { cgroupsOf, createServerCgroup } from "../../src/db/cgroup.ts";
import { startEmbeddedPostgres, type EmbeddedPostgres } from "../../src/db/embedded.ts";
import { connect, DatabaseWatchdog, migrate, PreviewDatabases, type Sql } from "../../src/db/index.ts";
import { createLogger, type Logger } from "../../src/log.ts";
import { asRole, newId } from "./helpers.ts";

const MEMORY_MB = 256;
const CPUS = 0.5;
const root = mkdtempSync(join(tmpdir(), "previewd-cgroup-"));
chmodSync(root, 0o755); // the server runs as the postgres user
const log = createLogger("error");
let pg: EmbeddedPostgres;
let sql: Sql;
let roleUrl: string;
let cgDirs: string[];

beforeAll(async () => {
  pg = await startEmbeddedPostgres({
    dataDir: join(root, "data"), log, listenBridges: false,
    settings: { fsync: "off", full_page_writes: "off" },
    limits: { memoryMb: MEMORY_MB, cpus: CPUS },
  });
  expect(pg.cgroup).toBeDefined(); // root with writable cgroups: anything else is a failure here
  cgDirs = pg.cgroup!.dirs;
  sql = connect(pg.url);
  await migrate(sql);
  const dbs = new PreviewDatabases({ sql, adminUrl: pg.url, containerHost: "host.docker.internal", log });
  roleUrl = (await dbs.create(newId(), { migrations: [] })).url;
}, 60_000);

afterAll(async () => {
  await sql?.end({ timeout: 2 });
  await pg?.stop();
  rmSync(root, { recursive: true, force: true });
});

const postmasterPid = () => Number(readFileSync(join(pg.dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
const limitFile = (f: string) => readFileSync(join(cgDirs.find((d) => existsSync(join(d, f)))!, f), "utf8").trim();

/** Whether `pid` is in the server's cgroup in every hierarchy that has one (v1: memory, cpu; v2: the one). */
function inServerCgroup(pid: number): boolean {
  const mine = cgroupsOf(pid);
  const want = pg.cgroup!.home;
  return pg.cgroup!.version === 2 ? mine[""] === want : ["memory", "cpu"].every((c) => Object.entries(mine).some(([k, p]) => k.split(",").includes(c) && p === want));
}

async function waitAnswers(ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const probe = postgres(pg.url, { max: 1, connect_timeout: 2, onnotice: () => {} });
    const ok = await probe`select 1 as one`.then(() => true, () => false);
    await probe.end({ timeout: 1 }).catch(() => {});
    if (ok) return true;
    await Bun.sleep(200);
  }
  return false;
}

test("the postmaster and a preview's backend are in the server's cgroup, with its limits", async () => {
  expect(inServerCgroup(postmasterPid())).toBe(true);
  const role = asRole(roleUrl, pg.url);
  try {
    const pid = (await role<{ pid: number }[]>`select pg_backend_pid() as pid`)[0]!.pid;
    expect(inServerCgroup(pid)).toBe(true);
    // The OOM killer takes a backend, never the postmaster (which then restarts its backends). Lowering the score
    // needs CAP_SYS_RESOURCE, which some sandboxes withhold from root: checked where this host allows it.
    const mayLower = spawnSync("sh", ["-c", "echo -1000 > /proc/self/oom_score_adj && cat /proc/self/oom_score_adj"], { encoding: "utf8" }).stdout.trim() === "-1000";
    expect(readFileSync(`/proc/${postmasterPid()}/oom_score_adj`, "utf8").trim()).toBe(mayLower ? "-1000" : "0");
    expect(readFileSync(`/proc/${pid}/oom_score_adj`, "utf8").trim()).toBe("0");
  } finally {
    await role.end({ timeout: 1 });
  }
  const bytes = MEMORY_MB * 1024 * 1024;
  if (pg.cgroup!.version === 2) {
    expect(Number(limitFile("memory.max"))).toBe(bytes);
    expect(Number(limitFile("memory.high"))).toBeLessThan(bytes);
    expect(limitFile("cpu.max")).toBe("50000 100000");
  } else {
    expect(Number(limitFile("memory.limit_in_bytes"))).toBe(bytes);
    expect(Number(limitFile("cpu.cfs_quota_us"))).toBe(50_000);
    expect(Number(limitFile("cpu.cfs_period_us"))).toBe(100_000);
  }
});

test("a preview role's per-query defaults are small, and work_mem is only a default", async () => {
  const role = asRole(roleUrl, pg.url);
  try {
    const show = async (name: string) => (await role.unsafe(`show ${name}`))[0]![name];
    expect(await show("work_mem")).toBe("4MB");
    expect(await show("max_parallel_workers_per_gather")).toBe("0");
    expect(await show("max_worker_processes")).toBe("4");
    // What a role may SET itself: the memory ones, yes (so the cgroup is the real bound); the worker pool, no.
    const ctx = await role<{ name: string; context: string }[]>`
      select name, context from pg_settings where name in ('work_mem', 'hash_mem_multiplier', 'max_parallel_workers_per_gather', 'max_parallel_workers', 'max_worker_processes', 'temp_file_limit') order by name`;
    expect(Object.fromEntries(ctx.map((r) => [r.name, r.context]))).toEqual({
      hash_mem_multiplier: "user", max_parallel_workers: "user", max_parallel_workers_per_gather: "user",
      max_worker_processes: "postmaster", temp_file_limit: "superuser", work_mem: "user",
    });
    await role`set work_mem = '1500MB'`;
    expect(await show("work_mem")).toBe("1500MB");
  } finally {
    await role.end({ timeout: 1 });
  }
});

const ATTACK = `select count(*) from (select g, md5(g::text) from generate_series(1, 20000000) g order by 2) s`;

test("SET work_mem='1500MB' and a big sort cannot take the server past its memory limit; the server answers after", async () => {
  const limit = MEMORY_MB * 1024 * 1024;
  const role = asRole(roleUrl, pg.url);
  // Someone else's session (another preview, the daemon): what an OOM kill of one backend costs everyone.
  const bystander = postgres(pg.url, { max: 1, onnotice: () => {} });
  const bystanderPid = (await bystander<{ pid: number }[]>`select pg_backend_pid() as pid`)[0]!.pid;
  let peak = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const u = pg.cgroup!.usage();
      peak = Math.max(peak, u.memoryBytes, u.peakBytes ?? 0);
      await Bun.sleep(50);
    }
  })();
  const started = Date.now();
  const ooms = pg.cgroup!.usage().oomKills;
  let outcome: string;
  try {
    await role`set statement_timeout = 0`;
    await role`set work_mem = '1500MB'`;
    const r = await role.unsafe(ATTACK)
      .then((rows) => `finished: ${rows[0]!.count}`, (e: Error & { code?: string }) => `failed: ${e.code ?? ""} ${e.message}`);
    outcome = r;
  } finally {
    sampling = false;
    await sampler;
    await role.end({ timeout: 1 }).catch(() => {});
  }
  const u = pg.cgroup!.usage();
  peak = Math.max(peak, u.peakBytes ?? 0);
  console.log(`memory attack: ${outcome} after ${Date.now() - started} ms; server cgroup peak ${(peak / 1048576).toFixed(0)} MiB of ${MEMORY_MB}`);
  expect(peak).toBeLessThanOrEqual(limit);
  // Either it spilled to disk and finished, or the kernel killed its backend inside the server's cgroup.
  if (!outcome.startsWith("finished")) expect(pg.cgroup!.usage().oomKills).toBeGreaterThan(ooms);
  expect(peak).toBeGreaterThan(limit * 0.8); // the attack did push against the limit (the test measured something)
  const down = Date.now();
  expect(await waitAnswers(60_000)).toBe(true); // PostgreSQL restarts its backends after an OOM kill of one
  const survived = await bystander<{ pid: number }[]>`select pg_backend_pid() as pid`.then((r) => r[0]!.pid === bystanderPid, () => false);
  console.log(`memory attack: the server answered again ${Date.now() - down} ms later; another session ${survived ? "survived" : "was dropped by the restart"}`);
  await bystander.end({ timeout: 1 }).catch(() => {});
}, 180_000);

test("with the watchdog's backend memory limit, the attack is cancelled before the cgroup OOM-kills, and nobody else is hurt", async () => {
  const actions: Array<{ mb?: number; action?: string }> = [];
  const dogLog = { warn: (o: { mb?: number; action?: string }) => actions.push(o), info() {}, error() {}, debug() {} } as unknown as Logger;
  const dog = new DatabaseWatchdog({ sql, log: dogLog, limitMs: 600_000, migrationLimitMs: 600_000, everyMs: 200, backendMemoryMb: 96 });
  dog.start();
  const role = asRole(roleUrl, pg.url);
  const bystander = postgres(pg.url, { max: 1, onnotice: () => {} });
  try {
    const bystanderPid = (await bystander<{ pid: number }[]>`select pg_backend_pid() as pid`)[0]!.pid;
    const ooms = pg.cgroup!.usage().oomKills;
    await role`set statement_timeout = 0`;
    await role`set work_mem = '1500MB'`;
    const started = Date.now();
    const err = await role.unsafe(ATTACK).then(() => undefined, (e: Error) => e);
    console.log(`memory watchdog: ${err?.message} after ${Date.now() - started} ms; ${JSON.stringify(actions)}`);
    expect(String(err?.message)).toMatch(/canceling statement due to user request|terminating connection/);
    expect(pg.cgroup!.usage().oomKills).toBe(ooms);
    expect((await bystander<{ pid: number }[]>`select pg_backend_pid() as pid`)[0]!.pid).toBe(bystanderPid);
  } finally {
    dog.stop();
    await role.end({ timeout: 1 }).catch(() => {});
    await bystander.end({ timeout: 1 }).catch(() => {});
  }
}, 120_000);

test("four busy queries use at most the server's CPU share", async () => {
  const roles = Array.from({ length: 4 }, () => asRole(roleUrl, pg.url));
  const busy = `do $$ declare x bigint := 0; begin for i in 1..2000000000 loop x := x + i; end loop; end $$`;
  const runs = roles.map((r) => r.unsafe(busy).catch(() => {}));
  try {
    await Bun.sleep(1500); // all four started and throttled
    const u0 = pg.cgroup!.usage().cpuUsec;
    const t0 = performance.now();
    const pids = (await sql<{ pid: number }[]>`select pid from pg_stat_activity where usename like 'preview\\_%' and state = 'active'`).map((r) => r.pid);
    const ticks0 = pids.map(cpuTicks);
    await Bun.sleep(3000);
    const seconds = (performance.now() - t0) / 1000;
    const cg = (pg.cgroup!.usage().cpuUsec - u0) / 1e6 / seconds;
    const procs = pids.map((p, i) => cpuTicks(p) - ticks0[i]!).reduce((a, b) => a + b, 0) / 100 / seconds; // USER_HZ 100
    console.log(`cpu: ${pids.length} busy backends, server cgroup ${cg.toFixed(2)} CPU, backends ${procs.toFixed(2)} CPU (limit ${CPUS})`);
    expect(pids.length).toBe(4);
    expect(procs).toBeLessThan(CPUS * 1.3);
    expect(procs).toBeGreaterThan(CPUS * 0.5); // they were running
    if (cg > 0) expect(cg).toBeLessThan(CPUS * 1.3); // cgroup v1 without a cpuacct hierarchy has no usage figure
    await sql`select pg_cancel_backend(pid) from pg_stat_activity where usename like 'preview\\_%'`;
  } finally {
    await Promise.all(runs);
    await Promise.all(roles.map((r) => r.end({ timeout: 1 })));
  }
}, 60_000);

test("a host without cgroups says why, plainly", () => {
  const fake = mkdtempSync(join(tmpdir(), "previewd-nocg-"));
  try {
    expect(() => createServerCgroup("x", { memoryMb: 256, cpus: 1 }, fake)).toThrow(/no cgroup v1 memory hierarchy/);
  } finally {
    rmSync(fake, { recursive: true, force: true });
  }
});

test("the settings: defaults from the host, bad values refused", () => {
  const d = loadConfig({});
  expect(effectiveDbMemoryMb(d)).toBe(Math.min(8192, Math.max(256, Math.floor(totalmem() / 4 / 1048576))));
  expect(effectiveDbCpus(d)).toBe(Math.max(1, Math.floor(cpus().length / 2)));
  expect(effectiveDbMemoryMb(loadConfig({ PREVIEWD_DB_MEMORY_MB: "0" }))).toBe(0); // no cgroup
  expect(effectiveDbCpus(loadConfig({ PREVIEWD_DB_CPUS: "0.5" }))).toBe(0.5);
  expect(() => loadConfig({ PREVIEWD_DB_MEMORY_MB: "64" })).toThrow(ConfigError);
  expect(() => loadConfig({ PREVIEWD_DB_CPUS: "0" })).toThrow(ConfigError);
  expect(() => loadConfig({ PREVIEWD_DB_CPUS: "half" })).toThrow(ConfigError);
});

test("a CPU box takes only a name of ours, holds a backend at its own quota, and gives it back", async () => {
  const boxes = pg.cgroup!.boxes!;
  const pid = postmasterPid();
  for (const bad of ["../escape", "a/b", "", "x".repeat(64), "Preview_A"]) expect(() => boxes.hold(bad, pid, 0.1)).toThrow(/not a CPU box name/);
  const role = asRole(roleUrl, pg.url);
  try {
    const backend = (await role<{ pid: number }[]>`select pg_backend_pid() as pid`)[0]!.pid;
    boxes.hold("preview_boxtest", backend, 0.2);
    const cpuKey = Object.keys(cgroupsOf(backend)).find((k) => k.split(",").includes("cpu")) ?? "";
    expect(cgroupsOf(backend)[cpuKey]).toBe(boxes.pathOf("preview_boxtest"));
    const boxDir = cgDirs.map((d) => join(d, "box-preview_boxtest")).find((d) => existsSync(d))!;
    const quota = pg.cgroup!.version === 2 ? readFileSync(join(boxDir, "cpu.max"), "utf8").trim() : readFileSync(join(boxDir, "cpu.cfs_quota_us"), "utf8").trim();
    expect(quota).toBe(pg.cgroup!.version === 2 ? "20000 100000" : "20000");
    expect(inServerCgroup(pid)).toBe(true); // the postmaster stays where it was
    boxes.release("preview_boxtest");
    expect(cgroupsOf(backend)[cpuKey]).toBe(pg.cgroup!.home);
    expect(existsSync(boxDir)).toBe(false);
    boxes.hold("preview_boxtest", backend, 0.2); // held again: the stop below must remove a box with its process gone
  } finally {
    await role.end({ timeout: 1 });
  }
});

test("stop removes the cgroup once the server is gone, its CPU boxes too", async () => {
  const pid = postmasterPid();
  await sql.end({ timeout: 2 });
  await pg.stop();
  expect(existsSync(`/proc/${pid}/cgroup`)).toBe(false);
  for (const d of cgDirs) expect(existsSync(d)).toBe(false);
}, 60_000);

function cpuTicks(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return Number(f[11]) + Number(f[12]); // utime, stime
  } catch {
    return 0;
  }
}
