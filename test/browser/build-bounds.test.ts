// Issue 26: a browser-tier build is a stranger's code on the host. Its
// output folder being a link to a host folder must not be read and served;
// it writes on a disk of PREVIEWD_DISK_MB of its own (its /app and /tmp, the
// container's root read-only), so writing past it fails the build, naming
// the budget, and leaves nothing behind.
import { afterAll, beforeAll, expect, test } from "bun:test";
import Docker from "dockerode";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPreview, startTestDaemon, type TestDaemon } from "../support/daemon.ts";

let d: TestDaemon;
let hostDir: string;
const SECRET = `host-folder-secret-${crypto.randomUUID()}`;

beforeAll(async () => {
  // A host folder that looks like a site: what a build's `ln -s <it> dist` would have served from every node.
  hostDir = mkdtempSync(join(tmpdir(), "previewd-host-site-"));
  writeFileSync(join(hostDir, "index.html"), `<h1>${SECRET}</h1>`);
  mkdirSync(join(hostDir, "etc"));
  writeFileSync(join(hostDir, "etc", "secret.txt"), SECRET);
  d = await startTestDaemon({ PREVIEWD_DISK_MB: "64", PREVIEWD_WARM_POOL: "0" });
}, 120_000);
afterAll(async () => {
  await d?.cleanup();
  rmSync(hostDir, { recursive: true, force: true });
});

const site = (name: string, build: string) => ({
  files: { "package.json": JSON.stringify({ name, scripts: { build } }), "index.html": "x" },
  tier: "browser",
});

const buildContainers = async () => (await new Docker().listContainers({ all: true, filters: { label: [`previewd.node=${d.nodeId}`, "previewd.role=build"] } })).length;
const leftovers = () => ({
  disks: existsSync(join(d.dataDir, "build-disks")) ? readdirSync(join(d.dataDir, "build-disks")) : [],
  works: existsSync(join(d.dataDir, "builds")) ? readdirSync(join(d.dataDir, "builds")) : [],
  mounted: readFileSync("/proc/self/mountinfo", "utf8").includes(join(d.dataDir, "build-disks")),
});

test("a build whose dist/ is a link to a host folder fails, naming it, and serves nothing", async () => {
  const p = await createPreview(d, site("dist-link", `ln -s ${hostDir} dist`));
  expect(p.status).toBe("failed");
  expect(p.error).toContain("The build made dist/ a symbolic link");
  const page = await d.preview(p.id, "/", { headers: { accept: "text/html" } });
  expect(page.status).toBe(502);
  expect(await page.text()).not.toContain(SECRET);
  expect(await (await d.preview(p.id, "/etc/secret.txt")).text()).not.toContain(SECRET);
}, 60_000);

test("a build that writes past its disk, in /app or /tmp, fails naming the budget and leaves nothing behind", async () => {
  for (const where of ["dist/fill.bin", "/tmp/fill.bin"]) {
    const write = `mkdir -p dist && echo '<h1>ok</h1>' > dist/index.html && node -e "const fs=require('fs');const b=Buffer.alloc(1<<20,1);const f=fs.openSync('${where}','w');for(let i=0;i<200;i++)fs.writeSync(f,b)"`;
    const p = await createPreview(d, site("fills-disk", write));
    expect({ where, status: p.status }).toEqual({ where, status: "failed" });
    expect(p.error).toContain("The build ran out of its disk budget (64 MB, PREVIEWD_DISK_MB)");
    expect(p.error).toContain("ENOSPC");
  }
  expect(await buildContainers()).toBe(0);
  expect(leftovers()).toEqual({ disks: [], works: [], mounted: false });
}, 120_000);

test("the build's container root is read-only: only its disk's /app and /tmp are writable", async () => {
  const p = await createPreview(d, site("writes-root", "echo x > /var/tmp/x"));
  expect(p.status).toBe("failed");
  expect(p.error).toContain("Read-only file system");
  // Within the budget a build works as before, on its disk.
  const ok = await createPreview(d, site("fits", "mkdir -p dist && echo '<h1>fits</h1>' > dist/index.html && head -c 8388608 /dev/zero > /tmp/scratch"));
  expect(ok.status).toBe("running");
  expect(await (await d.preview(ok.id, "/")).text()).toBe("<h1>fits</h1>\n");
  expect(leftovers()).toEqual({ disks: [], works: [], mounted: false });
}, 60_000);
