// The runner's memory module (docker/runner/memory.mjs) on cgroup files laid out as v1 and v2 kernels write them,
// and its preload (dev-origins.cjs) on a stand-in of next/dist/server/config.js.
import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
// @ts-expect-error: plain JavaScript module of the runner
import { cgroupMemory, guardMemory, heapCapMiB, nodeOptions } from "../../docker/runner/memory.mjs";

const MiB = 1024 * 1024;
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "cg-"));
  dirs.push(root);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(join(root, rel, ".."), { recursive: true });
    writeFileSync(join(root, rel), text);
  }
  return root;
}

test("cgroup v2: limit, working set less inactive page cache, oom_kill counter", () => {
  const root = tree({
    "memory.max": `${512 * MiB}\n`,
    "memory.current": `${400 * MiB}\n`,
    "memory.stat": `anon 1000\nfile 2000\ninactive_file ${100 * MiB}\nactive_file 7\n`,
    "memory.events": "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
  });
  expect(cgroupMemory(root)).toEqual({ version: 2, limit: 512 * MiB, usage: 400 * MiB, workingSet: 300 * MiB, oomKills: 1 });
  const unlimited = tree({ "memory.max": "max\n", "memory.current": "10\n" });
  expect(cgroupMemory(unlimited).limit).toBeUndefined();
});

test("cgroup v1: limit_in_bytes, usage less total_inactive_file, oom_control's oom_kill; 2^63 is no limit", () => {
  const root = tree({
    "memory/memory.limit_in_bytes": `${1024 * MiB}\n`,
    "memory/memory.usage_in_bytes": `${900 * MiB}\n`,
    "memory/memory.stat": `cache 5\ninactive_file 1\ntotal_inactive_file ${50 * MiB}\n`,
    "memory/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
  });
  expect(cgroupMemory(root)).toEqual({ version: 1, limit: 1024 * MiB, usage: 900 * MiB, workingSet: 850 * MiB, oomKills: 2 });
  const none = tree({ "memory/memory.limit_in_bytes": "9223372036854771712\n", "memory/memory.usage_in_bytes": "1\n" });
  expect(cgroupMemory(none).limit).toBeUndefined();
  expect(cgroupMemory(tree({}))).toBeUndefined();
});

test("heap cap leaves 55% (at least 160 MiB) outside the heap; the app's own cap wins", () => {
  expect(heapCapMiB(512 * MiB)).toBe(230);
  expect(heapCapMiB(2048 * MiB)).toBe(921);
  expect(heapCapMiB(256 * MiB)).toBe(96);
  expect(heapCapMiB(undefined)).toBeUndefined();
  expect(nodeOptions(undefined, 307, ["/opt/p.cjs"])).toBe("--max-old-space-size=307 --require=/opt/p.cjs");
  expect(nodeOptions("--max_old_space_size=2000 --inspect", 307, [])).toBe("--max_old_space_size=2000 --inspect");
  expect(nodeOptions("--enable-source-maps", undefined, ["/a.cjs"])).toBe("--enable-source-maps --require=/a.cjs");
});

test("the guard restarts once the working set stays near the limit, then not again within its gap", async () => {
  let reading = { limit: 100 * MiB, workingSet: 50 * MiB };
  const reasons: string[] = [];
  const stop = guardMemory(async (why: string) => void reasons.push(why), { everyMs: 5, samples: 2, minGapMs: 60_000, read: () => reading });
  try {
    await Bun.sleep(60);
    expect(reasons).toEqual([]);
    reading = { limit: 100 * MiB, workingSet: 95 * MiB };
    const deadline = Date.now() + 5000;
    while (reasons.length === 0 && Date.now() < deadline) await Bun.sleep(5);
    expect(reasons).toEqual(["memory at 95 of 100 MiB (95%)"]);
    await Bun.sleep(60); // still over the limit, inside the gap: no second restart
    expect(reasons.length).toBe(1);
  } finally {
    stop();
  }
});

test("the preload adds the preview host to the allowedDevOrigins that next/dist/server/config.js's loadConfig returns", async () => {
  const root = tree({
    "node_modules/next/dist/server/config.js": `"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
Object.defineProperty(exports, "default", { enumerable: true, get: () => loadConfig });
Object.defineProperty(exports, "other", { enumerable: true, get: () => 42 });
async function loadConfig() { return Object.freeze({ allowedDevOrigins: ["mine.example"], distDir: ".next", experimental: { turbopackFileSystemCacheForDev: true } }); }`,
    "node_modules/next/dist/server/lib/router-server.js": `module.exports = require("../config");`,
    "node_modules/not-next/config.js": `module.exports = { default: async () => ({}) };`,
    "node_modules/next/dist/server/lib/other.js": `module.exports = require("../../../../not-next/config");`,
    "main.cjs": `const c = require("./node_modules/next/dist/server/lib/router-server.js");
const o = require("./node_modules/next/dist/server/lib/other.js");
Promise.all([c.default(), o.default()]).then(([a, b]) => console.log(JSON.stringify({ a, b, other: c.other })));`,
  });
  const preload = join(import.meta.dir, "../../docker/runner/dev-origins.cjs");
  const run = (vars: Record<string, string>) => {
    const env: Record<string, string> = { ...process.env, NODE_OPTIONS: `--require=${preload}` } as Record<string, string>;
    delete env.PREVIEWD_PREVIEW_HOST;
    delete env.PREVIEWD_MEMORY_LIMIT_MB;
    const r = Bun.spawnSync(["node", join(root, "main.cjs")], { env: { ...env, ...vars } });
    expect(r.stderr.toString()).toBe("");
    return JSON.parse(r.stdout.toString());
  };
  const auto = { turbopackFileSystemCacheForDev: true };
  expect(run({ PREVIEWD_PREVIEW_HOST: "abc123.preview.test" })).toEqual({ a: { allowedDevOrigins: ["mine.example", "abc123.preview.test"], distDir: ".next", experimental: auto }, b: {}, other: 42 });
  expect(run({})).toEqual({ a: { allowedDevOrigins: ["mine.example"], distDir: ".next", experimental: auto }, b: {}, other: 42 });
  // In a container with a limit, Turbopack's dev filesystem cache is off.
  expect(run({ PREVIEWD_MEMORY_LIMIT_MB: "512" }).a.experimental).toEqual({ turbopackFileSystemCacheForDev: false });
});
