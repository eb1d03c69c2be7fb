// What this node keeps in memory for each preview it runs.
import type { OutputLog } from "../deps/index.ts";
import type { ContainerState } from "../pool/index.ts";
import type { PreviewRecord } from "../types.ts";

export interface Live {
  record: PreviewRecord;
  container?: ContainerState;
  /** The port the app serves on, once known (explicit, or found by the runner). */
  port?: number;
  /** What it is doing now, for progress displays. */
  phase?: string;
  /** The dependency install's output (the first part of the preview's logs). */
  installLog?: OutputLog;
  /** Settles when the install step is over (log followers then switch to the app's output). */
  installed?: Promise<unknown>;
  /** Cancels this preview's wait for an install (delete). */
  abort?: AbortController;
  /** Settles once the app answers or is given up on. */
  ready?: Promise<void>;
  /** The readiness watch in flight: at most one per preview, joined by every restart that asks. */
  watching?: Promise<void>;
  /** When the preview was last marked failed (ms): a failure during an engine outage is undone when it returns. */
  failedAt?: number;
  /** A resume or restart in flight, shared by all requests that wait on it. */
  waking?: Promise<void>;
  /** The last lifecycle change (pause, wake, stop) queued on this preview: they run one at a time. */
  busy?: Promise<unknown>;
}

/** Runs `fn` after the preview's previous lifecycle change has finished. */
export function serially<T>(l: Live, fn: () => Promise<T>): Promise<T> {
  const run = (l.busy ?? Promise.resolve()).catch(() => {}).then(fn);
  l.busy = run;
  return run;
}
