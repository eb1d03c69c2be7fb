import { expect, test } from "bun:test";
import { extract } from "tar-stream";
import { Readable } from "node:stream";
import { tarFiles } from "../../src/pool/tar.ts";

test("files and their parent directories are packed, owned by the app user", async () => {
  const tar = await tarFiles({ "a/b/c.txt": "deep", "top.js": "ünï" });
  const entries: Array<{ name: string; type: string; uid: number; body: string }> = [];
  const ex = extract();
  ex.on("entry", (h, stream, next) => {
    let body = "";
    stream.on("data", (c) => (body += (c as Buffer).toString("utf8")));
    stream.on("end", () => {
      entries.push({ name: h.name, type: h.type ?? "", uid: h.uid ?? -1, body });
      next();
    });
  });
  await new Promise<void>((resolve) => {
    ex.on("finish", () => resolve());
    Readable.from([tar]).pipe(ex);
  });
  expect(entries.map((e) => [e.name, e.type])).toEqual([["a", "directory"], ["a/b", "directory"], ["a/b/c.txt", "file"], ["top.js", "file"]]);
  expect(entries.every((e) => e.uid === 1000)).toBe(true);
  expect(entries.find((e) => e.name === "top.js")!.body).toBe("ünï");
});
