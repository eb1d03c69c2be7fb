// What a provider gives the step machine, and what the machine gives each step.
import type { PreviewSource } from "./source.ts";
import type { DataCheck, DeploymentRecord, DeploymentStatus, MigrationPlanRecord, MigrationView, ProviderIds } from "./types.ts";

export interface StepContext {
  /** The record as it stands (ids saved so far included). */
  readonly deployment: DeploymentRecord;
  readonly source: PreviewSource;
  readonly signal: AbortSignal;
  /** Records ids the moment the provider hands them out: a restart must find them. */
  saveIds(ids: Partial<ProviderIds>): Promise<void>;
  save(patch: { url?: string; data?: DataCheck; migration?: MigrationView; plan?: MigrationPlanRecord }): Promise<void>;
  /** Replaces the running step's detail (progress for people). */
  progress(detail: string): Promise<void>;
  /** True once DELETE asked for this deployment; long waits check it. */
  cancelled(): Promise<boolean>;
}

export interface DeployProvider {
  /** The steps this deployment takes, in order (they depend on its mode). */
  plan(source: PreviewSource, d: DeploymentRecord): DeploymentStatus[];
  /** Runs one step to its end; returns the step's closing detail. Must be safe to run again after a crash. */
  run(step: DeploymentStatus, ctx: StepContext): Promise<string>;
  /** Removes what the deployment created at the provider. Idempotent. */
  teardown(d: DeploymentRecord): Promise<void>;
}

/** A step's failure with something a client can act on (e.g. the confirmations a schema change needs). */
export class StepError extends Error {
  constructor(message: string, readonly details: unknown) {
    super(message);
  }
}

/** Polls `check` every `everyMs` until it returns a value, the deadline passes, or the signal fires. */
export async function poll<T>(what: string, check: () => Promise<T | undefined>, o: { everyMs: number; timeoutMs: number; signal: AbortSignal }): Promise<T> {
  const deadline = Date.now() + o.timeoutMs;
  for (;;) {
    o.signal.throwIfAborted();
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: still not done after ${Math.round(o.timeoutMs / 1000)} s.`);
    await Bun.sleep(o.everyMs);
  }
}
