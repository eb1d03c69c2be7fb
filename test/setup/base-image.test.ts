// The preview base image, for real: containers from it run as the preview
// user with a Debian userland (git, procps), the Node.js lines previews run
// on and every package manager apps ask for; a native addon (rollup's, which Vite loads)
// works in it; and npm reaches the registry through the host's TLS proxy
// when given its CA, the way the daemon starts previews.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureBaseImage, removeContainersByLabel } from "../support/docker.ts";

const ROOT = join(import.meta.dir, "..", "..");
const HOST_CA = "/etc/ssl/certs/ca-certificates.crt";
// This file's containers only: other suites share the engine and previewd.test=1.
const MINE = `previewd.test.base-image=${process.pid}`;

const sh = async (cmd: string[], env: Record<string, string> = {}) => {
  const p = Bun.spawn(cmd, { cwd: ROOT, env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { out, err, code };
};
/** `docker run --rm` of the base image with extra `docker run` flags, then the command. */
const run = (flags: string[], cmd: string[]) =>
  sh(["docker", "run", "--rm", "--label", "previewd.test=1", "--label", MINE, ...flags, image, ...cmd]);

let image: string;
beforeAll(async () => {
  image = await ensureBaseImage();
});
afterAll(() => removeContainersByLabel(MINE));

test("runs as app (uid 1000) in /app, with git, procps, node 24 by default, npm 11, corepack, pnpm 9, yarn 1 and bun 1", async () => {
  const script = [
    "id -u", "id -g", "pwd", 'echo "$HOME"', "git --version", "ps --version", "ps -o pid= -p 1",
    "node --version", "npm --version", "corepack --version", "pnpm --version", "yarn --version", "bun --version",
    "test -f /opt/previewd/runner.mjs && echo runner-present",
  ].join(" && ");
  const r = await run([], ["sh", "-c", script]);
  expect(r.err).toBe("");
  expect(r.code).toBe(0);
  const [uid, gid, cwd, home, git, psVersion, pid1, node, npm, corepack, pnpm, yarn, bun, runner] = r.out.trim().split("\n").map((l) => l.trim());
  expect([uid, gid, cwd, home]).toEqual(["1000", "1000", "/app", "/app"]);
  expect(git).toMatch(/^git version 2\.\d+/);
  expect(psVersion).toContain("procps-ng"); // Debian's ps, not a busybox applet
  expect(pid1).toBe("1");
  expect(node).toBe("v24.22.3");
  expect(npm).toMatch(/^11\.\d+\.\d+$/);
  expect(corepack).toMatch(/^0\.\d+\.\d+$/);
  expect(pnpm).toMatch(/^9\.\d+\.\d+$/); // the global one: corepack installs no shims over it
  expect(yarn).toMatch(/^1\.\d+\.\d+$/);
  expect(bun).toMatch(/^1\.\d+\.\d+$/);
  expect(runner).toBe("runner-present");
});

test("every Node.js line of its label runs from /opt/node/<major>, with the ABI the label says, and npm runs on each", async () => {
  const label = (await sh(["docker", "image", "inspect", "-f", '{{index .Config.Labels "previewd.node-lines"}}', image])).out.trim();
  const lines = label.split(" ").map((e) => e.split(":") as [string, string]);
  expect(lines.map(([v]) => v.split(".")[0])).toEqual(["20", "22", "24", "26"]);
  const script = lines.map(([v]) => `PATH=/opt/node/${v.split(".")[0]}/bin:$PATH; node -p 'process.versions.node + ":" + process.versions.modules'; npm --version >/dev/null || exit 9`).join("\n");
  const r = await run([], ["sh", "-c", script]);
  expect(r.code).toBe(0);
  expect(r.out.trim().split("\n")).toEqual(lines.map(([v, abi]) => `${v}:${abi}`));
});

test("the production Dockerfile offers the same Node.js lines, npm and corepack as scripts/build-base-image", async () => {
  const script = await Bun.file(join(ROOT, "scripts/build-base-image")).text();
  const dockerfile = await Bun.file(join(ROOT, "docker/preview-base/Dockerfile")).text();
  const built = /^node_lines=\(([^)]*)\)/m.exec(script)![1]!.trim().split(/\s+/);
  const production = [...dockerfile.matchAll(/^ARG NODE\d+=(\S+)$/gm)].map((m) => m[1]);
  expect(production).toEqual(built);
  expect(dockerfile).toContain(`npm@${/^npm_version=(\S+)/m.exec(script)![1]}`);
  expect(dockerfile).toContain(`corepack@${/^corepack_version=(\S+)/m.exec(script)![1]}`);
  const label = (await sh(["docker", "image", "inspect", "-f", '{{index .Config.Labels "previewd.node-lines"}}', image])).out.trim();
  const abis = label.split(" ").map((e) => e.split(":")[1]);
  expect(/LABEL previewd\.node-lines="(.*)"/.exec(dockerfile)![1]!.split(" ").map((e) => e.split(":")[1])).toEqual(abis);
});

test("its default command is the runner, as app, with NODE_ENV=development", async () => {
  const r = await sh(["docker", "image", "inspect", "-f", "{{json .Config}}", image]);
  const config = JSON.parse(r.out) as { User: string; WorkingDir: string; Cmd: string[]; Env: string[] };
  expect(config.User).toBe("app");
  expect(config.WorkingDir).toBe("/app");
  expect(config.Cmd).toEqual(["node", "/opt/previewd/runner.mjs"]);
  expect(config.Env).toContain("NODE_ENV=development");
  expect(config.Env).toContain("HOME=/app");
});

test("a real native addon loads: rollup (with @rollup/rollup-linux-x64-gnu) bundles and tree-shakes", async () => {
  const dir = mkdtempSync(join(tmpdir(), "previewd-rollup-"));
  try {
    chmodSync(dir, 0o755); // the container reads it as uid 1000
    // Installed on the host, which reaches the registry; npm picks the linux-x64-gnu binding.
    const install = await sh(["npm", "install", "--prefix", dir, "--no-audit", "--no-fund", "--loglevel=error", "rollup@4"]);
    expect(install.code).toBe(0);
    mkdirSync(join(dir, "src"));
    writeFileSync(join(dir, "src/main.js"), 'import { answer } from "./lib.js";\nconsole.log(answer);\n');
    writeFileSync(join(dir, "src/lib.js"), "export const answer = 6 * 7;\nexport const unused = 'tree-shaken away';\n");
    const js = `
      const native = require("/deps/node_modules/@rollup/rollup-linux-x64-gnu");
      const { rollup } = require("/deps/node_modules/rollup");
      (async () => {
        const bundle = await rollup({ input: "/deps/src/main.js" });
        const { output } = await bundle.generate({ format: "cjs" });
        console.log(JSON.stringify({ parse: typeof native.parse, code: output[0].code }));
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const r = await run(["-v", `${dir}:/deps:ro`], ["node", "-e", js]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    const result = JSON.parse(r.out) as { parse: string; code: string };
    expect(result.parse).toBe("function");
    expect(result.code).toContain("const answer = 6 * 7;");
    expect(result.code).toContain("console.log(answer);");
    expect(result.code).not.toContain("unused");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("npm in a container on the default bridge reaches the registry when given the host's CA", async () => {
  const r = await run(
    ["--network", "bridge", "-v", `${HOST_CA}:/etc/previewd/ca.pem:ro`, "-e", "NODE_EXTRA_CA_CERTS=/etc/previewd/ca.pem", "-e", "npm_config_update_notifier=false"],
    ["npm", "view", "express", "version"],
  );
  expect(r.code).toBe(0);
  expect(r.out.trim()).toMatch(/^\d+\.\d+\.\d+$/);
});
