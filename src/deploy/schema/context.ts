// What the parts of the diff share while they compare production's schema
// (`from`) with the preview's (`to`): the confirmations the request gave,
// the questions still open, what was renamed or dropped (later parts must
// know: a dropped table's indexes go with it, a renamed table keeps its
// sequences), and the statements made so far.
import type { SchemaModel } from "./model.ts";
import { displayColumn, displayIdent, type Keywords } from "./names.ts";
import type { Question, Statement } from "./statement.ts";

export class DiffContext {
  readonly out: Statement[] = [];
  readonly questions: Question[] = [];
  readonly unsupported: string[] = [];
  readonly used = new Set<string>();
  /** Production table name → the preview name it was renamed to (confirmed). */
  readonly tableRenames = new Map<string, string>();
  /** Preview table name → (production column → preview column) for confirmed renames. */
  readonly columnRenames = new Map<string, Map<string, string>>();
  /** Production names of tables dropped (confirmed). */
  readonly droppedTables = new Set<string>();
  /** Production table → its columns dropped (confirmed). */
  readonly droppedColumns = new Map<string, Set<string>>();
  /** Production tables whose columns change type, go, or get a new name (views reading them are rebuilt). */
  readonly alteredTables = new Set<string>();
  /** Preview names of the tables created by this migration. */
  readonly newTables = new Set<string>();

  constructor(
    readonly from: SchemaModel,
    readonly to: SchemaModel,
    readonly keywords: Keywords,
    private readonly confirm: ReadonlySet<string>,
  ) {}

  name(n: string): string {
    return displayIdent(n, this.keywords);
  }

  column(table: string, column: string): string {
    return displayColumn(table, column, this.keywords);
  }

  /** The confirmed option, or undefined (and the question recorded) when none of them was sent. */
  ask(change: string, options: string[]): string | undefined {
    const chosen = options.find((o) => this.confirm.has(o));
    if (chosen) {
      this.used.add(chosen);
      return chosen;
    }
    this.questions.push({ change, options });
    return undefined;
  }

  emit(s: Statement): void {
    this.out.push(s);
  }

  /** The preview's name for a production table (itself unless renamed). */
  renamedTable(fromName: string): string {
    return this.tableRenames.get(fromName) ?? fromName;
  }

  /** The preview's name for a production column of a production table. */
  renamedColumn(fromTable: string, column: string): string {
    return this.columnRenames.get(this.renamedTable(fromTable))?.get(column) ?? column;
  }
}
