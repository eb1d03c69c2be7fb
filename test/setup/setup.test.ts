// The set-up helpers, for real: the engine check answers with the running
// Docker, the base image build is idempotent and its image runs node, npm and
// sh as a non-root user, and the compiled executable works alone.
import { expect, test } from "bun:test";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureBaseImage } from "../support/docker.ts";

const ROOT = join(import.meta.dir, "..", "..");
const sh = async (cmd: string[], env: Record<string, string> = {}) => {
  const p = Bun.spawn(cmd, { cwd: ROOT, env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { out, err, code };
};

test("the set-up library finds the running Docker engine and Bun, and changes nothing", async () => {
  const r = await sh(["bash", "-c", "source scripts/lib/setup.sh && docker_answers && ensure_docker && ensure_deps && echo fine"]);
  expect(r.code).toBe(0);
  expect(r.out.trim()).toBe("fine");
  expect(r.err).not.toContain("installing");
});

test("build-base-image is a no-op the second time, and its image runs node, npm and sh as uid 1000", async () => {
  const image = await ensureBaseImage();
  const t0 = performance.now();
  const again = await sh(["scripts/build-base-image"]);
  expect(again.code).toBe(0);
  expect(again.out.trim()).toBe(image);
  expect(performance.now() - t0).toBeLessThan(2000); // inputs unchanged: no rebuild
  const r = await sh(["docker", "run", "--rm", "--label", "previewd.test=1", image, "sh", "-c", 'node -e "console.log(process.getuid())" && npm --version && echo sh-works']);
  expect(r.code).toBe(0);
  const [uid, npmVersion, shWorks] = r.out.trim().split("\n");
  expect(uid).toBe("1000");
  expect(npmVersion).toMatch(/^\d+\.\d+\.\d+$/);
  expect(shWorks).toBe("sh-works");
});

test("dist/previewd answers --version and --help alone in an empty folder, and refuses a bad setting", async () => {
  const build = await sh(["scripts/build"]);
  expect(build.code).toBe(0);
  const dir = mkdtempSync(join(tmpdir(), "previewd-alone-"));
  try {
    copyFileSync(join(ROOT, "dist/previewd"), join(dir, "previewd"));
    await sh(["chmod", "+x", join(dir, "previewd")]);
    const version = Bun.spawnSync([join(dir, "previewd"), "--version"], { cwd: dir });
    expect(version.stdout.toString().trim()).toMatch(/^previewd \d+\.\d+\.\d+$/);
    const help = Bun.spawnSync([join(dir, "previewd"), "--help"], { cwd: dir });
    expect(help.stdout.toString()).toContain("previewd serve");
    expect(help.stdout.toString()).toContain("PREVIEWD_IDLE_TIMEOUT");
    const bad = Bun.spawnSync([join(dir, "previewd"), "serve"], { cwd: dir, env: { PREVIEWD_API_PORT: "notaport", PATH: process.env.PATH! } });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr.toString().trim().split("\n")).toHaveLength(1);
    expect(bad.stderr.toString()).toContain("PREVIEWD_API_PORT");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the daemon's own Dockerfile builds here (on the local base) and its image answers --version", async () => {
  const image = await ensureBaseImage();
  const build = await sh(["scripts/build"]);
  expect(build.code).toBe(0);
  const tag = `previewd:test-${process.pid}`;
  try {
    const b = await sh(["docker", "build", "-q", "--build-arg", `BASE=${image}`, "-t", tag, "."]);
    expect(b.code).toBe(0);
    const r = await sh(["docker", "run", "--rm", "--label", "previewd.test=1", tag, "--version"]);
    expect(r.out.trim()).toMatch(/^previewd \d+\.\d+\.\d+$/);
  } finally {
    await sh(["docker", "rmi", "-f", tag]);
  }
});

test("the CI counts come from real JUnit reports: passed, failed and skipped told apart, summed over reports", async () => {
  const dir = mkdtempSync(join(tmpdir(), "previewd-junit-"));
  try {
    // A sample file with one passing, one failing and one skipped test (not named *.test.ts: the suite skips it).
    const run = await sh([process.execPath, "test", "--reporter=junit", `--reporter-outfile=${dir}/j.xml`, "./test/fixtures/ci/sample.check.ts"]);
    expect(run.code).not.toBe(0);
    const counts = await sh(["scripts/lib/junit-counts", `${dir}/j.xml`]);
    expect(counts.out.trim()).toBe("1 1 1");
    // scripts/test writes two reports for a whole run (parallel part, files alone): .ci/run sums them.
    const twice = await sh(["scripts/lib/junit-counts", `${dir}/j.xml`, `${dir}/j.xml`]);
    expect(twice.out.trim()).toBe("2 2 2");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
