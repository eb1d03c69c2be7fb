// Issue 10 (1): a preview's disk budget holds on ext4/overlay2, which has no
// per-container quota. An app that writes twice its budget into /app and into
// /tmp gets ENOSPC, the host loses at most the budget, other previews go on
// writing, and a delete gives the space back.
import { afterAll, beforeAll, expect, test } from "bun:test";
import Docker from "dockerode";
import { existsSync, statfsSync, statSync } from "node:fs";
import { join } from "node:path";
import { createLogger } from "../../src/log.ts";
import { PreviewDisks } from "../../src/pool/disk.ts";
import { createPreview, startTestDaemon, type TestDaemon } from "../support/daemon.ts";

const BUDGET_MB = 256;
const MB = 1024 * 1024;

// Writes `mb` MiB to `path` in 1 MiB chunks until the filesystem refuses; says how far it got and why it stopped.
const APP = `
const fs = require("fs");
require("http").createServer((q, s) => {
  const u = new URL(q.url, "http://x");
  const path = u.searchParams.get("path");
  if (u.pathname === "/fill") {
    const chunk = Buffer.alloc(1024 * 1024, 7);
    let written = 0, code = null, fd;
    try {
      fd = fs.openSync(path, "w");
      for (let i = 0; i < Number(u.searchParams.get("mb")); i++) written += fs.writeSync(fd, chunk);
      fs.fsyncSync(fd);
    } catch (e) { code = e.code; } finally { if (fd !== undefined) try { fs.closeSync(fd); } catch {} }
    return s.end(JSON.stringify({ writtenMb: written / 1048576, code }));
  }
  if (u.pathname === "/rm") { fs.rmSync(path, { force: true }); return s.end("ok"); }
  if (u.pathname === "/write") { try { fs.writeFileSync(path, "x"); s.end("wrote"); } catch (e) { s.end(e.code); } return; }
  s.end("up");
}).listen(process.env.PORT, "0.0.0.0");`;

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon({ PREVIEWD_DISK_MB: String(BUDGET_MB), PREVIEWD_WARM_POOL: "1" });
});
afterAll(async () => {
  await d?.cleanup();
});

const fill = async (id: string, path: string, mb: number) =>
  (await (await d.preview(id, `/fill?path=${encodeURIComponent(path)}&mb=${mb}`)).json()) as { writtenMb: number; code: string | null };
const hostFree = () => {
  const s = statfsSync(d.dataDir);
  return s.bavail * s.bsize;
};
/** Bytes the preview's disk image really takes on the host (it is sparse). */
const imageBytes = (id: string) => statSync(join(d.dataDir, "disks", `${id}.img`)).blocks * 512;

