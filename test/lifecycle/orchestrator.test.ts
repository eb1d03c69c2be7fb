// The container tier's policies (bring-up, idle, wake, health, limits,
// drift, start-up reconcile) against the in-memory runtime and store: the
// logic above the ports, in milliseconds. What only Docker shows stays in
// test/previews/ and test/faults/.
import { afterEach, describe, expect, test } from "bun:test";
import { MemoryStore } from "../../src/db/memory-store.ts";
import type { Transition } from "../../src/lifecycle/index.ts";
import { createLogger } from "../../src/log.ts";
import { Orchestrator, type OrchestratorOptions } from "../../src/orchestrator/index.ts";
import { MemoryRuntime } from "../../src/pool/memory-runtime.ts";
import type { PreviewSpec } from "../../src/types.ts";
import { eventually } from "../support/eventually.ts";

const log = createLogger("silent");
const spec = (files: Record<string, string> = { "server.js": "1" }): PreviewSpec => ({ files, env: {}, tier: "container", command: ["node", "server.js"] });
const running: Orchestrator[] = [];
const runtimes: MemoryRuntime[] = [];

async function node(opts: Partial<OrchestratorOptions> = {}, shared?: { runtime: MemoryRuntime; store: MemoryStore }) {
  const runtime = shared?.runtime ?? new MemoryRuntime();
  const store = shared?.store ?? new MemoryStore();
  const orch = new Orchestrator({
    nodeId: "n1", runtime, store, log, warmPoolSize: 0, capacity: 10, idleTimeoutMs: 3_600_000, stopAfterMs: 3_600_000,
    startTimeoutMs: 5_000, previewUrl: (id) => `http://${id}.localhost:8080`, cpus: 0.25, ...opts,
  });
  const moves: Transition[] = [];
  orch.lifecycle.on((t) => moves.push(t));
  await orch.start();
  running.push(orch);
  runtimes.push(runtime);
  return { orch, runtime, store, moves };
}

afterEach(async () => {
  for (const o of running.splice(0)) await o.stop();
  for (const r of runtimes.splice(0)) await r.close();
});

const path = (moves: Transition[], id: string) => moves.filter((t) => t.id === id).map((t) => t.to);

describe("bring-up", () => {
  test("create with wait answers once the app answers HTTP: starting, then running, in the store too", async () => {
    const { orch, store, moves } = await node();
    const v = await orch.create(spec(), { wait: true });
    expect(v.status).toBe("running");
    expect(path(moves, v.id)).toEqual(["starting", "running"]);
    expect((await store.get(v.id))?.status).toBe("running");
    expect(orch.routes().map((r) => r[0])).toEqual([v.id]);
    const ep = await orch.resolve(v.id);
    expect(await (await fetch(`http://${ep!.host}:${ep!.port}/`)).text()).toBe(`app ${v.id}`);
  });

  test("an app that never answers is failed after the start timeout, with the reason", async () => {
    const { orch, runtime, moves } = await node({ startTimeoutMs: 300 });
    runtime.appAnswers = false;
    const v = await orch.create(spec(), { wait: true });
    expect(v.status).toBe("failed");
    expect(v.error).toContain("did not answer HTTP");
    expect(path(moves, v.id)).toEqual(["starting", "failed"]);
    expect(orch.routes()).toEqual([]);
  });
});

describe("idle policy and wake", () => {
  test("idle previews are suspended, then stopped; a request wakes a stopped one through starting", async () => {
    const { orch, runtime, moves } = await node({ idleTimeoutMs: 150, stopAfterMs: 150 });
    const v = await orch.create(spec(), { wait: true });
    const id = v.id;
    await eventually("suspended", async () => (await orch.get(id)).status, (s) => s === "suspended", 5_000, 20);
    expect(orch.routes()).toEqual([]); // a suspended preview is never routed
    await eventually("stopped", async () => (await orch.get(id)).status, (s) => s === "stopped", 5_000, 20);
    const c = (await runtime.list()).find((x) => x.previewId === id)!;
    expect(c.status).toBe("exited");
    const ep = await orch.resolve(id);
    expect(ep).toBeDefined();
    expect((await orch.get(id)).status).toBe("running");
    expect(path(moves, id)).toEqual(["starting", "running", "suspended", "stopped", "starting", "running"]);
  });

  test("concurrent requests to a suspended preview share one wake", async () => {
    const { orch, runtime } = await node();
    const { id } = await orch.create(spec(), { wait: true });
    await orch.suspend(id);
    const unpausesBefore = runtime.calls.filter((c) => c.op === "unpause").length;
    const eps = await Promise.all(Array.from({ length: 8 }, () => orch.resolve(id)));
    expect(eps.every((e) => e?.port === eps[0]!.port)).toBe(true);
    expect(runtime.calls.filter((c) => c.op === "unpause").length - unpausesBefore).toBe(1);
  });

  test("a file change to a suspended preview wakes it first, in the preview's queue after a pause asked before it", async () => {
    const { orch, runtime } = await node();
    const { id } = await orch.create(spec(), { wait: true });
    const cid = (await runtime.list()).find((x) => x.previewId === id)!.containerId;
    const pause = orch.suspend(id);
    const change = orch.updateFiles(id, { "a.txt": "new" }, []);
    await pause;
    const v = await change;
    expect(v.status).toBe("running");
    expect(runtime.filesOf(cid)?.["a.txt"]).toBe("new");
    const ops = runtime.calls.filter((c) => c.containerId === cid).map((c) => c.op);
    expect(ops.slice(ops.indexOf("pause"))).toEqual(["pause", "unpause", "putFiles", "deleteFiles"]);
  });
});

