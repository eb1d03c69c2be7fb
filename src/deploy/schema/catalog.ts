// Reads one schema's model (model.ts) from pg_catalog. Call inside a
// transaction: it sets search_path LOCAL to the schema (then `public`, so
// types and functions of extensions installed there print the same on both
// sides), which makes PostgreSQL render every name of the schema
// unqualified: a preview's `preview_abc.items` and production's
// `public.items` read as the same `items`.
import { ident } from "../../db/ident.ts";
import { readHistory } from "./history.ts";
import type { Column, Constraint, Queryable, SchemaModel, Sequence, Table } from "./model.ts";

export type { Queryable } from "./model.ts";

const p = (v: unknown) => v as never;

export async function readModel(q: Queryable, schema: string): Promise<SchemaModel> {
  await q.unsafe(`SET LOCAL search_path = ${ident(schema)}${schema === "public" ? "" : ", public"}`);
  const [ns] = await q.unsafe<{ oid: number }[]>("SELECT oid::int AS oid FROM pg_namespace WHERE nspname = $1", [p(schema)]);
  if (!ns) throw new Error(`schema ${schema} does not exist`);
  const nsp = p(ns.oid);
  const model: SchemaModel = { tables: {}, sequences: {}, enums: {}, views: {}, viewDeps: {}, history: {}, other: [] };

  const rels = await q.unsafe<{ oid: number; name: string }[]>(
    `SELECT c.oid::int AS oid, c.relname::text AS name FROM pg_class c
     WHERE c.relnamespace = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY c.relname`, [nsp]);
  const byOid = new Map<number, Table>();
  for (const r of rels) {
    const t: Table = { name: r.name, columns: [], constraints: {}, indexes: {} };
    model.tables[r.name] = t;
    byOid.set(r.oid, t);
  }
  const oids = p(rels.map((r) => r.oid));

  const volatile = new Set((await q.unsafe<{ n: string }[]>("SELECT DISTINCT proname::text AS n FROM pg_proc WHERE provolatile = 'v'")).map((r) => r.n));
  const cols = await q.unsafe<{ rel: number; name: string; type: string; notnull: boolean; identity: string; generated: string; def: string | null }[]>(
    `SELECT a.attrelid::int AS rel, a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS notnull,
            a.attidentity::text AS identity, a.attgenerated::text AS generated, pg_get_expr(d.adbin, d.adrelid) AS def
     FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attrelid, a.attnum`, [oids]);
  for (const c of cols) {
    const generated = c.generated === "s" ? c.def : null;
    const col: Column = {
      name: c.name,
      type: c.type,
      notNull: c.notnull,
      default: generated ? null : c.def,
      defaultVolatile: !generated && !!c.def && callsVolatile(c.def, volatile),
      identity: (c.identity === "a" || c.identity === "d" ? c.identity : "") as Column["identity"],
      generated,
    };
    byOid.get(c.rel)!.columns.push(col);
  }

  const cons = await q.unsafe<{ rel: number; name: string; kind: string; def: string; cols: string[]; reftable: string | null; refcols: string[] }[]>(
    `SELECT con.conrelid::int AS rel, con.conname::text AS name, con.contype::text AS kind, pg_get_constraintdef(con.oid) AS def,
            ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.i) AS cols,
            fc.relname::text AS reftable,
            ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.i) AS refcols
     FROM pg_constraint con LEFT JOIN pg_class fc ON fc.oid = con.confrelid
     WHERE con.conrelid = ANY($1::oid[]) AND con.contype IN ('p', 'u', 'c', 'f', 'x') ORDER BY con.conname`, [oids]);
  for (const c of cons) {
    const con: Constraint = { name: c.name, kind: c.kind as Constraint["kind"], def: c.def, columns: c.cols };
    if (c.kind === "f") Object.assign(con, { refTable: c.reftable ?? undefined, refColumns: c.refcols });
    byOid.get(c.rel)!.constraints[c.name] = con;
  }

  // The text after USING, cut at the exact length of the prefix PostgreSQL wrote (its own quote_ident of both
  // names), so a name that itself contains " USING " cannot mislead the cut.
  const idx = await q.unsafe<{ rel: number; name: string; unique: boolean; def: string; prefix: string }[]>(
    `SELECT i.indrelid::int AS rel, ic.relname::text AS name, i.indisunique AS unique, pg_get_indexdef(i.indexrelid, 0, true) AS def,
            'CREATE ' || (CASE WHEN i.indisunique THEN 'UNIQUE ' ELSE '' END) || 'INDEX ' || quote_ident(ic.relname) || ' ON '
              || (CASE WHEN tc.relkind = 'p' THEN 'ONLY ' ELSE '' END) || quote_ident(tc.relname) || ' USING ' AS prefix
     FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class tc ON tc.oid = i.indrelid
     WHERE i.indrelid = ANY($1::oid[])
       AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u', 'x'))
     ORDER BY ic.relname`, [oids]);
  for (const i of idx) {
    if (!i.def.startsWith(i.prefix)) throw new Error(`index ${i.name}: unexpected definition ${i.def}`);
    byOid.get(i.rel)!.indexes[i.name] = { unique: i.unique, using: i.def.slice(i.prefix.length) };
  }

  const seqs = await q.unsafe<{ name: string; type: string; start: string; inc: string; min: string; max: string; cache: string; cycle: boolean; otable: string | null; ocol: string | null; okind: string | null }[]>(
    `SELECT c.relname::text AS name, format_type(s.seqtypid, NULL) AS type, s.seqstart::text AS start, s.seqincrement::text AS inc,
            s.seqmin::text AS min, s.seqmax::text AS max, s.seqcache::text AS cache, s.seqcycle AS cycle,
            o.relname::text AS otable, o.attname::text AS ocol, o.deptype::text AS okind
     FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid
     LEFT JOIN LATERAL (
       SELECT tc.relname, a.attname, d.deptype FROM pg_depend d
       JOIN pg_class tc ON tc.oid = d.refobjid JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
       WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') LIMIT 1
     ) o ON true
     WHERE c.relnamespace = $1 ORDER BY c.relname`, [nsp]);
  for (const s of seqs) {
    if (s.okind === "i") continue; // an identity column's own sequence: it comes and goes with the column
    const seq: Sequence = { name: s.name, type: s.type, start: s.start, increment: s.inc, min: s.min, max: s.max, cache: s.cache, cycle: s.cycle };
    if (s.otable && s.ocol) seq.ownedBy = { table: s.otable, column: s.ocol };
    model.sequences[s.name] = seq;
  }

  const enums = await q.unsafe<{ name: string; labels: string[] }[]>(
    `SELECT t.typname::text AS name, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS labels
     FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid WHERE t.typnamespace = $1 GROUP BY t.typname ORDER BY t.typname`, [nsp]);
  for (const e of enums) model.enums[e.name] = e.labels;

  const views = await q.unsafe<{ name: string; def: string }[]>(
    "SELECT c.relname::text AS name, pg_get_viewdef(c.oid, true) AS def FROM pg_class c WHERE c.relnamespace = $1 AND c.relkind = 'v' ORDER BY c.relname", [nsp]);
  for (const v of views) {
    model.views[v.name] = v.def;
    model.viewDeps[v.name] = [];
  }
  const deps = await q.unsafe<{ view: string; dep: string }[]>(
    `SELECT DISTINCT v.relname::text AS view, t.relname::text AS dep FROM pg_class v
     JOIN pg_rewrite r ON r.ev_class = v.oid
     JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid AND d.refclassid = 'pg_class'::regclass
     JOIN pg_class t ON t.oid = d.refobjid
     WHERE v.relnamespace = $1 AND v.relkind = 'v' AND t.oid <> v.oid AND t.relnamespace = $1 ORDER BY 1, 2`, [nsp]);
  for (const d of deps) model.viewDeps[d.view]!.push(d.dep);

  model.other = await otherObjects(q, nsp);
  model.history = await readHistory(q, schema, model);
  return model;
}

