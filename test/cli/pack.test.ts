// What `previewd create DIR` takes from DIR: .gitignore rules (nested ones
// too), never node_modules/.git/.previewd, and bytes as they are.
import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { readArchive } from "../../src/api/archive.ts";
import { isIgnored, parseGitignore } from "../../src/cli/gitignore.ts";
import { listFiles, packDir } from "../../src/cli/pack.ts";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function tree(files: Record<string, string | Buffer>): string {
  const dir = mkdtempSync(join(tmpdir(), "previewd-pack-"));
  dirs.push(dir);
  for (const [path, body] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), body);
  }
  return dir;
}

test.each([
  // pattern, path, isDir, ignored
  ["secret.txt", "secret.txt", false, true],
  ["secret.txt", "deep/secret.txt", false, true],
  ["*.log", "a/b/x.log", false, true],
  ["*.log", "x.log.txt", false, false],
  ["build/", "build", true, true],
  ["build/", "build", false, false],
  ["/build", "build", true, true],
  ["/build", "src/build", true, false],
  ["docs/*.md", "docs/a.md", false, true],
  ["docs/*.md", "docs/sub/a.md", false, false],
  ["docs/*.md", "x/docs/a.md", false, false],
  ["**/cache", "a/b/cache", true, true],
  ["a/**/z", "a/z", false, true],
  ["a/**/z", "a/b/c/z", false, true],
  ["out/**", "out/x/y", false, true],
  ["file?.txt", "file1.txt", false, true],
  ["file[0-9].txt", "fileA.txt", false, false],
  ["file[!0-9].txt", "fileA.txt", false, true],
  ["\\#hash", "#hash", false, true],
  ["# a comment", "# a comment", false, false],
])("%p on %p (dir %p): ignored %p", (pattern, path, isDir, ignored) => {
  expect(isIgnored(parseGitignore(pattern), path, isDir)).toBe(ignored);
});

test("the last matching rule wins: !negation re-includes", () => {
  const rules = parseGitignore("*.env\n!example.env\n");
  expect(isIgnored(rules, "prod.env", false)).toBe(true);
  expect(isIgnored(rules, "example.env", false)).toBe(false);
});

test("listFiles honours .gitignore files at every level and always skips node_modules, .git, .previewd", () => {
  const dir = tree({
    ".gitignore": "# build output\n/dist/\n*.log\nsecret.txt\n!keep.log\n",
    "index.js": "x",
    "secret.txt": "no",
    "debug.log": "no",
    "keep.log": "yes",
    "dist/bundle.js": "no",
    "src/dist/ok.js": "yes: /dist/ is anchored to the root",
    "src/.gitignore": "generated/\n",
    "src/generated/x.js": "no",
    "src/app.js": "yes",
    "other/generated/y.js": "yes: the nested rule is only for src/",
    "node_modules/dep/index.js": "no",
    ".git/HEAD": "no",
    ".previewd/start.json": "no",
    "lib/node_modules/x.js": "no",
  });
  symlinkSync(join(dir, "index.js"), join(dir, "linked.js"));
  symlinkSync(dir, join(dir, "loop"));
  // Links that leave DIR (a hostile checkout's way to the runner's secrets) are not packed.
  const outside = mkdtempSync(join(tmpdir(), "previewd-pack-outside-"));
  dirs.push(outside);
  writeFileSync(join(outside, "id_rsa"), "PRIVATE KEY");
  symlinkSync(join(outside, "id_rsa"), join(dir, "key.txt"));
  symlinkSync("/proc/self/environ", join(dir, "environ.txt"));
  symlinkSync("../" + outside.split("/").pop() + "/id_rsa", join(dir, "relative.txt"));
  expect(listFiles(dir)).toEqual([".gitignore", "index.js", "keep.log", "linked.js", "other/generated/y.js", "src/.gitignore", "src/app.js", "src/dist/ok.js"]);
});

test("packDir makes the archive the daemon reads, bytes intact", async () => {
  const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from(Array.from({ length: 256 }, (_, i) => i))]);
  const dir = tree({ "a.txt": "text ü", "img/logo.png": png });
  const files = await readArchive([await packDir(dir)], { maxFiles: 10, maxBytes: 10_000 });
  expect(files).toEqual({ "a.txt": "text ü", "img/logo.png": { base64: png.toString("base64") } });
  // one folder and nothing else stays where it is
  const only = tree({ "public/index.html": "<h1>hi</h1>" });
  expect(await readArchive([await packDir(only)], { maxFiles: 10, maxBytes: 10_000 })).toEqual({ "public/index.html": "<h1>hi</h1>" });
});
