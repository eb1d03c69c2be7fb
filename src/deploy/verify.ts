// "Verify the data": what a schema holds, table by table, so the copy at the
// provider can be compared with the preview. Per table the row count and an
// order-independent checksum (the sum of a 60-bit slice of each row's md5:
// rows may come back in any order after a restore), and each sequence's
// position (an insert after the deploy must get a fresh id).
//
// Row text depends on session settings (time zone, date style, float digits),
// so both sides are read with the same ones.
import { ident } from "../db/ident.ts";
import type { DataCheck } from "./types.ts";

/** Anything postgres.js can run a tagged or unsafe query on (a pool or a transaction). */
interface Queryable {
  unsafe<T extends object[] = Record<string, unknown>[]>(q: string, params?: never[]): Promise<T> & PromiseLike<T>;
}

export interface SchemaStats {
  tables: Record<string, { rows: number; checksum: string }>;
  sequences: Record<string, string>;
}

const SETTINGS = ["TimeZone = 'UTC'", "DateStyle = 'ISO, YMD'", "IntervalStyle = 'postgres'", "extra_float_digits = 3", "bytea_output = 'hex'"];

/** Call inside a transaction: the settings are SET LOCAL. */
export async function schemaStats(q: Queryable, schema: string): Promise<SchemaStats> {
  for (const s of SETTINGS) await q.unsafe(`SET LOCAL ${s}`);
  const rels = await q.unsafe<{ name: string; kind: string }[]>(
    `SELECT c.relname AS name, c.relkind::text AS kind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'S') AND NOT c.relispartition ORDER BY c.relname`, [schema as never]);
  const stats: SchemaStats = { tables: {}, sequences: {} };
  for (const r of rels) {
    const rel = `${ident(schema)}.${ident(r.name)}`;
    if (r.kind === "S") {
      const [s] = await q.unsafe<{ v: string }[]>(`SELECT last_value::text || (CASE WHEN is_called THEN '+' ELSE '' END) AS v FROM ${rel}`);
      stats.sequences[r.name] = s!.v;
    } else {
      const [t] = await q.unsafe<{ n: string; h: string }[]>(
        `SELECT count(*)::text AS n, coalesce(sum(('x' || substr(md5(t::text), 1, 15))::bit(60)::bigint), 0)::text AS h FROM ${rel} t`);
      stats.tables[r.name] = { rows: Number(t!.n), checksum: t!.h };
    }
  }
  return stats;
}

/** Compares the copy with the source; the list of differences is empty when they hold the same data. */
export function compareStats(source: SchemaStats, copy: SchemaStats): { check: DataCheck; differences: string[] } {
  const differences: string[] = [];
  for (const [name, s] of Object.entries(source.tables)) {
    const c = copy.tables[name];
    if (!c) differences.push(`table ${name} is missing`);
    else if (c.rows !== s.rows) differences.push(`table ${name} has ${c.rows} rows, the preview ${s.rows}`);
    else if (c.checksum !== s.checksum) differences.push(`table ${name} has the same row count but different contents`);
  }
  for (const name of Object.keys(copy.tables)) if (!source.tables[name]) differences.push(`table ${name} is not in the preview`);
  for (const [name, v] of Object.entries(source.sequences)) {
    if (copy.sequences[name] !== v) differences.push(`sequence ${name} is at ${copy.sequences[name] ?? "(missing)"}, the preview's at ${v}`);
  }
  const rows = Object.values(source.tables).reduce((n, t) => n + t.rows, 0);
  return {
    check: { tables: Object.keys(source.tables).length, rows, sequences: Object.keys(source.sequences).length, verified: differences.length === 0 },
    differences,
  };
}
