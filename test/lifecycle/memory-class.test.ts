// A preview whose package.json depends on next gets PREVIEWD_LARGE_MEMORY_MB before its app starts (memory-class.ts);
// others keep the node's default. The orchestrator on the in-memory runtime.
import { afterEach, expect, test } from "bun:test";
import { MemoryStore } from "../../src/db/memory-store.ts";
import { createLogger } from "../../src/log.ts";
import { Orchestrator } from "../../src/orchestrator/index.ts";
import { largeDevServer } from "../../src/orchestrator/memory-class.ts";
import { MemoryRuntime } from "../../src/pool/memory-runtime.ts";

const running: Orchestrator[] = [];
afterEach(async () => {
  for (const o of running.splice(0)) await o.stop();
});

async function create(pkg: object, largeMemoryMb: number) {
  const runtime = new MemoryRuntime();
  const orch = new Orchestrator({
    nodeId: "n1", runtime, store: new MemoryStore(), log: createLogger("silent"), warmPoolSize: 0, capacity: 10, idleTimeoutMs: 3_600_000,
    stopAfterMs: 3_600_000, startTimeoutMs: 5_000, previewUrl: (id) => `http://${id}.localhost:8080`, cpus: 0.25, memoryMb: 512, largeMemoryMb,
  });
  await orch.start();
  running.push(orch);
  const v = await orch.create({ files: { "package.json": JSON.stringify(pkg), "server.js": "1" }, env: {}, tier: "container", command: ["node", "server.js"] }, { wait: true });
  const cid = (await runtime.list()).find((x) => x.previewId === v.id)!.containerId;
  const ops = runtime.calls.filter((c) => c.containerId === cid).map((c) => c.op);
  await runtime.close();
  return { status: v.status, memory: runtime.memory.get(cid), ops };
}

test("a Next.js app's container gets the larger limit before its app starts; another app keeps the default", async () => {
  const next = await create({ dependencies: { next: "16.4.3", react: "19" } }, 1024);
  expect(next.status).toBe("running");
  expect(next.memory).toBe(1024);
  expect(next.ops.indexOf("setMemory")).toBeLessThan(next.ops.indexOf("startApp"));
  expect((await create({ dependencies: { express: "5" } }, 1024)).memory).toBeUndefined();
  expect((await create({ dependencies: { next: "16" } }, 0)).memory).toBeUndefined(); // 0: no class
});

test("largeDevServer reads dependencies and devDependencies, and nothing else", () => {
  expect(largeDevServer({ "package.json": '{"devDependencies":{"next":"15"}}' })).toBe("next");
  expect(largeDevServer({ "package.json": '{"dependencies":{"next-auth":"5"},"name":"next"}' })).toBeUndefined();
  expect(largeDevServer({ "package.json": "{broken" })).toBeUndefined();
  expect(largeDevServer({ "app/package.json": '{"dependencies":{"next":"15"}}' })).toBeUndefined();
  // Angular CLI's apps build with @angular/build (older ones with @angular-devkit/build-angular).
  expect(largeDevServer({ "package.json": '{"devDependencies":{"@angular/build":"^22.2.0","@angular/cli":"^22.2.0"}}' })).toBe("@angular/build");
  expect(largeDevServer({ "package.json": '{"devDependencies":{"@angular-devkit/build-angular":"^19"}}' })).toBe("@angular-devkit/build-angular");
});

test("a PATCH of package.json that adds next raises the limit before the app restarts; removing it gives the default back", async () => {
  const runtime = new MemoryRuntime();
  const orch = new Orchestrator({
    nodeId: "n1", runtime, store: new MemoryStore(), log: createLogger("silent"), warmPoolSize: 0, capacity: 10, idleTimeoutMs: 3_600_000,
    stopAfterMs: 3_600_000, startTimeoutMs: 5_000, previewUrl: (id) => `http://${id}.localhost:8080`, cpus: 0.25, memoryMb: 512, largeMemoryMb: 1024,
  });
  await orch.start();
  running.push(orch);
  const pkg = (deps: object) => JSON.stringify({ name: "a", dependencies: deps });
  const v = await orch.create({ files: { "package.json": pkg({ express: "5" }), "server.js": "1" }, env: {}, tier: "container", command: ["node", "server.js"] }, { wait: true });
  const cid = (await runtime.list()).find((x) => x.previewId === v.id)!.containerId;
  expect(runtime.memory.get(cid)).toBeUndefined();
  const opsSince = (n: number) => runtime.calls.slice(n).filter((c) => c.containerId === cid).map((c) => c.op);

  let mark = runtime.calls.length;
  await orch.updateFiles(v.id, { "package.json": pkg({ express: "5", next: "16.4.3" }) }, []);
  await until(() => orch.localView(v.id).status === "running" && runtime.memory.get(cid) === 1024);
  expect(runtime.memory.get(cid)).toBe(1024);
  let ops = opsSince(mark);
  expect(ops.indexOf("setMemory")).toBeGreaterThanOrEqual(0);
  expect(ops.indexOf("setMemory")).toBeLessThan(ops.indexOf("restartApp"));

  mark = runtime.calls.length;
  await orch.updateFiles(v.id, { "package.json": pkg({ express: "5" }) }, []);
  await until(() => orch.localView(v.id).status === "running" && runtime.memory.get(cid) === 512);
  ops = opsSince(mark);
  expect(runtime.memory.get(cid)).toBe(512);
  expect(ops.indexOf("setMemory")).toBeLessThan(ops.indexOf("restartApp"));
  await runtime.close();
});

async function until(ok: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok() && Date.now() < deadline) await Bun.sleep(10);
}
