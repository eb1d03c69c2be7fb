// Builds tar and tar.gz bodies for archive uploads in tests.
import { gzipSync } from "node:zlib";
import { pack } from "tar-stream";

export type TarEntry = {
  name: string;
  type?: "file" | "directory" | "symlink" | "link" | "fifo" | "character-device";
  body?: string | Buffer;
  linkname?: string;
};

/** A tar of these entries (tar-stream writes pax headers for long names itself). */
export async function tarOf(entries: TarEntry[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on("data", (c) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve) => p.on("end", () => resolve()));
  for (const e of entries) {
    if (e.body !== undefined) p.entry({ name: e.name, type: e.type ?? "file" }, e.body);
    else p.entry({ name: e.name, type: e.type ?? "file", linkname: e.linkname });
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** The same, gzipped: a body for Content-Type application/gzip. */
export async function tgzOf(entries: TarEntry[] | Record<string, string | Buffer>): Promise<Buffer> {
  const list = Array.isArray(entries) ? entries : Object.entries(entries).map(([name, body]) => ({ name, body }));
  return gzipSync(await tarOf(list));
}
