// Per-preview PostgreSQL: one schema and one LOGIN role named preview_{id}.
// The role owns that schema and nothing else, is a member of no role, and is
// the only thing the app's DATABASE_URL can log in as. Isolation is plain
// PostgreSQL privileges; src/db/README.md lists what the catalogs still show.
import { randomBytes } from "node:crypto";
import { conflict, databaseBusy, notFound } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { DatabaseRequest, PreviewDatabase } from "../types.ts";
import { applyAsRole } from "./apply.ts";
import type { Sql } from "./client.ts";
import { dumpSchemaStream } from "./export.ts";
import { isDatabaseBusy } from "./outage.ts";
import { ident, isPreviewId, literal, PREVIEW_PREFIX, previewName } from "./ident.ts";

export interface PreviewDatabasesOptions {
  /** The daemon's pool, logged in as a role that may create roles (superuser, or CREATEROLE on Supabase). */
  sql: Sql;
  /** The URL `sql` was made from. */
  adminUrl: string;
  /** Host name containers use for the database when adminUrl points at loopback. */
  containerHost: string;
  log: Logger;
  /** Connections one preview may hold at once (enforced by the server). */
  connectionLimit?: number;
  /** Previews reach this server through PgBouncer in transaction mode (pooler.ts): Prisma must be told (env.ts). */
  pooled?: boolean;
  /** The role's default statement_timeout (the app may SET its own). */
  statementTimeoutMs?: number;
  /** statement_timeout while migrations and seed run. */
  migrationTimeoutMs?: number;
  /** temp_file_limit of the role (sorts and hashes spilled to disk), set where the admin may (a superuser). */
  tempFileLimitMb?: number;
  /** pg_dump binary for exports. */
  pgDump?: string;
}

/** Written as a comment on the schema and on the role: this is how cleanup knows an object is ours. */
interface Marker {
  previewd: 1;
  id: string;
  db: string;
  createdAt: string;
}

const HANDOFF_MS = 60_000;

export class PreviewDatabases {
  /** Ids whose create() is running: not yet in any store, never cleanup's to take. */
  private readonly creating = new Set<string>();
  /**
   * Ids this process created and has not dropped, with when: the caller
   * records the preview only after create() returns, so for a short while
   * the database exists and no store knows it. Cleanup leaves these alone
   * for HANDOFF_MS whatever the retention.
   */
  private readonly handedOut = new Map<string, number>();
  private checked?: Promise<string>;
  /** The admin may set superuser-only parameters on roles (temp_file_limit): known after check(). */
  private superuser = false;

  constructor(private readonly o: PreviewDatabasesOptions) {}

  async create(id: string, req: DatabaseRequest): Promise<PreviewDatabase> {
    const name = previewName(id);
    const db = await this.check();
    const started = performance.now();
    this.creating.add(id);
    try {
      const password = randomBytes(24).toString("base64url");
      const marker = literal(JSON.stringify({ previewd: 1, id, db, createdAt: new Date().toISOString() } satisfies Marker));
      const role = ident(name);
      const limit = this.o.connectionLimit ?? 10;
      const timeout = this.o.statementTimeoutMs ?? 30_000;
      try {
        // One transaction: a crash leaves both or neither.
        await this.o.sql.begin(async (tx) => {
          await tx.unsafe(
            `CREATE ROLE ${role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS ` +
              `CONNECTION LIMIT ${limit} PASSWORD ${literal(password)}`,
          );
          // Membership lets us create the schema on its behalf, end its
          // sessions and drop what it owns. (Not the other way round: the
          // preview role is a member of nothing, so it cannot SET ROLE.)
          await tx.unsafe(`GRANT ${role} TO CURRENT_USER`);
          await tx.unsafe(`CREATE SCHEMA ${role} AUTHORIZATION ${role}`);
          await tx.unsafe(`ALTER ROLE ${role} SET search_path = ${role}`);
          await tx.unsafe(`ALTER ROLE ${role} SET statement_timeout = ${timeout}`);
          await tx.unsafe(`ALTER ROLE ${role} SET idle_in_transaction_session_timeout = ${Math.max(timeout, 60_000)}`);
          // Per-query memory and fan-out defaults, so that an ordinary query stays small whatever the server's own
          // defaults are (Supabase sizes work_mem by instance). These are user settings: a role that SETs them
          // higher gets its way, so the hard bounds are the embedded server's cgroup and max_worker_processes.
          await tx.unsafe(`ALTER ROLE ${role} SET work_mem = '4MB'`);
          await tx.unsafe(`ALTER ROLE ${role} SET hash_mem_multiplier = 2`);
          await tx.unsafe(`ALTER ROLE ${role} SET max_parallel_workers_per_gather = 0`);
          // A superuser-only parameter: the role can neither SET it nor ALTER ROLE it away (src/db/README.md, "Budgets").
          if (this.superuser) await tx.unsafe(`ALTER ROLE ${role} SET temp_file_limit = '${this.o.tempFileLimitMb ?? 1024}MB'`);
          await tx.unsafe(`COMMENT ON SCHEMA ${role} IS ${marker}`);
          await tx.unsafe(`COMMENT ON ROLE ${role} IS ${marker}`);
        });
      } catch (e) {
        if ((e as { code?: string }).code === "42710" || (e as { code?: string }).code === "42P06") {
          throw conflict(`A database for preview ${id} already exists.`);
        }
        if (isDatabaseBusy(e)) throw databaseBusy(`the daemon could not get a connection to create preview ${id}'s database`, (e as Error).message);
        throw e;
      }
      if ((req.migrations ?? []).length > 0 || req.seed) {
        try {
          await applyAsRole({ url: this.o.adminUrl, user: this.loginName(name), password }, req, this.o.migrationTimeoutMs ?? 120_000);
        } catch (e) {
          await this.drop(id).catch((err) => this.o.log.error({ err, id }, "could not drop the database of a failed migration"));
          // The migrations' own login (as the new role, direct to the server) found no free slot: name that, not "unreachable" or "no capacity".
          if (isDatabaseBusy(e)) throw databaseBusy(`no connection for preview ${id}'s migrations`, (e as Error).message);
          throw e;
        }
      }
      this.handedOut.set(id, Date.now());
      this.o.log.info({ id, schema: name, ms: Math.round(performance.now() - started) }, "preview database created");
      return { schema: name, url: this.containerUrl(name, password), ...(this.o.pooled && { pooled: true }) };
    } finally {
      this.creating.delete(id);
    }
  }

