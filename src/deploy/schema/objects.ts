// Constraints, indexes, sequences, enum types and views of the tables the
// diff paired (tables.ts). None of them holds rows, so none needs a
// confirmation, except dropping a sequence (its position) or a type.
import { ident, literal } from "../../db/ident.ts";
import type { DiffContext } from "./context.ts";
import type { Constraint, Sequence, Table } from "./model.ts";
import { PHASE } from "./statement.ts";

/** A constraint's identity across renames: kind, columns and referenced table in the preview's names, and what follows them. */
function constraintKey(ctx: DiffContext, t: Table, c: Constraint, side: "from" | "to"): string {
  if (c.kind === "c" || c.kind === "x") return `${c.kind}|${c.def}`;
  const col = (n: string) => (side === "from" ? ctx.renamedColumn(t.name, n) : n);
  const ref = c.refTable === undefined ? "" : side === "from" ? ctx.renamedTable(c.refTable) : c.refTable;
  const refCol = (n: string) => (side === "from" && c.refTable ? ctx.renamedColumn(c.refTable, n) : n);
  // The part after the column lists: ON DELETE, DEFERRABLE, INCLUDE (...)
  const tail = c.def.replace(/^(PRIMARY KEY|UNIQUE|FOREIGN KEY) \([^)]*\)( REFERENCES .*?\([^)]*\))?/, "");
  return [c.kind, c.columns.map(col).join(","), ref, (c.refColumns ?? []).map(refCol).join(","), tail].join("|");
}

export function diffConstraints(ctx: DiffContext, pairs: Array<[Table, Table]>): void {
  const emitAdd = (t: Table, c: Constraint, existing: boolean) =>
    ctx.emit({
      sql: `ALTER TABLE ${ident(t.name)} ADD CONSTRAINT ${ident(c.name)} ${c.def}`,
      class: existing ? "rewriting" : "additive",
      summary: `add constraint ${ctx.name(c.name)} on ${ctx.name(t.name)}: ${c.def}${existing ? " (every row is checked)" : ""}`,
      phase: c.kind === "f" ? PHASE.addForeignKeys : PHASE.addConstraints,
      ...(existing ? { table: t.name } : {}),
    });
  // Keys being replaced: foreign keys that point at them must go first and come back after.
  const rebuiltKeys = new Set<string>();
  const changed: Array<[Table, Table, Constraint]> = [];
  for (const [a, b] of pairs) {
    for (const c of Object.values(a.constraints)) {
      const same = b.constraints[c.name];
      if (same && constraintKey(ctx, a, c, "from") === constraintKey(ctx, b, same, "to")) continue;
      if (c.kind === "p" || c.kind === "u") rebuiltKeys.add(a.name);
      changed.push([a, b, c]);
    }
  }
  for (const [a, b] of pairs) {
    for (const c of Object.values(a.constraints)) {
      if (c.kind !== "f" || !rebuiltKeys.has(c.refTable ?? "") || changed.some(([x, , y]) => x === a && y === c)) continue;
      changed.push([a, b, c]);
    }
  }
  const readded = new Set<string>();
  for (const [a, b, c] of changed) {
    ctx.emit({
      sql: `ALTER TABLE ${ident(a.name)} DROP CONSTRAINT ${ident(c.name)}`,
      class: "rewriting",
      summary: `drop constraint ${ctx.name(c.name)} on ${ctx.name(a.name)}${b.constraints[c.name] ? " (it is made again)" : ""}`,
      phase: c.kind === "f" ? PHASE.dropForeignKeys : PHASE.dropConstraints,
    });
    const again = b.constraints[c.name];
    if (again) {
      readded.add(`${b.name}.${c.name}`);
      emitAdd(b, again, true);
    }
  }
  for (const [a, b] of pairs) {
    for (const c of Object.values(b.constraints)) if (!a.constraints[c.name] && !readded.has(`${b.name}.${c.name}`)) emitAdd(b, c, true);
  }
  for (const name of ctx.newTables) for (const c of Object.values(ctx.to.tables[name]!.constraints)) emitAdd(ctx.to.tables[name]!, c, false);
}

