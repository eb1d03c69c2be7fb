// Start-up reconciliation: after a restart (or `kill -9`) the daemon adopts
// what Docker still runs, so previews keep their memory and their URL answers
// as soon as the proxy listens again. Records whose container vanished are
// recreated from their stored files; containers with no record are spares
// (kept if their runner still idles) or leftovers (removed).
import type { ContainerState, Runtime } from "../pool/index.ts";
import type { PreviewRecord, PreviewStatus } from "../types.ts";
import type { Orchestrator } from "./index.ts";
import type { PreviewStore } from "./ports.ts";

export async function reconcile(orch: Orchestrator, runtime: Runtime, store: PreviewStore, nodeId: string): Promise<void> {
  const log = orch.log.child({ mod: "reconcile" });
  const [records, containers] = await Promise.all([store.listByNode(nodeId), runtime.list()]);
  const byPreview = new Map(containers.map((c) => [c.previewId, c]));
  let adopted = 0;
  let recreated = 0;

  for (const record of records) {
    const c = byPreview.get(record.id);
    byPreview.delete(record.id);
    if (c) {
      await adoptContainer(orch, runtime, store, record, c);
      adopted++;
    } else if (record.status === "failed") {
      orch.adopt(record);
    } else {
      await recreate(orch, runtime, store, record);
      recreated++;
    }
  }

  const spares: ContainerState[] = [];
  for (const c of byPreview.values()) {
    if (c.status === "running" && (await runtime.isIdle(c))) spares.push(c);
    else await runtime.remove(c.containerId);
  }
  orch.pool.adopt(spares);
  log.info({ adopted, recreated, spares: spares.length, removed: byPreview.size - spares.length }, "reconciled");
}

/** Maps what Docker says onto the record; a preview that was running keeps running. */
async function adoptContainer(orch: Orchestrator, runtime: Runtime, store: PreviewStore, record: PreviewRecord, c: ContainerState) {
  record.spec.files = {}; // files stay in the store; the live map needs none
  if (record.status === "installing" && c.status === "running") {
    // Stopped mid-install (the install container went with the daemon): install again (the cache may have it by now), then start.
    orch.adopt(record, c);
    orch.restartFromFiles(record.id, await store.files(record.id));
    return;
  }
  let status: PreviewStatus = record.status;
  if (c.status === "paused") status = "suspended";
  else if (c.status === "running" || c.status === "restarting") status = record.status === "starting" ? "starting" : "running";
  else if (record.status !== "failed" && record.status !== "stopped") {
    // Exited while we were away: start it again (the app restarts from its disk).
    await runtime.start(c.containerId);
    c = (await runtime.inspect(c.containerId)) ?? c;
    status = "starting";
  }
  const live = orch.adopt({ ...record, status }, c);
  if (status !== record.status) await store.update(record.id, { status });
  if (status === "starting") await orch.resumeReadiness(live.record.id);
}

/** The container is gone (host reboot, engine reset, or its node died): a new one from the stored files. */
export async function recreate(orch: Orchestrator, runtime: Runtime, store: PreviewStore, record: PreviewRecord) {
  const files = await store.files(record.id);
  const c = await runtime.create(record.id);
  await runtime.putFiles(c.containerId, files);
  orch.adopt({ ...record, status: "starting", spec: { ...record.spec, files: {} } }, c);
  await store.update(record.id, { status: "starting", containerId: c.containerId });
  orch.restartFromFiles(record.id, files);
}
