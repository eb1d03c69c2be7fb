// Deploying again, end to end through the fake Railway (real PostgreSQL
// behind it, real builds): a second deploy updates the same project with the
// new code and the preview's schema change, production's rows stay
// production's, destructive changes wait for their confirmation, a failing
// migration changes nothing, and a rollback puts the previous code back.
// The tests run in order on one preview, each deploy building on the last.
import { afterAll, beforeAll, expect, test } from "bun:test";
import postgres from "postgres";
import { startFakeRailway, type FakeRailway } from "../fakes/railway/index.ts";
import { createPreview, startTestDaemon, type TestDaemon } from "../support/daemon.ts";
import { finished, tinyApp, waitForDeployment, type DeploymentJson } from "./helpers.ts";

interface UpdateJson extends DeploymentJson {
  mode: string;
  migration?: {
    statements: { sql: string; class: string; summary: string; confirmedBy?: string }[];
    rehearsal?: { copiedRows: number; statements: { summary: string; rows?: number }[] };
    applied?: { statements: number };
    schema?: { kept: boolean; reason: string };
  };
  error?: { step: string; message: string; details?: { confirm?: { change: string; options: string[] }[] } };
}

let fake: FakeRailway;
let d: TestDaemon;
let previewId: string;
let first: UpdateJson;
const opened: postgres.Sql[] = [];

beforeAll(async () => {
  fake = await startFakeRailway();
  d = await startTestDaemon({ RAILWAY_API_TOKEN: fake.token, RAILWAY_API_URL: fake.apiUrl, RAILWAY_EDGE_URL: fake.edgeUrl }, { deployPollMs: 200 });
}, 120_000);

afterAll(async () => {
  await Promise.all(opened.map((s) => s.end({ timeout: 5 })));
  await d?.cleanup();
  await fake?.stop();
}, 60_000);

async function deploy(body: object = { provider: "railway" }): Promise<UpdateJson> {
  const res = await d.api(`/v1/previews/${previewId}/deploy`, { method: "POST", body: JSON.stringify(body) });
  const json = (await res.json()) as { deployment: UpdateJson };
  expect(res.status).toBe(202);
  return (await waitForDeployment(d.api, json.deployment.id, finished)) as UpdateJson;
}

const sqlOf = (url: string) => {
  const s = postgres(url, { max: 1, onnotice: () => {} });
  opened.push(s);
  return s;
};
const production = () => sqlOf(fake.projects().find((p) => p.id === first.providerIds.projectId)!.services.find((s) => s.postgres)!.databaseUrl!);
/** The preview's own schema, as the daemon's admin (what the app's migrations would do to it). */
const preview = async (q: string) => {
  const s = sqlOf(d.databaseUrl);
  await s.unsafe(`SET search_path = preview_${previewId}; ${q}`);
};
const served = async () => (await fetch(new URL("/", fake.edgeUrl), { headers: { host: first.providerIds.domain! } })).text();
const setCode = async (marker: string) => {
  const res = await d.api(`/v1/previews/${previewId}/files`, { method: "PATCH", body: JSON.stringify({ files: tinyApp({ marker }) }) });
  expect(res.status).toBe(200);
};
const columns = async (sql: postgres.Sql) => (await sql`SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'products' ORDER BY ordinal_position`).map((r) => r.column_name);
const webDeployments = () => fake.projects().find((p) => p.id === first.providerIds.projectId)!.services.find((s) => s.name === "web")!.deployments;

