// Deploy to Railway, end to end through the local fake Railway (real GraphQL,
// real PostgreSQL per Postgres service, real containers for the app): the
// data arrives whole and the deployed app answers from it; every failure
// names its step and leaves the preview running.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import postgres from "postgres";
import { startFakeRailway, type FakeRailway } from "../fakes/railway/index.ts";
import { loadApp } from "../fixtures/apps/index.ts";
import { createPreview, startTestDaemon, type TestDaemon } from "../support/daemon.ts";
import { finished, richSchema, tinyApp, waitForDeployment, type DeploymentJson } from "./helpers.ts";

const MAIN = join(import.meta.dir, "..", "..", "src/main.ts");
let fake: FakeRailway;
let d: TestDaemon;

beforeAll(async () => {
  fake = await startFakeRailway();
  d = await startTestDaemon({ RAILWAY_API_TOKEN: fake.token, RAILWAY_API_URL: fake.apiUrl, RAILWAY_EDGE_URL: fake.edgeUrl }, { deployPollMs: 200 });
}, 120_000);

afterAll(async () => {
  await d?.cleanup();
  await fake?.stop();
}, 60_000);

async function deploy(previewId: string, body: object = { provider: "railway" }): Promise<DeploymentJson> {
  const res = await d.api(`/v1/previews/${previewId}/deploy`, { method: "POST", body: JSON.stringify(body) });
  const json = (await res.json()) as { deployment: DeploymentJson };
  expect(res.status).toBe(202);
  return json.deployment;
}

/** Per table, rows in id order as text, hashed: the same on both sides when the data is the same. */
async function tableDigest(url: string, schema: string): Promise<Record<string, string>> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const out: Record<string, string> = {};
    for (const t of ["owners", "items"]) {
      const [r] = await sql.unsafe(`SELECT count(*) || ':' || md5(string_agg(row(id, name)::text, ',' ORDER BY id)) AS v FROM "${schema}"."${t}"`);
      out[t] = r!.v as string;
    }
    return out;
  } finally {
    await sql.end();
  }
}

function edge(domain: string, path = "/") {
  return fetch(new URL(path, fake.edgeUrl), { headers: { host: domain } });
}

test("a preview with migrations, seed and rows the app wrote deploys live with the same data, and the deployed app serves it", async () => {
  const p = await createPreview(d, { files: loadApp("express-pg"), database: richSchema });
  expect(p.status).toBe("running");
  const wrote = await d.preview(p.id, "/api/items", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "written-by-the-app" }) });
  expect(wrote.status).toBe(201);

  const started = await deploy(p.id, { provider: "railway", projectName: "shop" });
  expect(started.status).toBe("queued");
  const dep = await waitForDeployment(d.api, started.id, finished);
  expect(dep.error).toBeUndefined();
  expect(dep.status).toBe("live");
  expect(dep.steps.map((s) => s.name)).toEqual(["exporting", "provisioning", "restoring", "verifying_data", "uploading", "building", "deploying", "live"]);
  expect(dep.steps.every((s) => s.endedAt)).toBe(true);
  expect(dep.data).toEqual({ tables: 2, rows: 503, sequences: 2, verified: true });
  expect(dep.url).toBe(`https://${dep.providerIds.domain}`);

  // At the provider: one project with that name, and a database holding what the preview holds.
  const projects = fake.projects().filter((x) => x.id === dep.providerIds.projectId);
  expect(projects.map((x) => x.name)).toEqual(["shop"]);
  const db = projects[0]!.services.find((s) => s.postgres)!;
  expect(await tableDigest(db.databaseUrl!, "public")).toEqual(await tableDigest(d.databaseUrl, `preview_${p.id}`));

  const target = postgres(db.databaseUrl!, { max: 1, onnotice: () => {} });
  try {
    // The sequence continues past the copied ids.
    const [{ id }] = (await target`INSERT INTO items (name) VALUES ('after-deploy') RETURNING id`) as unknown as [{ id: number }];
    expect(id).toBe(502);
    // Foreign key, enum, index and view came along.
    expect(target`INSERT INTO items (name, owner_id) VALUES ('orphan', 999)`).rejects.toThrow(/foreign key/);
    expect(target`INSERT INTO items (name, kind) VALUES ('odd', 'gadget')`).rejects.toThrow(/enum/);
    expect((await target`SELECT indexname FROM pg_indexes WHERE tablename = 'items' ORDER BY 1`).map((r) => r.indexname)).toEqual(["items_name_idx", "items_pkey"]);
    expect((await target`SELECT owner FROM item_names WHERE name = 'item-2'`)[0]!.owner).toBe("ada");
  } finally {
    await target.end();
  }

  // The deployed app answers from the restored data.
  const items = (await (await edge(dep.providerIds.domain!, "/api/items")).json()) as { name: string }[];
  expect(items.map((i) => i.name)).toContain("written-by-the-app");
  expect(items.map((i) => i.name)).toContain("after-deploy");

  // The preview is untouched: still running, its schema still there.
  expect(((await (await d.api(`/v1/previews/${p.id}`)).json()) as { status: string }).status).toBe("running");
  expect((await d.preview(p.id, "/api/items")).status).toBe(200);

  // Listed under the preview; DELETE removes the project at the provider.
  const listed = (await (await d.api(`/v1/previews/${p.id}/deployments`)).json()) as { deployments: DeploymentJson[] };
  expect(listed.deployments.map((x) => x.id)).toEqual([dep.id]);
  const del = await d.api(`/v1/deployments/${dep.id}`, { method: "DELETE" });
  expect(del.status).toBe(202);
  expect(((await del.json()) as { deployment: DeploymentJson }).deployment.status).toBe("removed");
  expect(fake.projects().some((x) => x.id === dep.providerIds.projectId)).toBe(false);
}, 400_000);

