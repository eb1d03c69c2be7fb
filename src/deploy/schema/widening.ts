// Is changing a column from one type to another lossless for every value
// the old type can hold? Only the changes listed here count as widening
// (class "rewriting": the table may be rewritten, no value is lost); every
// other type change may lose or change values (class "destructive": it
// needs a confirmation). Types are format_type() texts.

const INT_DIGITS: Record<string, number> = { smallint: 5, integer: 10, bigint: 19 };
const INT_ORDER = ["smallint", "integer", "bigint"];

interface Parsed {
  base: string;
  mods: number[];
  array: boolean;
}

function parse(type: string): Parsed {
  const array = type.endsWith("[]");
  const t = array ? type.slice(0, -2) : type;
  const m = /^(.*?)\((\d+(?:,\d+)?)\)(.*)$/.exec(t);
  if (!m) return { base: t, mods: [], array };
  return { base: `${m[1]}${m[3]}`.trim(), mods: m[2]!.split(",").map(Number), array };
}

/** True when every value of `from` converts to `to` unchanged. */
export function isWidening(from: string, to: string): boolean {
  if (from === to) return true;
  const a = parse(from);
  const b = parse(to);
  if (a.array !== b.array) return false;
  // Integers: to a larger integer, or to a numeric with room for all their digits.
  if (INT_DIGITS[a.base] !== undefined) {
    if (INT_DIGITS[b.base] !== undefined) return INT_ORDER.indexOf(b.base) >= INT_ORDER.indexOf(a.base);
    if (b.base === "numeric") return b.mods.length === 0 || b.mods[0]! - (b.mods[1] ?? 0) >= INT_DIGITS[a.base]!;
    return false;
  }
  if (a.base === "real") return b.base === "double precision" || (b.base === "numeric" && b.mods.length === 0);
  if (a.base === "numeric") {
    if (b.base !== "numeric") return false;
    if (b.mods.length === 0) return true;
    if (a.mods.length === 0) return false;
    const [p1, s1 = 0] = a.mods;
    const [p2, s2 = 0] = b.mods;
    return s2 >= s1 && p2! - s2 >= p1! - s1;
  }
  // Strings: a longer limit, or none (text and varchar without a limit hold anything).
  if (a.base === "character varying" || a.base === "text") {
    if (b.base === "text") return true;
    if (b.base !== "character varying") return false;
    if (b.mods.length === 0) return true;
    return a.base === "character varying" && a.mods.length === 1 && b.mods[0]! >= a.mods[0]!;
  }
  if (a.base === "bit varying") return b.base === "bit varying" && (b.mods.length === 0 || (a.mods.length === 1 && b.mods[0]! >= a.mods[0]!));
  // Fractional-second precision of the same time type: more digits keep every value.
  for (const base of ["timestamp without time zone", "timestamp with time zone", "time without time zone", "time with time zone", "interval"]) {
    if (a.base === base && b.base === base) {
      const pa = a.mods[0] ?? 6;
      const pb = b.mods[0] ?? 6;
      return pb >= pa;
    }
  }
  return false;
}