test("a second deploy updates the same project: new code, the added column with its default, production's rows and not the preview's", async () => {
  const p = await createPreview(d, {
    files: tinyApp({ marker: "v1" }),
    database: { migrations: ["CREATE TABLE products (id serial PRIMARY KEY, name text NOT NULL, legacy text)"], seed: "INSERT INTO products (name, legacy) VALUES ('seed-1', 'x'), ('seed-2', 'y')" },
  });
  previewId = p.id;
  first = await deploy();
  expect(first.error).toBeUndefined();
  expect(first.mode).toBe("create");
  expect(await served()).toBe("v1");

  // Between the two deploys: production's app writes its own rows, the preview gets a test row and a new column.
  const prod = production();
  await prod`INSERT INTO products (name) VALUES ('written-in-production')`;
  await preview("INSERT INTO products (name) VALUES ('written-in-the-preview'); ALTER TABLE products ADD COLUMN note text NOT NULL DEFAULT 'n/a'");
  await setCode("v2");
  const projectsBefore = fake.calls().filter((c) => c.op === "projectCreate").length;

  const second = await deploy();
  expect(second.error).toBeUndefined();
  expect(second.status).toBe("live");
  expect(second.mode).toBe("update");
  expect(second.steps.map((s) => s.name)).toEqual(["diffing", "rehearsing", "migrating", "uploading", "building", "deploying", "live"]);
  // The same project, services and domain; no new project.
  for (const k of ["projectId", "environmentId", "serviceId", "databaseServiceId", "domain"]) expect(second.providerIds[k]).toBe(first.providerIds[k]);
  expect(second.providerIds.deploymentId).not.toBe(first.providerIds.deploymentId);
  expect(fake.calls().filter((c) => c.op === "projectCreate").length).toBe(projectsBefore);
  expect(second.url).toBe(first.url);
  expect(await served()).toBe("v2");

  // The schema change is there, with its default on production's rows; production's rows are production's.
  expect(second.migration!.statements.map((s) => [s.class, s.sql])).toEqual([["additive", `ALTER TABLE "products" ADD COLUMN "note" text DEFAULT 'n/a'::text NOT NULL`]]);
  expect(second.migration!.rehearsal!.copiedRows).toBe(3);
  expect(second.migration!.applied!.statements).toBe(1);
  expect((await prod`SELECT name, note FROM products ORDER BY id`).map((r) => [r.name, r.note])).toEqual([["seed-1", "n/a"], ["seed-2", "n/a"], ["written-in-production", "n/a"]]);
  // Nothing of the rehearsal is left in production's database.
  expect((await prod`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'previewd_%'`).length).toBe(0);
}, 400_000);

test("a dropped column is refused until confirmed by name (the exact text is in the error), then applied", async () => {
  await preview("ALTER TABLE products DROP COLUMN legacy");
  await setCode("v3");
  const refused = await deploy();
  expect(refused.status).toBe("failed");
  expect(refused.error!.step).toBe("diffing");
  expect(refused.error!.details!.confirm).toEqual([{ change: "column products.legacy is not in the preview: dropping it deletes its values", options: ["drop column products.legacy"] }]);
  expect(refused.error!.message).toContain('"drop column products.legacy"');
  const prod = production();
  expect(await columns(prod)).toEqual(["id", "name", "legacy", "note"]);
  expect(await served()).toBe("v2");

  const confirmed = await deploy({ provider: "railway", confirm: ["drop column products.legacy"] });
  expect(confirmed.error).toBeUndefined();
  expect(confirmed.status).toBe("live");
  expect(confirmed.migration!.statements).toEqual([{ sql: `ALTER TABLE "products" DROP COLUMN "legacy"`, class: "destructive", summary: "drop column products.legacy and its values", confirmedBy: "drop column products.legacy" }]);
  expect(await columns(prod)).toEqual(["id", "name", "note"]);
  expect((await prod`SELECT count(*)::int AS n FROM products`)[0]!.n).toBe(3);
  expect(await served()).toBe("v3");
}, 400_000);

test("a migration that fails on production's data fails at `rehearsing` and changes nothing: no constraint, no new code", async () => {
  const prod = production();
  await prod`INSERT INTO products (name) VALUES ('dup'), ('dup')`;
  await preview("ALTER TABLE products ADD CONSTRAINT products_name_key UNIQUE (name)");
  await setCode("v4");
  const before = webDeployments().length;
  const dep = await deploy();
  expect(dep.status).toBe("failed");
  expect(dep.error!.step).toBe("rehearsing");
  expect(dep.error!.message).toContain("could not create unique index");
  expect(dep.error!.message).toContain("Production is untouched");
  expect((await prod`SELECT conname FROM pg_constraint WHERE conrelid = 'products'::regclass AND contype = 'u'`).length).toBe(0);
  expect((await prod`SELECT count(*)::int AS n FROM products`)[0]!.n).toBe(5);
  expect(webDeployments().length).toBe(before);
  expect(await served()).toBe("v3");
  expect((await prod`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'previewd_%'`).length).toBe(0);
  await preview("ALTER TABLE products DROP CONSTRAINT products_name_key");
}, 400_000);