test("`previewd deploy ID` follows a preview without a database to live, and the events stream shows each step", async () => {
  const p = await createPreview(d, { files: tinyApp({ marker: "no-db-app" }) });
  const events = collectEvents(p.id);
  const cli = Bun.spawn([process.execPath, MAIN, "deploy", p.id, "--project", "cli-deployed"], {
    env: { ...process.env, PREVIEWD_API_URL: `http://127.0.0.1:${d.apiPort}`, PREVIEWD_API_TOKEN: d.token },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(cli.stdout).text(), new Response(cli.stderr).text(), cli.exited]);
  expect(err).toBe("");
  expect(code).toBe(0);
  const lines = out.trim().split("\n");
  for (const step of ["provisioning", "uploading", "building", "deploying"]) expect(lines.some((l) => l.startsWith(`done ${step}`))).toBe(true);
  expect(lines.at(-1)).toMatch(/^live: https:\/\/\S+\.up\.railway\.app$/);

  const [dep] = ((await (await d.api(`/v1/previews/${p.id}/deployments`)).json()) as { deployments: DeploymentJson[] }).deployments;
  expect(dep!.status).toBe("live");
  expect(dep!.steps.map((s) => s.name)).toEqual(["provisioning", "uploading", "building", "deploying", "live"]);
  expect(dep!.data).toBeUndefined();
  expect(await (await edge(dep!.providerIds.domain!)).text()).toBe("no-db-app");
  expect(fake.projects().find((x) => x.id === dep!.providerIds.projectId)!.services.map((s) => s.name)).toEqual(["web"]);

  const seen = await events.stop();
  expect(seen.preview[0]).toBe("running");
  expect(seen.deployment).toContain("building");
  expect(seen.deployment.at(-1)).toBe("live");
}, 200_000);

/** Reads GET /v1/previews/{id}/events in the background: the statuses of each kind of event, in order. */
function collectEvents(id: string) {
  const ac = new AbortController();
  const seen = { preview: [] as string[], deployment: [] as string[] };
  const reading = (async () => {
    const res = await d.api(`/v1/previews/${id}/events`, { signal: ac.signal });
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    let buf = "";
    try {
      for await (const chunk of res.body!) {
        buf += new TextDecoder().decode(chunk);
        let i: number;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const event = /^event: (\w+)$/m.exec(block)?.[1] as "preview" | "deployment" | undefined;
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (!event || !data) continue;
          const status = (JSON.parse(data) as { status: string }).status;
          if (seen[event].at(-1) !== status) seen[event].push(status);
        }
      }
    } catch {
      // aborted
    }
  })();
  return {
    async stop() {
      await Bun.sleep(800); // one more look after the end
      ac.abort();
      await reading;
      return seen;
    },
  };
}

