// Issue 26: an app without a lockfile gets the one npm wrote, read by the
// daemon (root) on the host. A postinstall that swaps package-lock.json for a
// link to a root-only host file or to /proc/self/environ (the daemon's own
// environment: its API token) must not hand that file to the app, whether the
// install comes from a create or from a PATCH with a token scoped to `files`
// only. Real npm installs of a real package (is-number) in the sandbox.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { unique, waitForPreview } from "../support/apps.ts";
import { createPreview, startTestDaemon, type TestDaemon } from "../support/daemon.ts";
import { testDepsDir } from "../support/deps.ts";
import { eventually } from "../support/eventually.ts";

let d: TestDaemon;
let hostDir: string;
let secretFile: string;
const SECRET = `host-secret-${crypto.randomUUID()}`;
/** An entry of this process's (the daemon's) environment as the kernel keeps it: what /proc/self/environ would give away. */
const ENVIRON = readFileSync("/proc/self/environ", "utf8").split("\0").find((e) => e.startsWith("PATH="))!;

beforeAll(async () => {
  hostDir = mkdtempSync(join(tmpdir(), "previewd-hostile-"));
  chmodSync(hostDir, 0o700);
  mkdirSync(join(hostDir, "private"), { mode: 0o700 });
  secretFile = join(hostDir, "private", "secret");
  writeFileSync(secretFile, SECRET, { mode: 0o600 });
  d = await startTestDaemon({ PREVIEWD_DEPS_DIR: testDepsDir() });
});
afterAll(async () => {
  await d?.cleanup();
  rmSync(hostDir, { recursive: true, force: true });
});

// Serves its own package-lock.json (what the daemon gave it) and whether its dependency is there.
const server = `
const fs = require("fs");
require("http").createServer((q, s) => {
  let lock = null;
  try { lock = fs.readFileSync("package-lock.json", "utf8"); } catch {}
  let dep = "missing";
  try { dep = typeof require("is-number"); } catch {}
  s.end(JSON.stringify({ lock, dep }));
}).listen(process.env.PORT, "0.0.0.0");`;

/** An app with a dependency, no lockfile, and a postinstall that replaces the lockfile npm wrote with a link to `target`. */
function hostileApp(target: string): Record<string, string> {
  const pkg = { name: "hostile-lock", scripts: { start: "node server.js", postinstall: `rm -f package-lock.json && ln -s ${target} package-lock.json` }, dependencies: { "is-number": "7.0.0" } };
  return unique({ "package.json": JSON.stringify(pkg), "server.js": server });
}

const served = async (id: string) => (await (await d.preview(id, "/")).json()) as { lock: string | null; dep: string };
const logsOf = async (id: string) => (await d.api(`/v1/previews/${id}/logs?tail=500`)).text();

/** The preview runs with its dependency, holds no lockfile, and its logs say why the one the install left was not kept. */
async function expectIgnored(id: string, target: string, why: RegExp): Promise<void> {
  const got = await served(id);
  expect(got.dep).toBe("function");
  expect(got.lock).toBeNull();
  const text = JSON.stringify(got) + (await logsOf(id));
  expect(text).not.toContain(SECRET);
  expect(text).not.toContain(ENVIRON);
  expect(await logsOf(id)).toMatch(why);
  expect(await logsOf(id)).toContain(`package-lock.json -> ${target}`.slice(0, 40));
}

const LEFT = /removed 1 symbolic link pointing outside the install \(package-lock\.json -> /;

describe("the lockfile an install wrote is read as a stranger's file", () => {
  test("by create: a link to a root-only 0600 host file, and to /proc/self/environ, is not the app's lockfile", async () => {
    for (const target of [secretFile, "/proc/self/environ"]) {
      const p = await createPreview(d, { files: hostileApp(target) });
      expect({ target, status: p.status, error: p.error }).toEqual({ target, status: "running", error: undefined });
      await expectIgnored(p.id, target, LEFT);
    }
  }, 180_000);

  test("by create: a link that stays inside the install is not followed either (logged, not kept)", async () => {
    const target = "node_modules/is-number/package.json";
    const p = await createPreview(d, { files: hostileApp(target) });
    expect(p.status).toBe("running");
    const got = await served(p.id);
    expect(got).toEqual({ lock: null, dep: "function" });
    expect(await logsOf(p.id)).toContain("the package-lock.json the install wrote is not kept as the app's lockfile: package-lock.json is a symbolic link");
  }, 120_000);

  test("by PATCH with a token scoped to `files` only: the same links give nothing away", async () => {
    for (const target of [secretFile, "/proc/self/environ"]) {
      const plain = unique({ "package.json": JSON.stringify({ name: "patched-lock", scripts: { start: "node server.js" } }), "server.js": server });
      const p = await createPreview(d, { files: plain });
      expect(p.status).toBe("running");
      expect(await served(p.id)).toEqual({ lock: null, dep: "missing" });
      const minted = await d.api(`/v1/previews/${p.id}/tokens`, { method: "POST", body: JSON.stringify({ scope: ["files"] }) });
      expect(minted.status).toBe(201);
      const { token } = (await minted.json()) as { token: string };
      const res = await fetch(`http://127.0.0.1:${d.apiPort}/v1/previews/${p.id}/files`, {
        method: "PATCH",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ files: { "package.json": hostileApp(target)["package.json"] } }),
      });
      expect(res.status).toBe(200);
      const after = await waitForPreview(d, p.id, (v) => v.status === "running" || v.status === "failed");
      expect(after.error).toBeUndefined();
      // Restarted with the new dependency once the install is through.
      await eventually("the app restarted with is-number", () => served(p.id), (s) => s.dep === "function", 120_000);
      await expectIgnored(p.id, target, LEFT);
    }
  }, 300_000);
});
