// This node's container events from the engine (start, die, pause, unpause,
// destroy, oom), as one stream that outlives engine restarts: when the
// stream breaks it is subscribed again, backing off to 2 s, and the caller
// is told how long it was blind (it must look at what it missed).
import type Docker from "dockerode";
import type { Readable } from "node:stream";
import type { Logger } from "../log.ts";
import type { RuntimeEvent } from "./runtime.ts";

export async function watchEvents(docker: Docker, nodeId: string, log: Logger, onEvent: (e: RuntimeEvent) => void, onReturn?: (downSince: number) => void): Promise<() => void> {
  let stopped = false;
  let current: Readable | undefined;
  /** Set while the stream is down: when it comes back, the caller must look at what it missed. */
  let downSince: number | undefined;
  const subscribe = async (): Promise<void> => {
    const stream = (await docker.getEvents({
      filters: { type: ["container"], label: [`previewd.node=${nodeId}`] },
    })) as Readable;
    if (stopped) return void (stream as unknown as { destroy(): void }).destroy();
    current = stream;
    if (downSince !== undefined) {
      const since = downSince;
      downSince = undefined;
      log.warn({ awayMs: Date.now() - since }, "docker event stream back");
      onReturn?.(since);
    }
    let buffered = "";
    stream.on("data", (chunk: Buffer) => {
      buffered += chunk.toString("utf8");
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line.trim()) dispatch(line, onEvent);
      }
    });
    // The engine restarted or the socket broke: subscribe again, for as long as it takes, rather than go blind.
    const again = () => {
      if (stopped || current !== stream) return;
      current = undefined;
      downSince ??= Date.now();
      log.warn("docker event stream ended; resubscribing");
      retry(0);
    };
    stream.on("end", again);
    stream.on("close", again);
    stream.on("error", again);
  };
  // 250 ms, doubling to 2 s: an engine restart is seen within ~2 s of the socket answering again.
  const retry = (attempt: number): void => {
    setTimeout(() => {
      if (stopped) return;
      subscribe().catch((err) => {
        if (attempt % 15 === 0) log.error({ err: (err as Error).message }, "docker events unavailable; retrying");
        retry(attempt + 1);
      });
    }, Math.min(2000, 250 * 2 ** attempt));
  };
  await subscribe();
  return () => {
    stopped = true;
    (current as unknown as { destroy(): void } | undefined)?.destroy();
  };
}

function dispatch(line: string, onEvent: (e: RuntimeEvent) => void): void {
  const ev = JSON.parse(line) as { Action: string; id: string; Actor: { Attributes: Record<string, string> } };
  const action = ev.Action as RuntimeEvent["action"];
  if (!["start", "die", "pause", "unpause", "destroy", "oom"].includes(action)) return;
  onEvent({ action, containerId: ev.id, previewId: ev.Actor.Attributes["previewd.preview"] ?? "" });
}
