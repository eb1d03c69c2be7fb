// How many fronts the public port gets (PREVIEWD_PROXY_THREADS, src/proxy/fast/threads.ts):
// the setting when given; by default one per core from 4 cores (at most 8), and a single
// front below that, where a second one was measured to lower throughput (README, Proxy).
import { expect, test } from "bun:test";
import { frontThreadCount } from "../../src/proxy/fast/threads.ts";

test("fronts by default: one below 4 cores, one per core from 4, at most 8; a setting wins", () => {
  expect([1, 2, 3, 4, 6, 8, 16, 64].map((cores) => frontThreadCount(0, cores))).toEqual([1, 1, 1, 4, 6, 8, 8, 8]);
  expect(frontThreadCount(3, 2)).toBe(3);
  expect(frontThreadCount(1, 16)).toBe(1);
});
