// The rehearsal: production's schema and data copied into a scratch schema
// of production's own database (INSERT ... SELECT on the server, nothing
// travels through the daemon), the migration run there in ONE transaction
// that is then rolled back, and the scratch schema dropped. Production's
// tables are only read (the copy takes no lock stronger than a SELECT's).
//
// Past `maxRows` a table is copied as a sample of that many rows; then rows
// whose foreign keys point at parents left out of the sample are removed
// from the copy, so the copy's own constraints hold and a failure in the
// rehearsal is the migration's, not the sample's.
import type { Sql } from "postgres";
import { ident } from "../../db/ident.ts";
import { emptyModel, type SchemaModel } from "./model.ts";
import type { Keywords } from "./names.ts";
import { planMigration } from "./plan.ts";
import { PHASE, type Statement } from "./statement.ts";

export interface RehearsalReport {
  /** Rows copied into the rehearsal's copy. */
  copiedRows: number;
  /** Tables copied as a sample (more rows than the setting). */
  sampled: string[];
  copyMs: number;
  /** The migration's own time on the copy. */
  ms: number;
  statements: { summary: string; ms: number; rows?: number }[];
}

export class RehearsalFailed extends Error {
  constructor(readonly statement: Statement, readonly pgMessage: string) {
    super(`the migration failed on a copy of production at "${statement.summary}": ${pgMessage}`);
  }
}

export interface RehearsalOptions {
  /** Scratch schema name (one per deployment: a resumed rehearsal drops what an earlier one left). */
  scratch: string;
  production: SchemaModel;
  statements: Statement[];
  keywords: Keywords;
  maxRows: number;
}

export async function rehearse(sql: Sql, o: RehearsalOptions): Promise<RehearsalReport> {
  const S = ident(o.scratch);
  await sql.unsafe(`DROP SCHEMA IF EXISTS ${S} CASCADE`);
  await sql.unsafe(`CREATE SCHEMA ${S}`);
  try {
    const started = performance.now();
    const copy = await copyProduction(sql, o);
    const copyMs = Math.round(performance.now() - started);
    const report: RehearsalReport = { copiedRows: copy.rows, sampled: copy.sampled, copyMs, ms: 0, statements: [] };
    const sentinel = new Error("rehearsal done");
    const t0 = performance.now();
    try {
      await sql.begin(async (tx) => {
        await tx.unsafe(`SET LOCAL search_path = ${S}, public`);
        for (const s of o.statements) {
          const t = performance.now();
          let res: { count: number; command: string };
          try {
            res = (await tx.unsafe(s.sql)) as unknown as { count: number; command: string };
          } catch (e) {
            throw new RehearsalFailed(s, (e as Error).message);
          }
          const dml = ["INSERT", "UPDATE", "DELETE"].includes(res.command);
          const rows = dml ? res.count : s.table !== undefined ? copy.counts.get(s.table) : undefined;
          report.statements.push({ summary: s.summary, ms: Math.round(performance.now() - t), ...(rows !== undefined ? { rows } : {}) });
        }
        try {
          await tx.unsafe("SET CONSTRAINTS ALL IMMEDIATE"); // deferred checks fire here, not at a commit that never comes
        } catch (e) {
          throw new RehearsalFailed(o.statements.at(-1)!, (e as Error).message);
        }
        report.ms = Math.round(performance.now() - t0);
        throw sentinel; // always rolled back: the copy is dropped below anyway
      });
    } catch (e) {
      if (e !== sentinel) throw e;
    }
    return report;
  } finally {
    await sql.unsafe(`DROP SCHEMA IF EXISTS ${S} CASCADE`);
  }
}

async function copyProduction(sql: Sql, o: RehearsalOptions): Promise<{ rows: number; sampled: string[]; counts: Map<string, number> }> {
  const S = ident(o.scratch);
  const model = o.production;
  // The copy's structure is the plan from nothing to production (rows come by INSERT, so no history rows).
  const build = planMigration(emptyModel(), model, { keywords: o.keywords, history: false }).statements;
  const counts = new Map<string, number>();
  const sampled: string[] = [];
  await sql.begin(async (tx) => {
    await tx.unsafe(`SET LOCAL search_path = ${S}, public`);
    for (const s of build.filter((s) => s.phase < PHASE.addConstraints)) await tx.unsafe(s.sql);
    for (const t of Object.values(model.tables)) {
      const cols = t.columns.filter((c) => !c.generated);
      if (cols.length === 0) continue;
      const enumOf = (type: string) => {
        const base = type.replace(/\[\]$/, "");
        return Object.keys(model.enums).some((e) => e === base || `"${e.replaceAll('"', '""')}"` === base);
      };
      const list = cols.map((c) => ident(c.name)).join(", ");
      const select = cols.map((c) => (enumOf(c.type) ? `${ident(c.name)}::text::${c.type}` : ident(c.name))).join(", ");
      const overriding = cols.some((c) => c.identity === "a") ? " OVERRIDING SYSTEM VALUE" : "";
      const res = await tx.unsafe(`INSERT INTO ${S}.${ident(t.name)} (${list})${overriding} SELECT ${select} FROM public.${ident(t.name)} LIMIT ${o.maxRows}`);
      counts.set(t.name, res.count);
      if (res.count === o.maxRows && (await tx.unsafe(`SELECT EXISTS (SELECT 1 FROM public.${ident(t.name)} OFFSET ${o.maxRows}) AS more`))[0]!.more) sampled.push(t.name);
    }
    for (const seq of Object.keys(model.sequences)) {
      await tx.unsafe(`SELECT setval('${S}.${ident(seq).replaceAll("'", "''")}', last_value, is_called) FROM public.${ident(seq)}`);
    }
    if (sampled.length) await pruneOrphans(tx as never, S, model, counts);
    for (const s of build.filter((s) => s.phase >= PHASE.addConstraints)) await tx.unsafe(s.sql);
  });
  return { rows: [...counts.values()].reduce((a, b) => a + b, 0), sampled, counts };
}

/** Deletes copied rows whose foreign keys point at rows the sample left out, until none do. */
async function pruneOrphans(tx: Sql, S: string, model: SchemaModel, counts: Map<string, number>): Promise<void> {
  const fks = Object.values(model.tables).flatMap((t) => Object.values(t.constraints).filter((c) => c.kind === "f").map((c) => ({ t: t.name, c })));
  for (let pass = 0; pass < 50; pass++) {
    let removed = 0;
    for (const { t, c } of fks) {
      const notNull = c.columns.map((x) => `child.${ident(x)} IS NOT NULL`).join(" AND ");
      const match = c.columns.map((x, i) => `parent.${ident(c.refColumns![i]!)} = child.${ident(x)}`).join(" AND ");
      const res = await tx.unsafe(`DELETE FROM ${S}.${ident(t)} child WHERE ${notNull} AND NOT EXISTS (SELECT 1 FROM ${S}.${ident(c.refTable!)} parent WHERE ${match})`);
      if (res.count) counts.set(t, (counts.get(t) ?? 0) - res.count);
      removed += res.count;
    }
    if (removed === 0) return;
  }
}
