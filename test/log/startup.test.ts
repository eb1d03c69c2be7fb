// What `previewd serve` logs at start, as a real process with the embedded
// default database: a few lines on what runs where (JSON when piped, with
// the facts as fields; readable with PREVIEWD_LOG_FORMAT=pretty), and
// PostgreSQL's normal start-up chatter ("the database system is starting
// up", answered to the daemon's readiness probe) never as a warning.
import { afterAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import postgres from "postgres";
import { pgLineLevel } from "../../src/db/pglog.ts";
import { logFormat } from "../../src/log.ts";
import { ensureBaseImage } from "../support/docker.ts";
import { testDatabaseUrl } from "../support/postgres.ts";
import { killDaemons, spawnDaemon, type DaemonProcess } from "../support/process.ts";

const daemons: DaemonProcess[] = [];
afterAll(() => killDaemons(daemons));

async function outputUntil(d: DaemonProcess, text: string, ms = 10_000): Promise<string> {
  const until = Date.now() + ms;
  while (!d.output().includes(text) && Date.now() < until) await Bun.sleep(50);
  return d.output();
}

test("the log format: PREVIEWD_LOG_FORMAT, else PREVIEWD_LOG_PRETTY, else pretty on a terminal only", () => {
  expect(logFormat({}, true)).toBe("pretty");
  expect(logFormat({}, false)).toBe("json");
  expect(logFormat({ PREVIEWD_LOG_FORMAT: "json" }, true)).toBe("json");
  expect(logFormat({ PREVIEWD_LOG_FORMAT: "pretty", PREVIEWD_LOG_PRETTY: "0" }, false)).toBe("pretty");
  expect(logFormat({ PREVIEWD_LOG_PRETTY: "1" }, false)).toBe("pretty");
  expect(logFormat({ PREVIEWD_LOG_PRETTY: "0" }, true)).toBe("json");
});

test("PostgreSQL lines: normal start-up and shutdown chatter at debug, real trouble at warn", () => {
  expect(pgLineLevel("FATAL:  the database system is starting up")).toBe("debug");
  expect(pgLineLevel("FATAL:  the database system is not yet accepting connections")).toBe("debug");
  expect(pgLineLevel("FATAL:  the database system is shutting down")).toBe("debug");
  expect(pgLineLevel("FATAL:  terminating connection due to administrator command")).toBe("debug");
  expect(pgLineLevel('FATAL:  password authentication failed for user "previewd"')).toBe("warn");
  expect(pgLineLevel("PANIC:  could not write to file")).toBe("warn");
  expect(pgLineLevel('ERROR:  relation "x" does not exist')).toBe("debug"); // a preview app's own mistake
});

test("serve with the embedded database: start-up lines as JSON, no PostgreSQL chatter as warnings", async () => {
  const image = await ensureBaseImage();
  const node = `log-${process.pid}-${Date.now().toString(36)}`;
  // debug: the chatter is there to be seen, at its level.
  const d = await spawnDaemon({ PREVIEWD_NODE_ID: node, PREVIEWD_IMAGE: image, PREVIEWD_WARM_POOL: "0", DATABASE_URL: "", PREVIEWD_LOG_LEVEL: "debug", PREVIEWD_LOG_PRETTY: "", PREVIEWD_LOG_FORMAT: "" });
  daemons.push(d);
  const out = await outputUntil(d, "previewd is ready");
  const records = out.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { level: number; msg: string; pg?: string; summary?: Record<string, unknown> });
  const msgs = records.map((r) => r.msg);
  const api = `http://127.0.0.1:${d.apiPort}`;
  expect(msgs).toContain(`previewd 0.1.0, node ${node}: control API ${api}, previews http://{id}.localhost:${d.proxyPort}; single node (no PREVIEWD_CLUSTER_SECRET)`);
  const db = records.find((r) => r.msg.startsWith("database: "))!;
  expect(db.msg).toMatch(new RegExp(`^database: embedded PostgreSQL in ${join(d.dataDir, "postgres")} \\(127\\.0\\.0\\.1:\\d+\\)$`));
  expect(db.summary).toEqual({ database: { embedded: join(d.dataDir, "postgres"), port: expect.any(Number) } });
  expect(msgs).toContain(`containers: image ${image}, capacity ${(records.find((r) => r.msg.startsWith("containers:"))!.summary as { capacity: number }).capacity}, warm pool 0`);
  expect(msgs).toContain("tiers: container on, browser on, fly overflow off (FLY_API_TOKEN, FLY_APP unset); deploy off (RAILWAY_API_TOKEN unset)");
  expect(msgs.indexOf("previewd is ready")).toBeGreaterThan(msgs.findIndex((m) => m.startsWith("tiers:")));

  expect(records.filter((r) => r.level >= 40).map((r) => r.msg + (r.pg ? ` ${r.pg}` : ""))).toEqual([]);

  // A fresh cluster starts in milliseconds; after a crash, PostgreSQL replays
  // its WAL first and tells clients "not yet accepting connections" (or
  // "starting up") meanwhile: the chatter of issue 15.
  const pgDir = join(d.dataDir, "postgres");
  const state = JSON.parse(readFileSync(join(pgDir, "previewd-embedded.json"), "utf8")) as { port: number; password: string };
  const sql = postgres(`postgresql://postgres:${encodeURIComponent(state.password)}@127.0.0.1:${state.port}/postgres`, { max: 1, onnotice: () => {} });
  await sql`create table wal_to_replay as select g, md5(g::text) as h from generate_series(1, 1000000) g`;
  await sql.end();
  const postmaster = Number(readFileSync(join(pgDir, "postmaster.pid"), "utf8").split("\n")[0]);
  // The server first: the daemon's death sends it SIGINT (its parent-death signal), a clean fast shutdown
  // that sometimes finished before a SIGKILL sent second, and then there was nothing to recover.
  process.kill(postmaster, "SIGKILL");
  d.proc.kill("SIGKILL");
  await d.proc.exited;
  await Bun.sleep(300); // its backends notice the postmaster is gone and exit
  // Clients knocking while the server replays its WAL, as previews' apps do after a crash (the daemon's own
  // probe may come after a short replay): PostgreSQL answers them "starting up" until it is ready.
  let knocking = true;
  const knocks = (async () => {
    while (knocking) {
      const c = postgres(`postgresql://postgres:${encodeURIComponent(state.password)}@127.0.0.1:${state.port}/postgres`, { max: 1, connect_timeout: 1, onnotice: () => {} });
      const ok = await c`select 1`.then(() => true, () => false);
      await c.end({ timeout: 1 }).catch(() => {});
      if (ok) return;
      await Bun.sleep(20);
    }
  })();
  const again = await spawnDaemon(d.env, d.dataDir).finally(() => (knocking = false));
  await knocks;
  daemons.push(again);
  const recs = (await outputUntil(again, "previewd is ready")).split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { level: number; msg: string; pg?: string });
  const chatter = recs.filter((r) => /starting up|not yet accepting/.test(r.pg ?? ""));
  console.log(`${chatter.length} start-up chatter line(s) during crash recovery, at levels ${[...new Set(chatter.map((r) => r.level))].join(",")}`);
  if (!chatter.length) console.log(`no chatter; PostgreSQL logged: ${recs.filter((r) => r.pg).map((r) => r.pg).join(" | ").slice(0, 2000)}`);
  expect(chatter.length).toBeGreaterThan(0);
  for (const r of chatter) expect(r.level).toBe(20);
  expect(recs.filter((r) => r.level >= 40).map((r) => r.msg + (r.pg ? ` ${r.pg}` : ""))).toEqual([]);

  // A stop: PostgreSQL's shutdown chatter is no warning either.
  again.proc.kill("SIGTERM");
  expect(await Promise.race([again.proc.exited, Bun.sleep(30_000).then(() => "still running")])).toBe(0);
  expect(again.output()).not.toMatch(/"level":[456]0/);
}, 120_000);

