// previewd's Fly Machines client against the fake Fly (test/fakes/fly): real
// Docker containers as machines, the edge stand-in in front of them. The
// preview app is test/fixtures/echo-app.js (an in-memory /counter shows
// whether memory survived a suspend), started by the base image's runner
// from a start order delivered through config.files, as previewd will do.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import Docker from "dockerode";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { buildMachineConfig, METADATA } from "../../src/overflow/config.ts";
import { KeyedRateLimiter } from "../../src/overflow/limiter.ts";
import { FlyApiError, FlyCapacityError, FlyMachines, type Machine } from "../../src/overflow/machines.ts";
import { type FakeFly, startFakeFly } from "../fakes/fly/index.ts";
import { ensureBaseImage, removeContainersByLabel } from "../support/docker.ts";

const ECHO_APP = readFileSync(join(import.meta.dir, "../fixtures/echo-app.js"), "utf8");
const docker = new Docker();
let fly: FakeFly;
let client: FlyMachines;
let image: string;
let m1: Machine;

const config = (previewId: string) =>
  buildMachineConfig({
    previewId, cluster: "test", node: "node-a", image, port: 3000, env: { GREETING: "hello from fly" },
    files: { "/app/server.js": ECHO_APP, "/app/.previewd/start.json": JSON.stringify({ command: ["node", "server.js"], port: 3000 }) },
  });
const newClient = (o: Partial<ConstructorParameters<typeof FlyMachines>[0]> = {}) =>
  new FlyMachines({ apiUrl: fly.apiUrl, token: fly.token, app: fly.app, regions: ["iad"], retry: { baseMs: 40, capMs: 300 }, ...o });
const viaEdge = (id: string, path: string, init: RequestInit = {}) =>
  fetch(`${fly.edgeUrl}${path}`, { ...init, headers: { host: `${fly.app}.fly.dev`, "fly-force-instance-id": id, ...init.headers } });
const callsOf = (action: string, scope?: string) => fly.calls().filter((c) => c.action === action && (!scope || c.scope === scope));
const containerState = async (id: string) => (await docker.getContainer(id).inspect()).State;

beforeAll(async () => {
  image = await ensureBaseImage();
  fly = await startFakeFly();
  client = newClient();
}, 120_000);

afterAll(async () => {
  await fly?.stop();
  if (fly) await removeContainersByLabel(`fly.app=${fly.app}`);
}, 60_000);

