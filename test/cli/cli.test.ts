// The CLI against a real daemon: create a directory as a preview, list it,
// read its logs, remove it; bad arguments get one clear line and exit 1/2.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { echoAppSource } from "../fixtures/apps.ts";
import { pngBytes, staticAppSource } from "../fixtures/static-app.ts";
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

test("create --private, share, shares, unshare, visibility", async () => {
  const created = await cli("create", dir, "--wait", "--private", "--json");
  expect(created.code).toBe(0);
  const p = JSON.parse(created.out) as { id: string; visibility: string };
  expect(p.visibility).toBe("private");
  expect((await d.preview(p.id, "/")).status).toBe(401);
  const made = await cli("share", p.id, "--ttl", "600");
  expect(made.code).toBe(0);
  const url = new URL(made.out.trim());
  const visit = await d.preview(p.id, `${url.pathname}${url.search}`, { redirect: "manual" });
  expect(visit.status).toBe(302);
  const cookie = visit.headers.getSetCookie()[0]!.split(";")[0]!;
  expect((await d.preview(p.id, "/", { headers: { cookie } })).status).toBe(200);
  const listed = await cli("shares", p.id, "--json");
  const shares = JSON.parse(listed.out) as Array<{ id: string; url: string }>;
  expect(shares.map((s) => s.url)).toEqual([url.toString()]);
  expect((await cli("ls")).out).toMatch(new RegExp(`^${p.id} +running +private `, "m"));
  const revoked = await cli("unshare", p.id, shares[0]!.id);
  expect(revoked.out.trim()).toBe(`revoked ${shares[0]!.id}`);
  expect((await d.preview(p.id, "/", { headers: { cookie } })).status).toBe(401);
  expect((await cli("visibility", p.id, "public")).out.trim()).toBe(`${p.id} is public`);
  expect((await d.preview(p.id, "/")).status).toBe(200);
  const bad = await cli("visibility", p.id, "secret");
  expect(bad.code).toBe(2);
  expect(bad.err).toContain("public or private");
  expect((await cli("create", dir, "--private", "--public")).code).toBe(2);
  await cli("rm", p.id);
});

test("create DIR sends a .tar.gz: .gitignore honoured, node_modules left home, binary files intact", async () => {
  const app = mkdtempSync(join(tmpdir(), "previewd-cli-static-"));
  try {
    const png = pngBytes();
    const files: Record<string, string | Buffer> = {
      "package.json": JSON.stringify({ scripts: { start: "node static.js" } }),
      "static.js": staticAppSource,
      ".gitignore": "secret.txt\n*.log\n/build/\n!keep.log\n",
      "secret.txt": "do not send",
      "debug.log": "do not send",
      "keep.log": "sent",
      "build/out.js": "do not send",
      "img/logo.png": png,
      "src/.gitignore": "generated/\n",
      "src/generated/x.js": "do not send",
      "src/app.js": "sent",
      "node_modules/dep/index.js": "do not send",
    };
    for (const [path, body] of Object.entries(files)) {
      mkdirSync(join(app, path, ".."), { recursive: true });
      writeFileSync(join(app, path), body);
    }
    const created = await cli("create", app, "--wait");
    expect(created.err).toBe("");
    expect(created.code).toBe(0);
    const id = /\((\w+), running\)/.exec(created.out)![1]!;
    const logo = Buffer.from(await (await d.preview(id, "/img/logo.png")).arrayBuffer());
    expect(createHash("sha256").update(logo).digest("hex")).toBe(createHash("sha256").update(png).digest("hex"));
    for (const sent of ["keep.log", "src/app.js", ".gitignore", "src/.gitignore"]) expect((await d.preview(id, `/${sent}`)).status).toBe(200);
    for (const kept of ["secret.txt", "debug.log", "build/out.js", "src/generated/x.js", "node_modules/dep/index.js"]) {
      expect({ kept, status: (await d.preview(id, `/${kept}`)).status }).toEqual({ kept, status: 404 });
    }
    await cli("rm", id);
  } finally {
    rmSync(app, { recursive: true, force: true });
  }
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
