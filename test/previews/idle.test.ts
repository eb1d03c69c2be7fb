// The idle clock suspends an unused preview by itself, and a request wakes it.
import { afterAll, beforeAll, expect, test } from "bun:test";
import Docker from "dockerode";
import { echoApp } from "../fixtures/apps.ts";
import { createPreview, startTestDaemon, type TestDaemon } from "../support/daemon.ts";

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon({ PREVIEWD_IDLE_TIMEOUT: "1", PREVIEWD_STOP_AFTER: "2", PREVIEWD_WARM_POOL: "0" });
});
afterAll(() => d?.cleanup());

const statusOf = async (id: string) => ((await (await d.api(`/v1/previews/${id}`)).json()) as { status: string }).status;
async function until(id: string, status: string, ms: number) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && (await statusOf(id)) !== status) await Bun.sleep(100);
  return statusOf(id);
}

test("idle past the timeout: suspended (paused), then woken by a request with memory intact", async () => {
  const { id } = await createPreview(d, { files: echoApp });
  expect(await (await d.preview(id, "/counter")).text()).toBe("1");
  expect(await until(id, "suspended", 5000)).toBe("suspended");
  // "suspended" shows as the pause begins (so no request is sent into a freezing app); Docker follows
  const dockerState = async () => (await new Docker().listContainers({ filters: { label: [`previewd.preview=${id}`] } }))[0]!.State;
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline && (await dockerState()) !== "paused") await Bun.sleep(50);
  expect(await dockerState()).toBe("paused");
  const t0 = performance.now();
  const res = await d.preview(id, "/counter");
  console.log(`wake from suspend: ${(performance.now() - t0).toFixed(1)} ms`);
  expect(await res.text()).toBe("2");
});

test("an open WebSocket keeps the preview awake", async () => {
  const { id } = await createPreview(d, { files: echoApp });
  const ws = new WebSocket(`ws://127.0.0.1:${d.proxyPort}/ws`, { headers: { host: `${id}.localhost` } } as never);
  await new Promise((r) => (ws.onopen = r));
  // Watched for 2.5 idle timeouts: running at every look while the socket is open.
  const seen = new Set<string>();
  for (const end = Date.now() + 2500; Date.now() < end; await Bun.sleep(100)) seen.add(await statusOf(id));
  expect([...seen]).toEqual(["running"]);
  ws.close();
  // Closed, it goes to sleep: suspended, or already stopped (the second stage is 2 s on), a slow look may see either.
  const deadline = Date.now() + 8000;
  let now = await statusOf(id);
  while (now === "running" && Date.now() < deadline) {
    await Bun.sleep(100);
    now = await statusOf(id);
  }
  expect(["suspended", "stopped"]).toContain(now);
});

test("suspended past the second stage: stopped with its disk; a request starts it again", async () => {
  const { id } = await createPreview(d, { files: { ...echoApp, "note.txt": "kept on disk" } });
  expect(await until(id, "stopped", 8000)).toBe("stopped");
  const res = await d.preview(id, "/read?path=note.txt");
  expect(res.status).toBe(200);
  expect(await res.text()).toBe("kept on disk");
  expect(await statusOf(id)).toBe("running");
});
