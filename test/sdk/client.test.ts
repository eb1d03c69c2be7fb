// The client SDK (sdk/) against a real daemon, real containers: every call,
// errors as PreviewdError with the API's codes, the SSE watch (including a
// dropped connection and the end on delete), and scoped tokens in a second
// client.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createClient, PreviewdError, type FetchLike, type PreviewdClient, type PreviewEvent } from "../../sdk/src/index.ts";
import { startTestDaemon, type TestDaemon } from "../support/daemon.ts";
import { messageApp, until } from "./app.ts";

let d: TestDaemon;
let admin: PreviewdClient;
let baseUrl: string;

beforeAll(async () => {
  d = await startTestDaemon({ PREVIEWD_CORS_ORIGINS: "*", PREVIEWD_WARM_POOL: "2" });
  baseUrl = `http://127.0.0.1:${d.apiPort}`;
  admin = createClient({ baseUrl, token: d.token });
}, 180_000);
afterAll(() => d?.cleanup(), 60_000);

/** The PreviewdError a promise rejects with (fails the test if it resolves or rejects with something else). */
async function rejection(p: Promise<unknown>): Promise<PreviewdError> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(PreviewdError);
  return e as PreviewdError;
}

test("create (wait), get, list, updateFiles, logs and remove", async () => {
  const p = await admin.previews.create({ files: messageApp("hello from v1") }, { wait: true });
  expect(p.status).toBe("running");
  expect(p.url).toBe(`http://${p.id}.localhost:${d.proxyPort}`);
  expect(await (await d.preview(p.id)).text()).toContain("hello from v1");

  expect((await admin.previews.get(p.id)).id).toBe(p.id);
  expect((await admin.previews.list()).map((x) => x.id)).toContain(p.id);

  const patched = await admin.previews.updateFiles(p.id, { "message.txt": "hello from v2", "extra.txt": "x" });
  expect(patched.id).toBe(p.id);
  await until("the app to serve v2", async () => (await (await d.preview(p.id)).text()).includes("hello from v2"));
  await admin.previews.updateFiles(p.id, {}, { delete: ["extra.txt"] });

  const logs = await until("the app's log line", async () => {
    const text = await admin.previews.logs(p.id, { tail: 50 });
    return text.includes("sdk-test-app listening") && text;
  });
  expect(typeof logs).toBe("string");

  await admin.previews.remove(p.id);
  const gone = await rejection(admin.previews.get(p.id));
  expect([gone.status, gone.code]).toEqual([404, "not_found"]);
}, 180_000);

test("visibility and share links: a private preview, a link that opens it, revoked", async () => {
  const p = await admin.previews.create({ files: messageApp("private hello"), visibility: "private" }, { wait: true });
  expect(p.visibility).toBe("private");
  expect((await d.preview(p.id)).status).toBe(401);
  const s = await admin.shares.create(p.id, { ttlSeconds: 600 });
  const u = new URL(s.url);
  const visit = await d.preview(p.id, `${u.pathname}${u.search}`, { redirect: "manual" });
  expect(visit.status).toBe(302);
  const cookie = visit.headers.getSetCookie()[0]!.split(";")[0]!;
  expect(await (await d.preview(p.id, "/", { headers: { cookie } })).text()).toContain("private hello");
  expect((await admin.shares.list(p.id)).map((x) => x.id)).toEqual([s.id]);
  await admin.shares.revoke(p.id, s.id);
  expect((await d.preview(p.id, "/", { headers: { cookie } })).status).toBe(401);
  expect((await admin.previews.setVisibility(p.id, "public")).visibility).toBe("public");
  expect((await d.preview(p.id)).status).toBe(200);
  await admin.previews.remove(p.id);
}, 180_000);

test("errors mirror the API: 404 not_found, 400 invalid_path, 401, and status 0 'network' when nothing answers", async () => {
  const missing = await rejection(admin.previews.get("nosuchpreview0000"));
  expect([missing.status, missing.code]).toEqual([404, "not_found"]);
  expect(missing.message).toContain("nosuchpreview0000");

  const bad = await rejection(admin.previews.create({ files: { "../x": "escape" } }));
  expect([bad.status, bad.code]).toEqual([400, "invalid_path"]);
  expect(bad.details).toEqual({ path: "../x" });

  const anon = await rejection(createClient({ baseUrl, token: "wrong" }).previews.list());
  expect([anon.status, anon.code]).toEqual([401, "unauthorized"]);

  // Port 1 on loopback: nothing listens, the connection is refused.
  const offline = await rejection(createClient({ baseUrl: "http://127.0.0.1:1", token: "t" }).previews.list());
  expect([offline.status, offline.code]).toEqual([0, "network"]);

  // Deploys are off on this daemon (no RAILWAY_API_TOKEN): the SDK's deploy rejects with the API's 503.
  const p = await admin.previews.create({ files: messageApp("deploy-off") });
  const off = await rejection(admin.deploy(p.id, { projectName: "x" }));
  expect([off.status, off.code]).toEqual([503, "deploy_off"]);
  await admin.previews.remove(p.id);
}, 120_000);

