// Sealing an install's tree (src/deps/seal.ts) on a real filesystem: links
// that leave the entry go (absolute, relative climbing out, and relative ones
// that climb out only through another link), links that stay are kept
// (node_modules/.bin, pnpm's layout), special files fail the seal.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SealError, sealTree, staysInside } from "../../src/deps/seal.ts";

let root: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "previewd-seal-"));
  mkdirSync(join(root, "node_modules/is-number"), { recursive: true });
  mkdirSync(join(root, "node_modules/.bin"));
  writeFileSync(join(root, "node_modules/is-number/index.js"), "module.exports = 1");
  writeFileSync(join(root, "package.json"), "{}");
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const isLink = (rel: string) => {
  try {
    return lstatSync(join(root, rel)).isSymbolicLink();
  } catch {
    return false;
  }
};

test("links inside the entry stay; links that leave it are removed and listed", () => {
  // Kept: what npm and pnpm make.
  symlinkSync("../is-number/index.js", join(root, "node_modules/.bin/is-number"));
  mkdirSync(join(root, "node_modules/.pnpm/ms@2.1.3/node_modules/ms"), { recursive: true });
  symlinkSync(".pnpm/ms@2.1.3/node_modules/ms", join(root, "node_modules/ms"));
  symlinkSync("node_modules/is-number/index.js", join(root, "inside-lock.json"));
  symlinkSync("no-such-file", join(root, "dangling-inside"));
  // Removed: absolute, and relative ones that climb out.
  symlinkSync("/proc/self/environ", join(root, "package-lock.json"));
  symlinkSync("/", join(root, "node_modules/root"));
  symlinkSync("../../..", join(root, "node_modules/is-number/up"));
  symlinkSync("../../../etc/passwd", join(root, "node_modules/.bin/passwd"));
  const r = sealTree(root);
  for (const kept of ["node_modules/.bin/is-number", "node_modules/ms", "inside-lock.json", "dangling-inside"]) expect({ kept, link: isLink(kept) }).toEqual({ kept, link: true });
  for (const gone of ["package-lock.json", "node_modules/root", "node_modules/is-number/up", "node_modules/.bin/passwd"]) expect({ gone, there: existsSync(join(root, gone)) || isLink(gone) }).toEqual({ gone, there: false });
  expect(r.removedLinks.sort()).toEqual([
    "node_modules/.bin/passwd -> ../../../etc/passwd",
    "node_modules/is-number/up -> ../../..",
    "node_modules/root -> /",
    "package-lock.json -> /proc/self/environ",
  ]);
  expect(readlinkSync(join(root, "node_modules/ms"))).toBe(".pnpm/ms@2.1.3/node_modules/ms");
});

test("a relative link that reads as inside but climbs out through another link is removed", () => {
  // a/b/top -> ../.. is the root itself (inside). Lexically a/b/top/../.. is "a", but the kernel goes to
  // the root first and climbs twice from there: out of the entry.
  mkdirSync(join(root, "a/b"), { recursive: true });
  symlinkSync("../..", join(root, "a/b/top"));
  symlinkSync("a/b/top/../..", join(root, "escape"));
  expect(staysInside(root, [], "a/b/top/../..")).toBe(false);
  expect(staysInside(root, [], "a/b/top/node_modules")).toBe(true);
  const r = sealTree(root);
  expect(r.removedLinks).toEqual(["escape -> a/b/top/../.."]);
  expect(isLink("a/b/top")).toBe(true);
});

test("a link loop is taken as leaving (removed), not followed forever; what is left dangles", () => {
  symlinkSync("loop-b", join(root, "loop-a"));
  symlinkSync("loop-a", join(root, "loop-b"));
  const r = sealTree(root);
  // The first one seen goes; the other then points at nothing and is harmless.
  expect(r.removedLinks.length).toBe(1);
  expect(["loop-a", "loop-b"].filter(isLink).length).toBe(1);
  expect(staysInside(root, [], "loop-a")).toBe(true);
  expect(existsSync(join(root, "loop-a")) || existsSync(join(root, "loop-b"))).toBe(false);
});

test("a FIFO, a socket or a device node fails the seal, naming it", () => {
  expect(spawnSync("mkfifo", [join(root, "node_modules/is-number/pipe")]).status).toBe(0);
  expect(() => sealTree(root)).toThrow(new SealError("The install left a FIFO at node_modules/is-number/pipe; special files are not kept in the dependency cache."));
  rmSync(join(root, "node_modules/is-number/pipe"));
  const made = spawnSync("mknod", [join(root, "dev"), "c", "1", "3"]);
  if (made.status !== 0) throw new Error(`mknod needs root here: ${made.stderr}`);
  expect(() => sealTree(root)).toThrow(/a device node at dev/);
});

test("set-user-ID and set-group-ID bits are cleared (the files are uid 1000's, often a real login on the host)", () => {
  const bin = join(root, "node_modules/is-number/su");
  writeFileSync(bin, "#!/bin/sh\n");
  chmodSync(bin, 0o6755);
  const r = sealTree(root);
  expect(r.clearedSetId).toEqual(["node_modules/is-number/su"]);
  expect(statSync(bin).mode & 0o7777).toBe(0o755);
  expect(statSync(join(root, "node_modules/is-number/index.js")).mode & 0o6000).toBe(0);
});