describe("health and limits", () => {
  test("an app that exits for good is failed with its exit code; one Docker restarts is starting, then running", async () => {
    const { orch, runtime, moves } = await node();
    const a = await orch.create(spec(), { wait: true });
    const b = await orch.create(spec(), { wait: true });
    const cidOf = async (id: string) => (await runtime.list()).find((x) => x.previewId === id)!.containerId;
    runtime.crash(await cidOf(a.id), { exitCode: 3 });
    runtime.crash(await cidOf(b.id), { exitCode: 1, restarts: 1 });
    await eventually("a failed", async () => orch.get(a.id), (v) => v.status === "failed", 5_000, 20);
    expect((await orch.get(a.id)).error).toContain("exited with code 3");
    await eventually("b running again", async () => path(moves, b.id), (p) => p.join() === "starting,running,starting,running", 5_000, 20);
  });

  test("a limit enforced outside fails the preview and stops its container", async () => {
    const { orch, runtime, moves } = await node();
    const { id } = await orch.create(spec(), { wait: true });
    await orch.failFromOutside(id, "The database budget is used up.");
    const v = await orch.get(id);
    expect(v.status).toBe("failed");
    expect(v.error).toBe("The database budget is used up.");
    expect((await runtime.list()).find((x) => x.previewId === id)?.status).toBe("exited");
    expect(path(moves, id)).toEqual(["starting", "running", "failed"]);
    await orch.failFromOutside(id, "again"); // idempotent: a failed preview is not failed twice
    expect((await orch.get(id)).error).toBe("The database budget is used up.");
  });

  test("delete: gone at once for the proxy, container and record removed after the operation in flight", async () => {
    const { orch, runtime, store } = await node();
    const { id } = await orch.create(spec(), { wait: true });
    await orch.suspend(id);
    const wake = orch.resolve(id);
    await orch.delete(id);
    await wake.catch(() => {});
    expect(orch.has(id)).toBe(false);
    expect(await store.get(id)).toBeUndefined();
    expect((await runtime.list()).some((x) => x.previewId === id)).toBe(false);
    await expect(orch.get(id)).rejects.toThrow("No preview");
  });
});

describe("drift and restarts", () => {
  test("a container removed behind our back with no event is re-created from the stored files within two passes", async () => {
    const { orch, runtime, store } = await node({ driftIntervalMs: 50 });
    const { id } = await orch.create(spec({ "server.js": "v1" }), { wait: true });
    const old = (await runtime.list()).find((x) => x.previewId === id)!.containerId;
    runtime.vanish(old);
    const fresh = await eventually("re-created", async () => (await runtime.list()).find((x) => x.previewId === id), (c) => !!c && c.containerId !== old, 5_000, 20);
    expect(runtime.filesOf(fresh!.containerId)?.["server.js"]).toBe("v1");
    expect(store.containerOf(id)).toBe(fresh!.containerId);
    await eventually("running", async () => (await orch.get(id)).status, (s) => s === "running", 5_000, 20);
    expect(orch.driftCounts.container_missing).toBe(1);
  });

  test("a preview whose record is gone from the store is evicted: no route, its container removed", async () => {
    const { orch, runtime, store } = await node({ driftIntervalMs: 50 });
    const { id } = await orch.create(spec(), { wait: true });
    await store.remove(id);
    await eventually("evicted", async () => orch.has(id), (has) => !has, 5_000, 20);
    expect(orch.routes()).toEqual([]);
    await eventually("container removed", async () => (await runtime.list()).some((c) => c.previewId === id), (any) => !any, 5_000, 20);
    expect(orch.driftCounts.record_missing).toBe(1);
  });

  test("a restarted daemon adopts what the engine still runs: a paused container is a suspended preview", async () => {
    const first = await node();
    const a = await first.orch.create(spec(), { wait: true });
    const b = await first.orch.create(spec(), { wait: true });
    await first.orch.suspend(b.id);
    await first.orch.stop();
    running.splice(running.indexOf(first.orch), 1);
    const second = await node({}, { runtime: first.runtime, store: first.store });
    expect((await second.orch.get(a.id)).status).toBe("running");
    expect((await second.orch.get(b.id)).status).toBe("suspended");
    expect(second.moves).toEqual([]); // nothing changed status: nothing was written
    await second.orch.resolve(b.id);
    expect((await second.orch.get(b.id)).status).toBe("running");
  });
});
