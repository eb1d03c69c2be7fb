// Where a Docker container's memory cgroup is, for both drivers (cgroupfs:
// docker/<id>; systemd: system.slice/docker-<id>.scope) and both cgroup
// versions; the same places pool/usage.ts reads its usage from. `root` is a
// parameter so the adapters' file logic runs against a temporary directory.
import { existsSync } from "node:fs";
import { join } from "node:path";

const ID = /^[0-9a-f]{12,64}$/;

/** The container's directory in the v1 memory hierarchy (`root` is /sys/fs/cgroup), or undefined. */
export function v1MemoryDir(root: string, containerId: string): string | undefined {
  if (!ID.test(containerId)) throw new Error(`not a container id: ${JSON.stringify(containerId)}`);
  for (const d of [join(root, "memory", "docker", containerId), join(root, "memory", "system.slice", `docker-${containerId}.scope`)]) {
    if (existsSync(join(d, "memory.limit_in_bytes"))) return d;
  }
  return undefined;
}

/** The container's v2 cgroup directory, or undefined. */
export function v2Dir(root: string, containerId: string): string | undefined {
  if (!ID.test(containerId)) throw new Error(`not a container id: ${JSON.stringify(containerId)}`);
  for (const d of [join(root, "system.slice", `docker-${containerId}.scope`), join(root, "docker", containerId)]) {
    if (existsSync(join(d, "memory.max"))) return d;
  }
  return undefined;
}
