// What the schema diff compares: one PostgreSQL schema's tables, columns,
// constraints, indexes, sequences, enum types and views, as plain JSON (it
// is stored in the deployment record, so a resumed run plans against the
// same preview schema it rehearsed). Every text here (types, defaults,
// definitions) is PostgreSQL's own rendering, read with the schema on
// search_path, so it names the schema's objects unqualified and compares
// equal between the preview's schema and production's `public`.

export interface Column {
  name: string;
  /** format_type(): "integer", "character varying(50)", "item_kind[]". */
  type: string;
  notNull: boolean;
  /** pg_get_expr of the default, or null. */
  default: string | null;
  /** The default calls a volatile function (nextval, now(), random()): adding it rewrites every row. */
  defaultVolatile: boolean;
  /** "a" GENERATED ALWAYS AS IDENTITY, "d" BY DEFAULT, "" none. */
  identity: "" | "a" | "d";
  /** GENERATED ALWAYS AS (expr) STORED: the expression; null for an ordinary column. */
  generated: string | null;
}

export interface Constraint {
  name: string;
  /** p primary key, u unique, c check, f foreign key, x exclusion. */
  kind: "p" | "u" | "c" | "f" | "x";
  /** pg_get_constraintdef: "PRIMARY KEY (id)", "FOREIGN KEY (owner_id) REFERENCES owners(id)". */
  def: string;
  columns: string[];
  /** Foreign keys: the table and columns referenced. */
  refTable?: string;
  refColumns?: string[];
}

export interface Index {
  unique: boolean;
  /** What follows USING in pg_get_indexdef: "btree (name)", "gin (tags) WHERE (active)". */
  using: string;
}

export interface Table {
  name: string;
  /** In column order. */
  columns: Column[];
  constraints: Record<string, Constraint>;
  /** Indexes that back no constraint, by name. */
  indexes: Record<string, Index>;
}

export interface Sequence {
  name: string;
  type: string;
  start: string;
  increment: string;
  min: string;
  max: string;
  cache: string;
  cycle: boolean;
  /** OWNED BY table.column (serial columns), when set. */
  ownedBy?: { table: string; column: string };
}

export interface HistoryTable {
  /** The column that names one applied migration (Prisma migration_name, Knex name, ...). */
  key: string;
  rows: Record<string, unknown>[];
}

export interface SchemaModel {
  tables: Record<string, Table>;
  sequences: Record<string, Sequence>;
  /** Enum type → its labels in order. */
  enums: Record<string, string[]>;
  /** View → pg_get_viewdef text. */
  views: Record<string, string>;
  /** View → the tables and views it reads (a change to them drops and recreates it). */
  viewDeps: Record<string, string[]>;
  /** Migration tools' own bookkeeping tables found in the schema (see history.ts). */
  history: Record<string, HistoryTable>;
  /** What the diff does not carry but the schema has (functions, triggers, domains...): for warnings. */
  other: string[];
}

export const emptyModel = (): SchemaModel => ({ tables: {}, sequences: {}, enums: {}, views: {}, viewDeps: {}, history: {}, other: [] });

/** A pool or transaction of postgres.js that runs text queries with parameters. */
export interface Queryable {
  unsafe<T extends object[] = Record<string, unknown>[]>(q: string, params?: never[]): Promise<T> & PromiseLike<T>;
}
