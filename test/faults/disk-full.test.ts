// The host's disk fills up (issue 11, item 3): a real daemon whose data dir
// (preview disks, dependency cache) lives on a 64 MB ext4 filesystem of this
// test's own (a loop-mounted image), with its records in the suite's shared
// PostgreSQL (not embedded, so the database is not on the small disk). The
// filesystem is filled with a big file: a create answers 507
// insufficient_storage naming the disk and leaves no record and no container;
// a preview created before keeps serving; a PATCH of its files answers the
// same and leaves its old files in place (in the container and the store).
// The filler goes: creates and file changes work again, no restart.
// A running preview's own disk (a sparse image on the full disk) goes
// read-only when its pending writes cannot be stored (the kernel shuts that
// ext4 down); it keeps serving, and once there is room again the drift loop
// gives it a new container and disk from its stored files (disk_read_only).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { echoApp } from "../fixtures/apps.ts";
import { eventually } from "../support/eventually.ts";
import { ensureBaseImage, removeContainersByLabel } from "../support/docker.ts";
import { freshDatabase } from "../support/postgres.ts";
import { killDaemons, spawnDaemon, type DaemonProcess } from "../support/process.ts";
import Docker from "dockerode";
import postgres from "postgres";

const nodeId = `df${process.pid}${Date.now().toString(36)}`;
const work = mkdtempSync(join(tmpdir(), "previewd-diskfull-"));
const img = join(work, "disk.img");
const mnt = join(work, "mnt");
const filler = join(mnt, "filler");
let mounted = false;
let d: DaemonProcess | undefined;
let databaseUrl = "";

function sh(cmd: string, args: string[], okCodes = [0]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (!okCodes.includes(r.status ?? -1)) throw new Error(`${cmd} ${args.join(" ")}: ${r.status} ${r.stderr}`);
  return r.stdout;
}

const freeMb = () => {
  const s = statfsSync(mnt);
  return (s.bavail * s.bsize) / (1024 * 1024);
};

/** Takes every free block: fallocate most of it, then dd until ENOSPC for the rest. */
function fill(): void {
  sh("fallocate", ["-l", String(Math.max(0, Math.floor(freeMb() - 1)) * 1024 * 1024), filler]);
  sh("dd", ["if=/dev/zero", `of=${filler}-rest`, "bs=64k"], [0, 1]); // 1: "No space left on device", as wanted
  sh("sync", []);
}

/** Whether the preview's own disk is mounted read-only, by /proc/self/mountinfo (undefined: not mounted). */
function diskReadOnly(id: string): boolean | undefined {
  const point = join(mnt, "data", "disks", id);
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const f = line.split(" ");
    if (f[4] !== point) continue;
    const fsOptions = f[f.length - 1]!.split(",");
    return f[5]!.split(",").includes("ro") || fsOptions.includes("ro") || fsOptions.includes("emergency_ro");
  }
  return undefined;
}

const driftReadOnly = async () => Number(/^previewd_drift_total\{kind="disk_read_only"\} (\d+)$/m.exec(await (await d!.api("/metrics")).text())?.[1]);

const containers = async () =>
  (await new Docker().listContainers({ all: true, filters: { label: [`previewd.node=${nodeId}`] } })).map((c) => c.Labels["previewd.preview"] ?? "");
const records = async () => ((await (await d!.api("/v1/previews")).json()) as { previews: Array<{ id: string }> }).previews.map((p) => p.id);

beforeAll(async () => {
  sh("truncate", ["-s", "64M", img]);
  sh("mkfs.ext4", ["-q", "-F", img]);
  mkdirSync(mnt);
  sh("mount", ["-o", "loop", img, mnt]);
  mounted = true;
  const dataDir = join(mnt, "data"); // a directory under the mount point: killDaemons removes it
  mkdirSync(dataDir);
  let image: string;
  [databaseUrl, image] = await Promise.all([freshDatabase(), ensureBaseImage()]);
  // No warm pool: a create must make its container (and the preview's disk) now, on the full disk.
  d = await spawnDaemon({ DATABASE_URL: databaseUrl, PREVIEWD_NODE_ID: nodeId, PREVIEWD_IMAGE: image, PREVIEWD_WARM_POOL: "0", PREVIEWD_DISK_MB: "64", PREVIEWD_RECONCILE_INTERVAL: "1" }, dataDir);
}, 120_000);

afterAll(async () => {
  rmSync(filler, { force: true });
  rmSync(`${filler}-rest`, { force: true });
  await killDaemons([d]).catch(() => {});
  await removeContainersByLabel(`previewd.node=${nodeId}`).catch(() => {});
  if (mounted && spawnSync("umount", [mnt]).status !== 0) spawnSync("umount", ["-l", mnt]);
  rmSync(work, { recursive: true, force: true });
}, 60_000);

