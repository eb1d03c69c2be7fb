// The archive reader on its own: what a gzipped tar becomes, what it refuses,
// and that a gzip bomb is refused fast without being inflated in memory.
import { describe, expect, test } from "bun:test";
import { gzipSync } from "node:zlib";
import { isGzip, readArchive } from "../../src/api/archive.ts";
import { AppError } from "../../src/errors.ts";
import { tarOf, type TarEntry } from "../support/tgz.ts";

const limits = { maxFiles: 100, maxBytes: 1_000_000 };
async function read(entries: TarEntry[], opts = {}) {
  return readArchive([gzipSync(await tarOf(entries))], limits, opts);
}

async function refusal(p: Promise<unknown>): Promise<AppError> {
  const e = await p.then(() => new Error("accepted"), (err) => err);
  expect(e).toBeInstanceOf(AppError);
  return e as AppError;
}

/** A raw ustar header block (tar-stream's pack cannot write a pax global header). */
function ustarHeader(name: string, typeflag: string, size: number): Buffer {
  const b = Buffer.alloc(512);
  b.write(name, 0);
  b.write("0000644\0", 100);
  b.write("0000000\0", 108);
  b.write("0000000\0", 116);
  b.write(`${size.toString(8).padStart(11, "0")}\0`, 124);
  b.write("00000000000\0", 136);
  b.write("        ", 148);
  b.write(typeflag, 156);
  b.write("ustar\u000000", 257);
  let sum = 0;
  for (const x of b) sum += x;
  b.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
  return b;
}

describe("what an archive becomes", () => {
  test("text stays text, bytes become base64; directories are implied", async () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const files = await read([
      { name: "src", type: "directory" },
      { name: "src/a.js", body: "console.log('ü')" },
      { name: "logo.png", body: all },
      { name: "nul.txt", body: Buffer.from("a\0b") },
      { name: "latin1.txt", body: Buffer.from([0x63, 0x61, 0x66, 0xe9]) },
      { name: "bom.txt", body: Buffer.from("\ufeffhi") },
      { name: "empty", body: "" },
    ]);
    expect(files["src/a.js"]).toBe("console.log('ü')");
    expect(files["logo.png"]).toEqual({ base64: all.toString("base64") });
    expect(files["nul.txt"]).toEqual({ base64: Buffer.from("a\0b").toString("base64") });
    expect(files["latin1.txt"]).toEqual({ base64: "Y2Fm6Q==" });
    expect(files["bom.txt"]).toBe("\ufeffhi"); // the BOM is kept: the same bytes go back
    expect(files.empty).toBe("");
    expect(Object.keys(files).sort()).toEqual(["bom.txt", "empty", "latin1.txt", "logo.png", "nul.txt", "src/a.js"]);
  });

  test("a top folder every entry shares is stripped (tar czf x.tgz myapp, git archive --prefix)", async () => {
    expect(await read([{ name: "myapp/", type: "directory" }, { name: "myapp/a.js", body: "a" }, { name: "myapp/lib/b.js", body: "b" }])).toEqual({ "a.js": "a", "lib/b.js": "b" });
    expect(await read([{ name: "./a.js", body: "a" }, { name: "./lib/b.js", body: "b" }])).toEqual({ "a.js": "a", "lib/b.js": "b" });
    expect(await read([{ name: "./myapp/a.js", body: "a" }])).toEqual({ "a.js": "a" });
  });

  test("not stripped when one entry is elsewhere, or when asked not to", async () => {
    expect(await read([{ name: "myapp/a.js", body: "a" }, { name: "b.js", body: "b" }])).toEqual({ "myapp/a.js": "a", "b.js": "b" });
    expect(await read([{ name: "myapp/a.js", body: "a" }, { name: "other", type: "directory" }])).toEqual({ "myapp/a.js": "a" });
    expect(await read([{ name: "src/a.js", body: "a" }], { stripTopFolder: false })).toEqual({ "src/a.js": "a" });
    // a root entry (tar czf x.tgz -C myapp .) says the paths already start at the root
    expect(await read([{ name: "./", type: "directory" }, { name: "./src/a.js", body: "a" }])).toEqual({ "src/a.js": "a" });
  });

  test("pax headers (long names) and a pax global header (git archive) are understood", async () => {
    const long = `proj/${"deep/".repeat(60)}f.txt`; // past ustar's 255 characters: a pax header
    const pax = "52 comment=0123456789012345678901234567890123456789\n";
    const globalHeader = Buffer.concat([ustarHeader("pax_global_header", "g", pax.length), Buffer.from(pax), Buffer.alloc(512 - pax.length)]);
    const tar = Buffer.concat([globalHeader, await tarOf([{ name: long, body: "deep" }, { name: "proj/x.txt", body: "x" }])]);
    expect(await readArchive([gzipSync(tar)], limits)).toEqual({ [long.slice(5)]: "deep", "x.txt": "x" });
  });
});

