// The environment an app starts with: its own variables, then ours (which win).
import type { PreviewDatabase } from "../types.ts";

/**
 * Prisma qualifies tables with a schema (default public) and reads it from
 * the URL's `schema` parameter; postgres.js would send that parameter to the
 * server, which refuses it. So DATABASE_URL stays plain (postgres.js,
 * node-postgres, Drizzle, Knex: the role's search_path finds the tables) and
 * Prisma gets its own URL.
 */
export function prismaUrl(db: PreviewDatabase): string {
  const u = new URL(db.url);
  u.searchParams.set("schema", db.schema);
  // Through PgBouncer in transaction mode, Prisma must not keep named prepared statements (Prisma's documented flag).
  if (db.pooled) u.searchParams.set("pgbouncer", "true");
  return u.toString();
}

/**
 * Variables merged into an object with no prototype: a name such as
 * `__proto__` (refused at the edge, but records are data) is then an
 * ordinary key, never the object's prototype.
 */
export function envObject(...parts: Array<Record<string, string> | undefined>): Record<string, string> {
  return Object.assign(Object.create(null) as Record<string, string>, ...parts);
}

export function appEnv(env: Record<string, string>, db: PreviewDatabase | undefined): Record<string, string> {
  return envObject(env, db && { DATABASE_URL: db.url, PRISMA_DATABASE_URL: prismaUrl(db) });
}
