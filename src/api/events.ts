// GET /v1/previews/{id}/events: status, phase and deployment progress as
// Server-Sent Events, for progress displays. Each stream looks at the
// preview (and its deployments) every half second and sends only what
// changed: the state lives in the shared store and on whichever node runs
// the preview, so looking is what works from any node, and a change is on
// screen within half a second. A comment line every 15 s keeps proxies from
// closing a quiet stream.
import type { PreviewView } from "../types.ts";
import type { DeploymentService, PreviewService } from "./service.ts";

const encoder = new TextEncoder();

export function previewEvents(id: string, previews: PreviewService, deployments: DeploymentService | undefined, signal: AbortSignal, everyMs = 500): ReadableStream<Uint8Array> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let lastPreview = "";
  const lastDeployments = new Map<string, string>();
  let sinceBeat = 0;
  return new ReadableStream<Uint8Array>({
    start(ctrl) {
      const send = (event: string, data: unknown) => ctrl.enqueue(encoder.encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`));
      const close = () => {
        clearTimeout(timer);
        try { ctrl.close(); } catch { /* already closed */ }
      };
      const tick = async () => {
        if (signal.aborted) return close();
        try {
          let view: PreviewView;
          try {
            view = await previews.get(id);
          } catch {
            send("preview", { id, status: "deleted" });
            return close();
          }
          const key = `${view.status}|${view.phase ?? ""}|${view.node}`;
          if (key !== lastPreview) {
            lastPreview = key;
            send("preview", view);
          }
          for (const d of deployments ? await deployments.list(id) : []) {
            const dk = `${d.status}|${JSON.stringify(d.steps)}|${d.url ?? ""}`;
            if (lastDeployments.get(d.id) === dk) continue;
            lastDeployments.set(d.id, dk);
            send("deployment", d);
          }
          if ((sinceBeat += everyMs) >= 15_000) {
            sinceBeat = 0;
            ctrl.enqueue(encoder.encode(": keep-alive\n\n"));
          }
        } catch {
          // A store that blinks: try again at the next tick.
        }
        if (!signal.aborted) timer = setTimeout(tick, everyMs);
        else close();
      };
      signal.addEventListener("abort", close, { once: true });
      void tick();
    },
    cancel() {
      clearTimeout(timer);
    },
  });
}
