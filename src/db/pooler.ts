// PgBouncer in front of the embedded PostgreSQL, for the previews' own
// connections (issue 10, item 4). Without it every preview role may hold its
// CONNECTION LIMIT of server backends: ten previews holding 10 each filled
// max_connections=100, and then no other preview, nor a create's migrations,
// could connect. Capacity x 10 can never fit one server.
//
// How it fits now:
//   - previews reach the database only through PgBouncer, in TRANSACTION
//     mode: a client holds a server backend only while it is inside a
//     transaction, so hundreds of idle pooled client connections cost nothing;
//   - one pool per role (PgBouncer pools by user+database), at most
//     `poolSize` server backends per preview (`max_user_connections`), so one
//     preview cannot take the server: its other clients queue in PgBouncer;
//   - the embedded server is sized so that every preview at its maximum fits
//     (`max_connections = capacity x poolSize + auth + DAEMON_RESERVE`), and
//     PgBouncer never opens more than `capacity x poolSize + auth` backends
//     (`max_db_connections`): the reserve always stays free for the daemon's
//     own connections (its pool, migrations, pg_dump), which go to
//     PostgreSQL directly on 127.0.0.1.
//
// Same port, different addresses: PostgreSQL listens on 127.0.0.1 only, and
// PgBouncer listens on the Docker bridge addresses with the SAME port number.
// So a preview's DATABASE_URL (host.docker.internal:<port>) does not change
// (previews made before the pooler existed keep working, now pooled), the
// host firewall's "database port" stays the one port, and previews have no
// way around the pooler (they cannot reach the host's loopback).
//
// Authentication: `auth_query` through an auth role (previewd_pooler) that may
// only call a SECURITY DEFINER function returning the SCRAM verifier of LOGIN
// roles named preview_*: per-preview roles need not be listed anywhere, a
// role shut out by the budget (NOLOGIN) or dropped is refused at once, and
// nobody can log in through the pooler as the superuser or any other role.
// PgBouncer checks the client's SCRAM proof against that verifier and then
// logs in to PostgreSQL with the same proof (SCRAM pass-through, 1.14+): it
// never learns a preview's password.
//
// Why not the alternatives:
//   - session mode: a client holds its backend for its whole session, so
//     capacity x pool would again have to fit the server; only transaction
//     mode makes the numbers work;
//   - a generated auth_file rewritten at each CREATE ROLE: one more piece of
//     state to keep in step (drops, the budget's NOLOGIN, restarts); the
//     catalog already is that state.
//
// What transaction mode means for apps (README, "Databases"): session state is
// not kept between transactions (LISTEN/NOTIFY, session advisory locks, SET
// without LOCAL, temporary tables across transactions, named prepared
// statements: PgBouncer 1.18 does not track them). node-postgres, Knex,
// Drizzle-on-pg work as they are; postgres.js needs `prepare: false`; Prisma
// needs `pgbouncer=true` in its URL.
//
// Known gap: PgBouncer 1.18 (Debian 12) has no per-user CLIENT connection
// limit (max_user_client_connections is 1.24+). The server side is bounded per
// preview; the client side only by max_client_conn for all previews together.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { join } from "node:path";
import type { Logger } from "../log.ts";
import type { Sql } from "./client.ts";
import { ident, literal } from "./ident.ts";

/** The role PgBouncer logs in as to look up preview roles' verifiers; it can do nothing else. */
export const POOLER_ROLE = "previewd_pooler";
const POOLER_SCHEMA = "previewd_pooler";

/**
 * Backends kept for everything that does not go through the pooler:
 * the daemon's own pool (client.ts, 10), migrations of creates running at
 * once (each one backend as the preview's role: session features, so direct),
 * pg_dump/psql for exports and deploys, an operator's psql, and the
 * server's superuser_reserved_connections (3) which count inside
 * max_connections.
 */
export const DAEMON_RESERVE = 10 + 5 + 4 + 3 + 3;
/** PgBouncer's own auth_query pool (one backend does; two leaves room for a reconnect). */
const AUTH_POOL = 2;
/** Client connections to the pooler a preview is expected to open (a pool or two); sizes max_client_conn. */
export const CLIENTS_PER_PREVIEW = 50;

export interface PoolerSizing {
  /** Server backends one preview may hold through the pooler (max_user_connections, default_pool_size). */
  poolSize: number;
  /** Server backends the pooler may hold in all (max_db_connections). */
  maxDbConnections: number;
  /** Client connections the pooler accepts in all (max_client_conn). */
  maxClientConn: number;
  /** max_connections of the embedded server: the pooler's total plus DAEMON_RESERVE. */
  maxConnections: number;
}