export function diffIndexes(ctx: DiffContext, pairs: Array<[Table, Table]>): void {
  const create = (t: Table, name: string, existing: boolean) => {
    const i = t.indexes[name]!;
    ctx.emit({
      sql: `CREATE ${i.unique ? "UNIQUE " : ""}INDEX ${ident(name)} ON ${ident(t.name)} USING ${i.using}`,
      class: "additive",
      summary: `create ${i.unique ? "unique " : ""}index ${ctx.name(name)} on ${ctx.name(t.name)} USING ${i.using}`,
      phase: PHASE.createIndexes,
      ...(existing ? { table: t.name, revert: `DROP INDEX IF EXISTS ${ident(name)}`, usedCheck: "SELECT false AS used" } : {}),
    });
  };
  for (const [a, b] of pairs) {
    for (const [name, i] of Object.entries(a.indexes)) {
      const same = b.indexes[name];
      if (same && same.unique === i.unique && same.using === i.using) continue;
      ctx.emit({ sql: `DROP INDEX ${ident(name)}`, class: "rewriting", summary: `drop index ${ctx.name(name)}${same ? " (it is made again)" : ""}`, phase: PHASE.dropConstraints });
      if (same) create(b, name, true);
    }
    for (const name of Object.keys(b.indexes)) if (!a.indexes[name]) create(b, name, true);
  }
  for (const name of ctx.newTables) for (const i of Object.keys(ctx.to.tables[name]!.indexes)) create(ctx.to.tables[name]!, i, false);
}

function sequenceOptions(s: Sequence): string {
  return `AS ${s.type} INCREMENT BY ${s.increment} MINVALUE ${s.min} MAXVALUE ${s.max} START WITH ${s.start} CACHE ${s.cache} ${s.cycle ? "CYCLE" : "NO CYCLE"}`;
}

export function diffSequences(ctx: DiffContext): void {
  const { from, to } = ctx;
  const owner = (s: Sequence, side: "from" | "to") =>
    s.ownedBy ? (side === "from" ? `${ctx.renamedTable(s.ownedBy.table)}.${ctx.renamedColumn(s.ownedBy.table, s.ownedBy.column)}` : `${s.ownedBy.table}.${s.ownedBy.column}`) : "";
  const renamed = new Map<string, string>(); // production name → preview name
  for (const s of Object.values(to.sequences).filter((s) => !from.sequences[s.name])) {
    // A serial column's sequence follows its table or column when they were renamed: keep its position.
    const old = Object.values(from.sequences).find((f) => !to.sequences[f.name] && !renamed.has(f.name) && f.ownedBy && owner(f, "from") === owner(s, "to"));
    if (old) {
      renamed.set(old.name, s.name);
      ctx.emit({ sql: `ALTER SEQUENCE ${ident(old.name)} RENAME TO ${ident(s.name)}`, class: "rewriting", summary: `rename sequence ${ctx.name(old.name)} to ${ctx.name(s.name)} (its table or column was renamed; its position is kept)`, phase: PHASE.sequences });
      alterSequence(ctx, { ...old, name: s.name }, s, owner(old, "from"));
      continue;
    }
    ctx.emit({ sql: `CREATE SEQUENCE ${ident(s.name)} ${sequenceOptions(s)}`, class: "additive", summary: `create sequence ${ctx.name(s.name)}`, phase: PHASE.sequences, revert: `DROP SEQUENCE IF EXISTS ${ident(s.name)}`, usedCheck: "SELECT false AS used" });
    if (s.ownedBy) ownedBy(ctx, s, true);
  }
  for (const s of Object.values(from.sequences)) {
    if (to.sequences[s.name]) {
      alterSequence(ctx, s, to.sequences[s.name]!, owner(s, "from"));
      continue;
    }
    if (renamed.has(s.name)) continue;
    // Owned by a table or column that is dropped: it goes with them.
    if (s.ownedBy && (ctx.droppedTables.has(s.ownedBy.table) || ctx.droppedColumns.get(s.ownedBy.table)?.has(s.ownedBy.column))) continue;
    const chosen = ctx.ask(`sequence ${ctx.name(s.name)} is not in the preview: dropping it loses its position`, [`drop sequence ${ctx.name(s.name)}`]);
    if (chosen) ctx.emit({ sql: `DROP SEQUENCE ${ident(s.name)}`, class: "destructive", summary: `drop sequence ${ctx.name(s.name)}`, phase: PHASE.dropSequences, confirmedBy: chosen });
  }
}

function ownedBy(ctx: DiffContext, s: Sequence, additive: boolean): void {
  const target = s.ownedBy ? `${ident(s.ownedBy.table)}.${ident(s.ownedBy.column)}` : "NONE";
  ctx.emit({ sql: `ALTER SEQUENCE ${ident(s.name)} OWNED BY ${target}`, class: additive ? "additive" : "rewriting", summary: `sequence ${ctx.name(s.name)} owned by ${s.ownedBy ? ctx.column(s.ownedBy.table, s.ownedBy.column) : "nothing"}`, phase: PHASE.alterSequences, ...(additive ? { revert: "", usedCheck: "SELECT false AS used" } : {}) });
}

