// The preview's flat file map (`{"src/App.jsx": "..."}`) as WebContainer's
// nested FileSystemTree, and back. Shared by the daemon (which answers
// /__previewd/files in this shape) and the launcher page (which mounts it and
// diffs it on a resync). JSON cannot carry a Uint8Array, so a binary file
// travels as base64 text with `encoding: "base64"` next to its contents and
// the page turns it into bytes before mount (decodeTree).
import type { DirectoryNode, FileNode, FileSystemTree } from "@webcontainer/api";

/** A file's content on the wire: UTF-8 text, or bytes as base64 (the API's FileContent). */
export type WireContent = string | { base64: string };

/** FileSystemTree as JSON: a FileNode may say its contents are base64. */
export type WireTree = { [name: string]: { file: { contents: string; encoding?: "base64" } } | { directory: WireTree } };

export function toWireTree(files: Record<string, WireContent>): WireTree {
  const root: WireTree = {};
  for (const path of Object.keys(files).sort()) {
    const parts = path.split("/").filter(Boolean);
    const name = parts.pop();
    if (!name) continue;
    let dir = root;
    for (const p of parts) {
      const node = (dir[p] ??= { directory: {} });
      // A file and a folder of the same name cannot both exist: the folder wins (the later, deeper path).
      if (!("directory" in node)) dir[p] = { directory: {} };
      dir = (dir[p] as { directory: WireTree }).directory;
    }
    const c = files[path]!;
    if (dir[name] && "directory" in dir[name]) continue;
    dir[name] = typeof c === "string" ? { file: { contents: c } } : { file: { contents: c.base64, encoding: "base64" } };
  }
  return root;
}

/** The wire tree as WebContainer mounts it: base64 files become bytes. */
export function decodeTree(tree: WireTree): FileSystemTree {
  const out: FileSystemTree = {};
  for (const [name, node] of Object.entries(tree)) {
    if ("directory" in node) out[name] = { directory: decodeTree(node.directory) } satisfies DirectoryNode;
    else out[name] = { file: { contents: node.file.encoding === "base64" ? fromBase64(node.file.contents) : node.file.contents } } satisfies FileNode;
  }
  return out;
}

/** The wire tree as a flat map again (path -> wire content), to diff one version against the next. */
export function flattenTree(tree: WireTree, prefix = ""): Record<string, WireContent> {
  const out: Record<string, WireContent> = {};
  for (const [name, node] of Object.entries(tree)) {
    const path = prefix + name;
    if ("directory" in node) Object.assign(out, flattenTree(node.directory, `${path}/`));
    else out[path] = node.file.encoding === "base64" ? { base64: node.file.contents } : node.file.contents;
  }
  return out;
}

export function fromBase64(b64: string): Uint8Array {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

/** What turns `before` into `after`: files to write (new or changed) and paths to remove. */
export function diffFiles(before: Record<string, WireContent>, after: Record<string, WireContent>): { write: Record<string, WireContent>; remove: string[] } {
  const write: Record<string, WireContent> = {};
  for (const [p, c] of Object.entries(after)) if (!sameContent(before[p], c)) write[p] = c;
  return { write, remove: Object.keys(before).filter((p) => !(p in after)) };
}

function sameContent(a: WireContent | undefined, b: WireContent): boolean {
  if (a === undefined) return false;
  if (typeof a === "string" || typeof b === "string") return a === b;
  return a.base64 === b.base64;
}
