// What a preview uses, in its object: memory as `docker stats` shows it and
// CPU as a share of one core, read from the container's cgroup by the node
// that runs it.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { echoApp } from "../fixtures/apps.ts";
import { createPreview, startTestDaemon, type TestDaemon } from "../support/daemon.ts";

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon({ PREVIEWD_WARM_POOL: "1" });
});
afterAll(() => d?.cleanup());

type Usage = { usage?: { memoryBytes: number; cpuPercent?: number } };

test("a running preview reports its memory and CPU; the numbers are its own container's", async () => {
  const p = await createPreview(d, { files: echoApp });
  const first = (await (await d.api(`/v1/previews/${p.id}`)).json()) as Usage;
  // A Node.js app holds tens of MiB, far under the 512 MB limit.
  expect(first.usage!.memoryBytes).toBeGreaterThan(5 * 1024 * 1024);
  expect(first.usage!.memoryBytes).toBeLessThan(512 * 1024 * 1024);
  // Work in the app shows as CPU between two reads.
  await Bun.sleep(300);
  for (let i = 0; i < 200; i++) await (await d.preview(p.id, "/1mib")).arrayBuffer();
  const second = (await (await d.api(`/v1/previews/${p.id}`)).json()) as Usage;
  expect(second.usage!.cpuPercent).toBeGreaterThan(0);
  expect(second.usage!.cpuPercent).toBeLessThan(400);
});
