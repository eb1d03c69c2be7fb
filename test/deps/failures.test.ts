// Bad input gets a clear end: every way an install goes wrong leaves the
// preview failed with the installer's own last lines, puts nothing in the
// cache, and leaves no install container behind.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import Docker from "dockerode";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { loadApp } from "../fixtures/apps/index.ts";
import { metric, unique, waitForPreview } from "../support/apps.ts";
import { createPreview, startTestDaemon, type TestDaemon } from "../support/daemon.ts";
import { testDepsDir } from "../support/deps.ts";

let d: TestDaemon;
const depsDir = testDepsDir();
const docker = new Docker();

beforeAll(async () => {
  d = await startTestDaemon({ PREVIEWD_DEPS_DIR: depsDir, PREVIEWD_INSTALL_TIMEOUT: "8" });
});
afterAll(async () => {
  await d?.cleanup();
});

const entries = () => new Set(readdirSync(join(depsDir, "entries")));
const installContainers = async () => (await docker.listContainers({ all: true, filters: { label: [`previewd.node=${d.nodeId}`, "previewd.role=install"] } })).length;

/** Creates, waits for the end, and checks the cache gained nothing. */
async function failedCreate(files: Record<string, string>): Promise<string> {
  const before = entries();
  const failures = await metric(d, "previewd_deps_install_failures_total");
  const p = await createPreview(d, { files });
  expect(p.status).toBe("failed");
  expect([...entries()].filter((k) => !before.has(k))).toEqual([]);
  expect(await metric(d, "previewd_deps_install_failures_total")).toBe(failures + 1);
  expect(await installContainers()).toBe(0);
  return p.error!;
}

describe("installs that fail", () => {
  test("a lockfile that does not match package.json", async () => {
    const error = await failedCreate(unique(loadApp("broken/lock-mismatch")));
    expect(error).toContain("The dependency install (npm ci) failed with exit code 1.");
    expect(error).toMatch(/in sync|Missing: ms@2\.1\.3/);
  });

  test("a package that does not exist", async () => {
    const error = await failedCreate(unique(loadApp("broken/missing-package")));
    expect(error).toContain("The dependency install (npm install) failed");
    expect(error).toContain("404");
    expect(error).toContain("previewd-no-such-package-8f3k2");
  });

  test("a postinstall script that fails", async () => {
    const error = await failedCreate(unique(loadApp("broken/postinstall-fails")));
    expect(error).toContain("failed with exit code 7");
    expect(error).toContain("postinstall-about-to-fail");
  });

  test("a postinstall script that hangs is stopped at PREVIEWD_INSTALL_TIMEOUT", async () => {
    const started = Date.now();
    const error = await failedCreate(unique(loadApp("broken/postinstall-hangs")));
    expect(error).toContain("did not finish in time and was stopped");
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  test("an install past the memory limit", async () => {
    const files = unique(loadApp("broken/postinstall-fails"));
    const pkg = JSON.parse(files["package.json"]!);
    pkg.scripts.postinstall = `node -e "const a = []; for (;;) a.push(Buffer.alloc(1 << 24, 1))"`;
    const error = await failedCreate({ ...files, "package.json": JSON.stringify(pkg) });
    expect(error).toMatch(/ran out of memory|SIGKILL|signal 9|code 137/);
  });

  test("a package.json that is not JSON is refused before anything runs", async () => {
    const res = await d.api("/v1/previews", { method: "POST", body: JSON.stringify({ files: { "package.json": "{ not json", "server.js": "" } }) });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain("package.json is not valid JSON");
  });

  test("deleting a preview while it installs stops the install and leaves nothing", async () => {
    const res = await d.api("/v1/previews", { method: "POST", body: JSON.stringify({ files: unique(loadApp("broken/postinstall-hangs")) }) });
    const { id, status } = (await res.json()) as { id: string; status: string };
    expect(status).toBe("installing");
    // The postinstall is running once the install container exists.
    const deadline = Date.now() + 30_000;
    while ((await installContainers()) === 0 && Date.now() < deadline) await Bun.sleep(100);
    expect(await installContainers()).toBe(1);
    expect((await d.api(`/v1/previews/${id}`, { method: "DELETE" })).status).toBe(204);
    while ((await installContainers()) > 0 && Date.now() < deadline) await Bun.sleep(100);
    expect(await installContainers()).toBe(0);
    expect(readdirSync(join(depsDir, "staging")).filter((n) => !n.startsWith("evicted-"))).toEqual([]);
    expect((await d.api(`/v1/previews/${id}`)).status).toBe(404);
  });
});

// The install output is live: a follower of the logs sees it before the install ends.
test("logs follow the install as it runs", async () => {
  const res = await d.api("/v1/previews", { method: "POST", body: JSON.stringify({ files: unique(loadApp("express-pg")) }) });
  const { id } = (await res.json()) as { id: string };
  const logs = await d.api(`/v1/previews/${id}/logs?follow=1`);
  const reader = logs.body!.getReader();
  let text = "";
  while (!text.includes("[previewd] installing dependencies")) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`the log stream ended early: ${text}`);
    text += new TextDecoder().decode(value);
  }
  const p = await waitForPreview(d, id, (p) => p.status !== "installing");
  expect(p.status).not.toBe("failed");
  await reader.cancel();
});
