// The preview store port in memory: the same contract as store.ts's
// PostgreSQL adapter (records copied in and out, so a caller's later change
// to its object is not a write), for the lifecycle's fast tests and any
// tool that wants a daemon's logic without a database. `fail` makes every
// call throw as an unreachable database does, to test outage handling.
import type { PreviewStore, RecordPatch } from "../orchestrator/ports.ts";
import type { FileMap, PreviewRecord } from "../types.ts";

interface Row {
  record: PreviewRecord;
  containerId?: string;
  files: FileMap;
}

export class MemoryStore implements PreviewStore {
  private readonly rows = new Map<string, Row>();
  private readonly beats = new Map<string, number>();
  /** Every update, in order (what a test asserts the lifecycle wrote). */
  readonly updates: Array<{ id: string; patch: RecordPatch }> = [];
  /** While set, every call rejects with this error (the database is away). */
  fail?: Error;

  async insert(record: PreviewRecord & { containerId?: string }): Promise<void> {
    this.check();
    if (this.rows.has(record.id)) throw new Error(`duplicate key value violates unique constraint "previews_pkey" (${record.id})`);
    const { containerId, ...r } = record;
    this.rows.set(record.id, { record: copy({ ...r, spec: { ...r.spec, files: {} } }), containerId, files: {} });
  }

  async update(id: string, patch: RecordPatch): Promise<void> {
    this.check();
    this.updates.push({ id, patch: structuredClone(patch) });
    const row = this.rows.get(id);
    if (!row) return;
    const r = row.record;
    if (patch.status !== undefined) r.status = patch.status;
    if (patch.sleep !== undefined) r.sleep = patch.sleep ?? undefined;
    if (patch.node !== undefined) r.node = patch.node;
    if (patch.failure !== undefined) r.failure = patch.failure ?? undefined;
    if (patch.containerId !== undefined) row.containerId = patch.containerId ?? undefined;
    if (patch.lastActiveAt !== undefined) r.lastActiveAt = new Date(patch.lastActiveAt);
    if (patch.spec !== undefined) r.spec = structuredClone({ ...patch.spec, files: {} });
    if (patch.database !== undefined) r.database = structuredClone(patch.database);
  }

  async get(id: string): Promise<PreviewRecord | undefined> {
    this.check();
    const row = this.rows.get(id);
    return row && copy(row.record);
  }

  async list(): Promise<PreviewRecord[]> {
    this.check();
    return [...this.rows.values()].map((r) => copy(r.record));
  }

  async listByNode(node: string): Promise<PreviewRecord[]> {
    return (await this.list()).filter((r) => r.node === node);
  }

  async files(id: string): Promise<FileMap> {
    this.check();
    return structuredClone(this.rows.get(id)?.files ?? {});
  }

  async putFiles(id: string, files: FileMap, deletePaths: string[] = []): Promise<void> {
    this.check();
    const row = this.rows.get(id);
    if (!row) return;
    for (const p of deletePaths) delete row.files[p];
    Object.assign(row.files, structuredClone(files));
  }

  async remove(id: string): Promise<void> {
    this.check();
    this.rows.delete(id);
  }

  async claim(id: string, from: string, to: string, staleMs?: number): Promise<boolean> {
    this.check();
    const row = this.rows.get(id);
    if (!row || row.record.node !== from) return false;
    if (staleMs !== undefined && Date.now() - (this.beats.get(from) ?? 0) < staleMs) return false;
    row.record.node = to;
    row.record.sleep = undefined;
    return true;
  }

  async beat(node: string): Promise<void> {
    this.check();
    this.beats.set(node, Date.now());
  }

  /** The container id recorded with a preview (what reconcile and drift compare). */
  containerOf(id: string): string | undefined {
    return this.rows.get(id)?.containerId;
  }

  private check(): void {
    if (this.fail) throw this.fail;
  }
}

const copy = (r: PreviewRecord): PreviewRecord => structuredClone(r);