function alterSequence(ctx: DiffContext, a: Sequence, b: Sequence, fromOwner: string): void {
  if (sequenceOptions(a) !== sequenceOptions(b)) {
    ctx.emit({ sql: `ALTER SEQUENCE ${ident(b.name)} ${sequenceOptions(b)}`, class: "rewriting", summary: `change sequence ${ctx.name(b.name)} to ${sequenceOptions(b)} (its position is kept)`, phase: PHASE.alterSequences });
  }
  const toOwner = b.ownedBy ? `${b.ownedBy.table}.${b.ownedBy.column}` : "";
  if (fromOwner !== toOwner) ownedBy(ctx, b, false);
}

export function diffEnums(ctx: DiffContext): void {
  const { from, to } = ctx;
  for (const [name, labels] of Object.entries(to.enums)) {
    const have = from.enums[name];
    if (!have) {
      ctx.emit({ sql: `CREATE TYPE ${ident(name)} AS ENUM (${labels.map(literal).join(", ")})`, class: "additive", summary: `create enum type ${ctx.name(name)} (${labels.join(", ")})`, phase: PHASE.types, revert: `DROP TYPE IF EXISTS ${ident(name)}`, usedCheck: "SELECT false AS used" });
      continue;
    }
    const kept = labels.filter((l) => have.includes(l));
    if (have.some((l) => !labels.includes(l)) || kept.join("\u0000") !== have.join("\u0000")) {
      ctx.unsupported.push(`enum type ${ctx.name(name)} loses or reorders values (${have.join(", ")} → ${labels.join(", ")}): PostgreSQL cannot drop an enum value; change it in a migration of your own`);
      continue;
    }
    for (let i = 0; i < labels.length; i++) {
      if (have.includes(labels[i]!)) continue;
      const where = i > 0 ? `AFTER ${literal(labels[i - 1]!)}` : `BEFORE ${literal(labels[i + 1]!)}`;
      // No revert: PostgreSQL cannot take an enum value back, so a migration with one is never undone by a rollback.
      ctx.emit({ sql: `ALTER TYPE ${ident(name)} ADD VALUE ${literal(labels[i]!)} ${where}`, class: "additive", summary: `add value ${labels[i]} to enum type ${ctx.name(name)}`, phase: PHASE.types });
    }
  }
  for (const name of Object.keys(from.enums)) {
    if (to.enums[name]) continue;
    const chosen = ctx.ask(`enum type ${ctx.name(name)} is not in the preview`, [`drop type ${ctx.name(name)}`]);
    if (chosen) ctx.emit({ sql: `DROP TYPE ${ident(name)}`, class: "destructive", summary: `drop enum type ${ctx.name(name)}`, phase: PHASE.dropSequences, confirmedBy: chosen });
  }
}

/** Views are rebuilt when their text changed or a table they read changes shape under them. */
export function diffViews(ctx: DiffContext): void {
  const { from, to } = ctx;
  const rebuild = new Set<string>();
  for (const [name, def] of Object.entries(from.views)) {
    if (to.views[name] !== def || from.viewDeps[name]!.some((d) => ctx.alteredTables.has(d) || ctx.droppedTables.has(d) || ctx.tableRenames.has(d))) rebuild.add(name);
  }
  // A view reading a rebuilt view is rebuilt too.
  for (let grew = true; grew; ) {
    grew = false;
    for (const [name, deps] of Object.entries(from.viewDeps)) if (!rebuild.has(name) && deps.some((d) => rebuild.has(d))) grew = rebuild.add(name).size > 0;
  }
  // Drop readers before what they read.
  const pending = new Set(rebuild);
  while (pending.size) {
    const next = [...pending].find((v) => ![...pending].some((o) => o !== v && from.viewDeps[o]!.includes(v)));
    if (!next) throw new Error(`views depend on each other in a cycle: ${[...pending].join(", ")}`);
    pending.delete(next);
    ctx.emit({ sql: `DROP VIEW ${ident(next)}`, class: "rewriting", summary: `drop view ${ctx.name(next)}${to.views[next] ? " (it is made again)" : ""}`, phase: PHASE.dropViews });
  }
  // Create what is read before its readers.
  const create = new Set(Object.keys(to.views).filter((v) => !from.views[v] || rebuild.has(v)));
  while (create.size) {
    const next = [...create].find((v) => !to.viewDeps[v]!.some((d) => create.has(d) && d !== v));
    if (!next) throw new Error(`views depend on each other in a cycle: ${[...create].join(", ")}`);
    create.delete(next);
    const isNew = !from.views[next];
    ctx.emit({
      sql: `CREATE VIEW ${ident(next)} AS ${to.views[next]!.trim().replace(/;$/, "")}`,
      class: isNew ? "additive" : "rewriting",
      summary: `${isNew ? "create" : "make again"} view ${ctx.name(next)}`,
      phase: PHASE.createViews,
      ...(isNew ? { revert: `DROP VIEW IF EXISTS ${ident(next)}`, usedCheck: "SELECT false AS used" } : {}),
    });
  }
}