test("watch: running, suspended after an admin suspend, a reconnect after a dropped stream, and the end on delete", async () => {
  const p = await admin.previews.create({ files: messageApp("watched") }, { wait: true });

  // A fetch that cuts the FIRST event stream right after its first chunk, as a proxy restart would.
  let streams = 0;
  const dropping: FetchLike = async (input, init) => {
    const res = await fetch(input, init);
    if (!input.endsWith("/events") || ++streams > 1 || !res.body) return res;
    return new Response(dropAfterFirstChunk(res.body), { status: res.status, headers: res.headers });
  };
  const client = createClient({ baseUrl, token: d.token, fetch: dropping });
  const reconnects: number[] = [];
  const w = client.previews.watch(p.id, { onReconnect: (n) => reconnects.push(n), retry: { initialMs: 100 } });
  const events: PreviewEvent[] = [];
  const consumed = (async () => {
    for await (const ev of w) events.push(ev);
  })();
  const statuses = () => events.flatMap((e) => (e.type === "preview" ? [e.preview.status] : []));

  await until("a running event", () => statuses().includes("running"));
  await until("a second event stream after the drop", () => streams >= 2);
  expect(reconnects[0]).toBe(1);
  // The new connection starts with the current state again.
  await until("running on the new stream", () => statuses().filter((s) => s === "running").length >= 2);

  const suspended = await d.api(`/v1/previews/${p.id}/suspend`, { method: "POST" });
  expect(suspended.status).toBe(200);
  await until("a suspended event", () => statuses().includes("suspended"), 60_000);

  await admin.previews.remove(p.id);
  await until("the watch to end", async () => (await Promise.race([consumed.then(() => true), Bun.sleep(100).then(() => false)])), 30_000);
  expect(statuses().at(-1)).toBe("deleted");
  await w.done; // resolved, not rejected
  expect(streams).toBe(2);
}, 180_000);

test("watch: abort ends it quietly; an unknown preview rejects with 404", async () => {
  const p = await admin.previews.create({ files: messageApp("abort") }, { wait: true });
  const ac = new AbortController();
  const seen: string[] = [];
  const w = admin.previews.watch(p.id, { signal: ac.signal, onEvent: (e) => e.type === "preview" && seen.push(e.preview.status) });
  await until("the first event", () => seen.length > 0);
  ac.abort();
  await w.done;

  const missing = admin.previews.watch("nosuchpreview0000");
  const e = await rejection((async () => {
    for await (const _ of missing);
  })());
  expect([e.status, e.code]).toEqual([404, "not_found"]);
  await admin.previews.remove(p.id);
}, 120_000);

test("a scoped token minted with previews.token reads, patches and watches its preview, and is refused elsewhere", async () => {
  const [a, b] = await Promise.all([
    admin.previews.create({ files: messageApp("preview a") }, { wait: true }),
    admin.previews.create({ files: messageApp("preview b") }, { wait: true }),
  ]);
  const minted = await admin.previews.token(a.id, { scope: ["read", "files"], ttlSeconds: 600 });
  expect(minted.token).toStartWith("pvs_");
  expect(Date.parse(minted.expiresAt)).toBeGreaterThan(Date.now() + 500_000);
  expect(minted.token).not.toContain(d.token);

  const browser = createClient({ baseUrl, token: minted.token });
  expect((await browser.previews.get(a.id)).id).toBe(a.id);
  await browser.previews.updateFiles(a.id, { "message.txt": "patched with a scoped token" });
  await until("the patch to show", async () => (await (await d.preview(a.id)).text()).includes("patched with a scoped token"));
  const first = await new Promise<PreviewEvent>((resolve) => {
    const w = browser.previews.watch(a.id, { onEvent: (e) => (resolve(e), w.close()) });
  });
  expect(first.type === "preview" && first.preview.status).toBe("running");

  for (const refused of [browser.previews.get(b.id), browser.previews.updateFiles(b.id, { "x.txt": "x" }), browser.previews.list(), browser.previews.remove(a.id)]) {
    const e = await rejection(refused);
    expect([e.status, e.code]).toEqual([403, "forbidden"]);
  }
  expect(await (await d.preview(b.id)).text()).toContain("preview b");
  await Promise.all([admin.previews.remove(a.id), admin.previews.remove(b.id)]);
}, 180_000);

/** Passes the first chunk through, then fails the stream like a dropped TCP connection. */
function dropAfterFirstChunk(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let passed = false;
  return new ReadableStream<Uint8Array>(
    {
      async pull(ctrl) {
        if (passed) {
          await reader.cancel();
          return ctrl.error(new TypeError("connection dropped by the test"));
        }
        const { done, value } = await reader.read();
        if (done) return ctrl.close();
        passed = true;
        ctrl.enqueue(value);
      },
      cancel: () => reader.cancel(),
    },
    // 0: pull only when the reader asks, so the first chunk is read before the error.
    { highWaterMark: 0 },
  );
}
