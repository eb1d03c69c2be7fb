// After a Docker engine restart (a docker.io upgrade, `systemctl restart
// docker`): the event stream was down, so whatever happened meanwhile was not
// seen. Each preview is compared with what the engine has now:
//  - with live-restore the containers kept running: only their address is
//    re-read (a restart may hand out another);
//  - without it the engine stopped them (the runner exits 0 on SIGTERM, which
//    the on-failure policy does not restart): they are started again, and the
//    runner replays its saved start order; a preview marked failed by that
//    stop (or, defensively, just before the engine went away) is undone;
//  - a container that vanished is re-created from the stored files.
// Then the warm pool drops spares that no longer idle and refills at once.
import type { Logger } from "../log.ts";
import type { Runtime, WarmPool } from "../pool/index.ts";
import type { Lifecycle } from "../lifecycle/index.ts";
import type { Live } from "./live.ts";
import type { PreviewStore } from "./ports.ts";

/** A failure this close before the stream ended is taken for the engine's own stop. */
const OUTAGE_MARGIN_MS = 30_000;

export interface ResyncDeps {
  runtime: Runtime;
  store: PreviewStore;
  log: Logger;
  pool: WarmPool;
  downSince: number;
  live: () => Live[];
  lifecycle: Lifecycle;
  watchReadiness: (l: Live) => void;
  recreate: (l: Live) => Promise<void>;
}

export async function resyncAfterEngine(d: ResyncDeps): Promise<void> {
  let restarted = 0;
  let recreated = 0;
  for (const l of d.live()) {
    const status = l.record.status;
    const failedInOutage = status === "failed" && (l.failedAt ?? 0) >= d.downSince - OUTAGE_MARGIN_MS;
    if (!l.container || status === "deleted" || (status === "failed" && !failedInOutage)) continue;
    const c = await d.runtime.inspect(l.container.containerId);
    if (!c) {
      if (status === "stopped") continue; // its disk is gone too: a wake will fail and say so
      d.log.warn({ id: l.record.id }, "container vanished while the engine was away: re-creating from stored files");
      await d.recreate(l).catch((err) => d.log.error({ err, id: l.record.id }, "re-create after engine restart failed"));
      recreated++;
      continue;
    }
    l.container = c; // the address may have changed
    const shouldRun = status === "running" || status === "starting" || failedInOutage;
    if (shouldRun && (c.status === "exited" || c.status === "created" || c.status === "dead")) {
      await d.runtime.start(c.containerId);
      l.container = (await d.runtime.inspect(c.containerId)) ?? c;
      restarted++;
    } else if (!(shouldRun && (c.status === "running" || c.status === "restarting"))) {
      continue; // paused (suspended), stopped by the idle policy, or running as it should and not failed: nothing to do
    } else if (!failedInOutage && status === "running") {
      continue; // live-restore: it never stopped
    }
    // It (re)started, or the engine's stop had marked it failed: it is up once it answers again.
    if (!l.record.spec.port) l.port = undefined;
    if (l.record.status !== "starting") await d.lifecycle.move(l, "starting", "the Docker engine came back");
    d.watchReadiness(l);
  }
  const pool = await d.pool.recheck();
  d.log.warn({ awayMs: Date.now() - d.downSince, restarted, recreated, spares: pool }, "resynced with the Docker engine after it came back");
}