describe("what an archive may not hold", () => {
  test.each([
    ["symlink", { name: "app/link", type: "symlink", linkname: "/etc/passwd" }],
    ["link", { name: "app/hard", type: "link", linkname: "app/a.js" }],
    ["fifo", { name: "app/pipe", type: "fifo" }],
    ["character-device", { name: "app/tty", type: "character-device" }],
  ] as const)("a %s is refused, naming the entry", async (type, entry) => {
    const e = await refusal(read([{ name: "app/a.js", body: "a" }, entry as TarEntry]));
    expect(e.status).toBe(400);
    expect(e.message).toContain(JSON.stringify(entry.name));
    expect(e.message).toContain(type);
  });

  test.each([["../x"], ["app/../../x"], ["/etc/cron.d/x"], [".previewd/start.json"], ["myapp/.previewd/x"]])("%p is refused as invalid_path", async (name) => {
    const e = await refusal(read([{ name, body: "x" }]));
    expect(e.code).toBe("invalid_path");
    expect(e.status).toBe(400);
  });

  test("more files or bytes than the limits: 413 from the headers", async () => {
    const many = Array.from({ length: 101 }, (_, i) => ({ name: `f${i}`, body: "x" }));
    expect((await refusal(read(many))).status).toBe(413);
    expect((await refusal(read([{ name: "big", body: Buffer.alloc(1_000_001) }]))).status).toBe(413);
  });

  test("a gzip bomb is refused with 413 quickly, without inflating it in memory", async () => {
    // 4 GiB of zeros as 64 gzip members of 64 MiB each: ~4 MB on the wire.
    const member = gzipSync(Buffer.alloc(64 * 1024 * 1024));
    const bomb = Buffer.concat(Array(64).fill(member));
    Bun.gc(true);
    const rss0 = process.memoryUsage().rss;
    let peak = rss0;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
    const t0 = performance.now();
    const e = await refusal(readArchive([bomb], { maxFiles: 5000, maxBytes: 50 * 1024 * 1024 }));
    clearInterval(sampler);
    expect(e.status).toBe(413);
    expect(performance.now() - t0).toBeLessThan(5000);
    // the budget is ~61 MiB of tar; the whole bomb would be 4 GiB
    expect((peak - rss0) / 2 ** 20).toBeLessThan(256);
  });

  test.each([
    ["not gzip", async () => Buffer.from("this is plain text")],
    ["a cut gzip", async () => gzipSync(await tarOf([{ name: "a", body: "x".repeat(5000) }])).subarray(0, 40)],
    ["a cut tar", async () => gzipSync((await tarOf([{ name: "a", body: "x".repeat(5000) }])).subarray(0, 1500))],
    ["garbage in the gzip", async () => gzipSync(Buffer.alloc(2048, 7))],
  ])("%s is 400 with a clear message", async (_, make) => {
    const e = await refusal(readArchive([await make()], limits));
    expect(e.status).toBe(400);
    expect(e.message).toMatch(/not valid gzip|not a valid tar/);
  });

  test("an empty body is 400", async () => {
    const e = await refusal(readArchive([], limits));
    expect(e.message).toContain("empty");
  });
});

test("isGzip knows the archive content types", () => {
  for (const t of ["application/gzip", "application/x-gzip", "application/x-tar+gzip", "Application/GZIP; charset=binary"]) expect(isGzip(t)).toBe(true);
  for (const t of ["application/json", "", null, "application/x-tar"]) expect(isGzip(t)).toBe(false);
});
