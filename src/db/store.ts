// The durable record of previews: previewd.previews and preview_files.
// Shared by every node of a cluster when they share DATABASE_URL.
import { contentBytes } from "../files.ts";
import type { PreviewStore as StorePort, RecordPatch } from "../orchestrator/ports.ts";
import type { FileMap, PreviewRecord, PreviewSpec, PreviewStatus, SleepStage, Tier } from "../types.ts";
import type { Sql } from "./client.ts";

interface Row {
  id: string;
  node: string;
  tier: string;
  status: string;
  sleep: string | null;
  spec: Omit<PreviewSpec, "files">;
  db_schema: string | null;
  db_url: string | null;
  failure: string | null;
  visibility: string;
  created_at: Date;
  last_active_at: Date;
}

const COLUMNS = "id, node, tier, status, sleep, spec, db_schema, db_url, failure, visibility, created_at, last_active_at";

export class PreviewStore implements StorePort {
  constructor(private readonly sql: Sql) {}

  async insert(record: PreviewRecord & { containerId?: string }): Promise<void> {
    // Files have their own table; the spec column holds the rest.
    const { files: _files, ...spec } = record.spec;
    await this.sql`
      INSERT INTO previewd.previews
        (id, node, tier, status, sleep, spec, db_schema, db_url, failure, visibility, container_id, created_at, last_active_at)
      VALUES (${record.id}, ${record.node}, ${record.tier}, ${record.status}, ${record.sleep ?? null}, ${this.sql.json(spec as never)},
        ${record.database?.schema ?? null}, ${record.database?.url ?? null}, ${record.failure ?? null},
        ${record.visibility ?? record.spec.visibility ?? "public"},
        ${record.containerId ?? null}, ${record.createdAt}, ${record.lastActiveAt})`;
  }

  async update(id: string, patch: RecordPatch): Promise<void> {
    const set: Record<string, unknown> = {};
    if (patch.status !== undefined) set.status = patch.status;
    if (patch.sleep !== undefined) set.sleep = patch.sleep;
    if (patch.node !== undefined) set.node = patch.node;
    if (patch.failure !== undefined) set.failure = patch.failure;
    if (patch.containerId !== undefined) set.container_id = patch.containerId;
    if (patch.lastActiveAt !== undefined) set.last_active_at = patch.lastActiveAt;
    if (patch.spec !== undefined) {
      const { files: _files, ...spec } = patch.spec;
      set.spec = this.sql.json(spec as never);
    }
    if (patch.database !== undefined) {
      set.db_schema = patch.database.schema;
      set.db_url = patch.database.url;
    }
    if (Object.keys(set).length === 0) return;
    await this.sql`UPDATE previewd.previews SET ${this.sql(set)}, updated_at = now() WHERE id = ${id}`;
  }

  async get(id: string): Promise<PreviewRecord | undefined> {
    const [row] = await this.sql<Row[]>`SELECT ${this.sql.unsafe(COLUMNS)} FROM previewd.previews WHERE id = ${id}`;
    return row && toRecord(row);
  }

  async list(): Promise<PreviewRecord[]> {
    const rows = await this.sql<Row[]>`SELECT ${this.sql.unsafe(COLUMNS)} FROM previewd.previews ORDER BY created_at, id`;
    return rows.map(toRecord);
  }

  async listByNode(node: string): Promise<PreviewRecord[]> {
    const rows = await this.sql<Row[]>`SELECT ${this.sql.unsafe(COLUMNS)} FROM previewd.previews WHERE node = ${node} ORDER BY created_at, id`;
    return rows.map(toRecord);
  }

  /** Text comes back as a string, bytes (the `data` column) as {base64}. */
  async files(id: string): Promise<FileMap> {
    const rows = await this.sql<{ path: string; content: string | null; data: Buffer | null }[]>`
      SELECT path, content, data FROM previewd.preview_files WHERE preview_id = ${id} ORDER BY path`;
    return Object.fromEntries(rows.map((r) => [r.path, r.content ?? { base64: r.data!.toString("base64") }]));
  }

  /**
   * Upserts files and deletes paths, in one transaction. Three array
   * parameters, however many files: text goes to `content`, anything else
   * (base64, or text with a NUL that PostgreSQL text cannot hold) to `data`,
   * sent as canonical base64 and decoded by the server.
   */
  async putFiles(id: string, files: FileMap, deletePaths: string[] = []): Promise<void> {
    const paths = Object.keys(files);
    const texts: (string | null)[] = [];
    const blobs: (string | null)[] = [];
    for (const p of paths) {
      const c = files[p]!;
      const asText = typeof c === "string" && !c.includes("\0");
      texts.push(asText ? c : null);
      blobs.push(asText ? null : contentBytes(c).toString("base64"));
    }
    await this.sql.begin(async (tx) => {
      if (deletePaths.length) {
        await tx`DELETE FROM previewd.preview_files WHERE preview_id = ${id} AND path = ANY(${deletePaths}::text[])`;
      }
      if (paths.length) {
        await tx`
          INSERT INTO previewd.preview_files (preview_id, path, content, data)
          SELECT ${id}, p, c, decode(b, 'base64') FROM unnest(${paths}::text[], ${texts}::text[], ${blobs}::text[]) AS f(p, c, b)
          ON CONFLICT (preview_id, path) DO UPDATE SET content = EXCLUDED.content, data = EXCLUDED.data`;
      }
    });
  }

  /**
   * Moves a preview from a dead node to `to`, only if it is still recorded on
   * `from`: when several survivors race for it, exactly one wins.
   */
  async claim(id: string, from: string, to: string, staleMs?: number): Promise<boolean> {
    // With staleMs (recovery), a node still beating in this shared database is alive, whatever gossip says
    // (a network split between nodes): the check and the move are one statement, on the database's clock.
    const alive = staleMs === undefined
      ? this.sql`false`
      : this.sql`EXISTS (SELECT 1 FROM previewd.node_heartbeats h WHERE h.node = ${from} AND h.seen_at > now() - make_interval(secs => ${staleMs / 1000}::float8))`;
    const rows = await this.sql`
      UPDATE previewd.previews SET node = ${to}, status = 'starting', sleep = NULL, container_id = NULL, updated_at = now()
      WHERE id = ${id} AND node = ${from} AND NOT ${alive} RETURNING id`;
    return rows.length === 1;
  }

  /** This node is alive (see claim); written every second by a clustered node. */
  async beat(node: string): Promise<void> {
    await this.sql`
      INSERT INTO previewd.node_heartbeats (node, seen_at) VALUES (${node}, now())
      ON CONFLICT (node) DO UPDATE SET seen_at = now()`;
  }

  /** Removes the record and its files. */
  async remove(id: string): Promise<void> {
    await this.sql`DELETE FROM previewd.previews WHERE id = ${id}`;
  }
}

function toRecord(r: Row): PreviewRecord {
  const rec: PreviewRecord = {
    id: r.id,
    node: r.node,
    tier: r.tier as Tier,
    status: r.status as PreviewStatus,
    ...(r.sleep && { sleep: r.sleep as SleepStage }),
    spec: { ...r.spec, files: {} },
    visibility: r.visibility === "private" ? "private" : "public",
    createdAt: r.created_at,
    lastActiveAt: r.last_active_at,
  };
  if (r.db_schema && r.db_url) rec.database = { schema: r.db_schema, url: r.db_url };
  if (r.failure !== null) rec.failure = r.failure;
  return rec;
}