test("disk full: creates and file changes answer 507 and leave nothing; running previews serve; space back, creates work", async () => {
  const before = await d!.api("/v1/previews?wait=1", { method: "POST", body: JSON.stringify({ files: { ...echoApp, "note.txt": "v1" } }) });
  expect(before.status).toBe(201);
  const p = (await before.json()) as { id: string; status: string };
  expect(p.status).toBe("running");
  expect(await (await d!.preview(p.id, "/read?path=/app/note.txt")).text()).toBe("v1");

  fill();
  expect(freeMb()).toBeLessThan(1);

  // A create: a clear error naming the disk, and nothing left behind.
  const t0 = performance.now();
  const refused = await d!.api("/v1/previews?wait=1", { method: "POST", body: JSON.stringify({ files: echoApp }) });
  const refusedMs = performance.now() - t0;
  const body = (await refused.json()) as { error: { code: string; message: string } };
  expect(refused.status).toBe(507);
  expect(body.error.code).toBe("insufficient_storage");
  expect(body.error.message).toContain(mnt);
  expect(body.error.message).toMatch(/full/);
  expect(await records()).toEqual([p.id]);
  expect(await containers()).toEqual([p.id]);

  // The preview made before keeps serving.
  for (let i = 0; i < 5; i++) expect((await d!.preview(p.id, "/small")).status).toBe(200);

  // A file change: the same error, and the old files stay (in the container and in the store).
  const patch = await d!.api(`/v1/previews/${p.id}/files`, { method: "PATCH", body: JSON.stringify({ files: { "note.txt": "v2" } }) });
  const patchBody = (await patch.json()) as { error: { code: string; message: string } };
  expect(patch.status).toBe(507);
  expect(patchBody.error.code).toBe("insufficient_storage");
  expect(patchBody.error.message).toContain(mnt);
  expect(await (await d!.preview(p.id, "/read?path=/app/note.txt")).text()).toBe("v1");
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql<{ content: string }[]>`SELECT content FROM previewd.preview_files WHERE preview_id = ${p.id} AND path = 'note.txt'`;
    expect(row?.content).toBe("v1");
  } finally {
    await sql.end({ timeout: 5 });
  }
  expect((await d!.preview(p.id, "/small")).status).toBe(200);

  // The app writes on its own disk (here the test, as root, on its mount): the write-back finds no room on the
  // host for the sparse image, and the kernel shuts that ext4 down. The app still serves; nothing replaces it yet.
  try {
    writeFileSync(join(mnt, "data", "disks", p.id, "app", "scratch.bin"), Buffer.alloc(2 * 1024 * 1024, 7));
  } catch (err) {
    expect((err as { code?: string }).code).toBe("EROFS"); // the fill's own sync may have done it already
  }
  spawnSync("sync", []);
  await eventually("the preview's own disk is read-only", async () => diskReadOnly(p.id), (ro) => ro === true, 30_000);
  expect((await d!.preview(p.id, "/small")).status).toBe(200);
  await Bun.sleep(2500); // two drift passes: while the host disk is full, a new disk could not be made either
  expect(await driftReadOnly()).toBe(0);

  // Space comes back: creates and file changes work again, same process.
  rmSync(filler, { force: true });
  rmSync(`${filler}-rest`, { force: true });
  const t1 = performance.now();
  const again = await eventually(
    "a create works again",
    () => d!.api("/v1/previews?wait=1", { method: "POST", body: JSON.stringify({ files: echoApp }) }),
    (r) => r.status === 201,
    30_000,
    500,
  );
  const recoveredMs = performance.now() - t1;
  const q = (await again.json()) as { id: string; status: string };
  expect(q.status).toBe("running");
  expect((await d!.preview(q.id, "/small")).status).toBe(200);
  // (On the new preview: the old one's disk is read-only until the drift loop replaces it, below.)
  const patched = await d!.api(`/v1/previews/${q.id}/files`, { method: "PATCH", body: JSON.stringify({ files: { "note.txt": "v2" } }) });
  expect(`${patched.status} ${await patched.text()}`).toStartWith("200");
  await eventually("new file in the container", async () => (await d!.preview(q.id, "/read?path=/app/note.txt")).text(), (t) => t === "v2", 10_000);
  // The preview whose disk went read-only has a new one, from its stored files: it takes file changes again.
  await eventually("its disk replaced", async () => diskReadOnly(p.id), (ro) => ro === false, 30_000);
  expect(await driftReadOnly()).toBe(1);
  await eventually("it answers again", () => d!.preview(p.id, "/read?path=/app/note.txt").then((r) => r.text()), (t) => t === "v1", 30_000);
  const fixed = await d!.api(`/v1/previews/${p.id}/files`, { method: "PATCH", body: JSON.stringify({ files: { "note.txt": "v3" } }) });
  expect(`${fixed.status} ${await fixed.text()}`).toStartWith("200");
  await eventually("its new file in the container", async () => (await d!.preview(p.id, "/read?path=/app/note.txt")).text(), (t) => t === "v3", 10_000);
  expect(await containers()).toHaveLength(2); // its old container went with its old disk
  expect((await records()).sort()).toEqual([p.id, q.id].sort());
  expect(d!.proc.exitCode).toBeNull();
  console.log(`disk full: create refused in ${refusedMs.toFixed(0)} ms; first create after the space came back ${recoveredMs.toFixed(0)} ms later`);
}, 180_000);
