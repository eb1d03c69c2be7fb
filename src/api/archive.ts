// A whole project as one gzipped tar (POST /v1/previews and PATCH .../files
// with Content-Type: application/gzip), turned into a FileMap. It is read as
// a stream and every limit is counted on the way (files, their bytes, and the
// inflated size), so a gzip bomb or an oversized archive is refused after a
// few megabytes, never after filling memory.
import { createGunzip } from "node:zlib";
import { extract, type Extract } from "tar-stream";
import { badRequest, isAppError, tooLarge } from "../errors.ts";
import { fromBytes } from "../files.ts";
import type { FileMap } from "../types.ts";
import { checkPath } from "./paths.ts";
import type { FileLimits } from "./schemas.ts";

const GZIP_TYPES = new Set(["application/gzip", "application/x-gzip", "application/x-tar+gzip"]);

/** True when a Content-Type names a gzipped tar (parameters ignored). */
export function isGzip(contentType: string | null | undefined): boolean {
  return GZIP_TYPES.has((contentType ?? "").split(";")[0]!.trim().toLowerCase());
}

/**
 * The most a tar of files within the limits can inflate to: their bytes, plus
 * up to four 512-byte blocks per file (header, pax/long-name header, padding,
 * a directory entry), plus a megabyte for end blocks and record padding.
 */
export function tarBudget(l: FileLimits): number {
  return l.maxBytes + l.maxFiles * 4 * 512 + 1024 * 1024;
}

export interface ArchiveOptions {
  /**
   * Strip a top folder every entry shares (`git archive --prefix=myapp/`,
   * `tar czf x.tgz myapp`). Right for a whole project; a PATCH of a few files
   * under `src/` would lose its folder, so PATCH turns it off. An archive
   * with a root entry `./` (`tar czf x.tgz -C myapp .`, the CLI) says its
   * paths are already from the root: nothing is stripped from it either.
   */
  stripTopFolder?: boolean;
}

type Body = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/** Reads a gzipped tar into a FileMap: regular files only, paths checked, limits enforced while reading. */
export async function readArchive(body: Body, limits: FileLimits, opts: ArchiveOptions = {}): Promise<FileMap> {
  const ex = extract();
  const feeding = feed(inflate(body, tarBudget(limits)), ex);
  const files = new Map<string, Uint8Array>();
  const dirs: string[] = [];
  let rooted = false;
  let count = 0;
  let bytes = 0;
  try {
    for await (const entry of ex) {
      const h = entry.header;
      const name = normalize(h.name);
      if (h.type === "directory") {
        if (name) dirs.push(checked(name));
        else rooted = true;
        entry.resume();
        continue;
      }
      if (h.type !== "file" && h.type !== "contiguous-file") {
        throw badRequest(`Archive entry ${JSON.stringify(h.name)} is a ${h.type ?? "special file"}; only regular files and directories are accepted.`, { entry: h.name, type: h.type });
      }
      checked(name);
      // Refuse on the header's word, before reading the entry's bytes.
      if (++count > limits.maxFiles) throw tooLarge(`The archive has more than the limit of ${limits.maxFiles} files.`, { limit: limits.maxFiles });
      bytes += h.size ?? 0;
      if (bytes > limits.maxBytes) throw tooLarge(`The archive's files add up to more than the limit of ${limits.maxBytes} bytes.`, { limit: limits.maxBytes });
      const chunks: Buffer[] = [];
      for await (const c of entry as AsyncIterable<Buffer>) chunks.push(c);
      files.set(name, Buffer.concat(chunks));
    }
  } catch (e) {
    if (isAppError(e)) throw e;
    throw badRequest(`The archive is not a valid tar: ${sentence(e)}`);
  } finally {
    ex.destroy(); // stops the feeder (and the inflating) if we left early
  }
  await feeding;

  const top = opts.stripTopFolder === false || rooted ? undefined : commonTop([...files.keys()], dirs);
  const out: FileMap = {};
  for (const [name, data] of files) {
    const path = top ? name.slice(top.length) : name;
    out[checked(path)] = fromBytes(data);
  }
  return out;
}

/** `./a/b` and `a/b/` (directories) mean a/b; the root entry `./` becomes "". */
function normalize(name: string): string {
  return name.replace(/^(\.\/)+/, "").replace(/\/+$/, "").replace(/^\.$/, "");
}

function checked(path: string): string {
  checkPath(path); // 400 invalid_path naming the entry: `..`, absolute, NUL, .previewd/
  return path;
}

/** `myapp/` when every file is under it and every directory is it or under it. */
function commonTop(files: string[], dirs: string[]): string | undefined {
  const first = files[0];
  const slash = first?.indexOf("/") ?? -1;
  if (!first || slash < 0) return undefined;
  const top = first.slice(0, slash + 1);
  if (!files.every((f) => f.startsWith(top))) return undefined;
  if (!dirs.every((d) => d === top.slice(0, -1) || d.startsWith(top))) return undefined;
  return top;
}

/** Writes the inflated chunks into the tar parser, with back-pressure; stops when the parser is gone. */
async function feed(chunks: AsyncGenerator<Buffer>, ex: Extract): Promise<void> {
  try {
    for await (const c of chunks) {
      if (ex.destroying) return; // the reader gave up; `return` here ends the inflating too
      if (!ex.write(c)) await settled(ex as unknown as Emitter, "drain");
    }
    ex.end(null);
  } catch (e) {
    ex.destroy(e as Error); // the reader sees this error
  }
}

// Fed to zlib this much at a time: deflate inflates at most ~1032:1, so one
// slice can never produce more than ~4 MiB before the counter sees it.
const SLICE = 4096;

/** Gunzips the body as a stream, counting what comes out: past `budget`, 413. */
async function* inflate(body: Body, budget: number): AsyncGenerator<Buffer> {
  const gz = createGunzip();
  let read = 0;
  let readError: Error | undefined;
  void (async () => {
    for await (const chunk of body) {
      read += chunk.length;
      for (let i = 0; i < chunk.length; i += SLICE) {
        if (gz.destroyed) return; // leaving the loop cancels the request body
        if (!gz.write(chunk.subarray(i, i + SLICE))) await settled(gz, "drain");
      }
    }
    gz.end();
  })().catch((e: Error) => {
    readError = e;
    gz.destroy(e);
  });

  let total = 0;
  try {
    for await (const out of gz as AsyncIterable<Buffer>) {
      total += out.length;
      if (total > budget) throw tooLarge(`The archive inflates to more than ${budget} bytes, more than files within the limits can take.`, { limit: budget });
      yield out;
    }
  } catch (e) {
    if (isAppError(e)) throw e;
    if (readError) throw badRequest(`The request body could not be read: ${sentence(readError)}`);
    if (read === 0) throw badRequest("The request body is empty; send a gzipped tar.");
    throw badRequest(`The body is not valid gzip: ${sentence(e)}`);
  } finally {
    gz.destroy();
  }
}

/** A library's error message as the end of our sentence. */
function sentence(e: unknown): string {
  return `${String((e as Error)?.message ?? e).replace(/[.?!\s]+$/, "")}.`;
}

type Emitter = { on(event: string, f: () => void): unknown; off(event: string, f: () => void): unknown };

/** Resolves on `event` or when the stream closes, whichever comes first. */
function settled(s: Emitter, event: string): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      s.off(event, done);
      s.off("close", done);
      resolve();
    };
    s.on(event, done);
    s.on("close", done);
  });
}
