// Scoped tokens: good for one preview and the actions named, for a while;
// never for another preview, the list, the cluster or minting more tokens.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { echoAppSource } from "../fixtures/apps.ts";
import { ScopedTokens } from "../../src/api/scoped.ts";
import { createPreview, startTestDaemon, type TestDaemon } from "../support/daemon.ts";

let d: TestDaemon;
let a: { id: string };
let b: { id: string };
const app = { "package.json": JSON.stringify({ scripts: { start: "node server.js" } }), "server.js": echoAppSource };

beforeAll(async () => {
  d = await startTestDaemon({ PREVIEWD_WARM_POOL: "2", PREVIEWD_CORS_ORIGINS: "http://host.example:3000" });
  [a, b] = await Promise.all([createPreview(d, { files: app }), createPreview(d, { files: app })]);
}, 120_000);
afterAll(() => d?.cleanup());

async function mint(id: string, body: object = {}): Promise<string> {
  const res = await d.api(`/v1/previews/${id}/tokens`, { method: "POST", body: JSON.stringify(body) });
  expect(res.status).toBe(201);
  const json = (await res.json()) as { token: string; expiresAt: string };
  expect(Date.parse(json.expiresAt)).toBeGreaterThan(Date.now());
  return json.token;
}

const as = (token: string, path: string, init: RequestInit = {}) =>
  fetch(`http://127.0.0.1:${d.apiPort}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...(init.headers as object) } });

test("a read+files token reads and patches its own preview", async () => {
  const t = await mint(a.id, { scope: ["read", "files"], ttlSeconds: 600 });
  expect(((await (await as(t, `/v1/previews/${a.id}`)).json()) as { id: string }).id).toBe(a.id);
  expect((await as(t, `/v1/previews/${a.id}/logs?tail=5`)).status).toBe(200);
  const patched = await as(t, `/v1/previews/${a.id}/files`, { method: "PATCH", body: JSON.stringify({ files: { "note.txt": "from the browser" } }) });
  expect(patched.status).toBe(200);
});

test("it is refused for another preview, the list, the cluster, create, delete and minting, with 403 naming why", async () => {
  const t = await mint(a.id, { scope: ["read", "files", "deploy"] });
  const cases: Array<[string, string, object?]> = [
    ["GET", `/v1/previews/${b.id}`],
    ["PATCH", `/v1/previews/${b.id}/files`, { files: { "x.txt": "x" } }],
    ["GET", `/v1/previews`],
    ["GET", `/v1/cluster`],
    ["POST", `/v1/previews`, { files: app }],
    ["DELETE", `/v1/previews/${a.id}`],
    ["POST", `/v1/previews/${a.id}/suspend`],
    ["POST", `/v1/previews/${a.id}/tokens`, {}],
  ];
  for (const [method, path, body] of cases) {
    const res = await as(t, path, { method, body: body ? JSON.stringify(body) : undefined });
    expect({ method, path, status: res.status }).toEqual({ method, path, status: 403 });
    expect(((await res.json()) as { error: { code: string; message: string } }).error.code).toBe("forbidden");
  }
  // Nothing was done: both previews are still there and running.
  for (const p of [a, b]) expect(((await (await d.api(`/v1/previews/${p.id}`)).json()) as { status: string }).status).toBe("running");
});

test("a read-only token cannot write; a forged, altered or expired token is 401", async () => {
  const t = await mint(a.id, { scope: ["read"] });
  const res = await as(t, `/v1/previews/${a.id}/files`, { method: "PATCH", body: JSON.stringify({ files: { "y.txt": "y" } }) });
  expect(res.status).toBe(403);
  expect(((await res.json()) as { error: { message: string } }).error.message).toContain("needs files");

  // Claims changed to another preview, with the old signature: refused.
  const [body, mac] = t.slice(4).split(".");
  const claims = JSON.parse(Buffer.from(body!, "base64url").toString());
  const altered = `pvs_${Buffer.from(JSON.stringify({ ...claims, p: b.id })).toString("base64url")}.${mac}`;
  expect((await as(altered, `/v1/previews/${b.id}`)).status).toBe(401);
  // The token with anything after it (issue 26: extra segments were ignored): refused, as is the token itself on another preview.
  for (const extended of [`${t}.anything`, `${t}.`, `${t}.${mac}`]) expect({ extended, status: (await as(extended, `/v1/previews/${a.id}`)).status }).toEqual({ extended, status: 401 });
  expect((await as(t, `/v1/previews/${a.id}`)).status).toBe(200);
  // Signed with another API token: refused.
  const foreign = new ScopedTokens("some-other-api-token-0000").issue(a.id, ["read"], 600).token;
  expect((await as(foreign, `/v1/previews/${a.id}`)).status).toBe(401);
  // Expired: minted by a clock an hour behind.
  const expired = new ScopedTokens(d.token, () => Date.now() - 3_600_000).issue(a.id, ["read"], 60).token;
  expect((await as(expired, `/v1/previews/${a.id}`)).status).toBe(401);
});

test("bad token requests are clear 400s; an unknown preview is 404", async () => {
  const bad = await d.api(`/v1/previews/${a.id}/tokens`, { method: "POST", body: JSON.stringify({ scope: ["admin"] }) });
  expect(bad.status).toBe(400);
  expect(((await bad.json()) as { error: { message: string } }).error.message).toContain('scope entries are "read", "files" or "deploy"');
  const long = await d.api(`/v1/previews/${a.id}/tokens`, { method: "POST", body: JSON.stringify({ ttlSeconds: 999999 }) });
  expect(((await long.json()) as { error: { message: string } }).error.message).toContain("at most 86400");
  expect((await d.api(`/v1/previews/nosuchpreview00/tokens`, { method: "POST", body: "{}" })).status).toBe(404);
});

test("CORS: the configured origin may call /v1 from a browser; others get no CORS headers", async () => {
  const pre = await fetch(`http://127.0.0.1:${d.apiPort}/v1/previews/${a.id}`, {
    method: "OPTIONS",
    headers: { origin: "http://host.example:3000", "access-control-request-method": "PATCH", "access-control-request-headers": "authorization,content-type" },
  });
  expect(pre.status).toBe(204);
  expect(pre.headers.get("access-control-allow-origin")).toBe("http://host.example:3000");
  expect(pre.headers.get("access-control-allow-headers")).toContain("authorization");
  const other = await fetch(`http://127.0.0.1:${d.apiPort}/v1/previews/${a.id}`, { method: "OPTIONS", headers: { origin: "http://evil.example", "access-control-request-method": "GET" } });
  expect(other.headers.get("access-control-allow-origin")).toBeNull();
});
