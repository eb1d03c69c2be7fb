// The CLI's progress and exit codes against a real daemon: `create` follows a
// slow-starting app to its URL (plain lines when piped, a spinner on a
// terminal, the final object alone with --json), a crashing app exits 1 with
// its reason, `ls` is an aligned table, `logs -f` streams, and errors
// (unknown id, unreachable daemon, bad usage) are one line with exit 1 or 2.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { client } from "../../src/cli/client.ts";
import { followPreview, type PreviewLike } from "../../src/cli/progress.ts";
import { crashingApp, echoAppSource } from "../fixtures/apps.ts";
import { startTestDaemon, type TestDaemon } from "../support/daemon.ts";
import { freePort } from "../support/process.ts";

const MAIN = join(import.meta.dir, "..", "..", "src/main.ts");
let d: TestDaemon;
const dirs: string[] = [];

/** A directory with package.json's start script running `server` (no dependencies: nothing to install). */
function appDir(server: string): string {
  const dir = mkdtempSync(join(tmpdir(), "previewd-cli-progress-"));
  writeFileSync(join(dir, "package.json"), JSON.stringify({ scripts: { start: "node server.js" } }));
  writeFileSync(join(dir, "server.js"), server);
  dirs.push(dir);
  return dir;
}
/** The echo app, listening only after `ms`: long enough to be seen starting. */
const slowApp = (ms: number) => appDir(`setTimeout(() => { ${echoAppSource} }, ${ms});`);