/** Every preview of this node at its pool's maximum fits, and DAEMON_RESERVE stays free. */
export function poolerSizing(capacity: number, poolSize: number): PoolerSizing {
  const maxDbConnections = capacity * poolSize + AUTH_POOL;
  return {
    poolSize,
    maxDbConnections,
    // at least 1000 (a few previews opening big pools), at most 20000 (file descriptors: one per client)
    maxClientConn: Math.min(20_000, Math.max(1000, capacity * CLIENTS_PER_PREVIEW)),
    maxConnections: maxDbConnections + DAEMON_RESERVE,
  };
}

/** The pgbouncer binary (Debian's package puts it in /usr/sbin), or undefined. */
export function findPgbouncer(): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(":").filter(Boolean), "/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin"];
  return dirs.map((d) => join(d, "pgbouncer")).find((p) => existsSync(p));
}

export interface PoolerOptions {
  /** The daemon's admin connection (a superuser on the embedded server): creates the auth role and function. */
  sql: Sql;
  bin: string;
  /** Directory for pgbouncer.ini, the auth and hba files, the pid file (made, mode 0700). */
  dir: string;
  /** Addresses to listen on (the Docker bridge addresses) ... */
  listen: string[];
  /** ... on this port: the same number PostgreSQL has on 127.0.0.1. */
  port: number;
  /** PostgreSQL as the pooler reaches it. */
  serverHost: string;
  serverPort: number;
  /** The one database previews use (the admin URL's). */
  database: string;
  sizing: PoolerSizing;
  /** Run as this user (PgBouncer refuses root); the server's user, like PostgreSQL. */
  owner?: { uid: number; gid: number };
  log: Logger;
}

export interface Pooler {
  listen: string[];
  port: number;
  sizing: PoolerSizing;
  stop(): Promise<void>;
}

export async function startPooler(o: PoolerOptions): Promise<Pooler> {
  if (o.listen.length === 0) throw new Error("no Docker bridge address to listen on");
  const password = randomBytes(24).toString("base64url");
  await ensureAuthRole(o.sql, password);

  mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  if (o.owner) chownSync(o.dir, o.owner.uid, o.owner.gid);
  const pidFile = join(o.dir, "pgbouncer.pid");
  await stopStale(pidFile, o.log);
  const write = (name: string, text: string) => {
    const path = join(o.dir, name);
    writeFileSync(path, text, { mode: 0o600 });
    if (o.owner) chownSync(path, o.owner.uid, o.owner.gid);
    return path;
  };
  // The auth role's own password, in plain text: PgBouncer logs in with it to run auth_query.
  const authFile = write("users.txt", `"${POOLER_ROLE}" "${password}"\n`);
  const hbaFile = write("hba.conf", poolerHba(o.database));
  const ini = write("pgbouncer.ini", poolerIni({ ...o, authFile, hbaFile, pidFile }));

  const child = spawnPgbouncer(o.bin, ini, o.owner);
  const tail = pipeLog(child, o.log);
  const exited = new Promise<number | null>((res) => child.once("exit", (code) => res(code)));
  let gone = false;
  void exited.then(() => (gone = true));
  try {
    await waitListening(o.listen[0]!, o.port, () => gone, tail);
  } catch (e) {
    if (!gone) child.kill("SIGKILL");
    throw e;
  }
  let stopping = false;
  const onExit = () => { if (!gone) child.kill("SIGTERM"); };
  process.once("exit", onExit);
  void exited.then((code) => {
    // PgBouncer gone while the daemon runs: previews lose their database until a restart. Say so loudly.
    if (!stopping) o.log.error({ code, tail: tail.slice(-5) }, "PgBouncer exited: previews cannot reach their databases until previewd restarts");
  });
  o.log.info({ listen: o.listen, port: o.port, ...o.sizing }, "PgBouncer is up for preview connections");
  return {
    listen: o.listen,
    port: o.port,
    sizing: o.sizing,
    async stop() {
      stopping = true;
      process.removeListener("exit", onExit);
      if (gone) return;
      child.kill("SIGTERM"); // 1.18: immediate shutdown (clients are disconnected; PostgreSQL stops right after)
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
      rmSync(pidFile, { force: true });
    },
  };
}

/**
 * The auth role and its one function, made again at each start (idempotent),
 * with a fresh password. The function runs as its owner (the superuser) and
 * returns a verifier only for LOGIN, non-superuser roles named preview_*; the
 * auth role holds EXECUTE on it and USAGE on its schema, nothing more.
 */
