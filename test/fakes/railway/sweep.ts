// Leftovers of fakes whose process died without stop() (kill -9, a crashed
// test run): containers, networks and data directories carry the owning
// process id, and a new fake removes those whose process is gone. Live
// fakes of other processes (another test run on the same engine) are left
// alone.
import { readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FakeDocker } from "./docker.ts";

export const DIR_PREFIX = "previewd-fake-railway-";

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return true; // unknown: keep it
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"; // exists, just not ours to signal
  }
}

export async function sweepDeadFakes(docker: FakeDocker): Promise<void> {
  const d = docker.docker;
  const filters = { label: ["previewd.fake=railway"] };
  for (const c of await d.listContainers({ all: true, filters }))
    if (!alive(Number(c.Labels["previewd.fake.pid"]))) await docker.remove(c.Id);
  for (const n of await d.listNetworks({ filters }))
    if (!alive(Number(n.Labels?.["previewd.fake.pid"]))) await d.getNetwork(n.Id).remove().catch(() => {});
  for (const name of readdirSync(tmpdir())) {
    const pid = Number(name.startsWith(DIR_PREFIX) ? name.slice(DIR_PREFIX.length).split("-")[0] : NaN);
    if (!Number.isNaN(pid) && !alive(pid)) rmSync(join(tmpdir(), name), { recursive: true, force: true });
  }
}
