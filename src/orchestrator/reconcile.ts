// Start-up reconciliation: after a restart (or `kill -9`) the daemon adopts
// what Docker still runs, so previews keep their memory and their URL answers
// as soon as the proxy listens again. Records whose container vanished are
// recreated from their stored files; containers with no record are spares
// (kept if their runner still idles) or leftovers (removed).
import type { Lifecycle } from "../lifecycle/index.ts";
import type { Logger } from "../log.ts";
import type { ContainerState, Runtime } from "../pool/index.ts";
import type { FileMap, PreviewRecord, PreviewStatus } from "../types.ts";
import type { Live } from "./live.ts";
import type { PreviewStore } from "./ports.ts";

/** What reconciling needs of the orchestrator: taking previews and spares into this node's care. */
export interface Adopter {
  readonly log: Logger;
  readonly lifecycle: Lifecycle;
  adopt(record: PreviewRecord, container?: ContainerState): Live;
  /** Installs and starts an adopted preview's app from its files (not awaited). */
  restartFromFiles(id: string, files: FileMap): void;
  resumeReadiness(id: string): Promise<void>;
  adoptSpares(spares: ContainerState[]): void;
  /** A deep-asleep preview's memory limit given back (its container runs, or is about to start, thawed). */
  restoreMemory?(containerId: string): Promise<void>;
}

export async function reconcile(orch: Adopter, runtime: Runtime, store: PreviewStore, nodeId: string): Promise<void> {
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
  orch.adoptSpares(spares);
  log.info({ adopted, recreated, spares: spares.length, removed: byPreview.size - spares.length }, "reconciled");
}

/** Maps what Docker says onto the record; a preview that was running keeps running. */
async function adoptContainer(orch: Adopter, runtime: Runtime, store: PreviewStore, record: PreviewRecord, c: ContainerState) {
  record.spec.files = {}; // files stay in the store; the live map needs none
  if (record.status === "failed") {
    orch.adopt(record, c); // it stays failed, whatever its container does: a failure is undone by a new create
    return;
  }
  if (record.status === "installing" && c.status === "running") {
    // Stopped mid-install (the install container went with the daemon): install again (the cache may have it by now), then start.
    orch.adopt(record, c);
    orch.restartFromFiles(record.id, await store.files(record.id));
    return;
  }
  // Reclaimed when the daemon went away, and thawed or exited since: it must not run under the deep-sleep floor.
  if (record.sleep === "reclaimed" && c.status !== "paused") {
    await orch.restoreMemory?.(c.containerId).catch((err) => orch.log.warn({ err, id: record.id }, "could not give a deep-asleep preview its memory limit back"));
  }
  let status: PreviewStatus = record.status;
  let why = "";
  if (c.status === "paused") {
    status = "suspended";
    why = "its container is paused";
  } else if (c.status === "running" || c.status === "restarting") {
    status = record.status === "starting" ? "starting" : "running";
    why = "its container runs";
  } else if (record.status !== "stopped") {
    // Exited while we were away: start it again (the app restarts from its disk).
    await runtime.start(c.containerId);
    c = (await runtime.inspect(c.containerId)) ?? c;
    status = "starting";
    why = "its container had exited: started again";
  }
  const live = orch.adopt(record, c);
  if (status !== record.status) await orch.lifecycle.move(live, status, `adopted at start: ${why}`);
  if (status === "starting") await orch.resumeReadiness(live.record.id);
}

/** The container is gone (host reboot, engine reset, or its node died): a new one from the stored files. */
export async function recreate(orch: Adopter, runtime: Runtime, store: PreviewStore, record: PreviewRecord) {
  const files = await store.files(record.id);
  const c = await runtime.create(record.id);
  await runtime.putFiles(c.containerId, files);
  const live = orch.adopt({ ...record, spec: { ...record.spec, files: {} } }, c);
  await orch.lifecycle.move(live, "starting", "re-created from its stored files", { patch: { containerId: c.containerId } });
  orch.restartFromFiles(record.id, files);
}
