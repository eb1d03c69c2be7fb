// scripts/install's systemd unit, checked by systemd-analyze verify (Debian's
// systemd package; scripts/test installs it when missing). The unit and the
// settings file are rendered by the script itself (--print-unit, --print-env)
// into a folder laid out as the VPS would be, and verified with --root= on
// that folder: exactly what `scripts/install` writes, nothing installed here.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config.ts";

const ROOT = join(import.meta.dir, "..", "..");
const SYSTEM_UNITS = "/usr/lib/systemd/system";
let root: string;
let unit: string;
let env: string;

const run = (cmd: string[]) => {
  const r = Bun.spawnSync(cmd, { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
};
const verify = (name: string) => run(["systemd-analyze", "verify", `--root=${root}`, name]);

beforeAll(() => {
  if (!Bun.which("systemd-analyze")) throw new Error("systemd-analyze is missing: run scripts/test (it installs Debian's systemd package) or apt-get install systemd");
  const u = run(["scripts/install", "--print-unit"]);
  const e = run(["scripts/install", "--print-env"]);
  expect({ unit: u.code, env: e.code, err: u.err + e.err }).toEqual({ unit: 0, env: 0, err: "" });
  unit = u.out;
  env = e.out;
  root = mkdtempSync(join(tmpdir(), "previewd-unit-"));
  for (const d of ["etc/systemd/system", "etc/previewd", "usr/local/bin", "usr/lib/systemd"]) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, "etc/systemd/system/previewd.service"), unit);
  writeFileSync(join(root, "etc/previewd/env"), env);
  // verify checks that ExecStart's binary is there and executable, not what it
  // is (the compiled executable itself is tested in setup.test.ts).
  writeFileSync(join(root, "usr/local/bin/previewd"), "#!/bin/sh\nexit 0\n");
  chmodSync(join(root, "usr/local/bin/previewd"), 0o755);
  mkdirSync(join(root, "usr/local/lib/previewd"), { recursive: true });
  cpSync(join(ROOT, "scripts/lib/swap.sh"), join(root, "usr/local/lib/previewd/swap.sh"));
  // The host's own units, so the targets the unit names (network-online, multi-user) resolve under --root.
  cpSync(SYSTEM_UNITS, join(root, "usr/lib/systemd/system"), { recursive: true, verbatimSymlinks: true });
});
afterAll(() => root && rmSync(root, { recursive: true, force: true }));

test("systemd-analyze verify accepts the unit scripts/install writes, without a single warning", () => {
  expect(verify("previewd.service")).toEqual({ code: 0, out: "", err: "" });
});

test("the unit runs the installed executable with the settings file, drains on SIGTERM and restarts", () => {
  const lines = unit.split("\n");
  for (const l of ["ExecStart=/usr/local/bin/previewd serve", "EnvironmentFile=/etc/previewd/env", "KillSignal=SIGTERM", "KillMode=mixed", "Restart=always", "WantedBy=multi-user.target"]) expect(lines).toContain(l);
});

test("the default settings file is one the daemon loads", () => {
  const vars = Object.fromEntries(env.split("\n").filter((l) => l && !l.startsWith("#")).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
  expect(vars.PREVIEWD_DATA_DIR).toBe("/var/lib/previewd");
  expect(loadConfig(vars).dataDir).toBe("/var/lib/previewd");
});

test("the check has teeth: a mistyped value or a missing executable is reported", () => {
  const broken = unit.replace("RestartSec=2", "RestartSec=two").replace("ExecStart=/usr/local/bin/previewd ", "ExecStart=/usr/local/bin/previewdd ");
  writeFileSync(join(root, "etc/systemd/system/previewd-broken.service"), broken);
  const r = verify("previewd-broken.service");
  expect(r.code).not.toBe(0);
  expect(r.err).toContain("Failed to parse sec value");
  expect(r.err).toContain("/usr/local/bin/previewdd is not executable");
});

test("scripts/install refuses an unknown argument instead of installing", () => {
  const r = run(["scripts/install", "--print-units"]);
  expect(r.code).toBe(1);
  expect(r.err).toContain("unknown argument: --print-units");
});
