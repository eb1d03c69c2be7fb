// Tables and columns: what is new, what went (dropped or, when something of
// the same shape appeared, maybe renamed: a question), and what changed in
// columns both sides have (type, default, NOT NULL, identity).
import { ident } from "../../db/ident.ts";
import type { DiffContext } from "./context.ts";
import type { Column, Table } from "./model.ts";
import { PHASE } from "./statement.ts";
import { isWidening } from "./widening.ts";

export function columnDef(c: Column): string {
  let s = `${ident(c.name)} ${c.type}`;
  if (c.identity) s += ` GENERATED ${c.identity === "a" ? "ALWAYS" : "BY DEFAULT"} AS IDENTITY`;
  if (c.generated) s += ` GENERATED ALWAYS AS (${c.generated}) STORED`;
  if (c.default !== null) s += ` DEFAULT ${c.default}`;
  if (c.notNull) s += " NOT NULL";
  return s;
}

const shape = (t: Table) => t.columns.map((c) => `${c.name}:${c.type}`).sort().join(",");

/** Pairs of (production table, preview table) that exist on both sides, renames included. */
export function diffTables(ctx: DiffContext): Array<[Table, Table]> {
  const { from, to } = ctx;
  const added = Object.keys(to.tables).filter((n) => !from.tables[n]);
  const consumed = new Set<string>();
  for (const name of Object.keys(from.tables).filter((n) => !to.tables[n])) {
    const candidates = added.filter((a) => !consumed.has(a) && shape(to.tables[a]!) === shape(from.tables[name]!));
    const renames = candidates.map((a) => `rename table ${ctx.name(name)} to ${ctx.name(a)}`);
    const drop = `drop table ${ctx.name(name)}`;
    const change = candidates.length
      ? `table ${ctx.name(name)} is not in the preview, which has ${candidates.map((a) => ctx.name(a)).join(" or ")} of the same columns (renamed, or dropped and a new one made?)`
      : `table ${ctx.name(name)} is not in the preview: dropping it deletes its rows`;
    const chosen = ctx.ask(change, [...renames, drop]);
    if (!chosen) continue;
    if (chosen === drop) {
      ctx.droppedTables.add(name);
      ctx.emit({ sql: `DROP TABLE ${ident(name)}`, class: "destructive", summary: `drop table ${ctx.name(name)} and its rows`, phase: PHASE.dropTables, table: name, confirmedBy: chosen });
    } else {
      const target = candidates[renames.indexOf(chosen)]!;
      consumed.add(target);
      ctx.tableRenames.set(name, target);
      ctx.emit({ sql: `ALTER TABLE ${ident(name)} RENAME TO ${ident(target)}`, class: "destructive", summary: `rename table ${ctx.name(name)} to ${ctx.name(target)}`, phase: PHASE.renameTables, confirmedBy: chosen });
    }
  }
  for (const name of added.filter((a) => !consumed.has(a))) createTable(ctx, to.tables[name]!);

  const pairs: Array<[Table, Table]> = [];
  for (const [name, t] of Object.entries(from.tables)) {
    const target = to.tables[ctx.renamedTable(name)];
    if (target && !ctx.droppedTables.has(name)) pairs.push([t, target]);
  }
  for (const [a, b] of pairs) diffColumns(ctx, a, b);
  return pairs;
}

function createTable(ctx: DiffContext, t: Table): void {
  ctx.newTables.add(t.name);
  ctx.emit({
    sql: `CREATE TABLE ${ident(t.name)} (${t.columns.map(columnDef).join(", ")})`,
    class: "additive",
    summary: `create table ${ctx.name(t.name)} (${t.columns.length} column${t.columns.length === 1 ? "" : "s"})`,
    phase: PHASE.createTables,
    table: t.name,
    revert: `DROP TABLE IF EXISTS ${ident(t.name)} CASCADE`,
    usedCheck: `SELECT EXISTS (SELECT 1 FROM ${ident(t.name)}) AS used`,
  });
}

function diffColumns(ctx: DiffContext, from: Table, to: Table): void {
  const T = ident(to.name);
  const byName = (t: Table) => new Map(t.columns.map((c) => [c.name, c]));
  const fromCols = byName(from);
  const toCols = byName(to);
  const added = to.columns.filter((c) => !fromCols.has(c.name));
  const consumed = new Set<string>();
  const renames = new Map<string, string>();
  ctx.columnRenames.set(to.name, renames);

  for (const c of from.columns.filter((c) => !toCols.has(c.name))) {
    const candidates = added.filter((a) => !consumed.has(a.name) && a.type === c.type);
    const options = candidates.map((a) => `rename column ${ctx.column(to.name, c.name)} to ${ctx.name(a.name)}`);
    const drop = `drop column ${ctx.column(to.name, c.name)}`;
    const change = candidates.length
      ? `column ${ctx.column(to.name, c.name)} is not in the preview, which has ${candidates.map((a) => ctx.name(a.name)).join(" or ")} of the same type (renamed, or dropped and a new one added?)`
      : `column ${ctx.column(to.name, c.name)} is not in the preview: dropping it deletes its values`;
    const chosen = ctx.ask(change, [...options, drop]);
    if (!chosen) continue;
    ctx.alteredTables.add(from.name);
    if (chosen === drop) {
      if (!ctx.droppedColumns.has(from.name)) ctx.droppedColumns.set(from.name, new Set());
      ctx.droppedColumns.get(from.name)!.add(c.name);
      ctx.emit({ sql: `ALTER TABLE ${T} DROP COLUMN ${ident(c.name)}`, class: "destructive", summary: `drop column ${ctx.column(to.name, c.name)} and its values`, phase: PHASE.dropColumns, table: to.name, confirmedBy: chosen });
    } else {
      const target = candidates[options.indexOf(chosen)]!;
      consumed.add(target.name);
      renames.set(c.name, target.name);
      ctx.emit({ sql: `ALTER TABLE ${T} RENAME COLUMN ${ident(c.name)} TO ${ident(target.name)}`, class: "destructive", summary: `rename column ${ctx.column(to.name, c.name)} to ${ctx.name(target.name)}`, phase: PHASE.renameColumns, confirmedBy: chosen });
      alterColumn(ctx, from, to, c, target);
    }
  }
  for (const c of added.filter((a) => !consumed.has(a.name))) addColumn(ctx, to, c);
  for (const c of from.columns) {
    const target = toCols.get(c.name);
    if (target) alterColumn(ctx, from, to, c, target);
  }
}

