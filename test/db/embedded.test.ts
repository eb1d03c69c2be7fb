// The embedded default database: persistent across restarts, reachable from
// Docker's bridge with a password, and never left running by a dead process.
import { afterAll, describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { dockerBridgeAddresses, findBinDir, startEmbeddedPostgres } from "../../src/db/embedded.ts";
import { createLogger } from "../../src/log.ts";

// The server runs as the postgres user: the parent must be traversable by it.
const root = mkdtempSync(join(tmpdir(), "previewd-embedded-"));
chmodSync(root, 0o755);
afterAll(() => rmSync(root, { recursive: true, force: true }));
const log = createLogger("error");
const fast = { fsync: "off", full_page_writes: "off" };
let n = 0;
const newDir = () => join(root, `pg${++n}`, "data");

function postmasterPid(dataDir: string): number {
  return Number(readFileSync(join(dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
}

function alive(pid: number): boolean {
  try {
    return !readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z ");
  } catch {
    return false;
  }
}

async function waitGone(pid: number, ms = 10_000) {
  const until = Date.now() + ms;
  while (alive(pid) && Date.now() < until) await Bun.sleep(50);
  return !alive(pid);
}

describe("startEmbeddedPostgres", () => {
  test("keeps data, port and password across a stop and a start", async () => {
    const dataDir = newDir();
    const first = await startEmbeddedPostgres({ dataDir, log, settings: fast });
    let sql = postgres(first.url, { max: 1 });
    await sql`create table kept (v text)`;
    await sql`insert into kept values ('still here')`;
    await sql.end();
    const pid = postmasterPid(dataDir);
    await first.stop();
    expect(alive(pid)).toBe(false);
    expect(await postgres(first.url, { max: 1, connect_timeout: 2 })`select 1`.catch(() => "down")).toBe("down");

    const second = await startEmbeddedPostgres({ dataDir, log, settings: fast });
    try {
      expect(second.url).toBe(first.url);
      expect(second.port).toBe(first.port);
      sql = postgres(second.url, { max: 1 });
      expect((await sql`select v from kept`)[0]!.v).toBe("still here");
      await sql.end();
    } finally {
      await second.stop();
    }
  });

  test("listens on loopback and the Docker bridge; pg_hba refuses the superuser from the bridge", async () => {
    const pg = await startEmbeddedPostgres({ dataDir: newDir(), log, settings: fast });
    const sql = postgres(pg.url, { max: 1 });
    try {
      expect(pg.listen).toEqual(["127.0.0.1", ...dockerBridgeAddresses()]);
      if (existsSync("/sys/class/net/docker0")) expect(pg.listen).toContain("172.17.0.1");
      const [la] = await sql`show listen_addresses`;
      expect(la!.listen_addresses).toBe(pg.listen.join(","));
      const rules = await sql`select type, user_name, address, netmask, auth_method from pg_hba_file_rules order by line_number`;
      expect(rules.map((r) => [r.user_name.join(","), r.address, r.auth_method])).toEqual([
        ["all", "127.0.0.1", "scram-sha-256"],
        ["all", "::1", "scram-sha-256"],
        ["postgres", "172.16.0.0", "reject"],
        ["previewd_pooler", "172.16.0.0", "reject"], // PgBouncer's auth role (src/db/pooler.ts): loopback only
        ["all", "172.16.0.0", "scram-sha-256"],
      ]);
      expect(rules[2]!.netmask).toBe("255.240.0.0");
    } finally {
      await sql.end();
      await pg.stop();
    }
  });

  test("a server left running on the data dir is stopped and replaced", async () => {
    const dataDir = newDir();
    const pg = await startEmbeddedPostgres({ dataDir, log, settings: fast });
    await pg.stop();
    // What a crash leaves: the same server binary, started outside our control.
    const stale = spawn("/usr/bin/setpriv", ["--reuid=postgres", "--regid=postgres", "--clear-groups", join(findBinDir(), "postgres"),
      "-D", dataDir, "-p", String(pg.port), "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="], { detached: true, stdio: "ignore" });
    stale.unref();
    const probe = postgres(pg.url, { max: 1, connect_timeout: 1 });
    for (let i = 0; i < 100 && (await probe`select 1`.then(() => false, () => true)); i++) await Bun.sleep(50);
    await probe.end();
    const stalePid = postmasterPid(dataDir);
    expect(alive(stalePid)).toBe(true);

    const again = await startEmbeddedPostgres({ dataDir, log, settings: fast });
    try {
      expect(alive(stalePid)).toBe(false);
      expect(postmasterPid(dataDir)).not.toBe(stalePid);
      const sql = postgres(again.url, { max: 1 });
      expect((await sql`select 1 as one`)[0]!.one).toBe(1);
      await sql.end();
    } finally {
      await again.stop();
    }
  });

  test("kill -9 of the process that started it takes the server down too", async () => {
    const dataDir = newDir();
    const script = join(root, "owner.ts");
    writeFileSync(script, `
      import { startEmbeddedPostgres } from ${JSON.stringify(join(import.meta.dir, "../../src/db/embedded.ts"))};
      import { createLogger } from ${JSON.stringify(join(import.meta.dir, "../../src/log.ts"))};
      await startEmbeddedPostgres({ dataDir: ${JSON.stringify(dataDir)}, log: createLogger("error") });
      console.log("ready");
      setInterval(() => {}, 1000);
    `);
    const owner = Bun.spawn([process.execPath, script], { stdout: "pipe", stderr: "inherit" });
    const reader = owner.stdout.getReader();
    const { value } = await reader.read();
    expect(new TextDecoder().decode(value)).toContain("ready");
    const pid = postmasterPid(dataDir);
    expect(alive(pid)).toBe(true);
    owner.kill("SIGKILL");
    await owner.exited;
    expect(await waitGone(pid)).toBe(true);
    // and the next start finds a usable cluster
    const pg = await startEmbeddedPostgres({ dataDir, log, settings: fast });
    await pg.stop();
  });

  test("says so when the server's user cannot reach the data dir", async () => {
    if (process.getuid?.() !== 0) return; // only root hands the server to another user
    const locked = mkdtempSync(join(root, "locked-")); // mode 0700, owned by root
    const e = await startEmbeddedPostgres({ dataDir: join(locked, "previewd", "pg"), log }).catch((e: Error) => e);
    expect(String(e)).toContain(`cannot enter ${locked} (mode 700)`);
  });

  test("makes its own (immediate parent) data dir passable for the server's user", async () => {
    const own = mkdtempSync(join(root, "own-")); // mode 0700, like PREVIEWD_DATA_DIR=$(mktemp -d)
    const pg = await startEmbeddedPostgres({ dataDir: join(own, "postgres"), log, settings: fast });
    await pg.stop();
    expect(statSync(own).mode & 0o777).toBe(0o701);
  });

  test("refuses a non-empty directory that holds no cluster", async () => {
    const dataDir = newDir();
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(join(dataDir, "something"), "x");
    const e = await startEmbeddedPostgres({ dataDir, log }).catch((e: Error) => e);
    expect(String(e)).toContain(`${dataDir} is not empty and holds no PostgreSQL cluster`);
  });
});