test("writing twice the budget into /app and /tmp ends in ENOSPC; the host loses at most the budget; others are unaffected; delete frees it", async () => {
  const other = await createPreview(d, { files: { "server.js": APP }, command: ["node", "server.js"] });
  const free0 = hostFree();
  const p = await createPreview(d, { files: { "server.js": APP }, command: ["node", "server.js"] });
  expect(p.status).toBe("running");

  // The root filesystem is read-only: nothing lands in Docker's overlay on the host's disk.
  expect(await (await d.preview(p.id, "/write?path=/x")).text()).toBe("EROFS");
  expect(await (await d.preview(p.id, "/write?path=/var/tmp/x")).text()).toBe("EROFS");

  const t0 = Date.now();
  const tmp = await fill(p.id, "/tmp/big", 2 * BUDGET_MB);
  expect(tmp.code).toBe("ENOSPC");
  expect(tmp.writtenMb).toBeLessThanOrEqual(BUDGET_MB);
  await d.preview(p.id, "/rm?path=/tmp/big");
  const app = await fill(p.id, "/app/big", 2 * BUDGET_MB);
  expect(app.code).toBe("ENOSPC");
  expect(app.writtenMb).toBeLessThanOrEqual(BUDGET_MB);
  // /app and /tmp share the budget: with /app full, /tmp takes nothing more.
  const more = await fill(p.id, "/tmp/more", 2 * BUDGET_MB);
  expect(more.code).toBe("ENOSPC");
  expect(more.writtenMb).toBeLessThan(2);
  const fillMs = Date.now() - t0;

  const image = imageBytes(p.id);
  const drop = free0 - hostFree();
  const [rw] = (await new Docker().listContainers({ all: true, size: true, filters: { label: [`previewd.preview=${p.id}`] } })) as Array<{ SizeRw?: number }>;
  if (!rw) throw new Error("the preview's container is gone");
  console.log(
    `[disk] budget ${BUDGET_MB} MiB: /tmp took ${tmp.writtenMb} MiB, /app ${app.writtenMb} MiB before ENOSPC (${fillMs} ms); ` +
      `image on the host ${(image / MB).toFixed(1)} MiB; host free space dropped ${(drop / MB).toFixed(1)} MiB; container overlay ${(((rw.SizeRw ?? 0) / MB)).toFixed(2)} MiB`,
  );
  expect(image).toBeLessThanOrEqual(BUDGET_MB * MB);
  expect(rw.SizeRw ?? 0).toBeLessThan(5 * MB);
  // Other engineers' tests share this disk: their writes count here too, hence the slack.
  expect(drop).toBeLessThan((BUDGET_MB + 128) * MB);

  // A full disk is a clear error for file writes, not a hang.
  const patch = await d.api(`/v1/previews/${p.id}/files`, { method: "PATCH", body: JSON.stringify({ files: { "more.txt": "x".repeat(4 * MB) } }) });
  expect(patch.status).toBe(409);
  expect(((await patch.json()) as { error: { code: string } }).error.code).toBe("files_not_written");

  // The other preview writes on, into its own budget.
  const ok = await fill(other.id, "/app/some", 32);
  expect(ok).toEqual({ writtenMb: 32, code: null });
  const otherPatch = await d.api(`/v1/previews/${other.id}/files`, { method: "PATCH", body: JSON.stringify({ files: { "b.txt": "hello" } }) });
  expect(otherPatch.status).toBe(200);

  // Delete gives the space back: no image, no mount, no loop device.
  const mnt = join(d.dataDir, "disks", p.id);
  expect((await d.api(`/v1/previews/${p.id}`, { method: "DELETE" })).status).toBeLessThan(300);
  expect(existsSync(`${mnt}.img`)).toBe(false);
  expect(existsSync(mnt)).toBe(false);
  expect(await loopsBackedBy(`${mnt}.img`)).toBe(0);
}, 240_000);

// (The read-only dependency cache mounted inside /app on this disk: test/deps/install.test.ts, which runs on it too.)
test("file writes as uid 1000, the runner and /tmp work on the preview's disk", async () => {
  const p = await createPreview(d, {
    files: {
      "server.js": `require("http").createServer((q, s) => s.end(JSON.stringify({ uid: process.getuid(), tmpdir: require("os").tmpdir(), a: require("fs").readFileSync("a.txt", "utf8") }))).listen(process.env.PORT, "0.0.0.0");`,
      "a.txt": "first",
    },
    command: ["node", "server.js"],
  });
  expect(p.status).toBe("running");
  const res = await d.api(`/v1/previews/${p.id}/files`, { method: "PATCH", body: JSON.stringify({ files: { "a.txt": "second" } }) });
  expect(res.status).toBe(200);
  expect(await (await d.preview(p.id, "/")).json()).toEqual({ uid: 1000, tmpdir: "/tmp", a: "second" });
}, 120_000);

test("after a crash, disks without a container are released and their loop devices detached", async () => {
  // A root of its own: the daemon's warm pool may be making a disk in its root right now.
  const disks = new PreviewDisks({ root: join(d.dataDir, "disks-crash"), sizeMb: 64, log: createLogger("error") });
  await disks.prepare("keptpreview");
  await disks.prepare("strayafterxcrash"); // a crash between making a disk and its container
  expect(disks.isMounted("strayafterxcrash")).toBe(true);
  // What the daemon does at start: keep the disks of this node's containers, release the rest.
  const r = await disks.reconcile(new Set(["keptpreview"]));
  expect(r).toEqual({ kept: ["keptpreview"], released: ["strayafterxcrash"] });
  expect(disks.isMounted("strayafterxcrash")).toBe(false);
  expect(existsSync(disks.image("strayafterxcrash"))).toBe(false);
  expect(await loopsBackedBy(disks.image("strayafterxcrash"))).toBe(0);
  expect(disks.isMounted("keptpreview")).toBe(true);
  await disks.reconcile(new Set());
  expect(await loopsBackedBy(disks.image("keptpreview"))).toBe(0);
}, 60_000);

async function loopsBackedBy(file: string): Promise<number> {
  const out = await new Response(Bun.spawn(["losetup", "--list", "--noheadings", "--output", "BACK-FILE"]).stdout).text();
  return out.split("\n").filter((l) => l.trim().replace(/ \(deleted\)$/, "") === file).length;
}
