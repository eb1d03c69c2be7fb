// Done-when: an app in a real container connects with the DATABASE_URL that
// PreviewDatabases hands out (host.docker.internal, the embedded server on the
// Docker bridge) and reads its seeded rows, with postgres.js and with
// node-postgres; the superuser's password gets nowhere from there.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { PreviewDatabase } from "../../src/types.ts";
import { fixture, newId, type Fixture } from "./helpers.ts";
import { dockerRun, nodeImage } from "./node-image.ts";

const NODE_MODULES = resolve(import.meta.dir, "../../node_modules");

const CHECK = `
import postgres from "postgres";
import pg from "pg";
const out = {};
const sql = postgres(process.env.DATABASE_URL, { max: 1 });
out.postgresjs = (await sql\`select name from items order by id\`).map((r) => r.name);
out.search_path = (await sql\`show search_path\`)[0].search_path;
await sql.end();
const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
await client.connect();
out.nodePostgres = (await client.query("select count(*)::int as n from items")).rows[0].n;
await client.end();
const su = postgres(process.env.SUPERUSER_URL, { max: 1, connect_timeout: 5 });
out.superuser = await su\`select 1\`.then(() => "connected", (e) => e.message);
await su.end().catch(() => {});
console.log(JSON.stringify(out));
`;

let f: Fixture;
let db: PreviewDatabase;
let dir: string;
let image: string;

beforeAll(async () => {
  [f, image] = await Promise.all([fixture(), nodeImage()]);
  db = await f.dbs.create(newId(), {
    migrations: ["create table items (id serial primary key, name text not null)"],
    seed: "insert into items (name) values ('alpha'), ('beta')",
  });
  dir = mkdtempSync(join(tmpdir(), "previewd-dbapp-"));
  writeFileSync(join(dir, "check.mjs"), CHECK);
});
afterAll(async () => {
  await f.end();
  rmSync(dir, { recursive: true, force: true });
});

test("an app in a container reads its seeded rows through DATABASE_URL", async () => {
  expect(new URL(db.url).hostname).toBe("host.docker.internal");
  const superuser = new URL(f.url);
  superuser.hostname = "host.docker.internal";
  const r = await dockerRun([
    "--add-host", `host.docker.internal:${bridgeGateway()}`, // not host-gateway: "<nil>" after an engine restart with live-restore
    "-e", `DATABASE_URL=${db.url}`,
    "-e", `SUPERUSER_URL=${superuser}`,
    "-v", `${NODE_MODULES}:/app/node_modules:ro`,
    "-v", `${dir}/check.mjs:/app/check.mjs:ro`,
    "-w", "/app",
    image, "node", "/app/check.mjs",
  ]);
  expect(r.err).toBe("");
  expect(r.code).toBe(0);
  const out = JSON.parse(r.out);
  expect(out.postgresjs).toEqual(["alpha", "beta"]);
  expect(out.search_path).toBe(db.schema);
  expect(out.nodePostgres).toBe(2);
  expect(out.superuser).toContain('pg_hba.conf rejects connection');
  expect(out.superuser).toContain('user "postgres"');
});

/** The host's address on Docker's default bridge. */
function bridgeGateway(): string {
  const out = Bun.spawnSync(["docker", "network", "inspect", "bridge", "--format", "{{range .IPAM.Config}}{{.Gateway}}{{end}}"]).stdout.toString().trim();
  return out || "host-gateway";
}
