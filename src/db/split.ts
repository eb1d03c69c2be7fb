// Splits a SQL script into statements at top-level semicolons, so each one
// runs (and, when it fails, is reported) on its own. It knows PostgreSQL's
// lexical rules that can hide a semicolon: '...' and E'...' strings, "..."
// identifiers, $tag$...$tag$ bodies, -- and nested /* */ comments, and
// BEGIN ATOMIC ... END function bodies (where CASE ... END nests).

export function splitStatements(script: string): string[] {
  const out: string[] = [];
  let start = 0;
  let i = 0;
  const n = script.length;
  // BEGIN ATOMIC tracking: depth > 0 means semicolons do not end the statement
  let atomic = 0;
  let prevWord = "";

  const push = (end: number) => {
    const stmt = script.slice(start, end).trim();
    if (stmt && !onlyComments(stmt)) out.push(stmt);
    start = end + 1;
  };

  while (i < n) {
    const c = script[i]!;
    const next = script[i + 1];
    if (c === "-" && next === "-") {
      const eol = script.indexOf("\n", i);
      i = eol === -1 ? n : eol + 1;
    } else if (c === "/" && next === "*") {
      i = skipBlockComment(script, i);
    } else if (c === "'") {
      const escapes = /[eE]$/.test(script.slice(Math.max(0, i - 1), i)) && !/[A-Za-z0-9_$]/.test(script[i - 2] ?? "");
      i = skipQuoted(script, i, "'", escapes);
    } else if (c === '"') {
      i = skipQuoted(script, i, '"', false);
    } else if (c === "$" && !/[A-Za-z0-9_]/.test(script[i - 1] ?? "")) {
      const m = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(script.slice(i, i + 65));
      if (m) {
        const close = script.indexOf(m[0], i + m[0].length);
        i = close === -1 ? n : close + m[0].length;
      } else {
        i++;
      }
    } else if (/[A-Za-z_]/.test(c)) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_$]/.test(script[j]!)) j++;
      const word = script.slice(i, j).toLowerCase();
      if (atomic === 0 && prevWord === "begin" && word === "atomic") atomic = 1;
      else if (atomic > 0 && word === "case") atomic++;
      else if (atomic > 0 && word === "end") atomic--;
      prevWord = word;
      i = j;
    } else if (c === ";" && atomic === 0) {
      push(i);
      prevWord = "";
      i++;
    } else {
      if (!/\s/.test(c)) prevWord = "";
      i++;
    }
  }
  push(n);
  return out;
}

function skipBlockComment(s: string, i: number): number {
  let depth = 0;
  while (i < s.length) {
    if (s[i] === "/" && s[i + 1] === "*") {
      depth++;
      i += 2;
    } else if (s[i] === "*" && s[i + 1] === "/") {
      depth--;
      i += 2;
      if (depth === 0) return i;
    } else {
      i++;
    }
  }
  return i;
}

/** Past the closing quote; a doubled quote is an escaped one, and so is \' in E'' strings. */
function skipQuoted(s: string, i: number, q: string, backslashEscapes: boolean): number {
  i++;
  while (i < s.length) {
    const c = s[i]!;
    if (backslashEscapes && c === "\\") {
      i += 2;
    } else if (c === q) {
      if (s[i + 1] === q) i += 2;
      else return i + 1;
    } else {
      i++;
    }
  }
  return i;
}

function onlyComments(stmt: string): boolean {
  return splitCommentsAway(stmt).trim() === "";
}

function splitCommentsAway(s: string): string {
  let out = "";
  let i = 0;
  while (i < s.length) {
    if (s[i] === "-" && s[i + 1] === "-") {
      const eol = s.indexOf("\n", i);
      i = eol === -1 ? s.length : eol + 1;
    } else if (s[i] === "/" && s[i + 1] === "*") {
      i = skipBlockComment(s, i);
    } else {
      out += s[i];
      i++;
    }
  }
  return out;
}