  /** Ends the role's sessions, drops the schema with everything in it, then the role. Idempotent. */
  async drop(id: string): Promise<void> {
    await this.dropObjects(previewName(id), { schema: true, role: true });
    this.handedOut.delete(id);
  }

  /** The preview's schema and data as SQL for `psql -v ON_ERROR_STOP=1` into an empty database (objects land in `public`). */
  async exportSql(id: string, opts: { into?: string } = {}): Promise<string> {
    return new Response(await this.exportStream(id, opts)).text();
  }

  /** The same, streamed from pg_dump (the API sends it on as it comes). */
  async exportStream(id: string, opts: { into?: string } = {}): Promise<ReadableStream<Uint8Array>> {
    const name = previewName(id);
    const [found] = await this.o.sql`SELECT 1 FROM pg_namespace WHERE nspname = ${name}`;
    if (!found) throw notFound("database of preview", id);
    return dumpSchemaStream({ url: this.o.adminUrl, schema: name, into: opts.into, pgDump: this.o.pgDump });
  }

  /**
   * Drops preview schemas and roles that previewd made in this database
   * (they carry its marker) whose preview is not in liveIds and that are older
   * than retentionSeconds; the age floor keeps a create in flight on another
   * node safe. Anything without the marker is never touched. Right before
   * each drop, a record in previewd.previews (this database's store) saves
   * the preview too: liveIds may be a moment old.
   */
  async cleanup({ liveIds, retentionSeconds }: { liveIds: Set<string>; retentionSeconds: number }): Promise<{ dropped: string[] }> {
    const sql = this.o.sql;
    const db = await this.check();
    const pattern = `${PREVIEW_PREFIX.replace("_", "\\_")}%`;
    const schemas = await sql<{ name: string; comment: string | null }[]>`
      SELECT nspname AS name, obj_description(oid, 'pg_namespace') AS comment FROM pg_namespace WHERE nspname LIKE ${pattern}`;
    const roles = await sql<{ name: string; comment: string | null }[]>`
      SELECT rolname AS name, shobj_description(oid, 'pg_authid') AS comment FROM pg_roles WHERE rolname LIKE ${pattern}`;
    const cutoff = Date.now() - retentionSeconds * 1000;
    for (const [id, at] of this.handedOut) if (at <= Date.now() - HANDOFF_MS) this.handedOut.delete(id);
    const doomed = new Map<string, { schema: boolean; role: boolean }>();
    const consider = (kind: "schema" | "role", row: { name: string; comment: string | null }) => {
      const m = parseMarker(row.comment);
      if (!m || m.db !== db || PREVIEW_PREFIX + m.id !== row.name) return;
      if (liveIds.has(m.id) || this.creating.has(m.id) || Date.parse(m.createdAt) > cutoff) return;
      if ((this.handedOut.get(m.id) ?? 0) > Date.now() - HANDOFF_MS) return;
      const entry = doomed.get(row.name) ?? { schema: false, role: false };
      entry[kind] = true;
      doomed.set(row.name, entry);
    };
    for (const s of schemas) consider("schema", s);
    for (const r of roles) consider("role", r);
    const dropped: string[] = [];
    const [store] = await sql<{ present: boolean }[]>`SELECT to_regclass('previewd.previews') IS NOT NULL AS present`;
    for (const [name, what] of doomed) {
      const id = name.slice(PREVIEW_PREFIX.length);
      try {
        if (store!.present && (await sql`SELECT 1 FROM previewd.previews WHERE id = ${id}`).length > 0) continue;
        await this.dropObjects(name, what);
        this.handedOut.delete(id);
        dropped.push(id);
      } catch (err) {
        this.o.log.warn({ err, name }, "cleanup could not drop an orphaned preview database");
      }
    }
    if (dropped.length) this.o.log.info({ dropped }, "dropped orphaned preview databases");
    return { dropped };
  }