test("a GraphQL error names the step and Railway's message, and the preview keeps running", async () => {
  const p = await createPreview(d, { files: tinyApp({ marker: "graphql-error" }), database: richSchema });
  fake.fault("serviceCreate", { kind: "graphql_error", message: "Service limit reached for this plan" }, 1);
  const dep = await waitForDeployment(d.api, (await deploy(p.id)).id, finished);
  expect(dep.status).toBe("failed");
  expect(dep.error).toEqual({ step: "provisioning", message: "Service limit reached for this plan" });
  expect(((await (await d.api(`/v1/previews/${p.id}`)).json()) as { status: string }).status).toBe("running");
  expect(await (await d.preview(p.id)).text()).toBe("graphql-error");
  // What it had made is removed by DELETE.
  expect(fake.projects().some((x) => x.id === dep.providerIds.projectId)).toBe(true);
  expect((await d.api(`/v1/deployments/${dep.id}`, { method: "DELETE" })).status).toBe(202);
  expect(fake.projects().some((x) => x.id === dep.providerIds.projectId)).toBe(false);
}, 200_000);

test("a build that fails is a failed `building` step with the build's own output", async () => {
  const p = await createPreview(d, { files: tinyApp({ marker: "broken-build", build: "node -e \"console.error('the-build-broke-here'); process.exit(3)\"" }) });
  const dep = await waitForDeployment(d.api, (await deploy(p.id)).id, finished);
  expect(dep.status).toBe("failed");
  expect(dep.error!.step).toBe("building");
  expect(dep.error!.message).toContain("FAILED");
  expect(dep.error!.message).toContain("the-build-broke-here");
  expect((await d.preview(p.id)).status).toBe(200);
  await d.api(`/v1/deployments/${dep.id}`, { method: "DELETE" });
}, 200_000);

test("429 with Retry-After is waited out; the deployment goes on", async () => {
  const p = await createPreview(d, { files: tinyApp({ marker: "rate-limited" }) });
  fake.fault("projectCreate", { kind: "rate_limit", retryAfter: 2 }, 1);
  const t0 = Date.now();
  const dep = await waitForDeployment(d.api, (await deploy(p.id)).id, (x) => finished(x) || x.steps.some((s) => s.name === "provisioning" && !!s.endedAt));
  expect(dep.error).toBeUndefined();
  expect(Date.now() - t0).toBeGreaterThanOrEqual(2000);
  expect(fake.projects().some((x) => x.id === dep.providerIds.projectId)).toBe(true);
  await d.api(`/v1/deployments/${dep.id}`, { method: "DELETE" });
}, 200_000);

test("a second deploy of a preview while one runs is 409; bad bodies and unknown ids are clear errors", async () => {
  const p = await createPreview(d, { files: tinyApp({ marker: "twice" }) });
  const first = await deploy(p.id);
  const second = await d.api(`/v1/previews/${p.id}/deploy`, { method: "POST", body: JSON.stringify({ provider: "railway" }) });
  expect(second.status).toBe(409);
  expect(((await second.json()) as { error: { message: string } }).error.message).toContain("already has a deployment in progress");

  const bad = await d.api(`/v1/previews/${p.id}/deploy`, { method: "POST", body: JSON.stringify({ provider: "heroku" }) });
  expect(bad.status).toBe(400);
  expect(((await bad.json()) as { error: { message: string } }).error.message).toContain("body.provider");
  const sqlName = await d.api(`/v1/previews/${p.id}/deploy`, { method: "POST", body: JSON.stringify({ provider: "railway", projectName: "x'; DROP TABLE previews;--" }) });
  expect(sqlName.status).toBe(400);
  expect((await d.api(`/v1/previews/nosuchpreview000/deploy`, { method: "POST", body: JSON.stringify({ provider: "railway" }) })).status).toBe(404);
  expect((await d.api(`/v1/deployments/d_nosuch`)).status).toBe(404);

  const removed = await d.api(`/v1/deployments/${first.id}`, { method: "DELETE" });
  expect(removed.status).toBe(202);
  const after = await waitForDeployment(d.api, first.id, finished);
  expect(after.status).toBe("removed");
  expect(fake.projects().some((x) => x.name === `preview-${p.id}`)).toBe(false);
}, 200_000);

