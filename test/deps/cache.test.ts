// The cache's life: prewarmed at start, survives a restart, stays under its
// size cap by evicting least recently used entries that no preview uses.
import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadApp } from "../fixtures/apps/index.ts";
import { metric, unique, waitForPreview } from "../support/apps.ts";
import { createPreview, startTestDaemon, type TestDaemon } from "../support/daemon.ts";

const daemons: TestDaemon[] = [];
afterEach(async () => {
  for (const d of daemons.splice(0)) await d.cleanup();
});

async function daemon(env: Record<string, string>): Promise<TestDaemon> {
  const d = await startTestDaemon(env);
  daemons.push(d);
  return d;
}

const freshDepsDir = () => mkdtempSync(join(tmpdir(), "previewd-deps-"));
const entries = (dir: string) => readdirSync(join(dir, "entries")).sort();

async function until(check: () => Promise<boolean>, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("timed out");
    await Bun.sleep(100);
  }
}

test("PREVIEWD_PREWARM installs a stack at start: its previews never show installing", async () => {
  const files = unique(loadApp("express-pg"));
  const template = mkdtempSync(join(tmpdir(), "previewd-template-"));
  for (const name of ["package.json", "package-lock.json"]) writeFileSync(join(template, name), files[name]!);
  const d = await daemon({ PREVIEWD_DEPS_DIR: freshDepsDir(), PREVIEWD_PREWARM: template });
  await until(async () => (await metric(d, "previewd_deps_installs_total")) === 1);
  const res = await d.api("/v1/previews", { method: "POST", body: JSON.stringify({ files }) });
  const p = (await res.json()) as { id: string; status: string };
  expect(p.status).toBe("starting");
  expect((await waitForPreview(d, p.id, (v) => v.status !== "starting")).status).toBe("running");
  expect(await metric(d, "previewd_deps_installs_total")).toBe(1);
});

test("the cache survives a daemon restart", async () => {
  const depsDir = freshDepsDir();
  const files = unique(loadApp("express-pg"));
  const first = await daemon({ PREVIEWD_DEPS_DIR: depsDir });
  expect((await createPreview(first, { files })).status).toBe("running");
  await first.cleanup();
  daemons.splice(0);
  const second = await daemon({ PREVIEWD_DEPS_DIR: depsDir });
  expect(await metric(second, "previewd_deps_cache_entries")).toBe(1);
  expect(await metric(second, "previewd_deps_cache_bytes")).toBeGreaterThan(1024 * 1024);
  expect((await createPreview(second, { files })).status).toBe("running");
  expect(await metric(second, "previewd_deps_installs_total")).toBe(0);
});

test("past the size cap the least recently used entry no preview uses is evicted; entries in use never are", async () => {
  const depsDir = freshDepsDir();
  // Each express-pg install is a few MB: a 1 MB cap holds none, so only use protects an entry.
  const d = await daemon({ PREVIEWD_DEPS_DIR: depsDir, PREVIEWD_DEPS_CACHE_MB: "1" });
  const a = await createPreview(d, { files: unique(loadApp("express-pg")) });
  const b = await createPreview(d, { files: unique(loadApp("express-pg")) });
  expect([a.status, b.status]).toEqual(["running", "running"]);
  const both = entries(depsDir);
  expect(both.length).toBe(2); // both in use: over the cap, nothing evicted
  expect(await metric(d, "previewd_deps_cache_evictions_total")).toBe(0);

  expect((await d.api(`/v1/previews/${a.id}`, { method: "DELETE" })).status).toBe(204);
  const c = await createPreview(d, { files: unique(loadApp("express-pg")) });
  expect(c.status).toBe("running");
  // a's entry went (unused); b's and c's stay (in use).
  const left = entries(depsDir);
  expect(left.length).toBe(2);
  expect(left.filter((k) => both.includes(k)).length).toBe(1);
  expect(await metric(d, "previewd_deps_cache_evictions_total")).toBe(1);
  expect(await (await d.preview(b.id, "/health")).json()).toEqual({ ok: true });
});
