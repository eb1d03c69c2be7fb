// The one helper the daemon reads strangers' trees with (src/safefs.ts),
// against hostile layouts on a real filesystem: links as the last component
// and in the middle, to a root-only file and to /proc/self/environ, FIFOs,
// sockets, device nodes, a bind mount that leads out of the tree, and the
// check-then-open race made deterministic (an entry swapped for a link or a
// FIFO after its lstat).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { entryKind, raceHook, readFileUnder, readTreeUnder, TreeLimitError, UnsafePathError } from "../src/safefs.ts";

let base: string;
let root: string;
let secretFile: string;
let socketServer: Server;
const SECRET = "root-only-secret-3f9a";

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), "previewd-safefs-"));
  root = join(base, "tree");
  mkdirSync(join(root, "d/e"), { recursive: true });
  writeFileSync(join(root, "ok.txt"), "fine");
  writeFileSync(join(root, "d/e/deep.txt"), "deep");
  // A file only root may read, outside the tree: what a hostile link would aim at.
  mkdirSync(join(base, "host"));
  secretFile = join(base, "host", "secret");
  writeFileSync(secretFile, SECRET);
  chmodSync(secretFile, 0o600);
  symlinkSync(secretFile, join(root, "lock.json")); // a link as the last component
  symlinkSync(join(base, "host"), join(root, "dist")); // a link as a middle directory
  symlinkSync("/proc/self/environ", join(root, "environ"));
  symlinkSync("/proc/self", join(root, "self"));
  symlinkSync("../host/secret", join(root, "relative")); // relative, leaving the tree
  symlinkSync("ok.txt", join(root, "inside")); // relative, inside: still a link, still refused
  const fifo = spawnSync("mkfifo", [join(root, "fifo")]);
  expect(fifo.status).toBe(0);
  socketServer = createServer();
  await new Promise<void>((resolve) => socketServer.listen(join(root, "sock"), resolve));
});

afterAll(() => {
  socketServer?.close();
  rmSync(base, { recursive: true, force: true });
});

/** The refusal `fn` throws (it must throw one), so each case checks its reason and that nothing leaked. */
function refusal(fn: () => unknown): UnsafePathError {
  let got: unknown;
  try {
    const r = fn();
    got = new Error(`read instead of refused: ${String(r).slice(0, 80)}`);
  } catch (e) {
    got = e;
  }
  if (!(got instanceof UnsafePathError)) throw got;
  expect(got.message).not.toContain(SECRET);
  return got;
}

describe("readFileUnder", () => {
  test("reads a regular file, also through real directories", () => {
    expect(readFileUnder(root, "ok.txt", 100).toString()).toBe("fine");
    expect(readFileUnder(root, "d/e/deep.txt", 100).toString()).toBe("deep");
  });

  test("a link as the last component is refused, wherever it points", () => {
    for (const name of ["lock.json", "environ", "relative", "inside"]) {
      const e = refusal(() => readFileUnder(root, name, 1 << 20));
      expect({ name, reason: e.reason }).toEqual({ name, reason: "link" });
      expect(e.message).toContain("symbolic link");
    }
  });

  test("a link as a middle directory is refused, not followed (to a host folder, to /proc/self)", () => {
    expect(refusal(() => readFileUnder(root, "dist/secret", 1 << 20)).reason).toBe("link");
    expect(refusal(() => readFileUnder(root, "self/environ", 1 << 20)).reason).toBe("link");
  });

  test("a FIFO and a socket are refused without blocking or opening them", () => {
    const fifo = refusal(() => readFileUnder(root, "fifo", 100));
    expect(fifo.reason).toBe("special");
    expect(fifo.message).toContain("a FIFO");
    const sock = refusal(() => readFileUnder(root, "sock", 100));
    expect(sock.reason).toBe("special");
    expect(sock.message).toContain("a socket");
  });

  test("a device node is refused before any open", () => {
    const dev = join(root, "null-dev");
    const made = spawnSync("mknod", [dev, "c", "1", "3"]); // /dev/null's numbers
    if (made.status !== 0) throw new Error(`mknod needs root here: ${made.stderr}`);
    try {
      const e = refusal(() => readFileUnder(root, "null-dev", 100));
      expect(e.reason).toBe("special");
      expect(e.message).toContain("device node");
    } finally {
      rmSync(dev);
    }
  });

  test("a file larger than the cap is refused", () => {
    writeFileSync(join(root, "big.bin"), Buffer.alloc(5000, 1));
    expect(refusal(() => readFileUnder(root, "big.bin", 4999)).reason).toBe("too-large");
    expect(readFileUnder(root, "big.bin", 5000).length).toBe(5000);
  });

  test("missing paths say so", () => {
    expect(refusal(() => readFileUnder(root, "nope.json", 100)).reason).toBe("missing");
    expect(refusal(() => readFileUnder(root, "nope/x.json", 100)).reason).toBe("missing");
  });

  test("another filesystem mounted inside the tree is refused (as find -xdev)", () => {
    const point = join(root, "mounted");
    mkdirSync(point);
    const m = spawnSync("mount", ["-t", "tmpfs", "-o", "size=1m", "previewd-safefs-test", point]);
    if (m.status !== 0) throw new Error(`mount needs root here: ${m.stderr}`);
    try {
      writeFileSync(join(point, "secret"), SECRET);
      expect(refusal(() => readFileUnder(root, "mounted/secret", 1 << 20)).reason).toBe("outside");
      expect(refusal(() => readTreeUnder(root, "mounted", { maxFiles: 10, maxBytes: 1 << 20 })).reason).toBe("outside");
    } finally {
      spawnSync("umount", [point]);
      rmSync(point, { recursive: true });
    }
  });

  test("the race: a file swapped for a link (or a FIFO) after its lstat is still refused", () => {
    const swap = (target: string, make: () => void) => {
      raceHook.betweenCheckAndOpen = (rel) => {
        if (rel !== target) return;
        raceHook.betweenCheckAndOpen = undefined;
        make();
      };
    };
    try {
      writeFileSync(join(root, "swapped.json"), "{}");
      swap("swapped.json", () => {
        rmSync(join(root, "swapped.json"));
        symlinkSync(secretFile, join(root, "swapped.json"));
      });
      expect(refusal(() => readFileUnder(root, "swapped.json", 1 << 20)).reason).toBe("link");

      writeFileSync(join(root, "to-fifo"), "x");
      swap("to-fifo", () => {
        rmSync(join(root, "to-fifo"));
        spawnSync("mkfifo", [join(root, "to-fifo")]);
      });
      // O_NONBLOCK: the open returns at once; fstat on the descriptor refuses it.
      expect(refusal(() => readFileUnder(root, "to-fifo", 100)).reason).toBe("special");

      // A middle directory renamed away and replaced by a link to the host folder between its lstat and its open.
      mkdirSync(join(root, "out"));
      writeFileSync(join(root, "out", "secret"), "the build's own");
      swap("out", () => {
        renameSync(join(root, "out"), join(root, "out-old"));
        symlinkSync(join(base, "host"), join(root, "out"));
      });
      expect(refusal(() => readFileUnder(root, "out/secret", 1 << 20)).reason).toBe("link");
    } finally {
      raceHook.betweenCheckAndOpen = undefined;
    }
  });
});

