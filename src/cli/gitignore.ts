// The .gitignore rules `previewd create DIR` honours, so a preview gets what
// `git add` would take: names, `dir/`, globs (`*`, `?`, `[a-z]`, `**`),
// patterns anchored by a `/`, `!negation`, comments, and nested .gitignore
// files (their patterns are relative to their own folder). The last matching
// rule wins, as in git; an ignored folder is never entered, so nothing below
// it can be re-included (git's rule too).

export interface Rule {
  /** Folder of the .gitignore this came from, relative to the root ("" for the root). */
  base: string;
  re: RegExp;
  /** No slash in the pattern: it matches a name at any depth below base. */
  nameOnly: boolean;
  dirOnly: boolean;
  negate: boolean;
}

/** Parses one .gitignore file found in folder `base`. */
export function parseGitignore(text: string, base = ""): Rule[] {
  const rules: Rule[] = [];
  for (let line of text.split(/\r?\n/)) {
    if (line === "" || line.startsWith("#")) continue;
    line = line.replace(/(?<!\\)\s+$/, ""); // trailing spaces, unless escaped
    let negate = false;
    if (line.startsWith("!")) {
      negate = true;
      line = line.slice(1);
    } else if (line.startsWith("\\!") || line.startsWith("\\#")) line = line.slice(1);
    const dirOnly = line.endsWith("/");
    if (dirOnly) line = line.replace(/\/+$/, "");
    if (line === "") continue;
    const nameOnly = !line.includes("/");
    if (line.startsWith("/")) line = line.slice(1);
    rules.push({ base, re: new RegExp(`^${globToRegex(line)}$`), nameOnly, dirOnly, negate });
  }
  return rules;
}

/** True when `path` (relative to the root, `/`-separated) is ignored by `rules`. */
export function isIgnored(rules: readonly Rule[], path: string, isDir: boolean): boolean {
  let ignored = false;
  for (const r of rules) {
    if (r.dirOnly && !isDir) continue;
    if (r.base && !path.startsWith(`${r.base}/`)) continue;
    const rel = r.base ? path.slice(r.base.length + 1) : path;
    const subject = r.nameOnly ? rel.slice(rel.lastIndexOf("/") + 1) : rel;
    if (r.re.test(subject)) ignored = !r.negate;
  }
  return ignored;
}

function globToRegex(glob: string): string {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === "*" && glob[i + 1] === "*" && (i === 0 || glob[i - 1] === "/") && (i + 2 === glob.length || glob[i + 2] === "/")) {
      // `**` as a whole segment: `a/**` is everything inside, `**/b` and `a/**/b` any depth (zero included)
      if (i + 2 === glob.length) re += ".*";
      else re += "(?:.*/)?";
      i += 2;
    } else if (ch === "*") {
      while (glob[i + 1] === "*") i++;
      re += "[^/]*";
    } else if (ch === "?") re += "[^/]";
    else if (ch === "[" && glob.indexOf("]", i + 2) > 0) {
      const end = glob.indexOf("]", i + 2);
      const body = glob.slice(i + 1, end).replace(/^!/, "^").replace(/\\/g, "\\\\");
      re += `[${body}]`;
      i = end;
    } else if (ch === "\\" && i + 1 < glob.length) re += escape(glob[++i]!);
    else re += escape(ch);
  }
  return re;
}

function escape(ch: string): string {
  return ch.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}
