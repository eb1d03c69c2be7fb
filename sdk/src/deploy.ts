// deploy(): start a deployment and follow it to the end. Progress comes from
// the same event stream as status (it carries `deployment` events), so a
// deploy costs one long-lived request, not a poll loop. The stream sends
// every deployment's current state when it connects, so a step finished
// between the POST and the stream's start is not missed.
import { PreviewdError } from "./errors.js";
import type { Http } from "./http.js";
import type { Deployment, DeployOptions } from "./types.js";
import { watchPreview } from "./watch.js";

export interface DeployFollowOptions {
  /** Each new state of the deployment (status, steps, url), starting with the one the POST returned. */
  onProgress?: (deployment: Deployment) => void;
  /** Stops following (the deployment itself goes on at the daemon). */
  signal?: AbortSignal;
}

export async function deployAndFollow(http: Http, previewId: string, opts: DeployOptions = {}, follow: DeployFollowOptions = {}): Promise<Deployment> {
  const { deployment } = await http.json<{ deployment: Deployment }>("POST", `/v1/previews/${encodeURIComponent(previewId)}/deploy`, {
    body: { provider: "railway", ...opts },
    signal: follow.signal,
  });
  follow.onProgress?.(deployment);
  const verdict = outcome(deployment);
  if (verdict) return verdict();

  const w = watchPreview(http, previewId, { signal: follow.signal });
  try {
    for await (const ev of w) {
      if (ev.type === "preview" && ev.preview.status === "deleted") {
        throw new PreviewdError(0, "deleted", `Preview ${previewId} was deleted while deployment ${deployment.id} was running.`, { deploymentId: deployment.id });
      }
      if (ev.type !== "deployment" || ev.deployment.id !== deployment.id) continue;
      follow.onProgress?.(ev.deployment);
      const v = outcome(ev.deployment);
      if (v) return v();
    }
  } finally {
    w.close();
  }
  // The watch only ends without a verdict when the caller aborted.
  throw follow.signal?.reason ?? new DOMException("The deploy was aborted.", "AbortError");
}

/** A function that settles the deploy for a final state; undefined while it runs. */
function outcome(d: Deployment): (() => Deployment) | undefined {
  if (d.status === "live") return () => d;
  if (d.status === "failed" || d.status === "removed") {
    return () => {
      const step = d.error?.step ?? d.steps.at(-1)?.name ?? d.status;
      const message = d.error?.message ?? `Deployment ${d.id} ended ${d.status}.`;
      throw new PreviewdError(0, d.status === "failed" ? "deploy_failed" : "deploy_removed", message, { deployment: d }, step);
    };
  }
  return undefined;
}
