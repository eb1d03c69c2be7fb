// Drift reconciliation (issue 11, "status that does not lie"): every few
// seconds this node's three views of its previews are compared, because each
// can change behind the others' back:
//  - the store (PostgreSQL): which previews this node should run;
//  - Docker (containers labelled with this node): what actually runs;
//  - the live map the proxy routes by (orchestrator's `live`): where requests go.
// Docker events and the start-up reconcile (reconcile.ts) keep them in step
// most of the time; this loop catches what they miss (an event lost while the
// stream was down, a `docker rm -f` by hand, a crash mid-operation).
//
// A difference is acted on only when two passes in a row see it: creates,
// take-overs and deletes touch the three one after another, so one sighting
// may be an operation in flight; two, a few seconds apart, are drift. Each
// fix is logged and counted by kind (`previewd_drift_total{kind}`).
import { isDatabaseUnavailable } from "../db/outage.ts";
import type { Logger } from "../log.ts";
import type { ContainerState, Runtime } from "../pool/index.ts";
import type { Lifecycle } from "../lifecycle/index.ts";
import type { PreviewRecord } from "../types.ts";
import type { Live } from "./live.ts";
import type { PreviewStore } from "./ports.ts";

export const DRIFT_KINDS = [
  /** Routed here, but its container is gone: re-created from the stored files (a stopped one is failed). */
  "container_missing",
  /** Should run, but its container has stopped and no event said so: started again. */
  "container_stopped",
  /** The routing table has another address than Docker (a restart with a missed event): the route is updated. */
  "route_stale",
  /** Routed here, but the store no longer gives it to this node: evicted (container removed). */
  "record_missing",
  /** The store gives it to this node, but nothing here routes to it: reported (a resurrection could undo a delete). */
  "record_unrun",
  /** A container of this node that no record and no route explains, and not an idle warm spare: removed. */
  "orphan_container",
  /** The preview's own disk went read-only (the host's disk filled): once there is room, a new container and disk from its stored files. */
  "disk_read_only",
] as const;
export type DriftKind = (typeof DRIFT_KINDS)[number];

export interface DriftDeps {
  nodeId: string;
  runtime: Runtime;
  store: PreviewStore;
  log: Logger;
  intervalMs: number;
  live: () => Live[];
  /** Creates or take-overs in flight: their record exists before their route (a take-over's container may take seconds). */
  busy: () => boolean;
  lifecycle: Lifecycle;
  watchReadiness: (l: Live) => void;
  recreate: (l: Live) => Promise<void>;
  /** Like recreate, for a container that still exists: it goes first (with its disk). */
  replace: (l: Live) => Promise<void>;
  /** The data directory has room for a new disk (disk-floor.ts). */
  hasSpace: () => boolean;
  evict: (id: string) => Promise<void>;
}

interface Finding {
  kind: DriftKind;
  id: string;
  /** What makes this sighting the same as the last one (the container, the address). */
  key: string;
  detail?: Record<string, unknown>;
  fix?: () => Promise<unknown>;
}

export class DriftLoop {
  /** Differences acted on (or reported) since start, by kind; every kind present, so rates start at 0. */
  readonly counts = Object.fromEntries(DRIFT_KINDS.map((k) => [k, 0])) as Record<DriftKind, number>;
  private timer?: ReturnType<typeof setInterval>;
  private running = false;
  /** Findings of the previous pass (by key). */
  private previous = new Set<string>();
  /** Report-only findings already counted: counted once per episode, not once per pass. */
  private reported = new Set<string>();

