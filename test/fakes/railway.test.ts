// Tests of the fake Railway itself, through plain HTTP as any client would
// call it: real graphql-js, real containers, a real PostgreSQL reached both
// through the TCP proxy (from here) and over the project network (from the
// deployed app). The daemon's Railway client is tested elsewhere against
// this fake; these tests pin the contract it relies on.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import Docker from "dockerode";
import postgres from "postgres";
import { ensureBaseImage } from "../support/docker.ts";
import { tgzOf } from "../support/tgz.ts";
import { startFakeRailway, type FakeRailway } from "./railway/index.ts";

let fake: FakeRailway;
const docker = new Docker();

beforeAll(async () => {
  fake = await startFakeRailway({ image: await ensureBaseImage(), tcpProxyDelayMs: 200 });
}, 120_000);

afterAll(async () => {
  await fake?.stop();
  // Only this fake's containers: other fakes (another engineer's test run) may share the engine.
  const left = await docker.listContainers({ all: true, filters: { label: [`previewd.fake.instance=${fake?.instance}`] } });
  await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => {})));
  expect(left).toHaveLength(0);
});

type GqlBody = { data: any; errors?: Array<{ message: string; path?: string[] }> }; // eslint-disable-line @typescript-eslint/no-explicit-any

async function gqlRaw(query: string, variables: Record<string, unknown> = {}, token: string | null = fake.token) {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(fake.apiUrl, { method: "POST", headers, body: JSON.stringify({ query, variables }) });
  return { res, body: (await res.json().catch(() => null)) as GqlBody };
}