test("PREVIEWD_LOG_FORMAT=pretty gives readable lines; a bad value stops the daemon with one line", async () => {
  const image = await ensureBaseImage();
  const node = `logp-${process.pid}-${Date.now().toString(36)}`;
  const databaseUrl = await testDatabaseUrl();
  const d = await spawnDaemon({ PREVIEWD_NODE_ID: node, PREVIEWD_IMAGE: image, PREVIEWD_WARM_POOL: "0", DATABASE_URL: databaseUrl, PREVIEWD_LOG_LEVEL: "info", PREVIEWD_LOG_FORMAT: "pretty", PREVIEWD_LOG_PRETTY: "0" });
  daemons.push(d);
  const out = await outputUntil(d, "previewd is ready");
  expect(out).toMatch(/INFO.*: tiers: container on, browser on/);
  expect(out).toMatch(/INFO.*: database: postgres(ql)?:\/\/[^\n]*\(DATABASE_URL\)/);
  expect(out).not.toContain('"msg"');
  expect(out).not.toContain("summary");
  const password = decodeURIComponent(new URL(databaseUrl).password);
  if (password) expect(out).not.toContain(password); // DATABASE_URL's password is not in the log

  const bad = Bun.spawn([process.execPath, join(import.meta.dir, "..", "..", "src/main.ts"), "serve"], { env: { ...process.env, PREVIEWD_LOG_FORMAT: "xml" }, stdout: "pipe", stderr: "pipe" });
  const [err, code] = await Promise.all([new Response(bad.stderr).text(), bad.exited]);
  expect(code).toBe(2);
  expect(err.trim().split("\n")).toHaveLength(1);
  expect(err).toContain("PREVIEWD_LOG_FORMAT");
}, 120_000);
