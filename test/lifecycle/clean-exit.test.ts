// Code-0 exits (clean-exit.ts): Docker's on-failure policy leaves them alone, the daemon restarts them, bounded,
// and says why, naming an OOM kill when the container saw one. The orchestrator on the in-memory runtime.
import { afterEach, expect, test } from "bun:test";
import { MemoryStore } from "../../src/db/memory-store.ts";
import type { Transition } from "../../src/lifecycle/index.ts";
import { createLogger } from "../../src/log.ts";
import { CleanExitPolicy } from "../../src/orchestrator/clean-exit.ts";
import { Orchestrator, type OrchestratorOptions } from "../../src/orchestrator/index.ts";
import { MemoryRuntime } from "../../src/pool/memory-runtime.ts";
import { eventually } from "../support/eventually.ts";

const log = createLogger("silent");
const running: Orchestrator[] = [];
const runtimes: MemoryRuntime[] = [];

async function node(opts: Partial<OrchestratorOptions> = {}) {
  const runtime = new MemoryRuntime();
  const orch = new Orchestrator({
    nodeId: "n1", runtime, store: new MemoryStore(), log, warmPoolSize: 0, capacity: 10, idleTimeoutMs: 3_600_000, stopAfterMs: 3_600_000,
    startTimeoutMs: 5_000, previewUrl: (id) => `http://${id}.localhost:8080`, cpus: 0.25, memoryMb: 512, ...opts,
  });
  const moves: Transition[] = [];
  orch.lifecycle.on((t) => moves.push(t));
  await orch.start();
  running.push(orch);
  runtimes.push(runtime);
  const { id } = await orch.create({ files: { "server.js": "1" }, env: {}, tier: "container", command: ["node", "server.js"] }, { wait: true });
  const cid = (await runtime.list()).find((x) => x.previewId === id)!.containerId;
  const statuses = () => moves.filter((t) => t.id === id).map((t) => t.to).join();
  return { orch, runtime, id, cid, statuses };
}

afterEach(async () => {
  for (const o of running.splice(0)) await o.stop();
  for (const r of runtimes.splice(0)) await r.close();
});

test("a code-0 exit is restarted by the daemon: starting (the phase says why), then running again", async () => {
  const { orch, runtime, id, cid, statuses } = await node();
  const phases: string[] = [];
  const timer = setInterval(async () => {
    const p = (await orch.get(id)).phase;
    if (p && !phases.includes(p)) phases.push(p);
  }, 2);
  try {
    runtime.crash(cid, { exitCode: 0 });
    await eventually("running again", async () => statuses(), (s) => s === "starting,running,starting,running", 5_000, 10);
  } finally {
    clearInterval(timer);
  }
  expect(runtime.calls.filter((c) => c.op === "start" && c.containerId === cid).length).toBe(1);
  expect(phases).toEqual(["restarting: the app exited with code 0 (a dev server should keep running) (restart 1 of 3 in 10 minutes)"]);
  const v = await orch.get(id);
  expect(v.status).toBe("running");
  expect(v.phase).toBeUndefined();
});

test("the fourth code-0 exit in the window fails the preview, and an OOM kill is named", async () => {
  const { orch, runtime, id, cid, statuses } = await node({ cleanExit: { restarts: 3, windowMs: 60_000 } });
  for (let i = 1; i <= 3; i++) {
    runtime.crash(cid, { exitCode: 0, oomKilled: i === 3 });
    await eventually(`restart ${i}`, async () => statuses(), (s) => s === "starting,running" + ",starting,running".repeat(i), 5_000, 10);
  }
  runtime.crash(cid, { exitCode: 0, oomKilled: true });
  await eventually("failed", async () => orch.get(id), (v) => v.status === "failed", 5_000, 10);
  const v = await orch.get(id);
  expect(v.error).toContain("The app exited with code 0 4 times in 1 minute; restarted 3 times, then given up.");
  expect(v.error).toContain("after the kernel killed one of its processes for lack of memory (its limit is 512 MB)");
  expect(runtime.calls.filter((c) => c.op === "start" && c.containerId === cid).length).toBe(3);
});

test("the policy: restarts outside the window do not count; an oom event shortly before explains the next exit only", () => {
  let now = 1_000_000;
  const p = new CleanExitPolicy({ restarts: 2, windowMs: 10_000, now: () => now });
  const m: { cleanExits?: number[]; oomAt?: number } = {};
  expect(p.decide(m, false)).toEqual({ restart: true, message: "restarting: the app exited with code 0 (a dev server should keep running) (restart 1 of 2 in 10 s)" });
  now += 6_000;
  m.oomAt = now - 1_000;
  const second = p.decide(m, undefined);
  expect(second.restart).toBe(true);
  expect(second.message).toContain("for lack of memory");
  now += 6_000; // the first restart left the window
  const third = p.decide(m, false);
  expect(third).toEqual({ restart: true, message: "restarting: the app exited with code 0 (a dev server should keep running) (restart 2 of 2 in 10 s)" });
  now += 1_000;
  expect(p.decide(m, false).restart).toBe(false);
});
