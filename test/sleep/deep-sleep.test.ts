// Deep sleep in the idle policy (orchestrator/sleep.ts) against the in-memory
// runtime, store and reclaimer: running -> suspended (frozen) -> reclaimed ->
// stopped, the memory limit given back before every thaw, the stage in the
// store and the preview object, and a restarted daemon that knows it.
import { afterEach, describe, expect, test } from "bun:test";
import { MemoryStore } from "../../src/db/memory-store.ts";
import { createLogger } from "../../src/log.ts";
import { Orchestrator, type OrchestratorOptions } from "../../src/orchestrator/index.ts";
import { MemoryRuntime } from "../../src/pool/memory-runtime.ts";
import { MemoryReclaimerFake, mib } from "../../src/sleep/index.ts";
import type { PreviewSpec } from "../../src/types.ts";
import { eventually } from "../support/eventually.ts";

const log = createLogger("silent");
const spec = (): PreviewSpec => ({ files: { "server.js": "1" }, env: {}, tier: "container", command: ["node", "server.js"] });
const started: Orchestrator[] = [];
const runtimes: MemoryRuntime[] = [];

/** A reclaimer whose restores are noted in the runtime's call list, so their order against unpause shows. */
class OrderedReclaimer extends MemoryReclaimerFake {
  constructor(private readonly runtime: MemoryRuntime) {
    super({ floorBytes: mib(12), residentBytes: mib(120) });
  }
  override async restore(id: string) {
    (this.runtime.calls as Array<{ op: string; containerId: string }>).push({ op: "restore", containerId: id });
    return super.restore(id);
  }
}

async function node(opts: Partial<OrchestratorOptions> = {}, shared?: { runtime: MemoryRuntime; store: MemoryStore }) {
  const runtime = shared?.runtime ?? new MemoryRuntime();
  const store = shared?.store ?? new MemoryStore();
  const reclaimer = new OrderedReclaimer(runtime);
  const orch = new Orchestrator({
    nodeId: "n1", runtime, store, log, warmPoolSize: 0, capacity: 10, idleTimeoutMs: 3_600_000, stopAfterMs: 3_600_000,
    startTimeoutMs: 5_000, previewUrl: (id) => `http://${id}.localhost:8080`, cpus: 0.25, reclaimer, reclaimAfterMs: 100, ...opts,
  });
  await orch.start();
  started.push(orch);
  if (!shared) runtimes.push(runtime);
  return { orch, runtime, store, reclaimer };
}

afterEach(async () => {
  for (const o of started.splice(0)) await o.stop();
  for (const r of runtimes.splice(0)) await r.close();
});

const cidOf = async (runtime: MemoryRuntime, id: string) => (await runtime.list()).find((x) => x.previewId === id)!.containerId;
const opsOf = (runtime: MemoryRuntime, cid: string) => runtime.calls.filter((c) => c.containerId === cid).map((c) => c.op as string);

