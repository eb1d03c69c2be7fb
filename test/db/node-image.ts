// An image with Node.js for the db tests' container checks: the project's
// preview base image when it has been built, else a throwaway one made here
// (no registry is reachable, so no docker pull): the host's node binary and
// the libraries ldd names, imported as a root filesystem. Labelled
// previewd.test=1 so test cleanup can find it.
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const BASE_IMAGE = "previewd/preview-base:latest";
export const THROWAWAY_IMAGE = "previewd/db-test-node:latest";

async function run(cmd: string[], stdin?: Blob): Promise<{ code: number; out: string; err: string }> {
  const p = Bun.spawn(cmd, { stdin: stdin ?? "ignore", stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, out, err };
}

async function imageExists(ref: string): Promise<boolean> {
  return (await run(["docker", "image", "inspect", ref])).code === 0;
}

let image: Promise<string> | undefined;

/** The image to run node in; builds the throwaway one at most once per process. */
export function nodeImage(): Promise<string> {
  image ??= (async () => {
    if (await imageExists(BASE_IMAGE)) return BASE_IMAGE;
    if (await imageExists(THROWAWAY_IMAGE)) return THROWAWAY_IMAGE;
    const node = (await run(["readlink", "-f", Bun.which("node") ?? "/usr/bin/node"])).out.trim();
    const ldd = await run(["ldd", node]);
    const libs = [...ldd.out.matchAll(/(\/\S+\.so[.\d]*)/g)].map((m) => m[1]!);
    const dir = mkdtempSync(join(tmpdir(), "previewd-node-image-"));
    try {
      mkdirSync(join(dir, "etc"));
      // glibc's default without this file asks DNS first and stops at NXDOMAIN,
      // never reading /etc/hosts, where Docker writes host.docker.internal.
      writeFileSync(join(dir, "etc", "nsswitch.conf"), "hosts: files dns\n");
      const tar = await run(["tar", "-c", "--dereference", "-f", join(dir, "rootfs.tar"), "-C", dir, "etc", "-C", "/", ...[node, ...libs].map((p) => p.slice(1))]);
      if (tar.code !== 0) throw new Error(`tar failed: ${tar.err}`);
      const imp = await run(
        ["docker", "import", "-c", "ENV PATH=/usr/local/bin:/usr/bin:/bin", "-c", "LABEL previewd.test=1", join(dir, "rootfs.tar"), THROWAWAY_IMAGE],
      );
      if (imp.code !== 0) throw new Error(`docker import failed: ${imp.err}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return THROWAWAY_IMAGE;
  })();
  image.catch(() => (image = undefined));
  return image;
}

/** `docker run --rm` with the test labels; returns exit code and output. */
export async function dockerRun(args: string[], timeoutMs = 30_000): Promise<{ code: number; out: string; err: string }> {
  const name = `previewd-dbtest-${process.pid}-${Date.now().toString(36)}`;
  const cmd = ["docker", "run", "--rm", "--name", name, "--label", "previewd.test=1", "--label", "previewd.node=db-test", ...args];
  const timer = setTimeout(() => void run(["docker", "rm", "-f", name]), timeoutMs);
  try {
    return await run(cmd);
  } finally {
    clearTimeout(timer);
  }
}
