// Bringing an app up in its container: install its dependencies (through the
// cache), give the runner its start order, and watch until it answers.
// Status goes installing -> starting -> running (or failed, with the
// installer's or the app's last lines). The container runs at boost CPUs
// until the app answers, then drops to the preview's limit.
import { InstallError, OutputLog, type DepsCache, type InstallPlan } from "../deps/index.ts";
import { runtimeBinDir } from "../nodejs/index.ts";
import type { FileMap } from "../types.ts";
import type { Lifecycle } from "../lifecycle/index.ts";
import type { Logger } from "../log.ts";
import type { Runtime, StartOrder } from "../pool/index.ts";
import { appEnv } from "./env.ts";
import type { Live } from "./live.ts";
import { memoryClass } from "./memory-class.ts";
import type { PreviewStore } from "./ports.ts";
import { waitUntilAnswering } from "./readiness.ts";

/** PORT every app is given when the request names no port. */
export const DEFAULT_PORT = 3000;
/** How long the startup boost outlasts the app's first answer. */
const BOOST_TAIL_MS = 10_000;

export interface BringUpDeps {
  runtime: Runtime;
  store: PreviewStore;
  deps?: DepsCache;
  log: Logger;
  cpus: number;
  startTimeoutMs: number;
  /** How long the boost lasts past the first answer (default 10 s). */
  boostTailMs?: number;
  previewHost: (id: string) => string;
  lifecycle: Lifecycle;
  isLive: (id: string) => boolean;
  tail: (l: Live, lines: number) => Promise<string>;
  /** The node's per-preview memory and what a Next.js app gets instead (memory-class.ts); unset: no class. */
  memory?: { memoryMb: number; largeMemoryMb: number };
}

export class BringUp {
  constructor(private readonly o: BringUpDeps) {}

  /**
   * Installs (when planned), starts the app and waits until it answers.
   * Never rejects: failures end in status failed, and what cannot even be
   * recorded (the daemon is stopping) is logged, since nobody may be awaiting
   * this promise.
   */
  start(l: Live, plan: InstallPlan | undefined, restart = false): Promise<void> {
    return this.run(l, plan, restart).catch((err) => this.o.log.warn({ id: l.record.id, err }, "bring-up could not finish"));
  }

  /** Watches until the app answers (see start); one watch at a time, joined by later callers; never rejects. */
  watchReadiness(l: Live): Promise<void> {
    l.watching ??= this.readiness(l)
      .catch((err) => this.o.log.warn({ id: l.record.id, err }, "readiness could not finish"))
      .finally(() => (l.watching = undefined));
    return l.watching;
  }

  private async run(l: Live, plan: InstallPlan | undefined, restart: boolean): Promise<void> {
    const id = l.record.id;
    try {
      if (plan) await this.install(l, plan);
      if (!this.o.isLive(id)) return;
      l.phase = "starting the app";
      await this.o.lifecycle.move(l, "starting", plan ? "dependencies ready" : "no dependencies to install");
      if (!l.record.spec.port) l.port = undefined; // found again: a restarted app may listen elsewhere
      // Before the app starts: the runner sizes its heap cap from the limit it sees then.
      // A restart applies the limit again: its package.json may have gained or lost a large dev server.
      const limit = l.record.spec.memoryMb ?? (restart ? this.o.memory?.memoryMb : undefined);
      if (limit) await this.o.runtime.setMemory(l.container!.containerId, limit);
      if (restart) await this.o.runtime.restartApp(l.container!, this.order(l));
      else await this.o.runtime.startApp(l.container!, this.order(l));
    } catch (err) {
      l.phase = undefined;
      if (!this.o.isLive(id)) return;
      const message = err instanceof InstallError ? err.message : `Could not start the app: ${(err as Error).message}`;
      this.o.log.warn({ id, err: (err as Error).message }, "bring-up failed");
      await this.o.lifecycle.move(l, "failed", "bring-up failed", { failure: message });
      await this.dropBoost(l);
      return;
    }
    await this.watchReadiness(l);
  }

  /** The memory limit a new preview of these files gets, when above the default (memory-class.ts). */
  memoryFor(files: FileMap): number | undefined {
    return this.o.memory && memoryClass(files, this.o.memory);
  }

