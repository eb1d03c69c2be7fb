// usePreviewOrchestrator: a preview that follows a React component's files.
// The work is in Orchestrator (orchestrator.ts); this file only binds it to
// React's lifecycle:
//
// - The instance lives in a ref, built without side effects during render
//   (a discarded StrictMode render just drops an idle object).
// - The effect attaches and its cleanup detaches. StrictMode (React 18 and
//   19, development) runs mount -> cleanup -> mount on the SAME instance, and
//   the create promise lives on the instance, so the second mount joins the
//   first create: one preview. A real unmount detaches for good: the watch,
//   pending PATCHes and timers stop.
// - State reaches React through useSyncExternalStore (React >= 18), so every
//   status/phase change renders without tearing.
import { useEffect, useRef, useSyncExternalStore } from "react";
import { Orchestrator, type OrchestratorOptions, type OrchestratorState } from "./orchestrator.js";
import type { Deployment, DeployOptions, Files, Preview } from "./types.js";

export type { CreateResult, OrchestratorOptions as UsePreviewOrchestratorOptions, OrchestratorState, OrchestratorStatus } from "./orchestrator.js";

export interface PreviewOrchestrator extends OrchestratorState {
  /** Creates the preview now (with `autoCreate: false`); joins the create already under way otherwise. */
  create(): Promise<Preview>;
  /** Changes some files (and deletes paths) on top of the current set; debounced into one PATCH. */
  update(files: Files, o?: { delete?: string[] }): void;
  /** Sends debounced changes now. */
  flush(): Promise<void>;
  /** Deploys the preview; progress appears in `deployment`. */
  deploy(opts?: DeployOptions): Promise<Deployment>;
  /** Deletes the preview (through `remove` when given). */
  destroy(): Promise<void>;
}

export function usePreviewOrchestrator(options: OrchestratorOptions): PreviewOrchestrator {
  const ref = useRef<Orchestrator | null>(null);
  if (ref.current === null) ref.current = new Orchestrator(options);
  const o = ref.current;

  // Declared first so the latest options are in place before attach() runs.
  useEffect(() => o.setOptions(options));
  useEffect(() => o.setFiles(options.files), [o, options.files]);
  useEffect(() => {
    o.attach();
    return () => o.detach();
  }, [o]);

  const state = useSyncExternalStore(o.subscribe, o.getSnapshot, o.getSnapshot);
  return { ...state, create: o.create, update: o.update, flush: o.flush, deploy: o.deploy, destroy: o.destroy };
}
