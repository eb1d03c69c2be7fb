// The update path of scripts/bench/deploy.ts: a preview with a live
// deployment whose production database holds the N rows the first deploy
// restored is changed (a column with a default and an index on `orders`,
// new code) and deployed again, ROUNDS times. Per round: seconds per step
// (diffing, rehearsing, migrating, uploading, building, deploying) and
// queued -> live, beside the reference measured in the same run against the
// same production database just before: the same two statements typed by
// hand in one transaction (BEGIN; ...; ROLLBACK), no diff, no rehearsal,
// no copy; and the rehearsal's own copy time and rows.
import postgres from "postgres";
import { finished, tinyApp, waitForDeployment, type DeploymentJson } from "../../test/deploy/helpers.ts";
import type { FakeRailway } from "../../test/fakes/railway/index.ts";
import type { TestDaemon } from "../../test/support/daemon.ts";

export const UPDATE_STEPS = ["diffing", "rehearsing", "migrating", "uploading", "building", "deploying"] as const;

export interface UpdateRound {
  steps: Record<string, number>;
  totalS: number;
  postToLiveS: number;
  /** The same migration by hand on production, rolled back (seconds). */
  handS: number;
  copyS: number;
  copiedRows: number;
  productionRows: number;
}

const secs = (a: string, b: string) => (Date.parse(b) - Date.parse(a)) / 1000;

async function withSql<T>(url: string, f: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    return await f(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

async function deploy(d: TestDaemon, previewId: string, body: object): Promise<{ dep: DeploymentJson & { migration?: { rehearsal?: { copyMs: number; copiedRows: number } } }; postToLiveS: number }> {
  const t0 = performance.now();
  const res = await d.api(`/v1/previews/${previewId}/deploy`, { method: "POST", body: JSON.stringify(body) });
  if (res.status !== 202) throw new Error(`deploy: ${res.status} ${await res.text()}`);
  const started = ((await res.json()) as { deployment: DeploymentJson }).deployment;
  const dep = await waitForDeployment(d.api, started.id, finished, 900_000);
  if (dep.status !== "live") throw new Error(`deployment ${dep.id} ${dep.status}: ${JSON.stringify(dep.error)}`);
  return { dep: dep as never, postToLiveS: (performance.now() - t0) / 1000 };
}

/** One live first deployment of the preview, then `rounds` updates of it. Removes the project at the end. */
export async function measureUpdates(d: TestDaemon, fake: FakeRailway, preview: { id: string; schema: string }, n: number, rounds: number, log: (s: string) => void): Promise<UpdateRound[]> {
  const { dep: base } = await deploy(d, preview.id, { provider: "railway", mode: "create", projectName: `bench-update-${n}` });
  const prodUrl = fake.projects().find((x) => x.id === base.providerIds.projectId)!.services.find((s) => s.postgres)!.databaseUrl!;
  const out: UpdateRound[] = [];
  let live = base;
  try {
    for (let r = 1; r <= rounds; r++) {
      const change = [`ALTER TABLE orders ADD COLUMN flag_${r} boolean NOT NULL DEFAULT false`, `CREATE INDEX orders_status_${r}_idx ON orders (status)`];
      const productionRows = await withSql(prodUrl, async (sql) => Number((await sql`SELECT count(*) AS n FROM orders`)[0]!.n));
      // The reference: the same statements by hand on production, in a transaction that is rolled back.
      const handS = await withSql(prodUrl, async (sql) => {
        const t = performance.now();
        await sql.begin(async (tx) => {
          for (const s of change) await tx.unsafe(s);
          throw Object.assign(new Error("rollback"), { bench: true });
        }).catch((e) => { if (!(e as { bench?: boolean }).bench) throw e; });
        return (performance.now() - t) / 1000;
      });
      await withSql(d.databaseUrl, (sql) => sql.unsafe(`SET search_path = "${preview.schema}"; ${change.join("; ")}`));
      const files = await d.api(`/v1/previews/${preview.id}/files`, { method: "PATCH", body: JSON.stringify({ files: tinyApp({ marker: `bench-update-${n}-${r}` }) }) });
      await files.body?.cancel();
      const { dep, postToLiveS } = await deploy(d, preview.id, { provider: "railway" });
      if (dep.providerIds.projectId !== base.providerIds.projectId) throw new Error("the update made a new project");
      const steps: Record<string, number> = {};
      for (const s of dep.steps) if (s.endedAt) steps[s.name] = secs(s.startedAt, s.endedAt);
      const rh = dep.migration?.rehearsal;
      const round: UpdateRound = { steps, totalS: secs(dep.steps[0]!.startedAt, dep.steps.at(-1)!.endedAt!), postToLiveS, handS, copyS: (rh?.copyMs ?? NaN) / 1000, copiedRows: rh?.copiedRows ?? NaN, productionRows };
      out.push(round);
      live = dep;
      log(`[deploy bench] N=${n.toLocaleString("en-US")} update ${r}/${rounds}: live in ${postToLiveS.toFixed(1)} s (${UPDATE_STEPS.map((s) => `${s} ${steps[s]?.toFixed(2)}`).join(", ")}); by hand ${handS.toFixed(2)} s; rehearsal copy ${round.copyS.toFixed(2)} s of ${round.copiedRows} rows`);
    }
  } finally {
    const del = await d.api(`/v1/deployments/${live.id}`, { method: "DELETE" });
    await del.body?.cancel();
  }
  return out;
}
