// A postinstall script is a stranger's code too: an install runs on a disk
// of PREVIEWD_DISK_MB of its own (its directory and /tmp; the container's
// root is read-only), so filling it fails the install with the budget named
// and leaves nothing on the host's disk.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadApp } from "../fixtures/apps/index.ts";
import { unique } from "../support/apps.ts";
import { createPreview, startTestDaemon, type TestDaemon } from "../support/daemon.ts";

let d: TestDaemon;
// A cache of its own: the suite's shared one holds other tests' entries.
const depsDir = mkdtempSync(join(tmpdir(), "previewd-deps-budget-"));

beforeAll(async () => {
  d = await startTestDaemon({ PREVIEWD_DEPS_DIR: depsDir, PREVIEWD_DISK_MB: "64", PREVIEWD_WARM_POOL: "0" });
});
afterAll(async () => {
  await d?.cleanup();
  rmSync(depsDir, { recursive: true, force: true });
});

/** The postinstall-fails fixture, with a postinstall that writes `mb` MiB to `where`. */
function filler(where: string, mb: number): Record<string, string> {
  const files = unique(loadApp("broken/postinstall-fails"));
  const pkg = JSON.parse(files["package.json"]!);
  pkg.scripts.postinstall = `node -e "const fs=require('fs');const b=Buffer.alloc(1<<20,1);const f=fs.openSync('${where}','w');for(let i=0;i<${mb};i++)fs.writeSync(f,b);console.log('wrote ${mb} MiB')"`;
  return { ...files, "package.json": JSON.stringify(pkg) };
}

test("an install that writes past the budget, in its directory or /tmp, fails naming it; the host keeps nothing", async () => {
  for (const where of ["fill.bin", "/tmp/fill.bin"]) {
    const p = await createPreview(d, { files: filler(where, 200) });
    expect({ where, status: p.status }).toEqual({ where, status: "failed" });
    expect(p.error).toContain("ran out of its disk budget (64 MB, PREVIEWD_DISK_MB)");
    expect(p.error).toContain("ENOSPC");
  }
  // Nothing sealed, nothing staged, no install disk left mounted or on disk.
  expect(readdirSync(join(depsDir, "entries"))).toEqual([]);
  expect(readdirSync(join(depsDir, "staging"))).toEqual([]);
  const installDisks = join(d.dataDir, "install-disks"); // the daemon's own, not the (shareable) cache folder's
  expect(existsSync(installDisks) ? readdirSync(installDisks) : []).toEqual([]);
  expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(installDisks);
});

test("an install within the budget runs on its disk and is sealed into the cache as before", async () => {
  const p = await createPreview(d, { files: filler("small.bin", 8) });
  // The fixture's postinstall failed on purpose before; here it writes 8 MiB and succeeds, then the app starts.
  expect(p.status).toBe("running");
  const sealed = readdirSync(join(depsDir, "entries"));
  expect(sealed.length).toBe(1);
  expect(readdirSync(join(depsDir, "entries", sealed[0]!, "node_modules"))).toContain("is-number");
  expect(readdirSync(join(depsDir, "staging"))).toEqual([]);
});