describe("entryKind", () => {
  test("says what a path is without following anything", () => {
    expect(entryKind(root, "ok.txt")).toBe("file");
    expect(entryKind(root, "d")).toBe("directory");
    expect(entryKind(root, "dist")).toBe("link");
    expect(entryKind(root, "dist/secret")).toBe("link"); // behind a link: not reachable without following it
    expect(entryKind(root, "fifo")).toBe("special");
    expect(entryKind(root, "nope")).toBe("missing");
    expect(entryKind(root, "ok.txt/x")).toBe("missing");
  });
});

describe("readTreeUnder", () => {
  test("reads regular files only; links and special files are listed, never followed or opened", () => {
    const t = mkdtempSync(join(base, "walk-"));
    mkdirSync(join(t, "site/assets"), { recursive: true });
    writeFileSync(join(t, "site/index.html"), "<h1>hi</h1>");
    writeFileSync(join(t, "site/assets/app.js"), "x()");
    symlinkSync(secretFile, join(t, "site/leak.txt"));
    symlinkSync("/", join(t, "site/root"));
    symlinkSync("/proc/self/environ", join(t, "site/assets/env"));
    spawnSync("mkfifo", [join(t, "site/pipe")]);
    const r = readTreeUnder(t, "site", { maxFiles: 10, maxBytes: 1000 });
    expect(Object.fromEntries([...r.files].map(([p, b]) => [p, b.toString()]))).toEqual({ "index.html": "<h1>hi</h1>", "assets/app.js": "x()" });
    expect(r.skipped.sort((a, b) => a.path.localeCompare(b.path))).toEqual([
      { path: "assets/env", kind: "link" },
      { path: "leak.txt", kind: "link" },
      { path: "pipe", kind: "special" },
      { path: "root", kind: "link" },
    ]);
  });

  test("a start directory that is a link is refused: the build's dist -> a host folder", () => {
    expect(refusal(() => readTreeUnder(root, "dist", { maxFiles: 10, maxBytes: 1 << 20 })).reason).toBe("link");
  });

  test("limits on files, bytes, entries and depth", () => {
    const t = mkdtempSync(join(base, "limits-"));
    for (let i = 0; i < 5; i++) writeFileSync(join(t, `f${i}`), Buffer.alloc(100));
    expect(() => readTreeUnder(t, "", { maxFiles: 4, maxBytes: 1e6 })).toThrow(TreeLimitError);
    expect(() => readTreeUnder(t, "", { maxFiles: 10, maxBytes: 450 })).toThrow(TreeLimitError);
    expect(readTreeUnder(t, "", { maxFiles: 5, maxBytes: 500 }).files.size).toBe(5);
    for (let i = 0; i < 20; i++) mkdirSync(join(t, `empty${i}`));
    expect(() => readTreeUnder(t, "", { maxFiles: 5, maxBytes: 500, maxEntries: 20 })).toThrow(TreeLimitError);
    let deep = join(t, "deep");
    for (let i = 0; i < 130; i++) deep = join(deep, "d");
    mkdirSync(deep, { recursive: true });
    expect(() => readTreeUnder(t, "deep", { maxFiles: 5, maxBytes: 500 })).toThrow(/deeper than 128/);
  });
});
