// Each preview runs on the Node.js line its files ask for, in the real image:
// the app's node, its npm, and its dependency install are that line's; a
// change of .nvmrc moves the running preview to the new line (a new install:
// the ABI is in the cache key); a version nothing offers is a 400.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createPreview, startTestDaemon, type TestDaemon } from "../support/daemon.ts";

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon({ PREVIEWD_WARM_POOL: "2" });
});
afterAll(async () => {
  await d?.cleanup();
});

/** Answers which node runs it, which npm it has, and which node installed its dependencies (their postinstall wrote it). */
const REPORTER = `
const fs = require("fs");
const { execSync } = require("child_process");
function installedWith() {
  try {
    const key = fs.readFileSync("node_modules/.previewd-deps", "utf8");
    return fs.readFileSync("node_modules/.previewd-store/" + key + "/installed-with.txt", "utf8");
  } catch (e) { return "none"; }
}
require("http").createServer((q, s) => s.end(JSON.stringify({
  node: process.version, npm: execSync("npm --version").toString().trim(), installed: installedWith(),
}))).listen(process.env.PORT, "0.0.0.0");`;

const pkg = (o: object) => JSON.stringify({ name: "lines", version: "1.0.0", scripts: { start: "node server.js" }, ...o });
const withDeps = pkg({
  dependencies: { "is-number": "7.0.0" },
  // A root postinstall runs in the install directory, with the install's node.
  scripts: { start: "node server.js", postinstall: "node -e \"require('fs').writeFileSync('installed-with.txt', process.version)\"" },
});

async function report(id: string): Promise<{ node: string; npm: string; installed: string }> {
  const res = await d.preview(id, "/");
  expect(res.status).toBe(200);
  return (await res.json()) as never;
}

test(".nvmrc pins Node.js 20: the app, its npm and the preview object say so", async () => {
  const p = (await createPreview(d, { files: { "server.js": REPORTER, "package.json": pkg({}), ".nvmrc": "20\n" } })) as { id: string; status: string; runtime?: object };
  expect(p.status).toBe("running");
  expect(p.runtime).toEqual({ node: "20.20.2", source: ".nvmrc" });
  const r = await report(p.id);
  expect(r.node).toBe("v20.20.2");
  expect(r.npm).toMatch(/^11\./); // one npm for every line: npm 11 still runs on 20
});

test("engines.node as Angular's CLI writes it gets the newest line that satisfies it; no hint gets the newest LTS", async () => {
  const angular = (await createPreview(d, { files: { "server.js": REPORTER, "package.json": pkg({ engines: { node: "^22.22.3 || ^24.15.0" } }) } })) as { id: string; runtime?: object };
  expect(angular.runtime).toEqual({ node: "24.22.3", source: "engines.node" });
  expect((await report(angular.id)).node).toBe("v24.22.3");
  const plain = (await createPreview(d, { files: { "server.js": REPORTER }, command: ["node", "server.js"] })) as { id: string; runtime?: object };
  expect(plain.runtime).toEqual({ node: "26.12.1", source: "default" });
  expect((await report(plain.id)).node).toBe("v26.12.1");
});

test(".node-version, volta.node and devEngines.runtime each pick their line (22, 24, 20), as the preview object says", async () => {
  const cases: Array<[object, Record<string, string>, string, string]> = [
    [{}, { ".node-version": "22.3.0\n" }, "22.23.5", ".node-version"],
    [{ volta: { node: "24.1.0" } }, {}, "24.22.3", "volta.node"],
    [{ devEngines: { runtime: { name: "node", version: "^20.19.0", onFail: "error" } } }, {}, "20.20.2", "devEngines.runtime"],
  ];
  await Promise.all(cases.map(async ([fields, extra, node, source]) => {
    const p = (await createPreview(d, { files: { "server.js": REPORTER, "package.json": pkg(fields), ...extra } })) as { id: string; runtime?: object };
    expect(p.runtime).toEqual({ node, source });
    expect((await report(p.id)).node).toBe(`v${node}`);
  }));
});

test("the install runs on the app's line, and a new .nvmrc moves the running preview to its line with a new install", async () => {
  const p = await createPreview(d, { files: { "server.js": REPORTER, "package.json": withDeps, ".nvmrc": "22" } });
  expect(p.status).toBe("running");
  expect(await report(p.id)).toMatchObject({ node: "v22.23.5", installed: "v22.23.5" });

  const res = await d.api(`/v1/previews/${p.id}/files`, { method: "PATCH", body: JSON.stringify({ files: { ".nvmrc": "lts/krypton\n" } }) });
  expect(res.status).toBe(200);
  const deadline = Date.now() + 90_000;
  let now = await report(p.id).catch(() => undefined);
  while (now?.node !== "v24.22.3" && Date.now() < deadline) {
    await Bun.sleep(250);
    now = await report(p.id).catch(() => undefined);
  }
  expect(now).toMatchObject({ node: "v24.22.3", installed: "v24.22.3" });
  const view = (await (await d.api(`/v1/previews/${p.id}`)).json()) as { status: string; runtime: object };
  expect(view).toMatchObject({ status: "running", runtime: { node: "24.22.3", source: ".nvmrc" } });
});

test("a version nothing offers is a 400 that names the lines, and nothing is made", async () => {
  const before = d.orchestrator.localIds().length;
  const res = await d.api("/v1/previews", { method: "POST", body: JSON.stringify({ files: { "server.js": REPORTER, "package.json": pkg({ engines: { node: "^18.19.0" } }) } }) });
  expect(res.status).toBe(400);
  const body = (await res.json()) as { error: { code: string; message: string; details: { offered: string[] } } };
  expect(body.error.code).toBe("unsupported_node_version");
  expect(body.error.message).toContain("^18.19.0");
  expect(body.error.details.offered).toEqual(["20.20.2", "22.23.5", "24.22.3", "26.12.1"]);
  expect(d.orchestrator.localIds().length).toBe(before);

  const p = await createPreview(d, { files: { "server.js": REPORTER }, command: ["node", "server.js"] });
  const patch = await d.api(`/v1/previews/${p.id}/files`, { method: "PATCH", body: JSON.stringify({ files: { ".node-version": "16.20.0" } }) });
  expect(patch.status).toBe(400);
  expect(((await patch.json()) as { error: { code: string } }).error.code).toBe("unsupported_node_version");
});
