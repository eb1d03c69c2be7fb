// The install step with real packages from the npm registry, installed in the
// sandbox: an Express + pg app reads its seeded rows; the cache serves the
// second preview with no install (and no registry: proven with the registry
// cut); concurrent creates of a new lockfile install once; a preview cannot
// change what another preview gets.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import Docker from "dockerode";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { loadApp } from "../fixtures/apps/index.ts";
import { expressPgDatabase } from "../fixtures/apps/express-pg.db.ts";
import { metric, unique, waitForPreview } from "../support/apps.ts";
import { createPreview, startTestDaemon, type TestDaemon } from "../support/daemon.ts";
import { testDepsDir } from "../support/deps.ts";

let d: TestDaemon;
const depsDir = testDepsDir();

beforeAll(async () => {
  d = await startTestDaemon({ PREVIEWD_DEPS_DIR: depsDir });
});
afterAll(async () => {
  await d?.cleanup();
});

describe("dependencies are installed in the sandbox", () => {
  test("an Express + pg app installs (status installing, then running) and reads its seeded rows", async () => {
    const res = await d.api("/v1/previews", { method: "POST", body: JSON.stringify({ files: unique(loadApp("express-pg")), database: expressPgDatabase }) });
    expect(res.status).toBe(201);
    const created = (await res.json()) as { id: string; status: string; phase?: string };
    expect(created.status).toBe("installing");
    expect(created.phase).toMatch(/^installing dependencies \(npm ci, \d+ packages\)$/);
    const p = await waitForPreview(d, created.id, (p) => p.status === "running" || p.status === "failed");
    expect(p.error).toBeUndefined();
    expect(p.status).toBe("running");
    const items = await (await d.preview(created.id, "/api/items")).json();
    expect(items).toEqual([{ id: 1, name: "apple" }, { id: 2, name: "banana" }]);
    // The install's output is the first part of the preview's logs.
    const logs = await (await d.api(`/v1/previews/${created.id}/logs`)).text();
    expect(logs).toContain("[previewd] installing dependencies (npm ci");
    expect(logs).toMatch(/added \d+ packages/);
    expect(logs).toContain("express-pg listening on");
  });

  test("the second preview with the same lockfile takes the cache entry: no install", async () => {
    const files = unique(loadApp("express-pg"));
    const first = await createPreview(d, { files, database: expressPgDatabase });
    expect(first.status).toBe("running");
    const installs = await metric(d, "previewd_deps_installs_total");
    const hits = await metric(d, "previewd_deps_cache_hits_total");
    const res = await d.api("/v1/previews", { method: "POST", body: JSON.stringify({ files, database: expressPgDatabase }) });
    const second = (await res.json()) as { id: string; status: string };
    expect(second.status).toBe("starting"); // never "installing"
    const p = await waitForPreview(d, second.id, (p) => p.status === "running" || p.status === "failed");
    expect(p.status).toBe("running");
    expect(await (await d.preview(second.id, "/api/items")).json()).toEqual([{ id: 1, name: "apple" }, { id: 2, name: "banana" }]);
    expect(await metric(d, "previewd_deps_installs_total")).toBe(installs);
    expect(await metric(d, "previewd_deps_cache_hits_total")).toBe(hits + 1);
    const logs = await (await d.api(`/v1/previews/${second.id}/logs`)).text();
    expect(logs).toContain("[previewd] dependencies from the cache (npm ci");
    expect(logs).not.toMatch(/added \d+ packages/);
  });

  test("with the registry cut, a cached lockfile still starts and a new one fails naming the registry", async () => {
    const files = unique(loadApp("express-pg"));
    const warm = await createPreview(d, { files, database: expressPgDatabase });
    expect(warm.status).toBe("running");
    // A second daemon on the same cache whose registry is a closed port: no package can be fetched.
    const cut = await startTestDaemon({ PREVIEWD_DEPS_DIR: depsDir, PREVIEWD_NPM_REGISTRY: "http://127.0.0.1:9/" });
    try {
      const cached = await createPreview(cut, { files, database: expressPgDatabase });
      expect(cached.status).toBe("running");
      expect(await (await cut.preview(cached.id, "/api/items")).json()).toEqual([{ id: 1, name: "apple" }, { id: 2, name: "banana" }]);
      const fresh = await createPreview(cut, { files: unique(loadApp("express-pg")) });
      expect(fresh.status).toBe("failed");
      expect(fresh.error).toContain("The dependency install (npm ci) failed");
      expect(fresh.error).toMatch(/ECONNREFUSED|127\.0\.0\.1:9/);
    } finally {
      await cut.cleanup();
    }
  });

  test("two creates of one new lockfile at once install it once", async () => {
    const files = unique(loadApp("express-pg"));
    const installs = await metric(d, "previewd_deps_installs_total");
    const [a, b] = await Promise.all([createPreview(d, { files }), createPreview(d, { files })]);
    expect([a.status, b.status]).toEqual(["running", "running"]);
    expect(await metric(d, "previewd_deps_installs_total")).toBe(installs + 1);
    for (const p of [a, b]) expect(await (await d.preview(p.id, "/health")).json()).toEqual({ ok: true });
  });

  test("a preview cannot change the cache: the packages are read-only, no entry can be added", async () => {
    const files = unique(loadApp("express-pg"));
    const attack = `
const fs = require("fs");
const http = require("http");
const tries = {};
// Node 24+'s rmSync (native) throws with an empty code and the errno's text in its message.
const attempt = (name, fn) => { try { fn(); tries[name] = "ok"; } catch (e) { tries[name] = e.code || (/read-only file system/i.test(e.message) ? "EROFS" : e.message); } };
attempt("overwrite", () => fs.writeFileSync("node_modules/express/index.js", "module.exports = () => { throw new Error('pwned') }"));
attempt("removeInside", () => fs.rmSync("node_modules/express/lib", { recursive: true }));
attempt("addEntry", () => fs.mkdirSync("node_modules/.previewd-store/evil"));
http.createServer((q, s) => s.end(JSON.stringify(tries))).listen(process.env.PORT, "0.0.0.0");`;
    const evil = await createPreview(d, { files: { ...files, "server.js": attack } });
    expect(evil.status).toBe("running");
    // A different server.js, the same package.json and lockfile: the same cache entry.
    expect(await (await d.preview(evil.id, "/")).json()).toEqual({ overwrite: "EROFS", removeInside: "EROFS", addEntry: "EROFS" });
    const victim = await createPreview(d, { files });
    expect(victim.status).toBe("running");
    expect(await (await d.preview(victim.id, "/health")).json()).toEqual({ ok: true });
  });

  test("install scripts reach the registry but not the daemon's ports nor other previews", async () => {
    const other = await createPreview(d, { files: unique(loadApp("express-pg")) });
    const [info] = await new Docker().listContainers({ filters: { label: [`previewd.preview=${other.id}`] } });
    const otherIp = Object.values(info!.NetworkSettings.Networks)[0]!.IPAddress;
    // The other preview answers from the host (so a refusal below is the sandbox's doing, not a dead app).
    expect((await fetch(`http://${otherIp}:3000/health`)).status).toBe(200);
    const targets = { api: ["host.docker.internal", d.apiPort], proxy: ["host.docker.internal", d.proxyPort], otherPreview: [otherIp, 3000] };
    const probe = `const net=require('net');const t=${JSON.stringify(targets)};const r={};let n=0;for(const [k,[h,p]] of Object.entries(t)){const s=net.connect({host:h,port:p,timeout:3000});const end=(v)=>{r[k]=v;s.destroy();if(++n===3)console.log('[probe] '+JSON.stringify(r))};s.on('connect',()=>end('connected'));s.on('timeout',()=>end('timeout'));s.on('error',(e)=>end(e.code))}`;
    const files = unique(loadApp("express-pg"));
    const pkg = JSON.parse(files["package.json"]!);
    pkg.scripts = { ...pkg.scripts, postinstall: `node -e "${probe.replaceAll('"', '\\"')}"` };
    const p = await createPreview(d, { files: { ...files, "package.json": JSON.stringify(pkg) } });
    expect(p.status).toBe("running"); // the registry was reached: packages installed
    const logs = await (await d.api(`/v1/previews/${p.id}/logs`)).text();
    const line = /\[probe\] (\{.*\})/.exec(logs);
    expect(line).not.toBeNull();
    const reached = JSON.parse(line![1]!) as Record<string, string>;
    for (const k of Object.keys(targets)) expect(reached[k]).not.toBe("connected");
    expect(reached.otherPreview).toBe("timeout"); // inter-container traffic is dropped
  });

  test("nothing half-installed is left: no staging directory once installs end", () => {
    expect(readdirSync(join(depsDir, "staging")).filter((n) => !n.startsWith("evicted-"))).toEqual([]);
  });
});
