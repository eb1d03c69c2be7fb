// Shared bits of the db tests: a PreviewDatabases on a database of its own,
// and ways to log in as a preview's role from this host.
import { customAlphabet } from "nanoid";
import postgres from "postgres";
import { connect, migrate, PreviewDatabases, type Sql } from "../../src/db/index.ts";
import { createLogger } from "../../src/log.ts";
import { freshDatabase } from "../support/postgres.ts";

export const newId = customAlphabet("abcdefghijklmnopqrstuvwxyz0123456789", 12);

export interface Fixture {
  url: string;
  sql: Sql;
  dbs: PreviewDatabases;
  end(): Promise<void>;
}

/**
 * A fresh database with the daemon schema migrated, and a PreviewDatabases on
 * it. Its own database so that cleanup in one test never sees another test's
 * previews (roles are cluster-wide, but previewd marks each with its database).
 */
export async function fixture(opts: Partial<ConstructorParameters<typeof PreviewDatabases>[0]> = {}): Promise<Fixture> {
  const url = await freshDatabase();
  const sql = connect(url);
  await migrate(sql);
  const dbs = new PreviewDatabases({ sql, adminUrl: url, containerHost: "host.docker.internal", log: createLogger("warn"), ...opts });
  return { url, sql, dbs, end: () => sql.end({ timeout: 5 }) };
}

/** The container URL of a preview, pointed back at this host's loopback. */
export function hostUrl(containerUrl: string, adminUrl: string): string {
  const u = new URL(containerUrl);
  u.hostname = new URL(adminUrl).hostname;
  return u.toString();
}

/** A postgres.js client logged in as the preview role of `containerUrl`. */
export function asRole(containerUrl: string, adminUrl: string): Sql {
  return postgres(hostUrl(containerUrl, adminUrl), { max: 1, onnotice: () => {} });
}

/** Runs `query` and returns the PostgreSQL error it raised (fails the test if none). */
export async function pgError(sql: Sql, query: string): Promise<{ code: string; message: string }> {
  try {
    await sql.unsafe(query);
  } catch (e) {
    if (e instanceof postgres.PostgresError) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error(`expected ${JSON.stringify(query)} to fail, and it succeeded`);
}

export async function schemaExists(sql: Sql, name: string): Promise<boolean> {
  return (await sql`SELECT 1 FROM pg_namespace WHERE nspname = ${name}`).length > 0;
}

export async function roleExists(sql: Sql, name: string): Promise<boolean> {
  return (await sql`SELECT 1 FROM pg_roles WHERE rolname = ${name}`).length > 0;
}
