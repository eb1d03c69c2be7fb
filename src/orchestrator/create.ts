// A create on this node: claim a warm container, make the database, write
// the record (through the lifecycle, which gives it its first status) and the
// files, and hand the app to bring-up. A create that fails before the app
// runs leaves nothing behind: container, record and schema go again.
import type { InstallPlan } from "../deps/index.ts";
import { insufficientStorage, isAppError, isNoSpace, noCapacity, unavailable } from "../errors.ts";
import { isDatabaseUnavailable } from "../db/outage.ts";
import type { ContainerState } from "../pool/index.ts";
import type { PreviewRecord, PreviewSpec, PreviewView } from "../types.ts";
import type { Live } from "./live.ts";
import type { NodeParts } from "./parts.ts";

export async function createHere(p: NodeParts, spec: PreviewSpec, plan: InstallPlan | undefined, view: (l: Live) => PreviewView, wait: boolean): Promise<PreviewView> {
  if (p.live.occupied >= p.capacity) throw noCapacity(`Node ${p.nodeId} is full (${p.capacity} previews).`);
  // By memory too: frozen previews go to deep sleep, longest idle first, before a create is refused (memory.ts).
  if (p.memory && !(await p.memory.makeRoom((l) => p.sleep.reclaim(l)))) {
    const f = p.memory.figures(true);
    const mb = (b: number) => Math.round(b / 1048576);
    throw noCapacity(`Node ${p.nodeId} has no memory for another preview (${mb(f.freeBytes)} MiB free of ${mb(f.totalBytes)} MiB, a preview reserves ${mb(p.memory.reserveBytes)} MiB).`);
  }
  p.disk.check(); // a full disk is a 507 before anything is claimed
  const t0 = performance.now();
  p.live.reserved++;
  let claimed: ContainerState | undefined;
  let id: string | undefined;
  try {
    claimed = (await p.pool.claim()).state;
    id = claimed.previewId;
    let database;
    try {
      database = spec.database && p.databases ? await p.databases.create(id, spec.database) : undefined;
    } catch (err) {
      // Nothing of the app reached the container: it can serve the next create.
      p.pool.giveBack(claimed);
      claimed = undefined;
      throw err;
    }
    const now = new Date();
    // Files live in the store and the container, not in this process's memory.
    const installing = plan !== undefined && !p.deps!.has(plan.key);
    const deps = plan && { key: plan.key, manager: plan.manager };
    const record: PreviewRecord = { id, node: p.nodeId, tier: "container", status: installing ? "installing" : "starting", spec: { ...spec, files: {}, deps, memoryMb: p.bringUp.memoryFor(spec.files) }, database, createdAt: now, lastActiveAt: now };
    const l: Live = { record, container: claimed, port: spec.port };
    await p.lifecycle.insert(l, { containerId: claimed.containerId });
    await p.store.putFiles(id, spec.files);
    if (installing) l.phase = `installing dependencies (${plan.label})`;
    p.live.add(l);
    await p.runtime.putFiles(claimed.containerId, spec.files);
    l.ready = p.bringUp.start(l, plan);
    const depsFrom = plan ? (installing ? "installed" : "cached") : "none";
    void l.ready.then(() => p.observe?.("create", (performance.now() - t0) / 1000, { outcome: l.record.status === "running" ? "running" : "failed", deps: depsFrom }));
    if (wait) await l.ready;
    return view(l);
  } catch (err) {
    if (id && claimed) await undoCreate(p, id, claimed, err);
    if (isAppError(err) || isDatabaseUnavailable(err)) throw err; // the API answers the latter 503 with Retry-After
    // The disk filled between the check and the write (mkfs of the preview's disk, the files): same answer.
    if (isNoSpace(err)) throw insufficientStorage(p.disk.firstDir, (err as Error).message);
    throw unavailable(`Could not start a container on node ${p.nodeId}: ${(err as Error).message}`);
  } finally {
    p.live.reserved--;
  }
}

/** A create that failed before the app ran leaves nothing behind. */
async function undoCreate(p: NodeParts, id: string, c: ContainerState, err: unknown): Promise<void> {
  p.log.warn({ id, err }, "create failed, cleaning up");
  const l = p.live.get(id);
  if (l) p.live.forget(l);
  await p.runtime.remove(c.containerId).catch(() => {});
  await p.store.remove(id).catch(() => {});
  await p.databases?.drop(id).catch(() => {});
}
