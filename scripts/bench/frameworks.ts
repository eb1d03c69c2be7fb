// The framework matrix (issue 27): every generated app (test/fixtures/generated, the same table the
// suite's Chromium test uses) run WITHOUT its lockfile, so npm resolves today's versions, as a new
// user's app would. Per app: the Node.js line chosen, the first create (a real install: the package
// gets a name of its own, so nothing is cached), a cached create (the same files again), the first
// render in Chromium at a non-localhost preview domain, edit-to-screen latency over PATCH, and the
// preview's memory after the edits. The reference, measured in the same run, is a dependency-free
// Node server (no install, no compile): what the daemon itself costs.
//   bun scripts/bench/frameworks.ts [--edits=5] [--runs=3] [--only=vite-react-ts,angular-app]
import type { Browser } from "playwright-core";
import { launchBrowser } from "../../test/support/browser.ts";
import { startTestDaemon, type TestDaemon } from "../../test/support/daemon.ts";
import { GENERATED_APPS, previewInChromium, type PreviewRun } from "../../test/support/frameworks.ts";
import { printTable, round, runBench, summary } from "./lib.ts";

const flag = (name: string, def: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? def);
const EDITS = flag("edits", 5);
const RUNS = flag("runs", 3);
const only = process.argv.find((a) => a.startsWith("--only="))?.split("=")[1]?.split(",");
const DOMAIN = "preview.test";
const apps = GENERATED_APPS.filter((a) => !only || only.includes(a.name));

let d: TestDaemon | undefined;
let browser: Browser | undefined;
const results: Record<string, unknown> = {};
const rows: Array<Record<string, string | number>> = [];

async function main() {
  // Previews' own memory: Next.js and Angular have the large class (PREVIEWD_LARGE_MEMORY_MB); the rest run at the default limit.
  [d, browser] = await Promise.all([
    startTestDaemon({ PREVIEWD_START_TIMEOUT: "600", PREVIEWD_DOMAIN: DOMAIN, PREVIEWD_WARM_POOL: "1" }),
    launchBrowser([`--host-resolver-rules=MAP *.${DOMAIN} 127.0.0.1`]),
  ]);
  const t0 = Date.now();
  const res = await d.api("/v1/previews?wait=1", { method: "POST", body: JSON.stringify({ files: { "server.js": 'require("http").createServer((q, s) => s.end("ok")).listen(process.env.PORT)' }, command: ["node", "server.js"] }) });
  const reference = (await res.json()) as { id: string; status: string };
  if (reference.status !== "running") throw new Error(`the reference app did not start: ${JSON.stringify(reference)}`);
  rows.push({ app: "reference: node server, no deps", node: "", "first create s": round((Date.now() - t0) / 1000), "cached create→render p50/p95 s": "", "first render ms": "", "edit p50/p95 ms": "", MiB: "" });
  await d.api(`/v1/previews/${reference.id}`, { method: "DELETE" });

  const unique = Date.now().toString(36);
  for (const app of apps) {
    const row: Record<string, string | number> = { app: `${app.framework} (${app.name})` };
    try {
      const cold: PreviewRun = await previewInChromium(d, browser, app, DOMAIN, { edits: EDITS, lockfile: false, unique, timeoutMs: 600_000 });
      await d.api(`/v1/previews/${cold.id}`, { method: "DELETE" });
      // Cached creates: the app's own dependency entry, then the dev server's start and first compile.
      const toRender: number[] = [];
      for (let r = 0; r < RUNS; r++) {
        const warm: PreviewRun = await previewInChromium(d, browser, app, DOMAIN, { edits: 0, lockfile: false, unique, timeoutMs: 600_000 });
        await d.api(`/v1/previews/${warm.id}`, { method: "DELETE" });
        toRender.push(warm.createMs + warm.firstRenderMs);
      }
      const e = summary(cold.editMs);
      const w = summary(toRender);
      Object.assign(row, {
        node: cold.node ?? "?", "first create s": round(cold.createMs / 1000), "cached create→render p50/p95 s": `${round(w.p50 / 1000)}/${round(w.p95 / 1000)}`,
        "first render ms": Math.round(cold.firstRenderMs), "edit p50/p95 ms": `${Math.round(e.p50)}/${Math.round(e.p95)}`,
        MiB: cold.memoryBytes ? Math.round(cold.memoryBytes / 1048576) : "?",
      });
      results[app.name] = { node: cold.node, firstCreateMs: cold.createMs, cachedCreateToRenderMs: toRender, firstRenderMs: cold.firstRenderMs, editMs: cold.editMs, memoryBytes: cold.memoryBytes };
    } catch (err) {
      // One framework that fails is a row that says so, not the end of the matrix.
      row.node = "FAILED";
      row["first create s"] = String((err as Error).message.split("\n")[0]).slice(0, 80);
      results[app.name] = { error: (err as Error).message.slice(0, 2000) };
    }
    rows.push(row);
    console.log(JSON.stringify(row));
  }
  printTable(`Generated apps without lockfiles (latest versions), ${EDITS} edits each, at ${DOMAIN} in Chromium`, rows);
}

await runBench("frameworks", results, main, async () => {
  await browser?.close();
  await d?.cleanup();
});
