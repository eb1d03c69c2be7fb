// Apps whose dev server needs more than the node's per-preview memory. Next.js
// 16's `next dev` (Turbopack) keeps its caches in the server process, outside
// the V8 heap: in 512 MB it was OOM-killed (or restarted by the runner's
// guard, after which Next's HMR client does not reconnect); in 1024 MB it
// peaked at 508 MiB over 20 edits and a reload (test/frameworks/next-generated.test.ts).
import type { FileMap } from "../types.ts";

/** Whether package.json (the app root's) depends on `next`, in any dependency list. */
export function dependsOnNext(files: FileMap): boolean {
  const pkg = files["package.json"];
  if (typeof pkg !== "string") return false;
  try {
    const j = JSON.parse(pkg) as Record<string, unknown>;
    return ["dependencies", "devDependencies"].some((k) => {
      const deps = j[k];
      return typeof deps === "object" && deps !== null && Object.hasOwn(deps, "next");
    });
  } catch {
    return false; // a broken package.json is the install plan's to report
  }
}

/** The memory limit (MB) a new preview of these files gets when above the default; undefined: the default. */
export function memoryClass(files: FileMap, o: { memoryMb: number; nextMemoryMb: number }): number | undefined {
  return o.nextMemoryMb > o.memoryMb && dependsOnNext(files) ? o.nextMemoryMb : undefined;
}
