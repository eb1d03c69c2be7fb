// A preview's logs: its dependency install's output first (kept by this
// node), then the app's stdout/stderr from the container. A follower sees the
// install live and then moves on to the app. And the last lines of a
// failing app, for its error.
import type { Runtime } from "../pool/index.ts";
import type { Live } from "./live.ts";

export function followLogs(l: Live, runtime: Runtime, opts: { tail?: number; follow?: boolean; signal?: AbortSignal }): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let reader: { read(): Promise<{ done: boolean; value?: Uint8Array }>; cancel(): Promise<void> } | undefined;
  return new ReadableStream<Uint8Array>({
    async start(ctrl) {
      if (l.installLog) {
        const unsubscribe = l.installLog.subscribe((t) => ctrl.enqueue(encoder.encode(t)));
        if (opts.follow) await l.installed;
        unsubscribe();
      }
      if (!l.container || opts.signal?.aborted) return ctrl.close();
      const app = await runtime.logs(l.container.containerId, opts);
      reader = app.getReader();
    },
    async pull(ctrl) {
      if (!reader) return;
      const { done, value } = await reader.read();
      if (done) ctrl.close();
      else ctrl.enqueue(value!);
    },
    cancel() {
      void reader?.cancel();
    },
  });
}

/** The app's last lines, for a failure's text ("(logs unavailable)" when the engine cannot say). */
export async function tailLogs(runtime: Runtime, l: Live, lines: number): Promise<string> {
  if (!l.container) return "";
  try {
    const stream = await runtime.logs(l.container.containerId, { tail: lines });
    return (await new Response(stream).text()).trimEnd();
  } catch {
    return "(logs unavailable)";
  }
}
