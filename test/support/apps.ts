// Test helpers around the fixture apps: unique copies (a new dependency cache
// key, so an install really runs) and waiting for a status.
import { randomBytes } from "node:crypto";
import type { TestDaemon } from "./daemon.ts";

/** The same app under a new package name: a new cache key, the same packages. */
export function unique(files: Record<string, string>, tag = randomBytes(4).toString("hex")): Record<string, string> {
  const pkg = JSON.parse(files["package.json"]!);
  return { ...files, "package.json": JSON.stringify({ ...pkg, name: `${pkg.name ?? "app"}-${tag}` }, null, 2) };
}

export interface PreviewJson {
  id: string;
  status: string;
  phase?: string;
  error?: string;
  url: string;
}

/** Polls GET /v1/previews/{id} until `done` says so (or the time is up), returning the last object seen. */
export async function waitForPreview(d: TestDaemon, id: string, done: (p: PreviewJson) => boolean, timeoutMs = 120_000): Promise<PreviewJson> {
  const deadline = Date.now() + timeoutMs;
  let last: PreviewJson | undefined;
  while (Date.now() < deadline) {
    last = (await (await d.api(`/v1/previews/${id}`)).json()) as PreviewJson;
    if (done(last)) return last;
    await Bun.sleep(100);
  }
  throw new Error(`preview ${id} did not get there in ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
}

/** Reads a Prometheus counter or gauge from /metrics. */
export async function metric(d: TestDaemon, name: string): Promise<number> {
  const text = await (await d.api("/metrics")).text();
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text);
  return m ? Number(m[1]) : NaN;
}