test("rollback puts the previous code back; a destructive schema change stays, and the rollback says so", async () => {
  const [latest] = ((await (await d.api(`/v1/previews/${previewId}/deployments`)).json()) as { deployments: UpdateJson[] }).deployments.filter((x) => x.status === "live");
  const res = await d.api(`/v1/deployments/${latest!.id}/rollback`, { method: "POST" });
  expect(res.status).toBe(202);
  const started = ((await res.json()) as { deployment: UpdateJson }).deployment;
  expect(started.mode).toBe("rollback");
  const rb = (await waitForDeployment(d.api, started.id, finished)) as UpdateJson;
  expect(rb.error).toBeUndefined();
  expect(rb.steps.map((s) => s.name)).toEqual(["rolling_back", "deploying", "reverting_schema", "live"]);
  expect(await served()).toBe("v2");
  expect(rb.migration!.schema!.kept).toBe(true);
  expect(rb.migration!.schema!.reason).toContain("not additive-only");
  expect(await columns(production())).toEqual(["id", "name", "note"]);
  // A rollback is not rolled back, and an older update no longer can be.
  expect((await d.api(`/v1/deployments/${rb.id}/rollback`, { method: "POST" })).status).toBe(409);
  expect((await d.api(`/v1/deployments/${latest!.id}/rollback`, { method: "POST" })).status).toBe(409);
}, 400_000);

test("rollback of an additive-only change nothing uses takes the schema change back too", async () => {
  await preview("ALTER TABLE products ADD COLUMN extra text; CREATE INDEX products_extra_idx ON products (extra)");
  await setCode("v5");
  const up = await deploy();
  expect(up.error).toBeUndefined();
  expect(up.migration!.statements.every((s) => s.class === "additive")).toBe(true);
  expect(await served()).toBe("v5");
  expect(await columns(production())).toEqual(["id", "name", "note", "extra"]);
  const res = await d.api(`/v1/deployments/${up.id}/rollback`, { method: "POST" });
  const rb = (await waitForDeployment(d.api, ((await res.json()) as { deployment: UpdateJson }).deployment.id, finished)) as UpdateJson;
  expect(rb.error).toBeUndefined();
  expect(await served()).toBe("v2");
  expect(rb.migration!.schema!.kept).toBe(false);
  expect(await columns(production())).toEqual(["id", "name", "note"]);
}, 400_000);

test("bad modes and impossible updates are clear errors; mode create still makes a new project", async () => {
  const bad = await d.api(`/v1/previews/${previewId}/deploy`, { method: "POST", body: JSON.stringify({ provider: "railway", mode: "replace" }) });
  expect(bad.status).toBe(400);
  expect(((await bad.json()) as { error: { message: string } }).error.message).toContain("body.mode");
  const named = await d.api(`/v1/previews/${previewId}/deploy`, { method: "POST", body: JSON.stringify({ provider: "railway", projectName: "other" }) });
  expect(named.status).toBe(400);
  const confirmNotStrings = await d.api(`/v1/previews/${previewId}/deploy`, { method: "POST", body: JSON.stringify({ provider: "railway", confirm: [1] }) });
  expect(confirmNotStrings.status).toBe(400);

  const other = await createPreview(d, { files: tinyApp({ marker: "solo" }) });
  const noLive = await d.api(`/v1/previews/${other.id}/deploy`, { method: "POST", body: JSON.stringify({ provider: "railway", mode: "update" }) });
  expect(noLive.status).toBe(409);
  expect(((await noLive.json()) as { error: { message: string } }).error.message).toContain("no live deployment to update");
  expect((await d.api(`/v1/deployments/${first.id}/rollback`, { method: "POST" })).status).toBe(409);

  const fresh = await deploy({ provider: "railway", mode: "create", projectName: "second-copy" });
  expect(fresh.error).toBeUndefined();
  expect(fresh.mode).toBe("create");
  expect(fresh.providerIds.projectId).not.toBe(first.providerIds.projectId);
  // The new project got the preview's rows (a create restores them), production kept its own.
  const copy = sqlOf(fake.projects().find((p) => p.id === fresh.providerIds.projectId)!.services.find((s) => s.postgres)!.databaseUrl!);
  expect((await copy`SELECT name FROM products ORDER BY id`).map((r) => r.name)).toEqual(["seed-1", "seed-2", "written-in-the-preview"]);
}, 400_000);
