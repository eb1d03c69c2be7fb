// Runs `previewd serve` as a real child process (so a test can kill -9 it).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";

const ROOT = join(import.meta.dir, "..", "..");
const BUN = process.execPath;

export interface DaemonProcess {
  proc: Subprocess;
  apiPort: number;
  proxyPort: number;
  token: string;
  nodeId: string;
  dataDir: string;
  env: Record<string, string>;
  api(path: string, init?: RequestInit): Promise<Response>;
  preview(id: string, path?: string, init?: RequestInit): Promise<Response>;
  /** The last few KB the daemon printed (its log lines). */
  output(): string;
}

/** kill -9 of daemons started by spawnDaemon, and removal of their containers and data dirs. */
export async function killDaemons(daemons: Array<DaemonProcess | undefined>): Promise<void> {
  const { removeContainersByLabel } = await import("./docker.ts");
  const { rmSync } = await import("node:fs");
  const live = daemons.filter((d): d is DaemonProcess => d !== undefined);
  for (const d of live) d.proc.kill("SIGKILL");
  await Promise.all(live.map((d) => d.proc.exited));
  // A container create the daemon had asked for may still complete in dockerd after the kill: sweep twice.
  for (const pass of [0, 1]) {
    if (pass) await Bun.sleep(1000);
    for (const d of live) await removeContainersByLabel(`previewd.node=${d.env.PREVIEWD_NODE_ID}`);
  }
  // Preview disks are loop-mounted under the data dir (pool/disk.ts): released first, or rm fails with EBUSY.
  const { releaseAllDisks } = await import("../../src/pool/disk.ts");
  const { createLogger } = await import("../../src/log.ts");
  for (const d of live) for (const root of ["disks", "build-disks", "install-disks"]) await releaseAllDisks(join(d.dataDir, root), createLogger("error")).catch(() => {});
  for (const d of live) rmSync(d.dataDir, { recursive: true, force: true });
}

const handedOut = new Set<number>();

/**
 * A port free now for TCP and UDP (a peer port is both), never the same twice in this process. Picked below
 * Linux's ephemeral range (32768-60999): a port from there can be taken, between this check and the daemon's
 * bind, as the source port of any outgoing connection on this busy machine, or by a port Docker publishes
 * (seen: a cluster test's daemon could not listen on its peer port).
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (handedOut.has(port) || !(await bindable(port))) continue;
    handedOut.add(port);
    return port;
  }
}

async function bindable(port: number): Promise<boolean> {
  try {
    const tcp = Bun.listen({ hostname: "0.0.0.0", port, socket: { data() {} } });
    tcp.stop(true);
    const udp = await Bun.udpSocket({ hostname: "0.0.0.0", port });
    udp.close();
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts the daemon and waits for /readyz. The env is kept so the same node
 * can be restarted. A port picked here can be taken by someone else before
 * the daemon binds it (Docker publishes container ports from the same
 * range): a start that fails on a taken port is tried again with new ones.
 */
export async function spawnDaemon(env: Record<string, string>, dataDir = mkdtempSync(join(tmpdir(), "previewd-proc-"))): Promise<DaemonProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await spawnOnce(env, dataDir);
    } catch (err) {
      if (attempt >= 3 || !/EADDRINUSE|address already in use|in use|Failed to listen/i.test(String(err))) throw err;
    }
  }
}

async function spawnOnce(env: Record<string, string>, dataDir: string): Promise<DaemonProcess> {
  const full: Record<string, string> = {
    PREVIEWD_API_PORT: String(await freePort()),
    PREVIEWD_PROXY_PORT: String(await freePort()),
    PREVIEWD_PEER_PORT: String(await freePort()),
    PREVIEWD_DATA_DIR: dataDir,
    PREVIEWD_API_TOKEN: "test-token-0123456789",
    PREVIEWD_WARM_POOL: "1",
    PREVIEWD_LOG_PRETTY: "0",
    PREVIEWD_LOG_LEVEL: "warn",
    // The host firewall's rules hold for the whole bridge: a firewalled test daemon refuses the previews of other
    // processes' test daemons their (other) database ports. The firewall's own test turns it on.
    PREVIEWD_FIREWALL: "off",
    ...env,
  };
  const proc = Bun.spawn([BUN, join(ROOT, "src/main.ts"), "serve"], {
    env: { ...process.env, ...full },
    stdout: "pipe",
    stderr: "pipe",
  });
  // Keep the last output, to say why a daemon that exits early did.
  // The last 2 MB for tests that read the log (a daemon at debug level writes a lot before it is ready), the
  // last 16 KB of it to say why a daemon that exits early did.
  let all = "";
  const keep = async (s: ReadableStream<Uint8Array>) => {
    for await (const chunk of s) all = (all + new TextDecoder().decode(chunk)).slice(-2_000_000);
  };
  const tailOf = () => all.slice(-16000);
  const drained = Promise.all([keep(proc.stdout), keep(proc.stderr)]);
  const apiPort = Number(full.PREVIEWD_API_PORT);
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (proc.exitCode !== null) {
      await drained;
      throw new Error(`daemon exited with ${proc.exitCode}:\n${tailOf()}`);
    }
    try {
      if ((await fetch(`http://127.0.0.1:${apiPort}/readyz`)).status === 200) break;
    } catch {}
    if (Date.now() > deadline) throw new Error("daemon did not get ready in 60 s");
    await Bun.sleep(50);
  }
  const token = full.PREVIEWD_API_TOKEN!;
  const proxyPort = Number(full.PREVIEWD_PROXY_PORT);
  return {
    proc, apiPort, proxyPort, token, nodeId: full.PREVIEWD_NODE_ID ?? "", dataDir, env: full,
    output: () => all,
    api: (path, init = {}) =>
      fetch(`http://127.0.0.1:${apiPort}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...(init.headers as Record<string, string>) } }),
    preview: (id, path = "/", init = {}) =>
      fetch(`http://127.0.0.1:${proxyPort}${path}`, { ...init, headers: { host: `${id}.localhost`, ...(init.headers as Record<string, string>) } }),
  };
}
