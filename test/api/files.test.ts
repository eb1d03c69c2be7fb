// File contents: text or {base64}, their sizes, and the schema's messages.
import { expect, test } from "bun:test";
import { CreateBody, PatchFilesBody, checkFiles, parse } from "../../src/api/schemas.ts";
import { AppError } from "../../src/errors.ts";
import { byteLength, contentBytes, contentText, fromBytes } from "../../src/files.ts";

const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

test("contentBytes, contentText and byteLength read both forms", () => {
  expect(contentBytes("ü")).toEqual(Buffer.from("ü"));
  expect(contentBytes({ base64: all.toString("base64") }).equals(all)).toBe(true);
  expect(contentText({ base64: Buffer.from("héllo").toString("base64") })).toBe("héllo");
  expect(byteLength("ü")).toBe(2);
  expect(byteLength({ base64: all.toString("base64") })).toBe(256);
  expect(byteLength({ base64: "QQ" })).toBe(1); // unpadded
});

test("fromBytes keeps UTF-8 text as a string and anything else as base64, the same bytes either way", () => {
  for (const bytes of [Buffer.from("plain ü\n"), all, Buffer.from("a\0b"), Buffer.from([0xff, 0xfe]), Buffer.alloc(0)]) {
    expect(contentBytes(fromBytes(bytes)).equals(bytes)).toBe(true);
  }
  expect(fromBytes(Buffer.from("plain ü"))).toBe("plain ü");
  expect(typeof fromBytes(all)).toBe("object");
});

function message(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(AppError);
    expect((e as AppError).status).toBe(400);
    return (e as AppError).message;
  }
  throw new Error("accepted");
}

test("the schema takes a string or a strict {base64}, and names the file it refuses", () => {
  const body = parse(CreateBody, { files: { "a.txt": "x", "logo.png": { base64: all.toString("base64") } } });
  expect(body.files["logo.png"]).toEqual({ base64: all.toString("base64") });
  expect(message(() => parse(CreateBody, { files: { "img/logo.png": { base64: "not base64!" } } }))).toContain('file "img/logo.png": content is not valid base64');
  expect(message(() => parse(CreateBody, { files: { "a.bin": { base64: "QUJDR" } } }))).toContain("not valid base64"); // 4n+1 characters
  expect(message(() => parse(CreateBody, { files: { "a.bin": { base64: "QQ=", extra: 1 } } }))).toContain('file "a.bin": content must be {"base64": "..."} with no other key');
  expect(message(() => parse(CreateBody, { files: { "a.bin": { base64: 5 } } }))).toContain("base64 must be a string");
  expect(message(() => parse(CreateBody, { files: { "a.js": 42 } }))).toContain('file "a.js": content must be a string of text or {"base64": "..."}');
  expect(message(() => parse(PatchFilesBody, { files: { "b.js": null } }))).toContain('file "b.js"');
});

test("checkFiles counts decoded bytes, not base64 characters", () => {
  const files = { "a.bin": { base64: Buffer.alloc(900).toString("base64") } }; // 1200 characters
  expect(() => checkFiles(files, { maxFiles: 10, maxBytes: 1000 })).not.toThrow();
  expect(() => checkFiles(files, { maxFiles: 10, maxBytes: 899 })).toThrow("900 bytes");
});
