// Names and quoting. PostgreSQL takes no bind parameters in DDL (CREATE ROLE,
// COMMENT ON, ...), so those statements are text: every identifier in them is
// one we generated and passed through ident(), every value one we generated
// and passed through literal(). Nothing a client sent reaches them.

export const PREVIEW_PREFIX = "preview_";

/** Preview ids are ours ([a-z0-9]); 55 keeps preview_{id} within PostgreSQL's 63-byte names. */
const ID = /^[a-z0-9]{1,55}$/;

export function isPreviewId(id: string): boolean {
  return ID.test(id);
}

/** The schema and the role of a preview share this name. */
export function previewName(id: string): string {
  if (!ID.test(id)) throw new Error(`not a preview id: ${JSON.stringify(id)} (expected 1-55 of [a-z0-9])`);
  return PREVIEW_PREFIX + id;
}

/** A quoted identifier, as PostgreSQL's quote_ident would always quote it. */
export function ident(name: string): string {
  if (name.length === 0 || name.includes("\0")) throw new Error("invalid identifier");
  return `"${name.replaceAll('"', '""')}"`;
}

/** A quoted literal, as PostgreSQL's quote_literal: E'' form when backslashes are present. */
export function literal(value: string): string {
  if (value.includes("\0")) throw new Error("a NUL byte cannot appear in a SQL literal");
  const q = value.replaceAll("'", "''");
  return value.includes("\\") ? `E'${q.replaceAll("\\", "\\\\")}'` : `'${q}'`;
}
