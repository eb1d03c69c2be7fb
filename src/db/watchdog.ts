// Bounds a preview's database work in time, whatever it SETs: a preview role
// can lift its own statement_timeout (SET, even ALTER ROLE itself), so the
// daemon watches pg_stat_activity and stops backends of preview roles that
// run too long: cancel first (the statement fails, the session lives), then
// terminate if it is still at it a round later. A transaction left idle
// holds locks and a connection slot: it is terminated at the same limit.
// Works with any admin that may signal preview backends (a superuser, or a
// member of pg_signal_backend such as Supabase's postgres role).
//
// Memory too, where the server runs on this host (the embedded one): work_mem
// is a user setting, so one `SET work_mem='1500MB'` sort grows its backend
// until the server's cgroup OOM-kills it, and PostgreSQL answers an OOM kill
// by restarting every backend, every preview's sessions included. A backend
// whose private memory (RssAnon in /proc: its sorts and hashes, not the shared
// buffers) passes `backendMemoryMb` is cancelled, then terminated, first.
import { readFileSync } from "node:fs";
import type { Logger } from "../log.ts";
import type { Sql } from "./client.ts";

export interface WatchdogOptions {
  sql: Sql;
  log: Logger;
  /** Longest a preview's statement (or open idle transaction) may run. */
  limitMs: number;
  /** The daemon's own migration sessions (application_name previewd-migrate) have a deadline of their own; past it plus this they are stopped too. */
  migrationLimitMs: number;
  /** How often to look. */
  everyMs?: number;
  /** Private memory one preview backend may hold, in MB; only where the server's /proc is ours (embedded). */
  backendMemoryMb?: number;
}

interface Offender {
  pid: number;
  role: string;
  state: string;
  ms: number;
  /** Private memory in MB, when it was the reason. */
  mb?: number;
}

export class DatabaseWatchdog {
  readonly counts = { cancelled: 0, terminated: 0 };
  private readonly cancelledOnce = new Set<number>();
  private timer?: ReturnType<typeof setInterval>;
  private busy = false;

  constructor(private readonly o: WatchdogOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.round(), this.o.everyMs ?? 1000);
    this.timer.unref?.();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One look: cancel what ran past the limit, terminate what was cancelled before and still runs. */
  async round(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const offenders = await this.o.sql<Offender[]>`
        SELECT pid, usename AS role, state,
               (extract(epoch FROM now() - CASE WHEN state = 'active' THEN query_start ELSE xact_start END) * 1000)::bigint AS ms
        FROM pg_stat_activity
        WHERE usename LIKE 'preview\\_%' AND backend_type = 'client backend'
          AND (state = 'active' OR state LIKE 'idle in transaction%')
          AND now() - CASE WHEN state = 'active' THEN query_start ELSE xact_start END >
              CASE WHEN application_name = 'previewd-migrate' THEN ${this.o.migrationLimitMs}::int ELSE ${this.o.limitMs}::int END * interval '1 millisecond'`;
      const seen = new Set<number>();
      const why = new Map<number, string>(offenders.map((b) => [b.pid, "time"]));
      for (const b of await this.memoryOffenders()) {
        if (why.has(b.pid)) continue;
        why.set(b.pid, "memory");
        offenders.push(b);
      }
      for (const b of offenders) {
        seen.add(b.pid);
        const again = this.cancelledOnce.has(b.pid) || b.state !== "active";
        // Counted first: the preview may see its session end before this await returns.
        if (again) {
          this.counts.terminated++;
          this.cancelledOnce.delete(b.pid);
          await this.o.sql`SELECT pg_terminate_backend(${b.pid})`;
        } else {
          this.counts.cancelled++;
          this.cancelledOnce.add(b.pid);
          await this.o.sql`SELECT pg_cancel_backend(${b.pid})`;
        }
        this.o.log.warn({ role: b.role, pid: b.pid, state: b.state, ms: Number(b.ms), mb: b.mb, action: again ? "terminated" : "cancelled" }, `stopped a preview's database work past its ${why.get(b.pid)} limit`);
      }
      for (const pid of this.cancelledOnce) if (!seen.has(pid)) this.cancelledOnce.delete(pid);
    } catch (err) {
      this.o.log.warn({ err }, "database watchdog round failed");
    } finally {
      this.busy = false;
    }
  }

  /** Running preview backends whose private memory is past the limit (none when no limit is set). */
  private async memoryOffenders(): Promise<Offender[]> {
    const limitMb = this.o.backendMemoryMb;
    if (!limitMb) return [];
    const active = await this.o.sql<Offender[]>`
      SELECT pid, usename AS role, state, (extract(epoch FROM now() - query_start) * 1000)::bigint AS ms
      FROM pg_stat_activity
      WHERE usename LIKE 'preview\\_%' AND backend_type = 'client backend' AND state = 'active'`;
    return active.flatMap((b) => {
      const mb = privateMb(b.pid);
      return mb !== undefined && mb > limitMb ? [{ ...b, mb }] : [];
    });
  }
}

/** RssAnon of a process in MB; undefined once it is gone. */
function privateMb(pid: number): number | undefined {
  try {
    const kb = /RssAnon:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kb === undefined ? undefined : Math.round(Number(kb) / 1024);
  } catch {
    return undefined;
  }
}