/** True when the expression calls a function some overload of which is volatile (nextval, random, gen_random_uuid). */
function callsVolatile(expr: string, volatile: ReadonlySet<string>): boolean {
  for (const m of expr.matchAll(/(?:"((?:[^"]|"")+)"|([A-Za-z_][A-Za-z0-9_$]*))\s*\(/g)) {
    const name = m[1] !== undefined ? m[1].replaceAll('""', '"') : m[2]!.toLowerCase();
    if (volatile.has(name)) return true;
  }
  return false;
}

/** Objects the diff does not carry: named so a deploy can warn that they differ or exist. */
async function otherObjects(q: Queryable, nsp: never): Promise<string[]> {
  const rows = await q.unsafe<{ what: string }[]>(
    `SELECT 'function ' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')' AS what FROM pg_proc p WHERE p.pronamespace = $1
     UNION ALL SELECT 'trigger ' || t.tgname || ' on ' || c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = $1 AND NOT t.tgisinternal
     UNION ALL SELECT 'materialized view ' || c.relname FROM pg_class c WHERE c.relnamespace = $1 AND c.relkind = 'm'
     UNION ALL SELECT (CASE t.typtype WHEN 'd' THEN 'domain ' ELSE 'type ' END) || t.typname FROM pg_type t
       WHERE t.typnamespace = $1 AND t.typtype IN ('d', 'c', 'r') AND (t.typtype <> 'c' OR EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'c'))
     UNION ALL SELECT 'policy ' || pol.polname || ' on ' || c.relname FROM pg_policy pol JOIN pg_class c ON c.oid = pol.polrelid WHERE c.relnamespace = $1
     ORDER BY 1`, [nsp]);
  return rows.map((r) => r.what);
}
