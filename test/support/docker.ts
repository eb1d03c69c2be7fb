// Docker helpers shared by the suite: one base image build per process
// (scripts/build-base-image is a no-op when the image has the right inputs),
// and removal of whatever a test started, by label.
import Docker from "dockerode";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..", "..");
let image: Promise<string> | undefined;

/** Builds (or finds) previewd/preview-base:latest and returns its name. */
export function ensureBaseImage(): Promise<string> {
  image ??= (async () => {
    const proc = Bun.spawn([join(ROOT, "scripts/build-base-image")], { stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    if (code !== 0) throw new Error(`build-base-image failed (${code}): ${err}`);
    return out.trim();
  })();
  image.catch(() => (image = undefined));
  return image;
}

/** Removes every container (running or not) carrying `label` (key=value or key). */
export async function removeContainersByLabel(label: string): Promise<number> {
  const docker = new Docker();
  const found = await docker.listContainers({ all: true, filters: { label: [label] } });
  await Promise.all(found.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => {})));
  return found.length;
}
