// A body past the limit gets the spec's error object (not a bare 413 from the
// HTTP server), and only after the token was checked.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { startTestDaemon, type TestDaemon } from "../support/daemon.ts";

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon({ PREVIEWD_MAX_BYTES: "1000", PREVIEWD_WARM_POOL: "0" });
});
afterAll(async () => {
  await d?.cleanup();
});

const big = "x".repeat(8 * 1024 * 1024);

test("a body far past the limit: 413 with a JSON error naming the limit", async () => {
  const res = await d.api("/v1/previews", { method: "POST", body: big });
  expect(res.status).toBe(413);
  const body = (await res.json()) as { error: { code: string; message: string } };
  expect(body.error.code).toBe("too_large");
  expect(body.error.message).toMatch(/larger than \d+ bytes/);
});

test("without a token, a big body is 401 (the size is not even looked at)", async () => {
  const res = await fetch(`http://127.0.0.1:${d.apiPort}/v1/previews`, { method: "POST", body: big });
  expect(res.status).toBe(401);
});
