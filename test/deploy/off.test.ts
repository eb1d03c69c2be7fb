// Without RAILWAY_API_TOKEN deploys are off, and say so; the body is still checked first.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { startTestDaemon, type TestDaemon } from "../support/daemon.ts";

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon({ PREVIEWD_WARM_POOL: "0" });
});
afterAll(() => d?.cleanup());

test("POST deploy answers 503 deploy_off naming the setting; a bad body is 400 first", async () => {
  const off = await d.api("/v1/previews/abcdefabcdef/deploy", { method: "POST", body: JSON.stringify({ provider: "railway" }) });
  expect(off.status).toBe(503);
  const body = (await off.json()) as { error: { code: string; message: string } };
  expect(body.error.code).toBe("deploy_off");
  expect(body.error.message).toContain("RAILWAY_API_TOKEN");
  const bad = await d.api("/v1/previews/abcdefabcdef/deploy", { method: "POST", body: JSON.stringify({ provider: "railway", cleanup: "yes" }) });
  expect(bad.status).toBe(400);
  expect(((await bad.json()) as { error: { message: string } }).error.message).toContain("cleanup must be true or false");
  expect((await d.api("/v1/deployments/d_none")).status).toBe(404);
});
