// Keeps a mounted WebContainer's files in step with the preview's: the
// daemon's /__previewd/events stream says `hello` (its current digest) on
// every (re)connect and `change` (what to write and remove, from one digest
// to the next) on every PATCH. Writes go through fs.writeFile / fs.rm so the
// dev server's watcher sees them and hot-reloads. A change that does not
// start from the digest we hold (a reconnect missed one) triggers a resync:
// the full file list is fetched again and diffed here.
import type { RuntimeLike, Files } from "./machine.ts";
import { diffFiles, flattenTree, fromBase64, type WireContent } from "./tree.ts";

export interface Change {
  from: string;
  digest: string;
  write: Record<string, WireContent>;
  remove: string[];
}

export class FileSync {
  private files: Record<string, WireContent>;
  private digest: string;
  /** One operation at a time, in arrival order. */
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly fs: RuntimeLike["fs"], initial: Files, private readonly reload: () => Promise<Files>) {
    this.files = flattenTree(initial.tree);
    this.digest = initial.digest;
  }

  hello(digest: string): Promise<void> {
    return this.enqueue(async () => {
      if (digest !== this.digest) await this.resync();
    });
  }

  change(c: Change): Promise<void> {
    return this.enqueue(async () => {
      if (c.from !== this.digest) return this.resync();
      await this.apply(c.write, c.remove);
      this.digest = c.digest;
    });
  }

  private enqueue(op: () => Promise<void>): Promise<void> {
    this.queue = this.queue.then(op, op);
    return this.queue;
  }

  private async resync(): Promise<void> {
    const f = await this.reload();
    const next = flattenTree(f.tree);
    const { write, remove } = diffFiles(this.files, next);
    await this.apply(write, remove);
    this.digest = f.digest;
  }

  private async apply(write: Record<string, WireContent>, remove: string[]): Promise<void> {
    for (const path of remove) {
      await this.fs.rm(path, { force: true, recursive: true });
      delete this.files[path];
    }
    for (const [path, content] of Object.entries(write)) {
      const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "";
      if (dir) await this.fs.mkdir(dir, { recursive: true });
      await this.fs.writeFile(path, typeof content === "string" ? content : fromBase64(content.base64));
      this.files[path] = content;
    }
  }
}
