// A database budget per preview: its tables must not fill the shared
// server's disk (and with it every preview's database). PostgreSQL has no
// per-schema or per-role quota, so the daemon measures and acts:
//
// - every few seconds it sums, per preview role, the size of the relations it
//   owns (pg_total_relation_size: heap, indexes, TOAST; its schema's tables
//   and its temporary tables alike), plus, where the server lets the admin
//   stat files (the embedded server), relations created by a transaction that
//   has not committed yet (CREATE TABLE ... AS in flight is invisible in
//   pg_class, but its creator holds a lock on it);
// - past the budget the role is shut out: NOLOGIN (no new session) and its
//   sessions terminated. That holds whatever the role does: revoking write
//   grants would not (the role owns its tables, and owners bypass grants), and
//   default_transaction_read_only is a setting the role can SET back. The
//   preview is failed with a message saying why (onOver).
//
// Works with any admin that may read the catalogs and signal preview backends
// (superuser, or Supabase's postgres role); the in-flight part needs
// pg_stat_file (superuser) and is skipped where it is denied.
import type { Logger } from "../log.ts";
import type { Sql } from "./client.ts";
import { ident, isPreviewId, PREVIEW_PREFIX } from "./ident.ts";

export interface BudgetOptions {
  sql: Sql;
  log: Logger;
  /** The budget per preview, in bytes. */
  limitBytes: number;
  /** How often to measure. */
  everyMs?: number;
  /** Called for each preview found over its budget, every round while it is (the handler must be idempotent). */
  onOver?: (id: string, message: string) => Promise<void> | void;
}

export interface Usage {
  role: string;
  bytes: number;
}

const MB = 1024 * 1024;

export class DatabaseBudget {
  readonly counts = { shutOut: 0 };
  private timer?: ReturnType<typeof setInterval>;
  private busy = false;
  private statFiles = true;

  constructor(private readonly o: BudgetOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.round(), this.o.everyMs ?? 5000);
    this.timer.unref?.();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Bytes each preview role holds (committed relations, plus relations still being created where measurable). */
  async usage(): Promise<Usage[]> {
    const pattern = `${PREVIEW_PREFIX.replace("_", "\\_")}%`;
    // r: tables, m: materialized views (indexes and TOAST count inside their table's total), S: sequences.
    const committed = await this.o.sql<{ role: string; bytes: string }[]>`
      SELECT r.rolname AS role, sum(pg_total_relation_size(c.oid))::bigint AS bytes
      FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
      WHERE r.rolname LIKE ${pattern} AND c.relkind IN ('r', 'm', 'S')
      GROUP BY r.rolname`;
    const total = new Map(committed.map((u) => [u.role, Number(u.bytes)]));
    for (const u of await this.inFlight(pattern)) total.set(u.role, (total.get(u.role) ?? 0) + u.bytes);
    return [...total].map(([role, bytes]) => ({ role, bytes }));
  }

  /**
   * Relations a preview's open transaction created (not yet in pg_class for
   * anyone else): the creator holds a lock on each, and a new relation's
   * file is named after its OID. Sums the main fork's 1 GB segments.
   */
  private async inFlight(pattern: string): Promise<Usage[]> {
    if (!this.statFiles) return [];
    try {
      const rows = await this.o.sql<{ role: string; bytes: string }[]>`
        WITH fresh AS (
          SELECT DISTINCT a.usename AS role, l.relation AS oid
          FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE l.locktype = 'relation' AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND a.usename LIKE ${pattern}
            AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = l.relation)
        )
        SELECT f.role, sum(coalesce((pg_stat_file(p.path, true)).size, 0))::bigint AS bytes
        FROM fresh f,
             LATERAL (SELECT 'base/' || (SELECT oid FROM pg_database WHERE datname = current_database()) || '/' || f.oid
                             || CASE WHEN s = 0 THEN '' ELSE '.' || s END AS path
                      FROM generate_series(0, 64) s) p
        GROUP BY f.role`;
      return rows.map((r) => ({ role: r.role, bytes: Number(r.bytes) }));
    } catch (err) {
      // Not a superuser (Supabase): committed sizes only.
      this.statFiles = false;
      this.o.log.info({ err: (err as Error).message }, "database budget: cannot stat relation files here; measuring committed relations only");
      return [];
    }
  }

  /** One look: shut out every preview role past the budget. */
  async round(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      for (const u of await this.usage()) {
        if (u.bytes <= this.o.limitBytes) continue;
        const id = u.role.slice(PREVIEW_PREFIX.length);
        if (!isPreviewId(id)) continue;
        const message =
          `The preview's database grew to ${Math.round(u.bytes / MB)} MB, past its budget of ${Math.round(this.o.limitBytes / MB)} MB ` +
          `(PREVIEWD_DB_MB): its role may no longer log in. Export the database, or delete the preview and create it again.`;
        if (await this.shutOut(u.role)) {
          this.counts.shutOut++;
          this.o.log.warn({ role: u.role, bytes: u.bytes, limit: this.o.limitBytes }, "shut a preview out of its database: over its budget");
        }
        await this.o.onOver?.(id, message);
      }
    } catch (err) {
      this.o.log.warn({ err }, "database budget round failed");
    } finally {
      this.busy = false;
    }
  }

  /** NOLOGIN first (no new session slips in), then end the sessions it has. True if it could log in until now. */
  private async shutOut(role: string): Promise<boolean> {
    const [r] = await this.o.sql<{ login: boolean }[]>`SELECT rolcanlogin AS login FROM pg_roles WHERE rolname = ${role}`;
    if (!r) return false;
    if (r.login) await this.o.sql.unsafe(`ALTER ROLE ${ident(role)} NOLOGIN`);
    const ended = await this.o.sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ${role} AND pid <> pg_backend_pid()`;
    return r.login || ended.length > 0;
  }
}
