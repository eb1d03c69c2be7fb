// Applying a rehearsed migration to production: one transaction, so a
// failure or a kill leaves production as it was. A lock that production's
// app holds for long makes the step fail (lock_timeout) rather than queue
// every request of the app behind it.
import type { Sql } from "postgres";
import type { Statement } from "./statement.ts";

export const LOCK_TIMEOUT = "15s";

export async function applyMigration(sql: Sql, statements: Statement[]): Promise<{ ms: number }> {
  const t0 = performance.now();
  await sql.begin(async (tx) => {
    await tx.unsafe("SET LOCAL search_path = public");
    await tx.unsafe(`SET LOCAL lock_timeout = '${LOCK_TIMEOUT}'`);
    for (const s of statements) {
      try {
        await tx.unsafe(s.sql);
      } catch (e) {
        throw new Error(`production refused "${s.summary}": ${(e as Error).message} (nothing was applied)`);
      }
    }
  });
  return { ms: Math.round(performance.now() - t0) };
}

/** Ends sessions an earlier run of this daemon left behind (killed mid-step): their transaction rolls back. */
export async function endSessions(sql: Sql, applicationName: string): Promise<void> {
  const others = () => sql`SELECT pid FROM pg_stat_activity WHERE application_name = ${applicationName} AND pid <> pg_backend_pid()`;
  for (const { pid } of await others()) await sql`SELECT pg_terminate_backend(${pid as number})`;
  for (let i = 0; i < 100 && (await others()).length > 0; i++) await Bun.sleep(100);
}
