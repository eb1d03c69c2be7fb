// Each package manager the lockfile names, for real: pnpm, Yarn 1 and Bun
// lockfiles made by those tools (in the base image, from the npm registry),
// installed by previewd and loaded by the app.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { unique } from "../support/apps.ts";
import { createPreview, startTestDaemon, type TestDaemon } from "../support/daemon.ts";
import { testDepsDir } from "../support/deps.ts";
import { ensureBaseImage } from "../support/docker.ts";

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon({ PREVIEWD_DEPS_DIR: testDepsDir() });
});
afterAll(async () => {
  await d?.cleanup();
});

const server = `require("http").createServer((q, s) => s.end(JSON.stringify({ ms: require("ms")("2h"), isNumber: require("is-number")(5) }))).listen(process.env.PORT, "0.0.0.0");`;
const pkg = { name: "managers", private: true, scripts: { start: "node server.js" }, dependencies: { ms: "2.1.3", "is-number": "7.0.0" } };

/** Runs the package manager in the base image to resolve a lockfile (no install), and returns it. */
async function lockfile(command: string, name: string, manifest: object = pkg): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "previewd-pm-"));
  chmodSync(dir, 0o777);
  try {
    writeFileSync(join(dir, "package.json"), JSON.stringify(manifest));
    const ca = existsSync("/etc/ssl/certs/ca-certificates.crt") ? ["-v", "/etc/ssl/certs/ca-certificates.crt:/etc/previewd/ca.pem:ro", "-e", "NODE_EXTRA_CA_CERTS=/etc/previewd/ca.pem"] : [];
    const proc = Bun.spawn(["docker", "run", "--rm", "--label", "previewd.test=1", ...ca, "-e", "HOME=/tmp", "-e", "COREPACK_INTEGRITY_KEYS=0", "-v", `${dir}:/w`, "-w", "/w", await ensureBaseImage(), "sh", "-c", command], { stdout: "pipe", stderr: "pipe" });
    const [err, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    if (code !== 0) throw new Error(`${command}: ${err}`);
    return readFileSync(join(dir, name), "utf8");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("the lockfile names the package manager", () => {
  const cases: Array<[string, string, string]> = [
    ["pnpm", "pnpm install --lockfile-only", "pnpm-lock.yaml"],
    ["yarn", "yarn install --silent --no-progress && rm -rf node_modules", "yarn.lock"],
    ["bun", "bun install --lockfile-only", "bun.lock"],
  ];
  for (const [manager, command, name] of cases) {
    test(`${manager} (${name})`, async () => {
      const files = unique({ "package.json": JSON.stringify(pkg), [name]: await lockfile(command, name), "server.js": server });
      const res = await d.api("/v1/previews", { method: "POST", body: JSON.stringify({ files }) });
      const created = (await res.json()) as { id: string; phase?: string };
      expect(created.phase).toStartWith(`installing dependencies (${manager} install`);
      const p = await createPreview(d, { files });
      expect(p.error).toBeUndefined();
      expect(await (await d.preview(created.id, "/")).json()).toEqual({ ms: 7_200_000, isNumber: true });
      expect(await (await d.preview(p.id, "/")).json()).toEqual({ ms: 7_200_000, isNumber: true });
    });
  }
});

test("a packageManager of another pnpm major (10) installs with that pnpm, through corepack", async () => {
  const manifest = { ...pkg, packageManager: "pnpm@10.34.8" };
  const lock = await lockfile("corepack pnpm install --lockfile-only", "pnpm-lock.yaml", manifest);
  // pnpm records which pnpm made node_modules; the app reads it through its node_modules link.
  const reporter = `require("http").createServer((q, s) => s.end(/packageManager"?:\\s*"?(pnpm@[^"\\s,]+)/.exec(require("fs").readFileSync("node_modules/.modules.yaml", "utf8"))[1] + " " + require("ms")("1s"))).listen(process.env.PORT, "0.0.0.0");`;
  const files = unique({ "package.json": JSON.stringify(manifest), "pnpm-lock.yaml": lock, "server.js": reporter });
  const res = await d.api("/v1/previews", { method: "POST", body: JSON.stringify({ files }) });
  const created = (await res.json()) as { id: string; phase?: string };
  expect(created.phase).toStartWith("installing dependencies (corepack pnpm");
  const p = await createPreview(d, { files });
  expect(p.error).toBeUndefined();
  expect(await (await d.preview(created.id, "/")).text()).toBe("pnpm@10.34.8 1000");
});
