// Starts a real daemon in this test process against the shared test
// PostgreSQL and the real Docker engine; every container it makes carries
// previewd.test=1 and its own node id, and stop() removes them all.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { testConfig } from "../../src/config.ts";
import { startDaemon, type Daemon, type DaemonOptions } from "../../src/daemon.ts";
import { createLogger } from "../../src/log.ts";
import { releaseAllDisks } from "../../src/pool/disk.ts";
import { ensureBaseImage, removeContainersByLabel } from "./docker.ts";
import { testDatabaseUrl } from "./postgres.ts";

export interface TestDaemon extends Daemon {
  /** Control API call with the token. */
  api(path: string, init?: RequestInit): Promise<Response>;
  /** A request to a preview through this daemon's proxy. */
  preview(id: string, path?: string, init?: RequestInit): Promise<Response>;
  nodeId: string;
  dataDir: string;
  cleanup(): Promise<void>;
}

let counter = 0;

export async function startTestDaemon(env: Record<string, string> = {}, opts: Omit<DaemonOptions, "labels"> = {}): Promise<TestDaemon> {
  const [databaseUrl, image] = await Promise.all([testDatabaseUrl(), ensureBaseImage()]);
  const nodeId = env.PREVIEWD_NODE_ID ?? `t${process.pid}-${++counter}-${Date.now().toString(36)}`;
  const dataDir = mkdtempSync(join(tmpdir(), "previewd-test-"));
  // TEST_PROXY_THREADS=N runs every in-process daemon with N fronts on its public port (the proxy suite, again, on threads).
  const threads = process.env.TEST_PROXY_THREADS ? { PREVIEWD_PROXY_THREADS: process.env.TEST_PROXY_THREADS } : {};
  const config = testConfig({ DATABASE_URL: databaseUrl, PREVIEWD_DATA_DIR: dataDir, PREVIEWD_NODE_ID: nodeId, PREVIEWD_IMAGE: image, ...threads, ...env });
  const log = createLogger(process.env.TEST_LOG_LEVEL ?? "warn");
  const d = await startDaemon(config, log, { ...opts, labels: { "previewd.test": "1" } });
  return wrap(d, nodeId, dataDir);
}

export function wrap(d: Daemon, nodeId: string, dataDir: string): TestDaemon {
  return Object.assign(d, {
    nodeId,
    dataDir,
    api: (path: string, init: RequestInit = {}) =>
      fetch(`http://127.0.0.1:${d.apiPort}${path}`, {
        ...init,
        headers: { authorization: `Bearer ${d.token}`, "content-type": "application/json", ...(init.headers as Record<string, string>) },
      }),
    preview: (id: string, path = "/", init: RequestInit = {}) =>
      fetch(`http://127.0.0.1:${d.proxyPort}${path}`, { ...init, headers: { host: `${id}.localhost`, ...(init.headers as Record<string, string>) } }),
    async cleanup() {
      await d.stop().catch(() => {});
      await removeContainersByLabel(`previewd.node=${nodeId}`);
      // Preview disks are loop-mounted under the data dir: rm -rf would descend into them and leave the loop devices.
      for (const root of ["disks", "build-disks", "install-disks"]) await releaseAllDisks(join(dataDir, root), createLogger("error"));
      rmSync(dataDir, { recursive: true, force: true });
    },
  });
}

/** POST /v1/previews?wait=1 and return the preview object (throws on a non-201). */
export async function createPreview(d: TestDaemon, body: object): Promise<{ id: string; status: string; url: string; error?: string; database?: { schema: string; url: string; prismaUrl: string } }> {
  const res = await d.api("/v1/previews?wait=1", { method: "POST", body: JSON.stringify(body) });
  const json = (await res.json()) as never;
  if (res.status !== 201) throw new Error(`create failed: ${res.status} ${JSON.stringify(json)}`);
  return json;
}
