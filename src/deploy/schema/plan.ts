// The migration from production's schema (`from`) to the preview's (`to`):
// the statements in the order they run, each classified, and the questions
// a request must answer by name before anything destructive or ambiguous
// runs. What production already has produces no statement, so a change an
// app already made by migrating itself at start is never applied twice.
import { DiffContext } from "./context.ts";
import { historyStatements } from "./history.ts";
import type { SchemaModel } from "./model.ts";
import type { Keywords } from "./names.ts";
import { diffConstraints, diffEnums, diffIndexes, diffSequences, diffViews } from "./objects.ts";
import { ordered, type Question, type Statement } from "./statement.ts";
import { diffTables } from "./tables.ts";

export interface MigrationPlan {
  statements: Statement[];
  /** Unanswered: the plan may not run while any is left. */
  questions: Question[];
  /** Changes the diff does not carry (the plan may not run either). */
  unsupported: string[];
  /** Objects the preview has that are not carried (functions, triggers...): said, not refused. */
  warnings: string[];
  /** Confirmations the request sent that matched nothing. */
  unusedConfirmations: string[];
}

export interface PlanOptions {
  keywords: Keywords;
  confirm?: readonly string[];
  /** Carry migration-history rows (history.ts); off when copying a schema whose rows come along anyway. */
  history?: boolean;
}

export function planMigration(from: SchemaModel, to: SchemaModel, o: PlanOptions): MigrationPlan {
  const confirm = o.confirm ?? [];
  const ctx = new DiffContext(from, to, o.keywords, new Set(confirm));
  const pairs = diffTables(ctx);
  diffEnums(ctx);
  diffSequences(ctx);
  diffConstraints(ctx, pairs);
  diffIndexes(ctx, pairs);
  diffViews(ctx);
  if (o.history !== false) for (const s of historyStatements(to, from)) ctx.emit(s);
  return {
    statements: ordered(ctx.out),
    questions: ctx.questions,
    unsupported: ctx.unsupported,
    warnings: to.other.filter((x) => !from.other.includes(x)).map((x) => `${x} is in the preview's schema but not carried (only tables, columns, constraints, indexes, sequences, enum types and views are)`),
    unusedConfirmations: confirm.filter((c) => !ctx.used.has(c)),
  };
}

/** Additive statements only, each with a way back: a rollback may undo them (when nothing uses what they added). */
export function revertible(statements: readonly Statement[]): boolean {
  return statements.length > 0 && statements.every((s) => s.class === "additive" && s.revert !== undefined);
}

export function classCounts(statements: readonly Statement[]): Record<"additive" | "rewriting" | "destructive", number> {
  const n = { additive: 0, rewriting: 0, destructive: 0 };
  for (const s of statements) n[s.class]++;
  return n;
}
