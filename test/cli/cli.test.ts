// The CLI against a real daemon: create a directory as a preview, list it,
// read its logs, remove it; bad arguments get one clear line and exit 1/2.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { echoAppSource } from "../fixtures/apps.ts";
import { startTestDaemon, type TestDaemon } from "../support/daemon.ts";

const MAIN = join(import.meta.dir, "..", "..", "src/main.ts");
let d: TestDaemon;
let dir: string;

beforeAll(async () => {
  d = await startTestDaemon({ PREVIEWD_WARM_POOL: "1" });
  dir = mkdtempSync(join(tmpdir(), "previewd-cli-app-"));
  writeFileSync(join(dir, "package.json"), JSON.stringify({ scripts: { start: "node server.js" } }));
  writeFileSync(join(dir, "server.js"), echoAppSource);
  mkdirSync(join(dir, "node_modules/junk"), { recursive: true });
  writeFileSync(join(dir, "node_modules/junk/big.js"), "x".repeat(1000));
});
afterAll(async () => {
  await d?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

async function cli(...args: string[]) {
  const p = Bun.spawn([process.execPath, MAIN, ...args], {
    env: { ...process.env, PREVIEWD_API_URL: `http://127.0.0.1:${d.apiPort}`, PREVIEWD_API_TOKEN: d.token },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { out, err, code };
}

test("create, ls, logs, rm", async () => {
  const created = await cli("create", dir, "--wait");
  expect(created.err).toBe("");
  expect(created.code).toBe(0);
  const id = /\((\w+), running\)/.exec(created.out)![1]!;
  expect(created.out).toContain(`http://${id}.localhost:${d.proxyPort}`);
  expect(await (await d.preview(id, "/")).text()).toBe("hello from the echo app");
  // node_modules stayed home
  expect((await d.preview(id, "/read?path=node_modules/junk/big.js")).status).toBe(404);

  const ls = await cli("ls");
  expect(ls.out).toContain(id);
  expect(ls.out).toContain("running");
  const logs = await cli("logs", id, "--tail", "5");
  expect(logs.out).toContain("echo app listening");
  const rm = await cli("rm", id);
  expect(rm.out.trim()).toBe(`deleted ${id}`);
  expect((await d.api(`/v1/previews/${id}`)).status).toBe(404);
});

test("bad arguments and API errors get one clear line", async () => {
  const noDir = await cli("create", "/definitely/not/here");
  expect(noDir.code).toBe(1);
  expect(noDir.err).toContain("not one");
  const badId = await cli("logs", "../../etc");
  expect(badId.code).toBe(1);
  expect(badId.err).toContain("preview id");
  const unknown = await cli("rm", "doesnotexist0000");
  expect(unknown.code).toBe(1);
  expect(unknown.err).toContain("No preview with id");
  const what = await cli("frobnicate");
  expect(what.code).toBe(2);
});
