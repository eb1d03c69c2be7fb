// Runs a preview's migrations and seed on a connection that logged in AS the
// preview's role, never through SET ROLE on the daemon's connection: a
// statement like RESET ROLE would otherwise hand the client's SQL the
// daemon's own privileges.
import postgres from "postgres";
import { migrationFailed } from "../errors.ts";
import type { DatabaseRequest } from "../types.ts";
import { splitStatements } from "./split.ts";

export interface RoleLogin {
  /** Any URL of the server that this process can reach (the admin URL). */
  url: string;
  user: string;
  password: string;
}

const TX_START = /^(begin|start\s+transaction)\b(?!\s+atomic)/i;
const TX_COMMIT = /^(commit|end)(\s+(work|transaction))?(\s+and\s+(no\s+)?chain)?$/i;
const TX_ROLLBACK = /^(rollback|abort)\b(?!\s+to\b)/i;

/**
 * Migrations in order, then the seed, each statement on its own, all in one
 * transaction. BEGIN/COMMIT in the scripts are no-ops here (everything is
 * already one transaction that we commit); ROLLBACK is refused. A failing
 * statement rolls everything back and throws migrationFailed(statement, pg's
 * message).
 */
export async function applyAsRole(login: RoleLogin, req: DatabaseRequest, timeoutMs: number): Promise<void> {
  const scripts = [...(req.migrations ?? []), ...(req.seed ? [req.seed] : [])];
  const statements = scripts.flatMap(splitStatements).filter((s) => !TX_START.test(s) && !TX_COMMIT.test(s));
  if (statements.length === 0) return;
  const sql = postgres(login.url, {
    username: login.user,
    password: login.password,
    max: 1,
    connect_timeout: 10,
    prepare: false,
    // one round trip fewer: migrations need no array type parsing
    fetch_types: false,
    onnotice: () => {},
    connection: { application_name: "previewd-migrate" },
  });
  // The script can SET its own statement_timeout (to 0), so the deadline is
  // also the daemon's: past it the running statement is cancelled and no
  // further statement starts.
  let running: { cancel(): void } | undefined;
  let late = false;
  const deadline = setTimeout(() => {
    late = true;
    running?.cancel();
  }, timeoutMs + 500);
  const lateMessage = `migrations and seed did not finish within ${Math.round(timeoutMs / 1000)} s; the statement was cancelled`;
  try {
    await sql.begin(async (tx) => {
      // The role's own statement_timeout is for the app; migrations and a
      // large seed get longer. (SET LOCAL: gone with the transaction.)
      await tx.unsafe(`SET LOCAL statement_timeout = ${Math.max(1, Math.floor(timeoutMs))}`);
      for (const stmt of statements) {
        if (TX_ROLLBACK.test(stmt)) {
          throw migrationFailed(stmt, "ROLLBACK is not allowed here: migrations and seed run in one transaction that previewd commits");
        }
        if (late) throw migrationFailed(stmt, lateMessage);
        try {
          const q = tx.unsafe(stmt);
          running = q;
          await q;
        } catch (e) {
          if (late) throw migrationFailed(stmt, lateMessage);
          if (isPgError(e)) throw migrationFailed(stmt, e.message);
          throw e;
        }
      }
    });
  } finally {
    clearTimeout(deadline);
    await sql.end({ timeout: 5 });
  }
}

function isPgError(e: unknown): e is postgres.PostgresError {
  return e instanceof postgres.PostgresError;
}
