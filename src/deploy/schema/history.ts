// Migration tools' bookkeeping tables. An app that migrates itself at start
// (Prisma `migrate deploy`, Knex, Drizzle, Sequelize, node-pg-migrate,
// Kysely, Rails-style schema_migrations) records each migration it ran in
// a table of its own. The diff carries the schema those migrations made;
// if production's table did not also learn they ran, the tool would run
// them again at the next start and fail on "already exists". So these
// tables' rows are carried like schema: the preview's entries production
// lacks (by the tool's key) are inserted, and nothing else is touched.
import { ident, literal } from "../../db/ident.ts";
import type { HistoryTable, Queryable, SchemaModel } from "./model.ts";
import { PHASE, type Statement } from "./statement.ts";

/** Table name → the column naming one applied migration. */
export const HISTORY_TABLES: Record<string, string> = {
  _prisma_migrations: "migration_name",
  knex_migrations: "name",
  __drizzle_migrations: "hash",
  SequelizeMeta: "name",
  pgmigrations: "name",
  kysely_migration: "name",
  schema_migrations: "version",
};

/** More rows than this is not a migration log: such a table is left as ordinary data. */
const MAX_ROWS = 10_000;

export async function readHistory(q: Queryable, schema: string, model: SchemaModel): Promise<Record<string, HistoryTable>> {
  const out: Record<string, HistoryTable> = {};
  for (const [table, key] of Object.entries(HISTORY_TABLES)) {
    const t = model.tables[table];
    if (!t?.columns.some((c) => c.name === key)) continue;
    const rows = await q.unsafe<{ r: Record<string, unknown> }[]>(
      `SELECT row_to_json(t) AS r FROM ${ident(schema)}.${ident(table)} t ORDER BY ${ident(key)} LIMIT ${MAX_ROWS + 1}`);
    if (rows.length > MAX_ROWS) continue;
    out[table] = { key, rows: rows.map((x) => x.r) };
  }
  return out;
}

/** Inserts for the preview's history entries production does not have. */
export function historyStatements(target: SchemaModel, current: SchemaModel): Statement[] {
  const out: Statement[] = [];
  for (const [table, h] of Object.entries(target.history)) {
    const have = new Set((current.history[table]?.rows ?? []).map((r) => String(r[h.key])));
    const missing = h.rows.filter((r) => !have.has(String(r[h.key])));
    if (missing.length === 0) continue;
    // Columns a sequence fills (ids) are left to production's own sequence.
    const cols = target.tables[table]!.columns.filter((c) => !c.identity && !c.generated && !(c.defaultVolatile && /nextval\(/.test(c.default ?? ""))).map((c) => c.name);
    const rows = missing.map((r) => Object.fromEntries(cols.map((c) => [c, r[c] ?? null])));
    const list = cols.map(ident).join(", ");
    const keys = missing.map((r) => String(r[h.key]));
    out.push({
      sql: `INSERT INTO ${ident(table)} (${list}) SELECT ${list} FROM json_populate_recordset(NULL::${ident(table)}, ${literal(JSON.stringify(rows))}::json)`,
      class: "additive",
      summary: `record ${missing.length} migration${missing.length === 1 ? "" : "s"} in ${table} as applied (${keys.slice(0, 5).join(", ")}${keys.length > 5 ? ", ..." : ""})`,
      phase: PHASE.history,
      revert: `DELETE FROM ${ident(table)} WHERE ${ident(h.key)}::text = ANY(${literal(`{${keys.map((k) => `"${k.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`).join(",")}}`)}::text[])`,
      usedCheck: "SELECT false AS used",
    });
  }
  return out;
}
