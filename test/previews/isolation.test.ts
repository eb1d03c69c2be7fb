// Attacks a hostile app author would try on its own container (issue 10):
// racing a file write into root-owned files, and filling the pids limit with
// zombies.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createPreview, startTestDaemon, type TestDaemon } from "../support/daemon.ts";

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon();
});
afterAll(async () => {
  await d?.cleanup();
});

test("a write raced with a directory swapped for a symlink to /etc never lands in /etc", async () => {
  // Swaps race/ between a directory and a symlink to /etc as fast as it can, and reports on /etc.
  const app = `
const fs = require("fs");
function swap() {
  try { fs.rmSync("race", { recursive: true, force: true }); Math.random() < 0.5 ? fs.symlinkSync("/etc", "race") : fs.mkdirSync("race"); } catch {}
  setImmediate(swap);
}
swap();
require("http").createServer((q, s) => s.end(JSON.stringify({ etcX: fs.existsSync("/etc/x"), passwdUid: fs.statSync("/etc/passwd").uid }))).listen(process.env.PORT, "0.0.0.0");`;
  const p = await createPreview(d, { files: { "server.js": app }, command: ["node", "server.js"] });
  expect(p.status).toBe("running");
  const statuses = new Set<number>();
  for (let i = 0; i < 40; i++) {
    const res = await d.api(`/v1/previews/${p.id}/files`, { method: "PATCH", body: JSON.stringify({ files: { "race/x": "pwned", "race/passwd": "pwned" } }) });
    statuses.add(res.status);
    if (res.status !== 200) expect(((await res.json()) as { error: { code: string } }).error.code).toBe("files_not_written");
  }
  for (const s of statuses) expect([200, 409]).toContain(s);
  expect(await (await d.preview(p.id, "/")).json()).toEqual({ etcX: false, passwdUid: 0 });
});

test("orphaned children are reaped: an app that leaves 400 background processes can still fork", async () => {
  const app = `
const { execSync } = require("child_process");
const fs = require("fs");
const zombies = () => fs.readdirSync("/proc").filter((p) => /^\\d+$/.test(p)).filter((p) => { try { return /^\\d+ \\(.*\\) Z/.test(fs.readFileSync("/proc/" + p + "/stat", "utf8")); } catch { return false; } }).length;
require("http").createServer((q, s) => {
  if (q.url !== "/spawn") return s.end("up");
  // Each sh exits at once, leaving its background child to the init process.
  for (let i = 0; i < 400; i++) execSync("sh -c 'true &'");
  setTimeout(() => s.end(JSON.stringify({ zombies: zombies(), forks: execSync("echo ok").toString().trim() })), 300);
}).listen(process.env.PORT, "0.0.0.0");`;
  const p = await createPreview(d, { files: { "server.js": app }, command: ["node", "server.js"] });
  expect(p.status).toBe("running");
  const r = (await (await d.preview(p.id, "/spawn")).json()) as { zombies: number; forks: string };
  expect(r.forks).toBe("ok");
  expect(r.zombies).toBeLessThan(5);
});
