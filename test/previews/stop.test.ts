// A stop under systemd's default signal pattern: SIGTERM to every process of
// the service at once, the embedded PostgreSQL included. The daemon must still
// remove its spare containers (previews keep running across restarts) and exit.
import { afterAll, expect, test } from "bun:test";
import Docker from "dockerode";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ensureBaseImage } from "../support/docker.ts";
import { killDaemons, spawnDaemon, type DaemonProcess } from "../support/process.ts";

const docker = new Docker();
let d: DaemonProcess | undefined;
afterAll(async () => {
  await killDaemons([d]);
});

const containersOf = async (node: string) => (await docker.listContainers({ all: true, filters: { label: [`previewd.node=${node}`] } })).length;

test("SIGTERM to the daemon and its embedded PostgreSQL at once: spares removed, clean exit", async () => {
  const node = `stop-${process.pid}-${Date.now().toString(36)}`;
  d = await spawnDaemon({ PREVIEWD_NODE_ID: node, PREVIEWD_IMAGE: await ensureBaseImage(), PREVIEWD_WARM_POOL: "2", DATABASE_URL: "" });
  const deadline = Date.now() + 60_000;
  while ((await containersOf(node)) < 2 && Date.now() < deadline) await Bun.sleep(100);
  expect(await containersOf(node)).toBe(2);
  const postmaster = Number(readFileSync(join(d.dataDir, "postgres", "postmaster.pid"), "utf8").split("\n")[0]);
  process.kill(postmaster, "SIGTERM");
  d.proc.kill("SIGTERM");
  const code = await Promise.race([d.proc.exited, Bun.sleep(30_000).then(() => "still running")]);
  if (code !== 0) console.log(d.output());
  expect(code).toBe(0);
  expect(await containersOf(node)).toBe(0);
});
