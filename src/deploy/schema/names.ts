// Names as people and clients see them in summaries and confirmation
// strings: quoted the way PostgreSQL's quote_ident() quotes (only when the
// name is not a plain lower-case identifier, or is a keyword that is not
// unreserved), so `products.legacy` stays readable and `"Order Items"."Legacy"`
// stays unambiguous. SQL we run always quotes (db/ident.ts).

/** Keywords quote_ident() quotes: `SELECT word FROM pg_get_keywords() WHERE catcode <> 'U'`. */
export type Keywords = ReadonlySet<string>;

export async function readKeywords(q: { unsafe<T extends object[]>(s: string): Promise<T> }): Promise<Keywords> {
  const rows = await q.unsafe<{ word: string }[]>("SELECT word FROM pg_get_keywords() WHERE catcode <> 'U'");
  return new Set(rows.map((r) => r.word));
}

export function displayIdent(name: string, keywords: Keywords): string {
  if (/^[a-z_][a-z0-9_$]*$/.test(name) && !keywords.has(name)) return name;
  return `"${name.replaceAll('"', '""')}"`;
}

/** `table.column`, each part quoted as needed. */
export function displayColumn(table: string, column: string, keywords: Keywords): string {
  return `${displayIdent(table, keywords)}.${displayIdent(column, keywords)}`;
}