export async function ensureAuthRole(sql: Sql, password: string): Promise<void> {
  const role = ident(POOLER_ROLE);
  const schema = ident(POOLER_SCHEMA);
  await sql.begin(async (tx) => {
    // Two daemons on one server (tests) may do this at once.
    await tx`SELECT pg_advisory_xact_lock(${0x70726576}::int, ${0x706f6f6c}::int)`;
    const [found] = await tx`SELECT 1 FROM pg_roles WHERE rolname = ${POOLER_ROLE}`;
    if (!found) await tx.unsafe(`CREATE ROLE ${role}`);
    await tx.unsafe(
      `ALTER ROLE ${role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS CONNECTION LIMIT ${AUTH_POOL * 4} PASSWORD ${literal(password)}`,
    );
    await tx.unsafe(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await tx.unsafe(`REVOKE ALL ON SCHEMA ${schema} FROM PUBLIC`);
    await tx.unsafe(`GRANT USAGE ON SCHEMA ${schema} TO ${role}`);
    await tx.unsafe(`
      CREATE OR REPLACE FUNCTION ${schema}.lookup(p_user text, OUT usename name, OUT passwd text)
      RETURNS SETOF record LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $fn$
        SELECT rolname, rolpassword FROM pg_catalog.pg_authid
        WHERE rolname = p_user AND rolname LIKE 'preview\\_%' AND rolcanlogin AND NOT rolsuper AND NOT rolreplication
          AND NOT rolbypassrls AND (rolvaliduntil IS NULL OR rolvaliduntil > now())
      $fn$`);
    await tx.unsafe(`REVOKE ALL ON FUNCTION ${schema}.lookup(text) FROM PUBLIC`);
    await tx.unsafe(`GRANT EXECUTE ON FUNCTION ${schema}.lookup(text) TO ${role}`);
  });
}

/**
 * PgBouncer's own hba: the auth role never logs in through the pooler (its
 * password is in users.txt in plain text), only the one database is served,
 * and everything else needs a SCRAM proof.
 */
function poolerHba(database: string): string {
  return [
    "# Written by previewd at every start; edits are lost.",
    `host all ${POOLER_ROLE} 0.0.0.0/0 reject`,
    `host ${database} all 0.0.0.0/0 scram-sha-256`,
    "",
  ].join("\n");
}

function poolerIni(o: PoolerOptions & { authFile: string; hbaFile: string; pidFile: string }): string {
  const s = o.sizing;
  const db = /^[A-Za-z0-9_]+$/.test(o.database) ? o.database : `"${o.database.replaceAll('"', '""')}"`;
  return `; Written by previewd at every start (src/db/pooler.ts); edits are lost.
[databases]
; only the daemon's database, on PostgreSQL's loopback address
${db} = host=${o.serverHost} port=${o.serverPort} dbname=${db} max_db_connections=${s.maxDbConnections}

[pgbouncer]
listen_addr = ${o.listen.join(",")}
listen_port = ${o.port}
; TCP only, like the embedded server
unix_socket_dir =
pidfile = ${o.pidFile}
; logs go to stderr, which previewd reads
logfile =
syslog = 0
log_connections = 0
log_disconnections = 0
log_pooler_errors = 1

auth_type = hba
auth_hba_file = ${o.hbaFile}
auth_file = ${o.authFile}
auth_user = ${POOLER_ROLE}
auth_query = SELECT usename, passwd FROM ${POOLER_SCHEMA}.lookup($1)
; no admin console users: nobody can SHOW, PAUSE or KILL through the pooler
admin_users =
stats_users =

; a server backend is held only inside a transaction (see src/db/pooler.ts)
pool_mode = transaction
; pools are per role (user+database): one preview never gets another's backend
default_pool_size = ${s.poolSize}
min_pool_size = 0
reserve_pool_size = 0
max_user_connections = ${s.poolSize}
max_db_connections = ${s.maxDbConnections}
max_client_conn = ${s.maxClientConn}

; give idle backends back to the server soon; renew old ones
server_idle_timeout = 30
server_lifetime = 3600
; a client waiting this long for a backend of its pool gets an error instead of hanging
query_wait_timeout = 60
client_login_timeout = 30
; JDBC and some ORMs send it at start-up; PgBouncer would refuse the connection otherwise
ignore_startup_parameters = extra_float_digits
`;
}

/** As root, PgBouncer runs as the server's user through setpriv, with a parent-death signal (gone with the daemon, even after kill -9). */
function spawnPgbouncer(bin: string, ini: string, owner: { uid: number; gid: number } | undefined): ChildProcess {
  const env = { ...process.env, LC_ALL: "C" };
  const stdio: ["ignore", "pipe", "pipe"] = ["ignore", "pipe", "pipe"];
  const setpriv = ["/usr/bin/setpriv", "/bin/setpriv"].find((p) => existsSync(p));
  let child: ChildProcess;
  if (setpriv) {
    const ids = owner ? [`--reuid=${owner.uid}`, `--regid=${owner.gid}`, "--clear-groups"] : [];
    child = spawn(setpriv, [...ids, "--pdeathsig=TERM", "--", bin, ini], { env, stdio, detached: true });
  } else {
    child = spawn(bin, [ini], { env, stdio, detached: true, ...(owner ?? {}) });
  }
  child.unref();
  return child;
}

/** PgBouncer's lines: LOG at debug (one per pool event), anything else at warn; the last ones explain a failed start. */
function pipeLog(child: ChildProcess, log: Logger): string[] {
  const tail: string[] = [];
  const onData = (chunk: Buffer) => {
    for (const line of chunk.toString("utf8").split("\n")) {
      if (!line.trim()) continue;
      tail.push(line);
      if (tail.length > 20) tail.shift();
      log[/\] (LOG|DEBUG|NOISE) /.test(line) ? "debug" : "warn"]({ pgbouncer: line }, "pgbouncer");
    }
  };
  for (const s of [child.stdout, child.stderr]) {
    s?.on("data", onData);
    (s as unknown as { unref?: () => void } | null)?.unref?.();
  }
  return tail;
}