test("a token without access fails at provisioning with Railway's refusal, and records nothing at the provider", async () => {
  const other = await startTestDaemon({ RAILWAY_API_TOKEN: fake.noAccessToken, RAILWAY_API_URL: fake.apiUrl, RAILWAY_EDGE_URL: fake.edgeUrl, PREVIEWD_WARM_POOL: "0" }, { deployPollMs: 200 });
  try {
    const p = await createPreview(other, { files: tinyApp({ marker: "no-access" }) });
    const res = await other.api(`/v1/previews/${p.id}/deploy`, { method: "POST", body: JSON.stringify({ provider: "railway" }) });
    const dep = await waitForDeployment(other.api, ((await res.json()) as { deployment: DeploymentJson }).deployment.id, finished);
    expect(dep.status).toBe("failed");
    expect(dep.error!.step).toBe("provisioning");
    expect(dep.error!.message).toContain("Not Authorized");
    expect(dep.providerIds).toEqual({});
    expect((await other.preview(p.id)).status).toBe(200);
  } finally {
    await other.cleanup();
  }
}, 200_000);

test("cleanup: true drops the preview's schema and role once the deployment is live, and only then", async () => {
  const p = await createPreview(d, { files: tinyApp({ marker: "cleaned" }), database: { migrations: ["CREATE TABLE notes (id serial PRIMARY KEY, body text)"], seed: "INSERT INTO notes (body) VALUES ('kept at railway')" } });
  const admin = postgres(d.databaseUrl, { max: 1, onnotice: () => {} });
  try {
    const schemaExists = async () => (await admin`SELECT 1 FROM pg_namespace WHERE nspname = ${`preview_${p.id}`}`).length === 1;
    const roleExists = async () => (await admin`SELECT 1 FROM pg_roles WHERE rolname = ${`preview_${p.id}`}`).length === 1;
    const started = await deploy(p.id, { provider: "railway", cleanup: true });
    // Not before the app is live at Railway: the schema is looked at first, then the deployment. A look that
    // found it gone was made after the drop, so the deployment read after it must have every provider step
    // ended. (Its status may still say `deploying` for a moment: the drop comes before `live` is written.)
    const looks: { exists: boolean; providerDone: boolean }[] = [];
    let dep: DeploymentJson;
    for (;;) {
      const exists = await schemaExists();
      dep = ((await (await d.api(`/v1/deployments/${started.id}`)).json()) as { deployment: DeploymentJson }).deployment;
      looks.push({ exists, providerDone: !!dep.steps.find((s) => s.name === "deploying")?.endedAt });
      if (finished(dep)) break;
      await Bun.sleep(50);
    }
    expect(looks.some((l) => l.exists && !l.providerDone)).toBe(true);
    expect(looks.filter((l) => !l.exists && !l.providerDone)).toEqual([]);
    expect(dep.status).toBe("live");
    expect(dep.steps.at(-1)!.detail).toContain("schema was dropped");
    expect(await schemaExists()).toBe(false);
    expect(await roleExists()).toBe(false);
    const db = fake.projects().find((x) => x.id === dep.providerIds.projectId)!.services.find((s) => s.postgres)!;
    const copy = postgres(db.databaseUrl!, { max: 1, onnotice: () => {} });
    try {
      expect((await copy`SELECT body FROM notes`).map((r) => r.body)).toEqual(["kept at railway"]);
    } finally {
      await copy.end();
    }
  } finally {
    await admin.end();
  }
}, 200_000);