/** A GraphQL call that must succeed; returns data. */
async function gql(query: string, variables: Record<string, unknown> = {}) {
  const { res, body } = await gqlRaw(query, variables);
  expect(res.status).toBe(200);
  if (body.errors) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors)}`);
  return body.data;
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(200);
  }
}

const DEPLOYMENTS = `query($input: DeploymentListInput!) { deployments(input: $input, first: 10) { edges { node { id status createdAt url staticUrl } } } }`;
const DEPLOYMENT = `query($id: String!) { deployment(id: $id) { id status createdAt url staticUrl } }`;
const TERMINAL = ["SUCCESS", "FAILED", "CRASHED", "REMOVED"];

async function settle(deploymentId: string, timeoutMs = 60_000): Promise<string> {
  return until(`deployment ${deploymentId}`, async () => {
    const s = (await gql(DEPLOYMENT, { id: deploymentId })).deployment.status as string;
    return TERMINAL.includes(s) && s;
  }, timeoutMs);
}

async function upload(projectId: string, environmentId: string, serviceId: string, body: Uint8Array, token = fake.token) {
  const origin = new URL(fake.apiUrl).origin;
  return fetch(`${origin}/project/${projectId}/environment/${environmentId}/up?serviceId=${serviceId}`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/gzip" },
    body,
  });
}

const PROJECT_CREATE = `mutation($input: ProjectCreateInput!) { projectCreate(input: $input) { id name environments { edges { node { id name } } } } }`;
const SERVICE_CREATE = `mutation($input: ServiceCreateInput!) { serviceCreate(input: $input) { id name } }`;

async function newProject(name: string): Promise<{ projectId: string; environmentId: string }> {
  const p = (await gql(PROJECT_CREATE, { input: { name } })).projectCreate;
  expect(p.environments.edges[0].node.name).toBe("production");
  return { projectId: p.id, environmentId: p.environments.edges[0].node.id };
}

describe("fake Railway: API contract", () => {
  test("auth, error shapes, rate limits, faults", async () => {
    // No token / unknown token: Railway's "Not Authorized" at HTTP 200.
    for (const token of [null, "nope"]) {
      const { res, body } = await gqlRaw(`{ projects { edges { node { id } } } }`, {}, token);
      expect(res.status).toBe(200);
      expect(body).toEqual({ data: null, errors: [{ message: "Not Authorized" }] });
    }
    // A token without access: every operation is Not Authorized.
    const noAccess = await gqlRaw(PROJECT_CREATE, { input: { name: "x" } }, fake.noAccessToken);
    expect(noAccess.res.status).toBe(200);
    expect(noAccess.body.data).toBeNull();
    expect(noAccess.body.errors?.[0]?.message).toBe("Not Authorized");
    // Project-Access-Token is accepted as well.
    const viaHeader = await fetch(fake.apiUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Project-Access-Token": fake.token },
      body: JSON.stringify({ query: `{ projects { edges { node { id } } } }` }),
    });
    expect(((await viaHeader.json()) as GqlBody).data.projects.edges).toBeArray();

    // Unknown field: graphql-js's validation error, HTTP 200.
    const bad = await gqlRaw(`{ projects { edges { node { id bogusField } } } }`);
    expect(bad.res.status).toBe(200);
    expect(bad.body.data).toBeNull();
    expect(bad.body.errors?.[0]?.message).toContain('Cannot query field "bogusField" on type "Project"');
    // Wrong argument type is a validation error too (the schema is Railway's).
    const badArg = await gqlRaw(`mutation { projectDelete(id: 5) }`);
    expect(badArg.body.errors?.[0]?.message).toContain("String");
    // Not found: an error with a path.
    const missing = await gqlRaw(`{ project(id: "nope") { id } }`);
    expect(missing.body).toMatchObject({ data: null, errors: [{ message: "Project not found", path: ["project"] }] });

    // Injected faults: GraphQL error, 429 + Retry-After, 500; each consumed once.
    fake.fault("projectCreate", { kind: "graphql_error", message: "Something went wrong" });
    const e1 = await gqlRaw(PROJECT_CREATE, { input: { name: "f" } });
    expect(e1.res.status).toBe(200);
    expect(e1.body).toMatchObject({ data: null, errors: [{ message: "Something went wrong", path: ["projectCreate"] }] });
    fake.fault("projectCreate", { kind: "rate_limit", retryAfter: 7 }, 2);
    for (let i = 0; i < 2; i++) {
      const r = await gqlRaw(PROJECT_CREATE, { input: { name: "f" } });
      expect(r.res.status).toBe(429);
      expect(r.res.headers.get("retry-after")).toBe("7");
    }
    fake.fault("projects", { kind: "http_500" });
    expect((await gqlRaw(`{ projects { edges { node { id } } } }`)).res.status).toBe(500);
    // Faults are spent: the calls go through again, and none created a project.
    expect((await gqlRaw(`{ projects { edges { node { id } } } }`)).res.status).toBe(200);
    const creates = fake.calls().filter((c) => c.op === "projectCreate");
    expect(creates.map((c) => c.fault ?? "ok")).toEqual(["ok", "graphql_error", "rate_limit", "rate_limit"]);
    expect(fake.projects()).toHaveLength(0); // the no-access call made none either
  });
});

describe("fake Railway: Postgres + app deployment", () => {
  let projectId: string;
  let environmentId: string;
  let pgServiceId: string;
  let appServiceId: string;
  let domain: string;

  test("a Postgres service is a real PostgreSQL reachable through its TCP proxy", async () => {
    ({ projectId, environmentId } = await newProject("promo"));
    const pg = (await gql(SERVICE_CREATE, {
      input: {
        projectId,
        environmentId,
        name: "Postgres",
        source: { image: "ghcr.io/railwayapp-templates/postgres-ssl:17" },
        variables: {
          POSTGRES_USER: "postgres",
          POSTGRES_PASSWORD: "s3cret'pw",
          POSTGRES_DB: "railway",
          PGUSER: "${{POSTGRES_USER}}",
          PGDATABASE: "${{POSTGRES_DB}}",
          PGDATA: "/var/lib/postgresql/data/pgdata",
          DATABASE_URL: "postgresql://${{PGUSER}}:${{POSTGRES_PASSWORD}}@${{RAILWAY_PRIVATE_DOMAIN}}:5432/${{PGDATABASE}}",
          DATABASE_PUBLIC_URL: "postgresql://${{PGUSER}}:${{POSTGRES_PASSWORD}}@${{RAILWAY_TCP_PROXY_DOMAIN}}:${{RAILWAY_TCP_PROXY_PORT}}/${{PGDATABASE}}",
        },
      },
    })).serviceCreate;
    pgServiceId = pg.id;
    const vol = (await gql(`mutation($input: VolumeCreateInput!) { volumeCreate(input: $input) { id name } }`, {
      input: { projectId, environmentId, serviceId: pgServiceId, mountPath: "/var/lib/postgresql/data" },
    })).volumeCreate;
    expect(vol.id).toBeString();
    const commit = await gql(`mutation($e: String!, $p: EnvironmentConfig) { environmentPatchCommit(environmentId: $e, patch: $p) }`, {
      e: environmentId,
      p: { services: { [pgServiceId]: { networking: { tcpProxies: { "5432": {} } } } } },
    });
    expect(commit.environmentPatchCommit).toBeString();
    const TCP = `query($e: String!, $s: String!) { tcpProxies(environmentId: $e, serviceId: $s) { id domain proxyPort applicationPort syncStatus } }`;
    const first = (await gql(TCP, { e: environmentId, s: pgServiceId })).tcpProxies;
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({ domain: "127.0.0.1", applicationPort: 5432, syncStatus: "CREATING" });
    const proxy = await until("proxy ACTIVE", async () => {
      const [p] = (await gql(TCP, { e: environmentId, s: pgServiceId })).tcpProxies;
      return p.syncStatus === "ACTIVE" && p;
    });

    const [dep] = (await gql(DEPLOYMENTS, { input: { projectId, serviceId: pgServiceId } })).deployments.edges;
    expect(await settle(dep.node.id)).toBe("SUCCESS");

    const VARS = `query($p: String!, $e: String!, $s: String, $u: Boolean) { variables(projectId: $p, environmentId: $e, serviceId: $s, unrendered: $u) }`;
    const vars = (await gql(VARS, { p: projectId, e: environmentId, s: pgServiceId })).variables;
    expect(vars.RAILWAY_PRIVATE_DOMAIN).toBe("postgres.railway.internal");
    expect(vars.RAILWAY_TCP_PROXY_PORT).toBe(String(proxy.proxyPort));
    expect(vars.DATABASE_URL).toBe("postgresql://postgres:s3cret'pw@postgres.railway.internal:5432/railway");
    const publicUrl = `postgresql://postgres:${encodeURIComponent("s3cret'pw")}@${proxy.domain}:${proxy.proxyPort}/railway`;
    expect(vars.DATABASE_PUBLIC_URL).toBe(`postgresql://postgres:s3cret'pw@127.0.0.1:${proxy.proxyPort}/railway`);
    const raw = (await gql(VARS, { p: projectId, e: environmentId, s: pgServiceId, u: true })).variables;
    expect(raw.DATABASE_URL).toContain("${{RAILWAY_PRIVATE_DOMAIN}}");
    expect(raw.RAILWAY_SERVICE_ID).toBeUndefined();

    const sql = postgres(publicUrl, { max: 1, onnotice: () => {} });
    try {
      await sql`create table notes (id int primary key, body text)`;
      await sql`insert into notes values (1, 'hello from the host')`;
      expect((await sql`select current_database() as db`)[0]!.db).toBe("railway");
    } finally {
      await sql.end();
    }
    expect(fake.projects().find((p) => p.id === projectId)?.services[0]?.databaseUrl).toBe(publicUrl);
  }, 60_000);

  test("an uploaded app builds, reads the database over the private network, and answers on the edge", async () => {
    appServiceId = (await gql(SERVICE_CREATE, {
      input: { projectId, environmentId, name: "web", variables: { DATABASE_URL: "${{Postgres.DATABASE_URL}}", MISSING: "[${{Postgres.NOPE}}]" } },
    })).serviceCreate.id;
    domain = (await gql(`mutation($input: ServiceDomainCreateInput!) { serviceDomainCreate(input: $input) { id domain } }`, {
      input: { environmentId, serviceId: appServiceId, targetPort: 8080 },
    })).serviceDomainCreate.domain;
    expect(domain).toMatch(/^web-production-[a-z0-9]{4}\.up\.railway\.app$/);
    const vars = (await gql(`query($p: String!, $e: String!, $s: String) { variables(projectId: $p, environmentId: $e, serviceId: $s) }`, { p: projectId, e: environmentId, s: appServiceId })).variables;
    expect(vars.MISSING).toBe("[]"); // a reference to nothing renders empty, as on Railway
    expect(vars.RAILWAY_PUBLIC_DOMAIN).toBe(domain);

    // A real dependency (postgres.js) installed by `npm ci` from a lockfile inside the build container.
    const app = await tgzOf({
      "./package.json": JSON.stringify({ name: "web", version: "1.0.0", scripts: { build: "node -e \"console.log('building web')\"", start: "node server.js" }, dependencies: { postgres: "3.4.9" } }),
      "./package-lock.json": JSON.stringify({
        name: "web", version: "1.0.0", lockfileVersion: 3, requires: true,
        packages: {
          "": { name: "web", version: "1.0.0", dependencies: { postgres: "3.4.9" } },
          "node_modules/postgres": { version: "3.4.9", resolved: "https://registry.npmjs.org/postgres/-/postgres-3.4.9.tgz", integrity: "sha512-GD3qdB0x1z9xgFI6cdRD6xu2Sp2WCOEoe3mtnyB5Ee0XrrL5Pe+e4CCnJrRMnL1zYtRDZmQQVbvOttLnKDLnaw==", license: "Unlicense", engines: { node: ">=12" } },
        },
      }),
      "./server.js": `const http = require("node:http");
const postgres = require("postgres");
const sql = postgres(process.env.DATABASE_URL, { max: 2 });
http.createServer(async (req, res) => {
  try {
    const rows = await sql\`select body from notes where id = 1\`;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ body: rows[0] && rows[0].body, host: req.headers.host }));
  } catch (e) { res.writeHead(500); res.end(String(e)); }
}).listen(Number(process.env.PORT), () => console.log("listening on " + process.env.PORT));
`,
    });
    const res = await upload(projectId, environmentId, appServiceId, app);
    expect(res.status).toBe(200);
    const up = (await res.json()) as { deploymentId: string; url: string; logsUrl: string; deploymentDomain: string };
    expect(up.deploymentDomain).toBe(domain);
    expect(up.logsUrl).toContain(`/service/${appServiceId}`);
    const seen = new Set<string>();
    const status = await until("app deployment", async () => {
      const s = (await gql(DEPLOYMENT, { id: up.deploymentId })).deployment.status as string;
      seen.add(s);
      return TERMINAL.includes(s) && s;
    }, 90_000);
    const logs = await gql(`query($d: String!) { buildLogs(deploymentId: $d) { message severity timestamp } deploymentLogs(deploymentId: $d) { message } }`, { d: up.deploymentId });
    expect(status, JSON.stringify(logs)).toBe("SUCCESS");
    expect(seen.has("BUILDING")).toBe(true);
    const built = logs.buildLogs.map((l: { message: string }) => l.message);
    expect(built).toContain("==> npm ci");
    expect(built).toContain("building web");
    expect(logs.buildLogs[0].timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    expect(logs.deploymentLogs.map((l: { message: string }) => l.message)).toContain("listening on 8080");

    const page = await fetch(fake.edgeUrl, { headers: { Host: domain } });
    expect(page.status).toBe(200);
    expect(await page.json()).toEqual({ body: "hello from the host", host: domain });
    const unknown = await fetch(fake.edgeUrl, { headers: { Host: "nobody.up.railway.app" } });
    expect(unknown.status).toBe(404);
    const listed = (await gql(DEPLOYMENTS, { input: { projectId, environmentId, serviceId: appServiceId } })).deployments.edges;
    expect(listed[0].node).toMatchObject({ id: up.deploymentId, status: "SUCCESS", staticUrl: domain });
  }, 100_000);

  test("a variable change redeploys (unless skipDeploys); the deprecated tcpProxyCreate still works", async () => {
    const UPSERT = `mutation($input: VariableCollectionUpsertInput!) { variableCollectionUpsert(input: $input) }`;
    const list = async () => (await gql(DEPLOYMENTS, { input: { serviceId: appServiceId } })).deployments.edges.map((e: { node: { id: string; status: string } }) => e.node);
    const before = await list();
    await gql(UPSERT, { input: { projectId, environmentId, serviceId: appServiceId, variables: { QUIET: "1" }, skipDeploys: true } });
    expect(await list()).toHaveLength(before.length);
    await gql(UPSERT, { input: { projectId, environmentId, serviceId: appServiceId, variables: { GREETING: "hi" } } });
    const after = await list();
    expect(after).toHaveLength(before.length + 1);
    expect(await settle(after[0].id, 90_000)).toBe("SUCCESS");
    // The replaced deployment goes REMOVING → REMOVED once the new one serves.
    await until("old deployment REMOVED", async () => (await list()).find((d: { id: string }) => d.id === before[0].id).status === "REMOVED", 10_000);

    // A TCP proxy to the app's HTTP port, made the old way, is a working relay too.
    const proxy = (await gql(`mutation($input: TCPProxyCreateInput!) { tcpProxyCreate(input: $input) { id domain proxyPort applicationPort } }`, {
      input: { serviceId: appServiceId, environmentId, applicationPort: 8080 },
    })).tcpProxyCreate;
    const viaProxy = await fetch(`http://${proxy.domain}:${proxy.proxyPort}/`);
    expect(((await viaProxy.json()) as { body: string }).body).toBe("hello from the host");
  }, 100_000);

  test("a failing build is FAILED with its output in buildLogs; a crashing app is CRASHED; bad uploads are refused", async () => {
    const svc = (await gql(SERVICE_CREATE, { input: { projectId, environmentId, name: "broken" } })).serviceCreate.id;
    const failing = await tgzOf({
      "./package.json": JSON.stringify({ name: "b", version: "1.0.0", scripts: { build: "node -e \"console.error('boom: the build exploded'); process.exit(3)\"" } }),
    });
    const crashing = await tgzOf({ "./package.json": JSON.stringify({ name: "c", version: "1.0.0", main: "index.js" }), "./index.js": "console.error('dying'); process.exit(4);" });
    const crashSvc = (await gql(SERVICE_CREATE, { input: { projectId, environmentId, name: "crashy" } })).serviceCreate.id;
    const [r1, r2] = await Promise.all([upload(projectId, environmentId, svc, failing), upload(projectId, environmentId, crashSvc, crashing)]);
    const [d1, d2] = (await Promise.all([r1.json(), r2.json()])) as Array<{ deploymentId: string }>;
    const [s1, s2] = await Promise.all([settle(d1!.deploymentId), settle(d2!.deploymentId)]);
    expect(s1).toBe("FAILED");
    const build = (await gql(`query($d: String!) { buildLogs(deploymentId: $d) { message severity } }`, { d: d1!.deploymentId })).buildLogs;
    expect(build.some((l: { message: string; severity: string }) => l.message.includes("boom: the build exploded") && l.severity === "error")).toBe(true);
    expect(s2).toBe("CRASHED");
    const runLogs = (await gql(`query($d: String!) { deploymentLogs(deploymentId: $d) { message } }`, { d: d2!.deploymentId })).deploymentLogs;
    expect(runLogs.map((l: { message: string }) => l.message)).toContain("dying");

    // Not a gzip tarball: 400 {message}; over the cap: 413; injected 429 with Retry-After.
    const notTar = await upload(projectId, environmentId, svc, new TextEncoder().encode("hello"));
    expect(notTar.status).toBe(400);
    expect(((await notTar.json()) as { message: string }).message).toContain("Invalid tarball");
    fake.fault("upload", { kind: "rate_limit", retryAfter: 3 });
    const limited = await upload(projectId, environmentId, svc, failing);
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("3");
    expect((await upload(projectId, environmentId, svc, failing, fake.noAccessToken)).status).toBe(403);
  }, 60_000);

  test("projectDelete stops and removes its containers, network and proxies", async () => {
    const label = `previewd.fake.project=${projectId}`;
    expect((await docker.listContainers({ all: true, filters: { label: [label] } })).length).toBeGreaterThan(0);
    const proxyPort = Number(new URL(fake.projects().find((p) => p.id === projectId)!.services[0]!.databaseUrl!).port);
    expect((await gql(`mutation($id: String!) { projectDelete(id: $id) }`, { id: projectId })).projectDelete).toBe(true);
    expect(await docker.listContainers({ all: true, filters: { label: [label] } })).toHaveLength(0);
    expect(await docker.listNetworks({ filters: { label: [label] } })).toHaveLength(0);
    const gone = await gqlRaw(`query($id: String!) { project(id: $id) { id } }`, { id: projectId });
    expect(gone.body.errors?.[0]?.message).toBe("Project not found");
    // The TCP proxy's port no longer accepts connections.
    const refused = await Bun.connect({ hostname: "127.0.0.1", port: proxyPort, socket: { data() {} } }).then((s) => (s.end(), false), () => true);
    expect(refused).toBe(true);
    expect((await fetch(fake.edgeUrl, { headers: { Host: domain } })).status).toBe(404);
  }, 30_000);
});
