// The embedded server as a process: started detached under setpriv (its
// user, a parent-death signal) in its cgroup, its output in our log, ready
// once it accepts a connection; a server an earlier process left running is
// stopped first. Used by embedded.ts.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import type { Logger } from "../log.ts";
import { createServerCgroup, joinCommand, type CgroupLimits, type ServerCgroup } from "./cgroup.ts";
import type { Owner } from "./embedded-cluster.ts";
import { pgLineLevel } from "./pglog.ts";

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
export async function stopStaleServer(dataDir: string, log: Logger) {
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
export function spawnServer(postgresBin: string, args: string[], owner: Owner | undefined, cgroup: ServerCgroup | undefined): ChildProcess {
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
export function serverCgroup(name: string, limits: CgroupLimits, log: Logger): ServerCgroup | undefined {
  try {
    return createServerCgroup(name, limits);
  } catch (err) {
    log.error({ reason: (err as Error).message, cgroup: name },
      "the embedded PostgreSQL cannot be put in a cgroup of its own (needs root and writable cgroups): its memory and CPU are NOT bounded (PREVIEWD_DB_MEMORY_MB, PREVIEWD_DB_CPUS)");
    return undefined;
  }
}

/** Server output goes to our log; the last lines are kept to explain a failed start. */
export function pipeLog(child: ChildProcess, log: Logger): string[] {
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

export async function waitReady(url: string, exited: Promise<number | null>, output: string[]) {
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

export function freePort(): Promise<number> {
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
