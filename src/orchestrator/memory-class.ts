// Apps whose dev server needs more than the node's per-preview memory, known by
// the package that runs it:
//   - Next.js 16's `next dev` (Turbopack) keeps its caches in the server
//     process, outside the V8 heap: in 512 MB it was OOM-killed (or restarted
//     by the runner's guard, after which Next's HMR client does not reconnect);
//     in 1024 MB it peaked at 508 MiB over 20 edits and a reload
//     (test/frameworks/next-generated.test.ts).
//   - Angular's `ng serve` (@angular/build: esbuild, then Vite's dependency
//     optimizer at the first page load) was killed at 512 MB on every first
//     load, over and over (test/frameworks/generated-apps.test.ts).
import type { FileMap } from "../types.ts";

/** The packages whose dev servers get the large class (a dependency of the app root's package.json). */
export const LARGE_DEV_SERVERS = ["next", "@angular/build", "@angular-devkit/build-angular"];

/** The large-class package the app root's package.json depends on (dependencies or devDependencies), if any. */
export function largeDevServer(files: FileMap): string | undefined {
  const pkg = files["package.json"];
  if (typeof pkg !== "string") return undefined;
  try {
    const j = JSON.parse(pkg) as Record<string, unknown>;
    for (const k of ["dependencies", "devDependencies"]) {
      const deps = j[k];
      if (typeof deps !== "object" || deps === null) continue;
      const found = LARGE_DEV_SERVERS.find((name) => Object.hasOwn(deps, name));
      if (found) return found;
    }
  } catch {
    // a broken package.json is the install plan's to report
  }
  return undefined;
}

/** The memory limit (MB) a new preview of these files gets when above the default; undefined: the default. */
export function memoryClass(files: FileMap, o: { memoryMb: number; largeMemoryMb: number }): number | undefined {
  return o.largeMemoryMb > o.memoryMb && largeDevServer(files) ? o.largeMemoryMb : undefined;
}