  /** The runner's order: command, ports, env (ours win), and the dependency entry to link. */
  order(l: Live): StartOrder {
    const spec = l.record.spec;
    const env = appEnv(spec.env, l.record.database);
    // Vite refuses Host names it does not know (DNS rebinding guard); the preview's own host is known.
    env.__VITE_ADDITIONAL_SERVER_ALLOWED_HOSTS = this.o.previewHost(l.record.id);
    // The same for Next.js's allowedDevOrigins: the runner's preload (docker/runner/dev-origins.cjs) reads it.
    env.PREVIEWD_PREVIEW_HOST = this.o.previewHost(l.record.id);
    // Next.js phones home on first run: no telemetry from strangers' previews (the app may set it back).
    env.NEXT_TELEMETRY_DISABLED ??= "1";
    const nodeBin = runtimeBinDir(spec.runtime);
    return { command: spec.command, port: spec.port, portHint: spec.port ?? DEFAULT_PORT, env, deps: spec.deps ? { key: spec.deps.key } : undefined, nodeBin };
  }

  private async install(l: Live, plan: InstallPlan): Promise<void> {
    const cache = this.o.deps!;
    const id = l.record.id;
    l.record.spec.deps = { key: plan.key, manager: plan.manager };
    cache.acquire(id, plan.key);
    const log = (l.installLog = new OutputLog());
    l.abort = new AbortController();
    let finished!: () => void;
    l.installed = new Promise<void>((resolve) => (finished = resolve)); // set now: a log follower may ask at once
    try {
      if (!cache.has(plan.key)) {
        l.phase = `installing dependencies (${plan.label})`;
        await this.o.lifecycle.move(l, "installing", "dependencies not in the cache");
      } else {
        log.write(`[previewd] dependencies from the cache (${plan.label})\n`);
      }
      const r = await cache.ensure(plan, (t) => log.write(t), l.abort.signal);
      if (r.hit && l.record.status === "installing") log.write(`[previewd] dependencies installed by another preview with the same lockfile\n`);
      if (r.writtenLockfile && this.o.isLive(id)) {
        // npm resolved versions itself: keep its lockfile, so the next install of this app is reproducible.
        const files = { "package-lock.json": r.writtenLockfile };
        await this.o.store.putFiles(id, files);
        await this.o.runtime.putFiles(l.container!.containerId, files);
      }
    } finally {
      finished();
    }
  }

  /** Finds the app's port (the runner reports it) and waits for HTTP on it; running, or failed with the reason. */
  private async readiness(l: Live): Promise<void> {
    const id = l.record.id;
    const outcome = await waitUntilAnswering(
      async () => {
        if (!l.container) return undefined;
        l.port ??= await this.o.runtime.appPort(l.container);
        return l.port ? this.o.runtime.endpoint(l.container, l.port) : undefined;
      },
      () => l.record.status === "failed" || !this.o.isLive(id),
      this.o.startTimeoutMs,
    );
    if (outcome === "up" && l.record.status === "starting") {
      l.phase = undefined;
      await this.o.lifecycle.move(l, "running", "the app answers HTTP");
    }
    if (outcome === "timeout" && l.record.status === "starting") {
      l.phase = undefined;
      const logs = await this.o.tail(l, 20);
      const where = l.record.spec.port ? `on port ${l.record.spec.port}` : l.port ? `on port ${l.port}` : "on any port (nothing listened)";
      await this.o.lifecycle.move(l, "failed", "start timeout", { failure: `The app did not answer HTTP ${where} within ${this.o.startTimeoutMs / 1000} s. Last log lines:\n${logs}` });
    }
    // Like Cloud Run's startup boost, a little past the first answer: dev
    // servers compile the pages a visitor opens next (Next.js: seconds each at 0.25 CPU).
    if (outcome === "up") setTimeout(() => void this.dropBoost(l), this.o.boostTailMs ?? BOOST_TAIL_MS).unref?.();
    else await this.dropBoost(l);
  }

  /** Startup boost over: the preview's own CPU limit from now on. */
  async dropBoost(l: Live): Promise<void> {
    if (!l.container || !this.o.isLive(l.record.id)) return;
    await this.o.runtime.setCpus(l.container.containerId, this.o.cpus).catch((err) => {
      // Removed meanwhile (deleted, or its daemon stopped and swept it): nothing to drop.
      if ([404, 409, 500].includes((err as { statusCode?: number }).statusCode ?? 0) && /no such container|marked for removal/i.test(String(err))) return;
      this.o.log.warn({ err, id: l.record.id }, "could not drop the CPU boost");
    });
  }
}