async function waitListening(host: string, port: number, gone: () => boolean, tail: string[]): Promise<void> {
  const until = Date.now() + 15_000;
  while (Date.now() < until) {
    if (gone()) throw new Error(`PgBouncer exited while starting:\n${tail.join("\n")}`);
    const ok = await new Promise<boolean>((res) => {
      const s = tcpConnect({ host, port });
      s.once("connect", () => { s.destroy(); res(true); });
      s.once("error", () => res(false));
    });
    if (ok) return;
    await Bun.sleep(50);
  }
  throw new Error(`PgBouncer did not listen on ${host}:${port} within 15 s:\n${tail.join("\n")}`);
}

/** A PgBouncer left running by a daemon that died without setpriv holds our addresses: stop it first. */
async function stopStale(pidFile: string, log: Logger): Promise<void> {
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, "utf8").trim());
  const isPgbouncer = () => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("pgbouncer");
    } catch {
      return false;
    }
  };
  if (Number.isInteger(pid) && pid > 0 && isPgbouncer()) {
    log.warn({ pid }, "stopping a PgBouncer left running by an earlier process");
    for (const sig of ["SIGTERM", "SIGKILL"] as const) {
      try { process.kill(pid, sig); } catch { /* gone */ }
      for (let i = 0; i < 100 && isPgbouncer(); i++) await Bun.sleep(50);
      if (!isPgbouncer()) break;
    }
  }
  rmSync(pidFile, { force: true });
}

/** Is `bin` a PgBouncer that runs here? (`--version` answers.) */
export function pgbouncerRuns(bin: string): boolean {
  return spawnSync(bin, ["--version"], { encoding: "utf8" }).status === 0;
}

export interface PoolerChoice {
  /** Set when the pooler is to run. */
  plan?: { bin: string; listen: string[]; sizing: PoolerSizing };
  /** Why not, when it is not to run (logged by the daemon). */
  reason?: string;
}

/**
 * PREVIEWD_DB_POOLER: `off`, never; `auto`, with the embedded database when a
 * pgbouncer binary runs here and a Docker bridge address exists; `on`, the
 * same but a missing piece stops the start. With DATABASE_URL (Supabase, an
 * operator's server) never: Supabase has its own pooler, and previews reach an
 * external server at its own address, not through this host.
 */
export function choosePooler(o: { setting: "auto" | "on" | "off"; external: boolean; capacity: number; poolSize: number; bridges: () => string[] }): PoolerChoice {
  if (o.setting === "off") return { reason: "PREVIEWD_DB_POOLER=off" };
  if (o.external) return { reason: "DATABASE_URL is set (the pooler fronts the embedded database only)" };
  const bin = findPgbouncer();
  const missing = !bin || !pgbouncerRuns(bin) ? "no pgbouncer binary runs here (apt-get install pgbouncer)" : undefined;
  const listen = missing ? [] : o.bridges();
  const reason = missing ?? (listen.length === 0 ? "no Docker bridge address to listen on" : undefined);
  if (reason) {
    if (o.setting === "on") throw new Error(`PREVIEWD_DB_POOLER=on, but ${reason}`);
    return { reason };
  }
  return { plan: { bin: bin!, listen, sizing: poolerSizing(o.capacity, o.poolSize) } };
}