describe("Fly Machines client against the fake", () => {
  test("ensureApp: GET 404, then create with name and org_slug", async () => {
    const app = await client.ensureApp();
    expect(app.name).toBe(fly.app);
    // GET app 404, create, GET; then no public IP yet: shared IPv4 and IPv6 assigned (else {app}.fly.dev does not resolve).
    expect(fly.calls().map((c) => `${c.method} ${c.path.replace(`/v1/apps/${fly.app}`, "{app}")} ${c.status}`)).toEqual([
      "GET {app} 404", "POST /v1/apps 201", "GET {app} 200", "GET {app}/ip_assignments 200",
      "POST {app}/ip_assignments 200", "POST {app}/ip_assignments 200",
    ]);
    const n = fly.calls().length;
    await client.ensureApp(); // second time: read-only
    expect(fly.calls().slice(n).map((c) => c.method)).toEqual(["GET", "GET"]);
  });

  test("create -> wait started -> the app answers through the edge (env and files applied)", async () => {
    m1 = await client.createMachine(config("p1"));
    expect(m1.id).toMatch(/^[0-9a-f]{14}$/);
    expect(m1.region).toBe("iad");
    await client.waitFor(m1.id, "started", { timeoutS: 30 });
    expect((await client.get(m1.id)).state).toBe("started");
    const res = await viaEdge(m1.id, "/env");
    expect(res.status).toBe(200);
    expect(res.headers.get("fly-request-id")).toBeTruthy();
    expect(JSON.parse(await res.text()).GREETING).toBe("hello from fly");
    expect(await (await viaEdge(m1.id, "/counter")).text()).toBe("1");
    // Streaming body up and 1 MiB down.
    const up = await viaEdge(m1.id, "/upload", { method: "POST", body: new Uint8Array(300_000).fill(7) });
    expect(JSON.parse(await up.text()).length).toBe(300_000);
    expect((await (await viaEdge(m1.id, "/1mib")).arrayBuffer()).byteLength).toBe(1024 * 1024);
    // The container is real, labelled, and published on loopback only.
    const view = fly.machines().find((m) => m.id === m1.id)!;
    const info = await docker.getContainer(view.containerId).inspect();
    expect(info.Config.Labels).toMatchObject({ "previewd.test": "1", "previewd.fake": "fly", "fly.machine": m1.id });
    expect(info.NetworkSettings.Ports["3000/tcp"]![0]!.HostIp).toBe("127.0.0.1");
  }, 60_000);

  test("WebSocket through the edge", async () => {
    const ws = new WebSocket(fly.edgeUrl.replace("http", "ws") + "/ws", { headers: { host: `${fly.app}.fly.dev`, "fly-force-instance-id": m1.id } } as never);
    const echoed = await new Promise<string>((resolve, reject) => {
      ws.onopen = () => ws.send("ping through fly");
      ws.onmessage = (ev) => resolve(String(ev.data));
      ws.onerror = () => reject(new Error("websocket failed"));
    });
    ws.close();
    expect(echoed).toBe("ping through fly");
  }, 20_000);

  test("suspend keeps memory: a request through the edge resumes the machine and the counter goes on", async () => {
    await client.suspend(m1.id);
    await client.waitFor(m1.id, "suspended", { timeoutS: 20 });
    const view = fly.machines().find((m) => m.id === m1.id)!;
    expect((await containerState(view.containerId)).Paused).toBe(true);
    const res = await viaEdge(m1.id, "/counter"); // autostart: true on the service
    expect(await res.text()).toBe("2");
    expect((await client.get(m1.id)).state).toBe("started");
    expect((await containerState(view.containerId)).Paused).toBe(false);
  }, 30_000);

  test("stop loses memory: the edge cold-starts the machine and the counter starts over", async () => {
    await client.stop(m1.id);
    await client.waitFor(m1.id, "stopped", { instanceId: m1.instance_id, timeoutS: 30 });
    expect(await (await viaEdge(m1.id, "/counter")).text()).toBe("1");
    expect((await client.get(m1.id)).state).toBe("started");
  }, 60_000);

  test("insufficient_capacity moves to the next region; all regions full is a typed error", async () => {
    const c = newClient({ regions: ["ord", "iad"] });
    fly.fault("create", { kind: "insufficient_capacity", region: "ord" }, 1);
    const m2 = await c.createMachine(config("p2"));
    expect(m2.region).toBe("iad");
    expect(callsOf("create").slice(-2).map((x) => x.status)).toEqual([503, 200]);

    fly.fault("create", { kind: "insufficient_capacity", region: "ord" }, 1);
    fly.fault("create", { kind: "insufficient_capacity", region: "iad" }, 1);
    const before = fly.machines().length;
    const err = await c.createMachine(config("p3")).catch((e) => e);
    expect(err).toBeInstanceOf(FlyCapacityError);
    expect(err).toBeInstanceOf(FlyApiError);
    expect(err.code).toBe("insufficient_capacity");
    expect(err.regions).toEqual(["ord", "iad"]);
    expect(fly.machines().length).toBe(before);
  }, 30_000);

  test("list by metadata filters server-side (metadata.key=value) and returns only that preview's machine", async () => {
    const mine = await client.list({ metadata: { [METADATA.preview]: "p1" } });
    expect(mine.map((m) => m.id)).toEqual([m1.id]);
    const sent = callsOf("list").at(-1)!;
    expect(sent.path).toBe(`/v1/apps/${fly.app}/machines`);
    expect(sent.query).toBe("metadata.previewd_preview=p1");
    const all = await client.list({ metadata: { [METADATA.cluster]: "test" } });
    expect(all.length).toBe(2);
    expect(await client.list({ metadata: { [METADATA.preview]: "nope" } })).toEqual([]);
    // autostop comes back as Fly sends it: "suspend" stays a string.
    expect(mine[0]!.config.services![0]!.autostop).toBe("suspend");
  });

  test("429 and 500 are retried within the attempt limit; a create 5xx is retried only after looking for the machine", async () => {
    fly.fault("get", { kind: "rate_limit" }, 2);
    expect((await client.get(m1.id)).id).toBe(m1.id);
    expect(callsOf("get", m1.id).slice(-3).map((c) => c.status)).toEqual([429, 429, 200]);

    // Four 500s: a client that tried a fifth time would succeed, and fail this test.
    fly.fault("start", { kind: "http_500" }, 4);
    const err = await client.start(m1.id).catch((e) => e);
    expect(err).toBeInstanceOf(FlyApiError);
    expect(err.status).toBe(500);
    expect(callsOf("start", m1.id).filter((c) => c.status === 500).length).toBe(4); // attempts: 4, then it gives up

    // The create was refused with a 500 before doing anything: lookup finds nothing, create is sent again.
    const n = callsOf("create").length;
    fly.fault("create", { kind: "http_500" }, 1);
    const m4 = await client.createMachine(config("p4"));
    expect(callsOf("create").slice(n).map((c) => c.status)).toEqual([500, 200]);
    expect(fly.machines().filter((m) => m.config.metadata?.[METADATA.preview] === "p4").length).toBe(1);
    await client.destroy(m4.id, { force: true });
  }, 30_000);

  test("a create that landed but answered 502 is found by its metadata, not made twice", async () => {
    let broke = false;
    const c = newClient({
      fetch: (async (input: string | URL | Request, init?: RequestInit) => {
        const res = await fetch(input, init);
        if (!broke && init?.method === "POST" && String(input).endsWith("/machines")) {
          broke = true; // the machine exists at the fake; the client sees a gateway error
          return new Response("<html>502 Bad Gateway</html>", { status: 502 });
        }
        return res;
      }) as typeof fetch,
    });
    const m5 = await c.createMachine(config("p5"));
    expect(fly.machines().filter((m) => m.config.metadata?.[METADATA.preview] === "p5").map((m) => m.id)).toEqual([m5.id]);
    await c.destroy(m5.id, { force: true });
  }, 30_000);

  test("the limiter never sends more than 3 per second per action per machine", async () => {
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 6 }, () => client.waitFor(m1.id, "started", { timeoutS: 5 })));
    const waits = callsOf("wait", m1.id).filter((c) => c.at >= t0);
    expect(waits.length).toBe(6);
    expect(waits.every((c) => c.status === 200)).toBe(true); // the fake's own limiter (Fly's numbers) never refused one
    for (const w of waits) expect(waits.filter((x) => x.at >= w.at && x.at < w.at + 1000).length).toBeLessThanOrEqual(3);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(3000); // 3 at once, then ~1.1 s apart
  }, 30_000);

  test("a client paced too fast meets the fake's limiter (Fly's numbers): 429 + Retry-After, and its retries get through", async () => {
    const hasty = newClient({ limiter: new KeyedRateLimiter({ margin: 0.01 }) }); // 100x Fly's rate, same burst
    const t0 = Date.now();
    const got = await Promise.all(Array.from({ length: 14 }, () => hasty.get(m1.id)));
    expect(got.every((m) => m.id === m1.id)).toBe(true);
    const gets = callsOf("get", m1.id).filter((c) => c.at >= t0);
    expect(gets.filter((c) => c.status === 429).length).toBeGreaterThanOrEqual(4); // Get Machine: burst 10
    expect(gets.filter((c) => c.status === 200).length).toBe(14);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900); // Retry-After: 1 was honoured
  }, 20_000);

  test("wait past its timeout is a 408", async () => {
    const err = await client.waitFor(m1.id, "suspended", { timeoutS: 1 }).catch((e) => e);
    expect(err).toBeInstanceOf(FlyApiError);
    expect(err.status).toBe(408);
  }, 20_000);

  test("a bad token is a 401 FlyApiError that names FLY_API_TOKEN", async () => {
    const bad = newClient({ token: "fm2_not-a-real-token" });
    const err = await bad.get(m1.id).catch((e) => e);
    expect(err).toBeInstanceOf(FlyApiError);
    expect(err.status).toBe(401);
    expect(err.message).toContain("FLY_API_TOKEN");
    expect(err.message).toContain("token validation error");
  });

  test("the fake's wire details: FlyV1 scheme, app_name, autostop booleans, skip_launch", async () => {
    const h = { authorization: `FlyV1 ${fly.token}`, "content-type": "application/json" };
    const created = await fetch(`${fly.apiUrl}/v1/apps`, { method: "POST", headers: h, body: JSON.stringify({ app_name: `${fly.app}-b`, org_slug: "personal" }) });
    expect(created.status).toBe(201);
    const cfg = { ...config("p6"), services: [{ ...config("p6").services![0]!, autostop: "stop" as const }] };
    const res = await fetch(`${fly.apiUrl}/v1/apps/${fly.app}/machines`, { method: "POST", headers: h, body: JSON.stringify({ config: cfg, skip_launch: true }) });
    expect(res.status).toBe(200);
    const m = (await res.json()) as Machine;
    expect(m.state).toBe("created");
    expect(m.config.services![0]!.autostop).toBe(true); // "stop" goes out as true
    const bad = await fetch(`${fly.apiUrl}/v1/apps/${fly.app}/machines`, { method: "POST", headers: h, body: JSON.stringify({ config: { image: "" } }) });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toContain("image");
    await client.destroy(m.id);
  }, 20_000);

  test("destroy: refused while running without force; with force the container is gone", async () => {
    const err = await client.destroy(m1.id).catch((e) => e);
    expect(err).toBeInstanceOf(FlyApiError);
    expect(err.status).toBe(412);
    const containerId = fly.machines().find((m) => m.id === m1.id)!.containerId;
    await client.destroy(m1.id, { force: true });
    await client.waitFor(m1.id, "destroyed", { timeoutS: 20 });
    expect(await docker.getContainer(containerId).inspect().catch((e) => e.statusCode)).toBe(404);
    expect((await client.list()).some((m) => m.id === m1.id)).toBe(false);
    expect((await viaEdge(m1.id, "/counter")).status).toBe(404);
  }, 30_000);
});

