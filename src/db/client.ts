// The daemon's PostgreSQL connection and the migrations of its own schema.
import postgres, { type Sql } from "postgres";
import { MIGRATIONS, type Migration } from "./migrations.ts";

export type { Sql };

/**
 * One pool per daemon. Ten connections is plenty for the control plane (the
 * previews' own traffic goes over their own roles); idle ones are closed so a
 * quiet node holds few server slots, which matters on Supabase.
 */
export function connect(url: string, opts: { max?: number } = {}): Sql {
  return postgres(url, {
    max: opts.max ?? 10,
    idle_timeout: 30,
    connect_timeout: 10,
    max_lifetime: 60 * 30,
    // NOTICEs ("schema ... does not exist, skipping") are not news
    onnotice: () => {},
    connection: { application_name: "previewd" },
  });
}

/** Two-int advisory lock key: ('prev', 'migr') as ASCII, fixed forever. */
const LOCK = [0x70726576, 0x6d696772] as const;

/**
 * Applies the files of sql/ that this database has not seen, in order, in one
 * transaction that holds an advisory lock: nodes that start together take
 * turns, and a failed migration leaves nothing half-applied.
 * Returns the versions applied now.
 */
export async function migrate(sql: Sql, migrations: readonly Migration[] = MIGRATIONS): Promise<string[]> {
  return sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${LOCK[0]}::int, ${LOCK[1]}::int)`;
    await tx`CREATE SCHEMA IF NOT EXISTS previewd`;
    await tx`REVOKE ALL ON SCHEMA previewd FROM PUBLIC`;
    await tx`CREATE TABLE IF NOT EXISTS previewd.schema_migrations (
      version text PRIMARY KEY,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`;
    const done = new Set((await tx<{ version: string }[]>`SELECT version FROM previewd.schema_migrations`).map((r) => r.version));
    const applied: string[] = [];
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      await tx.unsafe(m.sql);
      await tx`INSERT INTO previewd.schema_migrations (version) VALUES (${m.version})`;
      applied.push(m.version);
    }
    return applied;
  });
}
