// Reads of this node's previews: the live view (idle clock, phase, the
// container's usage) for the ones it runs, the stored record for the rest;
// their logs and database exports.
import { conflict, notFound } from "../errors.ts";
import type { IdleClock, Runtime } from "../pool/index.ts";
import { UsageMeter } from "../pool/usage.ts";
import type { PreviewRecord, PreviewView } from "../types.ts";
import type { LiveSet } from "./live.ts";
import { followLogs } from "./logs.ts";
import type { PreviewDatabases, PreviewStore } from "./ports.ts";
import { toView } from "./view.ts";

export interface ReadParts {
  live: LiveSet;
  idle: IdleClock;
  runtime: Runtime;
  store: PreviewStore;
  databases?: PreviewDatabases;
  previewUrl: (id: string) => string;
}

export class PreviewReads {
  /** Memory and CPU of this node's previews, for their views (read from their cgroups). */
  private readonly usage = new UsageMeter();

  constructor(private readonly o: ReadParts) {}

  view(r: PreviewRecord, phase?: string): PreviewView {
    const v = toView(r, this.o.previewUrl(r.id));
    if (phase) v.phase = phase;
    return v;
  }

  local(id: string): PreviewView {
    const l = this.o.live.need(id);
    const t = this.o.idle.lastActiveAt(id);
    if (t) l.record.lastActiveAt = new Date(t);
    const v = this.view(l.record, l.phase);
    const usage = l.container && this.usage.read(l.container.containerId);
    if (usage) v.usage = usage;
    return v;
  }

  async get(id: string): Promise<PreviewView> {
    if (this.o.live.has(id)) return this.local(id);
    const r = await this.o.store.get(id);
    if (!r) throw notFound("preview", id);
    return this.view(r);
  }

  async list(): Promise<PreviewView[]> {
    const records = await this.o.store.list();
    return records.map((r) => (this.o.live.has(r.id) ? this.local(r.id) : this.view(r)));
  }

  async logs(id: string, opts: { tail?: number; follow?: boolean; signal?: AbortSignal }): Promise<ReadableStream<Uint8Array>> {
    const l = this.o.live.need(id);
    if (!l.container) return new Response("").body!;
    return followLogs(l, this.o.runtime, opts);
  }

  async exportDatabase(id: string): Promise<ReadableStream<Uint8Array>> {
    const l = this.o.live.need(id);
    if (!l.record.database || !this.o.databases) throw conflict(`Preview ${id} has no database.`);
    return this.o.databases.exportStream(id);
  }
}
