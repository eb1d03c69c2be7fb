// One dependency cache for the whole suite (like the one base image and the one
// PostgreSQL): a lockfile installed by one test file is a cache hit in the next.
// Tests that need a real install give their app a unique package name.
import { tmpdir } from "node:os";
import { join } from "node:path";

export function testDepsDir(): string {
  return join(tmpdir(), "previewd-test-deps");
}