  constructor(private readonly d: DriftDeps) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.d.intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One pass; passes never overlap (a slow Docker or database makes the next one wait). */
  async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      await this.pass();
    } catch (err) {
      // PostgreSQL away is its own fault mode (the API says so); the loop just waits for it.
      if (isDatabaseUnavailable(err)) this.d.log.debug({ err }, "drift check skipped: database unavailable");
      else this.d.log.warn({ err }, "drift check failed");
    } finally {
      this.running = false;
    }
  }

  private async pass(): Promise<void> {
    const [records, containers] = await Promise.all([this.d.store.listByNode(this.d.nodeId), this.d.runtime.list()]);
    const findings = await this.compare(records, containers);
    const now = new Set(findings.map((f) => f.key));
    for (const f of findings) {
      if (!this.previous.has(f.key)) continue; // first sighting: maybe an operation in flight
      if (!f.fix) {
        if (this.reported.has(f.key)) continue;
        this.reported.add(f.key);
      }
      this.counts[f.kind]++;
      this.d.log.warn({ kind: f.kind, id: f.id, ...f.detail }, f.fix ? "drift: fixing" : "drift: reported (not fixed)");
      // Not in the preview's queue: an eviction queues its own removal (a queue waiting on itself never ends).
      await f.fix?.().catch((err: unknown) => this.d.log.error({ err, kind: f.kind, id: f.id }, "drift fix failed"));
    }
    this.previous = now;
    for (const k of this.reported) if (!now.has(k)) this.reported.delete(k);
  }

  private async compare(records: PreviewRecord[], containers: ContainerState[]): Promise<Finding[]> {
    const d = this.d;
    const out: Finding[] = [];
    const recorded = new Map(records.map((r) => [r.id, r]));
    const lives = new Map(d.live().map((l) => [l.record.id, l]));
    const byContainer = new Map(containers.map((c) => [c.containerId, c]));

    const readOnly = d.runtime.readOnlyDisks();
    // The routing table against the store and Docker.
    for (const l of lives.values()) {
      const id = l.record.id;
      const status = l.record.status;
      if (status === "failed" || status === "deleted" || !l.container) continue; // nothing routes to these
      if (!recorded.has(id)) {
        out.push({ kind: "record_missing", id, key: `record_missing:${id}`, fix: () => d.evict(id) });
        continue;
      }
      const c = byContainer.get(l.container.containerId);
      if (!c) {
        const fix = status === "stopped"
          ? () => d.lifecycle.move(l, "failed", "drift: container missing", { failure: "Its container was removed outside previewd while it was stopped. Its files are kept: create it again." })
          : () => d.recreate(l);
        out.push({ kind: "container_missing", id, key: `container_missing:${l.container.containerId}`, detail: { status, containerId: l.container.containerId }, fix });
        continue;
      }
      if (readOnly.has(id) && (status === "running" || status === "starting" || status === "installing") && d.hasSpace()) {
        // Its app may still serve, but no write of its own or of PATCH /files can land. Its memory is lost.
        out.push({ kind: "disk_read_only", id, key: `disk_read_only:${c.containerId}`, detail: { containerId: c.containerId }, fix: () => d.replace(l) });
        continue;
      }
      if (c.ip !== l.container.ip) {
        out.push({ kind: "route_stale", id, key: `route_stale:${id}:${c.ip}`, detail: { was: l.container.ip, now: c.ip }, fix: async () => void (l.container = c) });
      }
      if ((status === "running" || status === "starting") && (c.status === "exited" || c.status === "dead" || c.status === "created")) {
        out.push({ kind: "container_stopped", id, key: `container_stopped:${c.containerId}`, detail: { container: c.status, exitCode: c.exitCode }, fix: () => this.restart(l, c) });
      }
    }

    // Records of this node that nothing here routes to (not while one may be a create or take-over in flight).
    for (const r of d.busy() ? [] : records) {
      if (r.tier !== "container" || lives.has(r.id) || r.status === "failed" || r.status === "deleted") continue;
      out.push({ kind: "record_unrun", id: r.id, key: `record_unrun:${r.id}`, detail: { status: r.status } });
    }

    // Containers no record and no route explain.
    for (const c of containers) {
      if (!c.previewId) continue; // install and build jobs: theirs to clean up
      const l = lives.get(c.previewId);
      if (l?.container?.containerId === c.containerId) continue;
      if (!l && recorded.has(c.previewId)) continue; // between a create's record and its route (or reported above)
      if (!l && c.status === "running" && (await d.runtime.isIdle(c))) continue; // a warm spare
      out.push({ kind: "orphan_container", id: c.previewId, key: `orphan_container:${c.containerId}`, detail: { containerId: c.containerId, state: c.status }, fix: () => d.runtime.remove(c.containerId) });
    }
    return out;
  }

  /** The container stopped without an event (or the event was lost): start it, and it is up once it answers. */
  private async restart(l: Live, c: ContainerState): Promise<void> {
    await this.d.runtime.start(c.containerId);
    l.container = (await this.d.runtime.inspect(c.containerId)) ?? c;
    if (!l.record.spec.port) l.port = undefined;
    if (l.record.status !== "starting") await this.d.lifecycle.move(l, "starting", "drift: its container had stopped");
    this.d.watchReadiness(l);
  }
}
