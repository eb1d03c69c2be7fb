import { expect, test } from "bun:test";
import { checkPath } from "../../src/api/paths.ts";
import { AppError } from "../../src/errors.ts";

test.each(["server.js", "src/app/page.tsx", ".env", "a/.b/c", "dir with space/f.txt", "ünïcode.txt"])("%p is accepted", (p) => {
  expect(() => checkPath(p)).not.toThrow();
});

test.each([
  ["", "is empty"],
  ["../x", "escapes the app root"],
  ["a/../../x", "escapes the app root"],
  ["/etc/passwd", "is absolute"],
  ["a\u0000b", "NUL"],
  ["a\\..\\b", "backslash"],
  ["a//b", "empty or '.' segment"],
  ["./a", "empty or '.' segment"],
  ["a/\n", "control character"],
  [".previewd/start.json", "reserves"],
  ["node_modules/.previewd-store/k/x.js", "reserves"],
  ["x".repeat(2000), "longer than 1024"],
])("%p is refused (%s)", (p, why) => {
  try {
    checkPath(p);
    throw new Error("accepted");
  } catch (e) {
    expect(e).toBeInstanceOf(AppError);
    expect((e as AppError).code).toBe("invalid_path");
    expect((e as AppError).status).toBe(400);
    expect((e as AppError).message).toContain(why);
  }
});
