// `previewd create DIR` uploads DIR as one gzipped tar: bytes go as they are
// (images, fonts), and what git would not take stays home (.gitignore rules,
// nested ones included). node_modules, .git and .previewd never go: the
// preview installs its own dependencies, and .previewd is the runner's.
import { existsSync, lstatSync, readdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import { join, sep } from "node:path";
import { gzipSync } from "node:zlib";
import { pack } from "tar-stream";
import { isIgnored, parseGitignore, type Rule } from "./gitignore.ts";

const ALWAYS_SKIP = new Set(["node_modules", ".git", ".previewd"]);

/** The files of `dir` to upload, as sorted `/`-separated relative paths. */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const real = realpathSync(dir);
  // A linked file goes as its content only when it stays in DIR: a checkout of a stranger's branch (CI on a pull
  // request) could link to ~/.ssh/id_rsa or /proc/self/environ (the CI's secrets), and the preview would serve it.
  const inside = (p: string) => {
    const r = realpathSync(p);
    return r === real || r.startsWith(real.endsWith(sep) ? real : real + sep);
  };
  const walk = (rel: string, inherited: Rule[]) => {
    const abs = rel ? join(dir, rel) : dir;
    const ignoreFile = join(abs, ".gitignore");
    const rules = existsSync(ignoreFile) ? [...inherited, ...parseGitignore(readFileSync(ignoreFile, "utf8"), rel)] : inherited;
    for (const name of readdirSync(abs).sort()) {
      if (ALWAYS_SKIP.has(name)) continue;
      const path = rel ? `${rel}/${name}` : name;
      const full = join(abs, name);
      const st = statSync(full, { throwIfNoEntry: false }); // follows symlinks: a linked file goes as its content
      if (!st) continue; // a dangling symlink
      if (isIgnored(rules, path, st.isDirectory())) continue;
      // A linked folder is not entered: it could lead back up and loop.
      if (st.isDirectory()) {
        if (!lstatSync(full).isSymbolicLink()) walk(path, rules);
      } else if (st.isFile() && (!lstatSync(full).isSymbolicLink() || inside(full))) out.push(path);
    }
  };
  walk("", []);
  return out;
}

/** DIR's files as a gzipped tar, the body of an archive create (a plain Uint8Array: any fetch takes it). */
export async function packDir(dir: string): Promise<Uint8Array<ArrayBuffer>> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on("data", (c) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    p.on("end", resolve);
    p.on("error", reject);
  });
  // The root entry tells the daemon these paths start at the app root: a DIR
  // holding only src/ stays src/, its one folder is not taken for a wrapper.
  p.entry({ name: "./", type: "directory", mode: 0o755 });
  for (const path of listFiles(dir)) p.entry({ name: path, mode: 0o644 }, readFileSync(join(dir, path)));
  p.finalize();
  await done;
  return new Uint8Array(gzipSync(Buffer.concat(chunks)));
}
