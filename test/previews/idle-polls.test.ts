// Idle by traffic class on a real daemon (issue 29, item 4): a poller that only repeats one background
// request (a forgotten tab's status poll, a monitor) does not keep its preview awake, and does not wake it
// once asleep (503 + Retry-After); a page load does. PREVIEWD_IDLE_POLLS=count restores "every request".
import { afterAll, beforeAll, expect, test } from "bun:test";
import { echoApp } from "../fixtures/apps.ts";
import { createPreview, startTestDaemon, type TestDaemon } from "../support/daemon.ts";

let ignoring: TestDaemon;
let counting: TestDaemon;
beforeAll(async () => {
  const env = { PREVIEWD_IDLE_TIMEOUT: "2", PREVIEWD_STOP_AFTER: "3600", PREVIEWD_WARM_POOL: "0" };
  [ignoring, counting] = await Promise.all([startTestDaemon(env), startTestDaemon({ ...env, PREVIEWD_IDLE_POLLS: "count" })]);
});
afterAll(async () => {
  await Promise.all([ignoring?.cleanup(), counting?.cleanup()]);
});

const statusOf = async (d: TestDaemon, id: string) => ((await (await d.api(`/v1/previews/${id}`)).json()) as { status: string }).status;
/** A monitor's request: fetch's own Accept (no text/html), no navigation. */
const poll = (d: TestDaemon, id: string) => d.preview(id, "/small");

test("a burst of the same background request to an asleep preview wakes it, and every one is answered (a page's parallel calls are no poll)", async () => {
  const { id } = await createPreview(ignoring, { files: echoApp });
  const deadline = Date.now() + 15_000;
  while ((await statusOf(ignoring, id)) !== "suspended" && Date.now() < deadline) await Bun.sleep(100);
  expect(await statusOf(ignoring, id)).toBe("suspended");
  const answers = await Promise.all(Array.from({ length: 10 }, () => poll(ignoring, id).then(async (r) => (await r.arrayBuffer(), r.status))));
  expect(answers).toEqual(Array(10).fill(200));
  expect(await statusOf(ignoring, id)).toBe("running");
});

/** Polls every 1.1 s (a poller has a period: pool/polls.ts) until `done` holds or `ms` pass; the answers' codes. */
async function pollWhile(d: TestDaemon, id: string, ms: number, done: () => Promise<boolean>) {
  const codes: number[] = [];
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && !(await done())) {
    const res = await poll(d, id);
    codes.push(res.status);
    await res.arrayBuffer();
    await Bun.sleep(1100); // the poller's own cadence, not a wait for a condition
  }
  return codes;
}

test("polled every 1.1 s, a preview still goes to sleep after its idle timeout; asleep, the polls get 503 and do not wake it; a page load does", async () => {
  const { id } = await createPreview(ignoring, { files: echoApp });
  const codes = await pollWhile(ignoring, id, 15_000, async () => (await statusOf(ignoring, id)) === "suspended");
  expect(await statusOf(ignoring, id)).toBe("suspended");
  expect(codes.slice(0, 3)).toEqual([200, 200, 200]);

  // Asleep: more polls, each refused without a wake.
  const asleep: number[] = [];
  const retryAfter: Array<string | null> = [];
  for (let i = 0; i < 4; i++) {
    await Bun.sleep(1100); // the poller's cadence
    const res = await poll(ignoring, id);
    asleep.push(res.status);
    retryAfter.push(res.headers.get("retry-after"));
    await res.arrayBuffer();
  }
  expect(asleep).toEqual([503, 503, 503, 503]);
  expect(retryAfter.every((r) => r === "30")).toBe(true);
  expect(await statusOf(ignoring, id)).toBe("suspended");

  // A person's page load wakes it, as always.
  const page = await ignoring.preview(id, "/small", { headers: { accept: "text/html", "sec-fetch-mode": "navigate" } });
  expect(page.status).toBe(200);
  expect(await statusOf(ignoring, id)).toBe("running");
}, 60_000);

test("navigations every 250 ms keep it awake past its idle timeout", async () => {
  const { id } = await createPreview(ignoring, { files: echoApp });
  const seen = new Set<string>();
  for (const end = Date.now() + 5_000; Date.now() < end; await Bun.sleep(250)) {
    const res = await ignoring.preview(id, "/small", { headers: { accept: "text/html" } });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    seen.add(await statusOf(ignoring, id));
  }
  expect([...seen]).toEqual(["running"]);
});

test("with PREVIEWD_IDLE_POLLS=count the same polls keep it awake", async () => {
  const { id } = await createPreview(counting, { files: echoApp });
  const seen = new Set<string>();
  for (const end = Date.now() + 5_000; Date.now() < end; await Bun.sleep(250)) {
    const res = await poll(counting, id);
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    seen.add(await statusOf(counting, id));
  }
  expect([...seen]).toEqual(["running"]);
});
