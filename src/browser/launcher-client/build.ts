// Bundles the launcher page's script (main.ts) with the real
// @webcontainer/api from node_modules, for the browser, with Bun.build.
// Run at build time of the daemon, through the macro in bundle-macro.ts
// (`bun build --compile` inlines the result into the executable; `bun run`
// and `bun test` run the macro as they load the file). By hand:
//   bun src/browser/launcher-client/build.ts --out dist/launcher.js
import { writeFileSync } from "node:fs";

export async function buildLauncher(): Promise<string> {
  const result = await Bun.build({
    entrypoints: [`${import.meta.dir}/main.ts`],
    target: "browser",
    format: "esm",
    minify: true,
  });
  if (!result.success) throw new AggregateError(result.logs, "the launcher bundle did not build");
  return result.outputs[0]!.text();
}

if (import.meta.main) {
  const js = await buildLauncher();
  const at = process.argv.indexOf("--out");
  if (at > 0 && process.argv[at + 1]) writeFileSync(process.argv[at + 1]!, js);
  else process.stdout.write(js);
}
