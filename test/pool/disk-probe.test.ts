// The daemon asks once at start whether this host can make preview disks: a
// host that can gives a clean answer and leaves nothing; one that cannot says
// why (the daemon then runs without the budget and says so).
import { expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../../src/log.ts";
import { PreviewDisks } from "../../src/pool/disk.ts";

const log = createLogger("error");

test("on this host (root, loop devices) the probe passes and leaves no image or mount behind", async () => {
  const root = mkdtempSync(join(tmpdir(), "previewd-disk-probe-"));
  try {
    expect(await new PreviewDisks({ root, sizeMb: 64, log }).probe()).toBeUndefined();
    expect(readdirSync(root)).toEqual([]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("where no disk can be made, the probe names the reason instead of throwing", async () => {
  const reason = await new PreviewDisks({ root: "/proc/previewd-no-such-place", sizeMb: 64, log }).probe();
  expect(typeof reason).toBe("string");
  expect(reason!.length).toBeGreaterThan(0);
});
