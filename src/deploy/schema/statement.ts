// One statement of a generated migration, and what a deployment says about
// it. Classes (README "Deploy again"):
// - additive: adds or loosens; every existing row keeps every value and
//   code written for the old schema keeps working;
// - rewriting: rows are rewritten or checked, or objects holding no data
//   (indexes, constraints, views) replaced; no value is lost;
// - destructive: values can be lost or old code break (drop, rename,
//   narrowing type change): never run unless the request confirms it.

export type StatementClass = "additive" | "rewriting" | "destructive";

export interface Statement {
  sql: string;
  class: StatementClass;
  /** For people: "add column products.note (text DEFAULT 'x'::text)". */
  summary: string;
  /** Ordering group (phases.ts): statements run by phase, then in the order they were made. */
  phase: number;
  /** The existing table whose rows it reads or rewrites (the rehearsal reports their number). */
  table?: string;
  /** The confirmation that let it in (destructive statements only). */
  confirmedBy?: string;
  /** Additive statements that can be undone: the SQL that undoes it. */
  revert?: string;
  /** With `revert`: a query answering one row {used: boolean}; true means the addition holds data and stays. */
  usedCheck?: string;
}

/** A change that runs only once the request confirms one of `options` by its exact text. */
export interface Question {
  change: string;
  options: string[];
}

/** Statement order: everything that could be in the way goes first, additions that need others last. */
export const PHASE = {
  dropViews: 0,
  dropForeignKeys: 1,
  dropConstraints: 2,
  types: 3,
  sequences: 4,
  renameTables: 5,
  createTables: 6,
  renameColumns: 7,
  addColumns: 8,
  alterColumns: 9,
  alterSequences: 10,
  dropColumns: 11,
  dropTables: 12,
  dropSequences: 13,
  addConstraints: 14,
  addForeignKeys: 15,
  createIndexes: 16,
  createViews: 17,
  history: 18,
} as const;

export function ordered(statements: Statement[]): Statement[] {
  return statements.map((s, i) => ({ s, i })).sort((a, b) => a.s.phase - b.s.phase || a.i - b.i).map(({ s }) => s);
}