describe("deep sleep", () => {
  test("idle: suspended frozen, then reclaimed; the object and the store say so; a request gives memory back, then thaws", async () => {
    const { orch, runtime, store, reclaimer } = await node({ idleTimeoutMs: 150 });
    const { id } = await orch.create(spec(), { wait: true });
    const cid = await cidOf(runtime, id);
    const frozen = await eventually("suspended", () => orch.get(id), (v) => v.status === "suspended", 5_000, 10);
    expect(frozen.sleep).toBe("frozen");
    const reclaimed = await eventually("reclaimed", () => orch.get(id), (v) => v.sleep === "reclaimed", 5_000, 10);
    expect(reclaimed.status).toBe("suspended");
    expect(reclaimer.isReclaimed(cid)).toBe(true);
    expect((await store.get(id))?.sleep).toBe("reclaimed");
    expect(store.updates.filter((u) => u.id === id && u.patch.sleep !== undefined).map((u) => u.patch.sleep)).toEqual(["frozen", "reclaimed"]);

    const ep = await orch.resolve(id);
    expect(ep).toBeDefined();
    const v = await orch.get(id);
    expect(v.status).toBe("running");
    expect(v.sleep).toBeUndefined();
    expect((await store.get(id))?.sleep).toBeUndefined();
    expect(reclaimer.isReclaimed(cid)).toBe(false);
    const ops = opsOf(runtime, cid);
    expect(ops.slice(ops.lastIndexOf("pause"))).toEqual(["pause", "restore", "unpause"]);
  });

  test("concurrent requests during a wake from deep sleep share one restore and one unpause, and all get the endpoint", async () => {
    const { orch, runtime, reclaimer } = await node({ idleTimeoutMs: 3_600_000 });
    const { id } = await orch.create(spec(), { wait: true });
    const cid = await cidOf(runtime, id);
    await orch.suspend(id);
    await eventually("reclaimed", () => orch.get(id), (v) => v.sleep === "reclaimed", 5_000, 10);
    const eps = await Promise.all(Array.from({ length: 16 }, () => orch.resolve(id)));
    expect(eps.every((e) => e !== undefined && e.port === eps[0]!.port)).toBe(true);
    expect(opsOf(runtime, cid).filter((o) => o === "unpause").length).toBe(1);
    expect(reclaimer.calls.filter((c) => c.op === "restore").length).toBe(1);
  });

  test("a failed reclaim leaves the preview frozen (memory in RAM), and it still wakes", async () => {
    const { orch, reclaimer } = await node();
    reclaimer.fail = new Error("permission denied");
    const { id } = await orch.create(spec(), { wait: true });
    await orch.suspend(id);
    await eventually("a reclaim tried", async () => reclaimer.calls.filter((c) => c.op === "reclaim").length, (n) => n >= 1, 5_000, 10);
    expect((await orch.get(id)).sleep).toBe("frozen");
    await orch.sweepIdle(); // within another reclaimAfter: not tried again at every sweep
    expect(reclaimer.calls.filter((c) => c.op === "reclaim").length).toBe(1);
    expect((await orch.resume(id)).status).toBe("running");
  });

  test("no reclaimer (no swap): suspended previews stay frozen", async () => {
    const { orch, reclaimer } = await node({ reclaimer: undefined });
    const { id } = await orch.create(spec(), { wait: true });
    await orch.suspend(id);
    await orch.sweepIdle();
    await Bun.sleep(150); // past reclaimAfter: a sweep now would reclaim if it could
    await orch.sweepIdle();
    expect((await orch.get(id)).sleep).toBe("frozen");
    expect(reclaimer.calls).toEqual([]);
  });

  test("the stop stage after deep sleep gives memory back before the container thaws to stop", async () => {
    const { orch, runtime } = await node({ idleTimeoutMs: 100, reclaimAfterMs: 50, stopAfterMs: 600 });
    const { id } = await orch.create(spec(), { wait: true });
    const cid = await cidOf(runtime, id);
    await eventually("reclaimed", () => orch.get(id), (v) => v.sleep === "reclaimed", 5_000, 10);
    await eventually("stopped", () => orch.get(id), (v) => v.status === "stopped", 5_000, 10);
    expect((await orch.get(id)).sleep).toBeUndefined();
    const ops = opsOf(runtime, cid);
    expect(ops.slice(ops.lastIndexOf("pause"))).toEqual(["pause", "restore", "unpause", "stop"]);
  });

  test("a restarted daemon knows a preview is reclaimed and restores its limit before the thaw", async () => {
    const first = await node();
    const { id } = await first.orch.create(spec(), { wait: true });
    const cid = await cidOf(first.runtime, id);
    await first.orch.suspend(id);
    await eventually("reclaimed", () => first.orch.get(id), (v) => v.sleep === "reclaimed", 5_000, 10);
    await first.orch.stop();
    started.splice(started.indexOf(first.orch), 1);

    const second = await node({ reclaimAfterMs: 3_600_000 }, { runtime: first.runtime, store: first.store });
    const v = await second.orch.get(id);
    expect({ status: v.status, sleep: v.sleep }).toEqual({ status: "suspended", sleep: "reclaimed" });
    await second.orch.resolve(id);
    const ops = opsOf(first.runtime, cid);
    expect(ops.slice(-2)).toEqual(["restore", "unpause"]);
    expect((await second.orch.get(id)).status).toBe("running");
  });

  test("deleted while reclaimed: container and record gone", async () => {
    const { orch, runtime, store } = await node();
    const { id } = await orch.create(spec(), { wait: true });
    await orch.suspend(id);
    await eventually("reclaimed", () => orch.get(id), (v) => v.sleep === "reclaimed", 5_000, 10);
    await orch.delete(id);
    expect(await store.get(id)).toBeUndefined();
    expect((await runtime.list()).some((x) => x.previewId === id)).toBe(false);
  });

  test("moved while reclaimed (the store gives it to another node): evicted, its container gone, the new node's copy wakes whole", async () => {
    const shared = { runtime: new MemoryRuntime(), store: new MemoryStore() };
    runtimes.push(shared.runtime);
    const a = await node({}, shared);
    const { id } = await a.orch.create(spec(), { wait: true });
    await a.orch.suspend(id);
    await eventually("reclaimed", () => a.orch.get(id), (v) => v.sleep === "reclaimed", 5_000, 10);
    const cid = await cidOf(shared.runtime, id);
    // Another node took it over (a recovery after a partition): this node must let go of the reclaimed container.
    await shared.store.update(id, { node: "n2" });
    await a.orch.evict(id);
    expect(a.orch.has(id)).toBe(false);
    expect((await shared.runtime.list()).some((x) => x.containerId === cid)).toBe(false);
    // The node that has it now recreates it from its files and serves it: not asleep, not frozen at the floor.
    const b = await node({ nodeId: "n2" }, shared);
    const record = (await shared.store.get(id))!;
    await b.orch.takeOver({ ...record, node: "n2" });
    const woke = await eventually("running on n2", () => b.orch.get(id), (v) => v.status === "running", 5_000, 10);
    expect(woke.sleep).toBeUndefined();
    expect(await b.orch.resolve(id)).toBeDefined();
  });
});
