// PATCH: a change to package.json or the lockfile installs the new set (cache
// first) and restarts the app; any other change leaves the app running for its
// own watcher. An app without a lockfile gets the one npm resolved.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { unique, waitForPreview } from "../support/apps.ts";
import { createPreview, startTestDaemon, type TestDaemon } from "../support/daemon.ts";
import { testDepsDir } from "../support/deps.ts";

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon({ PREVIEWD_DEPS_DIR: testDepsDir() });
});
afterAll(async () => {
  await d?.cleanup();
});

// Counts requests in memory: a restart sets it back to 0 (the readiness probe is one request too).
const server = `
const fs = require("fs");
let hits = 0;
const load = (name) => { try { return typeof require(name); } catch { return "missing"; } };
require("http").createServer((q, s) => s.end(JSON.stringify({
  hits: ++hits, ms: load("ms"), isNumber: load("is-number"), lockfile: fs.existsSync("package-lock.json"),
}))).listen(process.env.PORT, "0.0.0.0");`;

/** A lockfile for `pkg`, resolved by the host's npm from the registry (no install). */
function lockfileFor(pkg: object): string {
  const dir = mkdtempSync(join(tmpdir(), "previewd-lock-"));
  try {
    writeFileSync(join(dir, "package.json"), JSON.stringify(pkg));
    const r = Bun.spawnSync(["npm", "install", "--package-lock-only", "--ignore-scripts", "--no-audit", "--no-fund"], { cwd: dir });
    if (r.exitCode !== 0) throw new Error(r.stderr.toString());
    return readFileSync(join(dir, "package-lock.json"), "utf8");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const hit = async (id: string) => (await (await d.preview(id, "/")).json()) as { hits: number; ms: string; isNumber: string; lockfile: boolean };

test("without a lockfile npm install runs, and the lockfile it wrote is kept as the app's file", async () => {
  const files = unique({ "package.json": JSON.stringify({ name: "nolock", scripts: { start: "node server.js" }, dependencies: { ms: "2.1.3" } }), "server.js": server });
  const p = await createPreview(d, { files });
  expect(p.error).toBeUndefined();
  expect(p.status).toBe("running");
  expect(await hit(p.id)).toMatchObject({ ms: "function", isNumber: "missing", lockfile: true });
});

test("a file change keeps the app running; a dependency change installs and restarts it", async () => {
  const pkg = { name: "changes", scripts: { start: "node server.js" }, dependencies: { ms: "2.1.3" } };
  const files = unique({ "package.json": JSON.stringify(pkg), "package-lock.json": lockfileFor(pkg), "server.js": server });
  const p = await createPreview(d, { files });
  expect(p.error).toBeUndefined();
  expect(p.status).toBe("running");
  const first = (await hit(p.id)).hits;

  const patch = (body: object) => d.api(`/v1/previews/${p.id}/files`, { method: "PATCH", body: JSON.stringify(body) });
  expect((await patch({ files: { "README.md": "# notes\n" } })).status).toBe(200);
  expect(await hit(p.id)).toEqual({ hits: first + 1, ms: "function", isNumber: "missing", lockfile: true }); // same process

  const next = { ...JSON.parse(files["package.json"]!), dependencies: { ms: "2.1.3", "is-number": "7.0.0" } };
  const res = await patch({ files: { "package.json": JSON.stringify(next), "package-lock.json": lockfileFor(next) } });
  expect(res.status).toBe(200);
  expect(["installing", "starting"]).toContain(((await res.json()) as { status: string }).status);
  const after = await waitForPreview(d, p.id, (v) => v.status === "running" || v.status === "failed");
  expect(after.error).toBeUndefined();
  expect(await hit(p.id)).toEqual({ hits: first, ms: "function", isNumber: "function", lockfile: true }); // restarted (count anew), new package there
});