describe("the fake's autostop (Fly's proxy suspends idle machines whose service says autostop: suspend)", () => {
  test("an idle machine is suspended, and the next request through the edge resumes it with memory kept", async () => {
    // Idle longer than the machine's app takes to start (the runner, then node): a machine suspended
    // before its app listens is another case (the first request would resume it half-started).
    const idle = await startFakeFly({ autostopIdleMs: 3000, createApp: true });
    try {
      const c = new FlyMachines({ apiUrl: idle.apiUrl, token: idle.token, app: idle.app, regions: [] });
      const m = await c.createMachine(config("idle1"));
      await c.waitFor(m.id, "started", { timeoutS: 30 });
      const get = (path: string) => fetch(`${idle.edgeUrl}${path}`, { headers: { host: `${idle.app}.fly.dev`, "fly-force-instance-id": m.id } });
      expect(await (await get("/counter")).text()).toBe("1");
      await c.waitFor(m.id, "suspended", { timeoutS: 20 });
      expect(await (await get("/counter")).text()).toBe("2");
      const m2 = await c.get(m.id);
      expect(m2.state).toBe("started");
      expect(m2.events?.some((e) => e.source === "fly-proxy" && e.status === "suspended")).toBe(true);
    } finally {
      await idle.stop();
    }
  }, 40_000);
});