beforeAll(async () => {
  d = await startTestDaemon({ PREVIEWD_WARM_POOL: "1" });
});
afterAll(async () => {
  await d?.cleanup();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function cli(args: string[], env: Record<string, string> = {}, timeoutMs = 90_000) {
  const p = Bun.spawn([process.execPath, MAIN, ...args], {
    env: { ...process.env, PREVIEWD_API_URL: `http://127.0.0.1:${d.apiPort}`, PREVIEWD_API_TOKEN: d.token, ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => p.kill(), timeoutMs);
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  return { out, err, code };
}

test("create, piped: one plain line per phase, the URL last, exit 0", async () => {
  const r = await cli(["create", slowApp(2000)]);
  expect(r.err).toBe("");
  expect(r.code).toBe(0);
  const lines = r.out.trimEnd().split("\n");
  const id = /^preview ([a-z0-9]+) created \(container on /.exec(lines[0]!)![1]!;
  expect(lines).toContain("… starting the app");
  expect(lines.at(-1)).toBe(`running: http://${id}.localhost:${d.proxyPort}`);
  expect(r.out).not.toContain("\r"); // no terminal control when piped
  expect(await (await d.preview(id, "/")).text()).toBe("hello from the echo app");
}, 120_000);

test("create --json prints the final preview object alone", async () => {
  const r = await cli(["create", slowApp(500), "--json"]);
  expect(r.code).toBe(0);
  expect(r.out.trimEnd().split("\n")).toHaveLength(1);
  const p = JSON.parse(r.out) as { id: string; status: string; url: string };
  expect(p.status).toBe("running");
  expect(p.url).toBe(`http://${p.id}.localhost:${d.proxyPort}`);
}, 120_000);

test("on a terminal: a redrawn spinner line, finished phases as ✓ lines", async () => {
  const api = client(`http://127.0.0.1:${d.apiPort}`, d.token);
  const res = await d.api("/v1/previews", { method: "POST", body: JSON.stringify({ files: { "server.js": `setTimeout(() => { ${echoAppSource} }, 1500);` }, command: ["node", "server.js"] }) });
  const first = (await res.json()) as PreviewLike;
  let written = "";
  const code = await followPreview(api, first, { json: false, tty: true, write: (s) => void (written += s), writeErr: (s) => void (written += s) });
  expect(code).toBe(0);
  expect(written).toContain("\r\x1b[2K⠋ starting the app");
  expect(written).toMatch(/✓ starting the app \(\d+s\)\n/);
  expect(written).toEndWith(`running: ${first.url}\n`);
}, 120_000);

test("a crashing app: exit 1 and its reason on stderr in one line", async () => {
  const r = await cli(["create", appDir(crashingApp["server.js"])]);
  expect(r.code).toBe(1);
  expect(r.out).not.toContain("running:");
  expect(r.err.trimEnd().split("\n")).toHaveLength(1);
  expect(r.err).toMatch(/^previewd create: preview [a-z0-9]+ failed: The app exited with code 3/);
  const json = await cli(["create", appDir(crashingApp["server.js"]), "--json"]);
  expect(json.code).toBe(1);
  expect(JSON.parse(json.out).status).toBe("failed");
}, 180_000);

test("ls: an aligned table (and --json); logs -f streams", async () => {
  const made = await cli(["create", slowApp(0), "--json"]);
  const id = JSON.parse(made.out).id as string;
  const ls = await cli(["ls"]);
  expect(ls.code).toBe(0);
  const lines = ls.out.trimEnd().split("\n");
  const header = lines[0]!;
  expect(header).toMatch(/^ID +STATUS +VISIBILITY +TIER +NODE +AGE +URL$/);
  const row = lines.find((l) => l.startsWith(id))!;
  // Every column of the row starts where its heading does.
  for (const [col, value] of [["STATUS", "running"], ["TIER", "container"], ["NODE", d.nodeId], ["URL", `http://${id}.localhost:${d.proxyPort}`]] as const) {
    expect({ col, at: row.indexOf(value) }).toEqual({ col, at: header.indexOf(col) });
  }
  expect(row.slice(header.indexOf("AGE"))).toMatch(/^\d+[smhd] /);
  const asJson = await cli(["ls", "--json"]);
  expect((JSON.parse(asJson.out) as Array<{ id: string }>).some((p) => p.id === id)).toBe(true);

  // -f keeps the stream open: read the app's line, then stop it.
  const p = Bun.spawn([process.execPath, MAIN, "logs", id, "-f"], {
    env: { ...process.env, PREVIEWD_API_URL: `http://127.0.0.1:${d.apiPort}`, PREVIEWD_API_TOKEN: d.token },
    stdout: "pipe",
  });
  let seen = "";
  const reader = p.stdout.getReader();
  const until = Date.now() + 15_000;
  while (!seen.includes("echo app listening") && Date.now() < until) seen += new TextDecoder().decode((await reader.read()).value ?? new Uint8Array());
  expect(seen).toContain("echo app listening");
  await Bun.sleep(500);
  expect(p.exitCode).toBeNull(); // still following
  p.kill();
  await p.exited;
}, 120_000);

test("unknown id, unreachable daemon, bad usage: one line each, exit 1 / 1 / 2", async () => {
  for (const args of [["logs", "doesnotexist0000"], ["rm", "doesnotexist0000"]]) {
    const r = await cli(args);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^previewd (logs|rm): No preview with id "doesnotexist0000"[^\n]*\n$/);
  }
  const url = `http://127.0.0.1:${await freePort()}`;
  const down = await cli(["ls"], { PREVIEWD_API_URL: url });
  expect(down.code).toBe(1);
  expect(down.err).toBe(`previewd ls: cannot reach the previewd daemon at ${url} (connection refused); is it running? (set PREVIEWD_API_URL to point elsewhere)\n`);
  for (const args of [["ls", "--bogus"], ["logs"], ["create"], ["logs", "abcdefabcdef12", "--tail"]]) {
    const r = await cli(args);
    expect({ args, code: r.code }).toEqual({ args, code: 2 });
    expect(r.err.trimEnd().split("\n")).toHaveLength(1);
  }
  const badToken = await cli(["ls"], { PREVIEWD_API_TOKEN: "wrong" });
  expect(badToken.code).toBe(1);
  expect(badToken.err).toContain("PREVIEWD_API_TOKEN");
});