  /** The URL a preview container uses: the server of adminUrl, logged in as the preview's role. */
  containerUrl(name: string, password: string): string {
    const u = new URL(this.o.adminUrl);
    u.username = encodeURIComponent(this.loginName(name));
    u.password = encodeURIComponent(password);
    if (isLoopback(u.hostname)) u.hostname = this.o.containerHost;
    // Only libpq's sslmode travels: other parameters are the daemon's own
    // client settings, and postgres.js sends unknown ones to the server as
    // startup parameters. No `schema=` either: the role's search_path already
    // points at its schema (Prisma users add ?schema=<schema> themselves).
    const sslmode = u.searchParams.get("sslmode");
    u.search = sslmode ? `?sslmode=${encodeURIComponent(sslmode)}` : "";
    return u.toString();
  }

  /**
   * Supabase's pooler (Supavisor) wants user names of the form
   * role.project-ref: reuse the admin user's suffix there.
   */
  private loginName(name: string): string {
    const u = new URL(this.o.adminUrl);
    const user = decodeURIComponent(u.username);
    return u.hostname.endsWith(".pooler.supabase.com") && user.includes(".") ? name + user.slice(user.indexOf(".")) : name;
  }

  private async dropObjects(name: string, what: { schema: boolean; role: boolean }) {
    const sql = this.o.sql;
    const role = ident(name);
    const [exists] = what.role ? await sql`SELECT 1 FROM pg_roles WHERE rolname = ${name}` : [];
    if (exists) {
      // No new sessions, then end the ones it has (an app mid-query holds locks). Bounded like the drops below:
      // a lock on the role held elsewhere must fail the drop with a reason, not hang it.
      await sql.begin(async (tx) => {
        await tx`SET LOCAL lock_timeout = '15s'`;
        await tx.unsafe(`ALTER ROLE ${role} NOLOGIN`);
      });
      await sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ${name} AND pid <> pg_backend_pid()`;
    }
    await sql.begin(async (tx) => {
      await tx`SET LOCAL lock_timeout = '15s'`;
      if (what.schema) await tx.unsafe(`DROP SCHEMA IF EXISTS ${role} CASCADE`);
      if (exists) {
        await tx.unsafe(`DROP OWNED BY ${role}`);
        await tx.unsafe(`DROP ROLE ${role}`);
      }
    });
  }

  /**
   * Once per process: the admin role can create roles, and PUBLIC holds no
   * CREATE on the database or on schema public (PostgreSQL 15's defaults; a
   * database upgraded from an older version may still grant them, and then
   * every preview could create schemas or write into public). Returns the
   * database name.
   */
  private check(): Promise<string> {
    this.checked ??= (async () => {
      const sql = this.o.sql;
      const [me] = await sql<{ db: string; can: boolean; superuser: boolean; dbCreate: boolean; publicCreate: boolean | null }[]>`
        SELECT current_database() AS db,
               (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser,
               (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user) AS can,
               has_database_privilege('public', current_database(), 'CREATE') AS "dbCreate",
               (SELECT has_schema_privilege('public', 'public', 'CREATE') WHERE EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'public')) AS "publicCreate"`;
      this.superuser = me!.superuser;
      if (!me!.can) throw new Error("the DATABASE_URL user cannot create roles: it needs CREATEROLE (or superuser) for per-preview roles");
      if (me!.dbCreate) {
        this.o.log.warn("PUBLIC may create schemas in this database; revoking that so previews cannot");
        await sql.unsafe(`REVOKE CREATE ON DATABASE ${ident(me!.db)} FROM PUBLIC`);
      }
      if (me!.publicCreate) {
        this.o.log.warn("PUBLIC may create objects in schema public; revoking that so previews cannot");
        await sql`REVOKE CREATE ON SCHEMA public FROM PUBLIC`;
      }
      return me!.db;
    })();
    this.checked.catch(() => (this.checked = undefined));
    return this.checked;
  }
}

function parseMarker(comment: string | null): Marker | undefined {
  if (!comment) return undefined;
  try {
    const m = JSON.parse(comment) as Partial<Marker>;
    if (m.previewd !== 1 || typeof m.id !== "string" || !isPreviewId(m.id) || typeof m.db !== "string" || typeof m.createdAt !== "string") return undefined;
    if (Number.isNaN(Date.parse(m.createdAt))) return undefined;
    return m as Marker;
  } catch {
    return undefined;
  }
}

function isLoopback(host: string): boolean {
  return host === "localhost" || /^127\./.test(host) || host === "[::1]" || host === "::1";
}
