// Built sites in the shared store, and each node's copy in memory: a site is
// loaded once per build (the record names its build id) and served from
// memory after that; gzip is made once per file, on first demand.
import type { Sql } from "../db/client.ts";

export interface SiteFile {
  bytes: Uint8Array;
  etag: string;
  gzip?: Uint8Array;
}

export interface Site {
  buildId: string;
  files: Map<string, SiteFile>;
  bytes: number;
}

export class SiteStore {
  private readonly cache = new Map<string, Site>();

  constructor(private readonly sql: Sql, private readonly maxCachedBytes = 256 * 1024 * 1024) {}

  /**
   * Gives the preview a copy of the newest build another preview made from
   * the same inputs (its files and the image), in one transaction; false
   * when there is none.
   */
  async reuse(previewId: string, buildId: string, sourceHash: string): Promise<boolean> {
    return this.sql.begin(async (tx) => {
      const [src] = await tx<{ preview_id: string; log: string }[]>`
        SELECT preview_id, log FROM previewd.static_builds
        WHERE source_hash = ${sourceHash} AND build_id <> '' AND preview_id <> ${previewId} ORDER BY built_at DESC LIMIT 1`;
      if (!src) return false;
      await tx`DELETE FROM previewd.static_files WHERE preview_id = ${previewId}`;
      await tx`INSERT INTO previewd.static_files (preview_id, path, data) SELECT ${previewId}, path, data FROM previewd.static_files WHERE preview_id = ${src.preview_id}`;
      const log = `[previewd] the same files were built before (preview ${src.preview_id}): its output is reused\n`;
      await tx`INSERT INTO previewd.static_builds (preview_id, build_id, log, source_hash) VALUES (${previewId}, ${buildId}, ${log}, ${sourceHash})
        ON CONFLICT (preview_id) DO UPDATE SET build_id = EXCLUDED.build_id, log = EXCLUDED.log, source_hash = EXCLUDED.source_hash, built_at = now()`;
      return true;
    });
  }

  /** Replaces the preview's site with a new build, in one transaction. */
  async save(previewId: string, buildId: string, files: Map<string, Uint8Array>, log: string, sourceHash?: string): Promise<void> {
    const paths = [...files.keys()];
    const blobs = paths.map((p) => Buffer.from(files.get(p)!).toString("base64"));
    await this.sql.begin(async (tx) => {
      await tx`DELETE FROM previewd.static_files WHERE preview_id = ${previewId}`;
      if (paths.length) {
        await tx`INSERT INTO previewd.static_files (preview_id, path, data)
          SELECT ${previewId}, p, decode(b, 'base64') FROM unnest(${paths}::text[], ${blobs}::text[]) AS f(p, b)`;
      }
      await tx`INSERT INTO previewd.static_builds (preview_id, build_id, log, source_hash) VALUES (${previewId}, ${buildId}, ${log}, ${sourceHash ?? null})
        ON CONFLICT (preview_id) DO UPDATE SET build_id = EXCLUDED.build_id, log = EXCLUDED.log, source_hash = EXCLUDED.source_hash, built_at = now()`;
    });
  }

  /** Keeps a failed build's output as the log (the last good build stays served). */
  async saveLog(previewId: string, log: string): Promise<void> {
    await this.sql`INSERT INTO previewd.static_builds (preview_id, build_id, log) VALUES (${previewId}, '', ${log})
      ON CONFLICT (preview_id) DO UPDATE SET log = EXCLUDED.log`;
  }

  async log(previewId: string): Promise<string | undefined> {
    const [r] = await this.sql<{ log: string }[]>`SELECT log FROM previewd.static_builds WHERE preview_id = ${previewId}`;
    return r?.log;
  }

  /** The site of this build, from memory or loaded from the store (undefined: not stored, or another build is). */
  async get(previewId: string, buildId: string): Promise<Site | undefined> {
    const hit = this.cache.get(previewId);
    if (hit?.buildId === buildId) return hit;
    const [b] = await this.sql<{ build_id: string }[]>`SELECT build_id FROM previewd.static_builds WHERE preview_id = ${previewId}`;
    if (b?.build_id !== buildId) return undefined;
    const rows = await this.sql<{ path: string; data: Buffer }[]>`SELECT path, data FROM previewd.static_files WHERE preview_id = ${previewId}`;
    const site: Site = { buildId, files: new Map(), bytes: 0 };
    for (const r of rows) {
      const bytes = new Uint8Array(r.data);
      site.files.set(r.path, { bytes, etag: `"${buildId}-${Bun.hash(bytes).toString(36)}"` });
      site.bytes += bytes.byteLength;
    }
    this.remember(previewId, site);
    return site;
  }

  forget(previewId: string): void {
    this.cache.delete(previewId);
  }

  /** Keeps the newest sites under the memory cap (Map order is insertion order: the oldest go first). */
  private remember(previewId: string, site: Site): void {
    this.cache.delete(previewId);
    this.cache.set(previewId, site);
    let total = 0;
    for (const s of this.cache.values()) total += s.bytes;
    for (const [id, s] of this.cache) {
      if (total <= this.maxCachedBytes || id === previewId) break;
      this.cache.delete(id);
      total -= s.bytes;
    }
  }
}