function addColumn(ctx: DiffContext, to: Table, c: Column): void {
  const T = ident(to.name);
  const C = ident(c.name);
  const rewrites = c.defaultVolatile || !!c.identity || !!c.generated;
  const blocksOldInserts = c.notNull && c.default === null && !c.identity && !c.generated;
  const s = {
    sql: `ALTER TABLE ${T} ADD COLUMN ${columnDef(c)}`,
    summary: `add column ${ctx.column(to.name, c.name)} (${c.type}${c.default !== null ? ` DEFAULT ${c.default}` : ""}${c.notNull ? " NOT NULL" : ""})`,
    phase: PHASE.addColumns,
    table: to.name,
  };
  if (rewrites || blocksOldInserts) {
    const why = rewrites ? "every row gets its own value" : "NOT NULL without a default: fails on a table with rows, and inserts that do not name it fail";
    ctx.emit({ ...s, class: "rewriting", summary: `${s.summary}: ${why}` });
    return;
  }
  const used = c.default === null ? `${C} IS NOT NULL` : `${C} IS DISTINCT FROM (${c.default})`;
  ctx.emit({ ...s, class: "additive", revert: `ALTER TABLE ${T} DROP COLUMN IF EXISTS ${C}`, usedCheck: `SELECT EXISTS (SELECT 1 FROM ${T} WHERE ${used}) AS used` });
}

function alterColumn(ctx: DiffContext, fromT: Table, to: Table, a: Column, b: Column): void {
  const T = ident(to.name);
  const C = ident(b.name);
  const at = `ALTER TABLE ${T} ALTER COLUMN ${C}`;
  const who = ctx.column(to.name, b.name);
  const base = { table: to.name, phase: PHASE.alterColumns };
  if (a.generated !== b.generated) {
    ctx.unsupported.push(`column ${who}: a change of ${a.generated || b.generated ? "its generation expression" : "kind"} is not carried (drop and add the column in a migration of your own)`);
    return;
  }
  let defaultDropped = false;
  if (a.type !== b.type) {
    ctx.alteredTables.add(fromT.name);
    const widening = isWidening(a.type, b.type);
    let confirmedBy: string | undefined;
    if (!widening) {
      confirmedBy = ctx.ask(`column ${who} changes type from ${a.type} to ${b.type}: values may not convert, or convert with loss`, [`change type ${who} to ${b.type}`]);
      if (!confirmedBy) return;
    }
    if (a.default !== null) {
      // An old default may not cast to the new type; the new one is set below.
      ctx.emit({ ...base, sql: `${at} DROP DEFAULT`, class: "rewriting", summary: `drop the default of ${who} before its type changes` });
      defaultDropped = true;
    }
    ctx.emit({
      ...base,
      sql: `${at} TYPE ${b.type} USING ${C}::${b.type}`,
      class: widening ? "rewriting" : "destructive",
      summary: `change type of ${who} from ${a.type} to ${b.type}${widening ? " (widening: every value fits)" : ""}`,
      ...(confirmedBy ? { confirmedBy } : {}),
    });
  }
  if (a.default !== b.default || (defaultDropped && b.default !== null)) {
    const sql = b.default === null ? `${at} DROP DEFAULT` : `${at} SET DEFAULT ${b.default}`;
    if (!(defaultDropped && b.default === null)) {
      const revert = defaultDropped ? undefined : a.default === null ? `${at} DROP DEFAULT` : `${at} SET DEFAULT ${a.default}`;
      ctx.emit({ ...base, sql, class: "additive", summary: b.default === null ? `drop the default of ${who}` : `set the default of ${who} to ${b.default}`, ...(revert ? { revert, usedCheck: "SELECT false AS used" } : {}) });
    }
  }
  if (a.notNull && !b.notNull) {
    ctx.emit({ ...base, sql: `${at} DROP NOT NULL`, class: "additive", summary: `allow NULL in ${who}`, revert: `${at} SET NOT NULL`, usedCheck: `SELECT EXISTS (SELECT 1 FROM ${T} WHERE ${C} IS NULL) AS used` });
  } else if (!a.notNull && b.notNull) {
    ctx.emit({ ...base, sql: `${at} SET NOT NULL`, class: "rewriting", summary: `make ${who} NOT NULL (every row is checked)` });
  }
  if (a.identity !== b.identity) {
    const kind = b.identity === "a" ? "ALWAYS" : "BY DEFAULT";
    const sql = !b.identity ? `${at} DROP IDENTITY` : !a.identity ? `${at} ADD GENERATED ${kind} AS IDENTITY` : `${at} SET GENERATED ${kind}`;
    ctx.emit({ ...base, sql, class: "rewriting", summary: `${b.identity ? `make ${who} an identity column (${kind})` : `make ${who} an ordinary column (no identity)`}` });
  }
}
