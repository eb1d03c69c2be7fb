// Capacity by memory (orchestrator/memory.ts) against the in-memory runtime,
// store and reclaimer: a node whose memory is taken by big previews refuses
// a create (before the kernel would kill anything), sends its longest-idle
// frozen preview to deep sleep first when that makes room, and reports what
// is free in its cluster view.
import { afterEach, expect, test } from "bun:test";
import { MemoryStore } from "../../src/db/memory-store.ts";
import { createLogger } from "../../src/log.ts";
import { Orchestrator } from "../../src/orchestrator/index.ts";
import { soloView } from "../../src/peer/view.ts";
import { MemoryRuntime } from "../../src/pool/memory-runtime.ts";
import { MemoryReclaimerFake, mib } from "../../src/sleep/index.ts";
import type { PreviewSpec } from "../../src/types.ts";

const log = createLogger("silent");
const spec = (): PreviewSpec => ({ files: { "server.js": "1" }, env: {}, tier: "container", command: ["node", "server.js"] });
const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
});

// 4 previews of 300 MiB each fit in 1.2 GiB; a create needs 160 MiB free.
async function node() {
  const runtime = new MemoryRuntime();
  const reclaimer = new MemoryReclaimerFake({ floorBytes: mib(12), residentBytes: mib(300) });
  const orch = new Orchestrator({
    nodeId: "n1", runtime, store: new MemoryStore(), log, warmPoolSize: 0, capacity: 50, idleTimeoutMs: 3_600_000, stopAfterMs: 3_600_000,
    startTimeoutMs: 5_000, previewUrl: (id) => `http://${id}.localhost:8080`, cpus: 0.25, reclaimer, reclaimAfterMs: 3_600_000,
    memory: { budgetBytes: mib(1200), reserveBytes: mib(160), floorBytes: mib(12) },
  });
  await orch.start();
  cleanup.push(async () => {
    await orch.stop();
    await runtime.close();
  });
  return { orch, reclaimer, runtime };
}

test("full by memory: refused with a reason that says so, though the count allows 50", async () => {
  const { orch } = await node();
  for (let i = 0; i < 4; i++) await orch.create(spec(), { wait: true });
  expect(orch.memory()).toMatchObject({ totalBytes: mib(1200), freeBytes: 0, slots: 0 });
  const view = soloView({ id: "n1", state: "alive", capacity: 50, running: 0, free: 50, addr: "x" }, () => ({ capacity: 50, running: orch.occupied, memory: orch.memory() }));
  expect(view.nodes()[0]).toMatchObject({ capacity: 50, running: 4, free: 0, memory: { total: mib(1200), free: 0 } });
  expect(view.place()).toBeNull();
  await expect(orch.create(spec())).rejects.toThrow("Node n1 has no memory for another preview (0 MiB free of 1200 MiB, a preview reserves 160 MiB).");
});

test("short of memory: the longest-idle frozen preview goes to deep sleep, then the create is admitted", async () => {
  const { orch, reclaimer, runtime } = await node();
  const ids: string[] = [];
  for (let i = 0; i < 4; i++) ids.push((await orch.create(spec(), { wait: true })).id);
  await orch.suspend(ids[1]!);
  await orch.suspend(ids[2]!);
  orch.idle.touch(ids[2]!); // ids[1] idle longest
  // Suspended previews still hold their memory (frozen): free by count of slots once reclaimable memory counts.
  expect(orch.memory()!.freeBytes).toBe(0);
  expect(orch.memory()!.slots).toBeGreaterThan(0);
  const created = await orch.create(spec(), { wait: true });
  expect(created.status).toBe("running");
  const cid = async (id: string) => (await runtime.list()).find((c) => c.previewId === id)!.containerId;
  expect(reclaimer.calls.filter((c) => c.op === "reclaim").map((c) => c.id)).toEqual([await cid(ids[1]!)]);
  expect((await orch.get(ids[1]!)).sleep).toBe("reclaimed");
  expect((await orch.get(ids[2]!)).sleep).toBe("frozen");
});
