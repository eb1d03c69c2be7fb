// The preview side of a deploy: what the app is (files, env), and its data,
// exported from ONE snapshot together with the statistics the copy is checked
// against. A REPEATABLE READ transaction exports its snapshot, pg_dump reads
// through it (--snapshot), and the table statistics are taken in the same
// transaction: rows the app writes meanwhile are in neither, so the check
// compares like with like.
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Sql } from "../db/client.ts";
import { dumpSchemaStream } from "../db/export.ts";
import { previewName } from "../db/ident.ts";
import type { PreviewStore } from "../db/store.ts";
import { notFound } from "../errors.ts";
import type { FileMap } from "../types.ts";
import { readModel } from "./schema/catalog.ts";
import type { SchemaModel } from "./schema/model.ts";
import { schemaStats, type SchemaStats } from "./verify.ts";

export interface PreviewSource {
  id: string;
  env: Record<string, string>;
  files: FileMap;
  hasDatabase: boolean;
}

export interface DeploySourceOptions {
  sql: Sql;
  adminUrl: string;
  store: PreviewStore;
  /** Where exports wait between steps (survives a restart). */
  dir: string;
  pgDump?: string;
}

export class DeploySource {
  constructor(private readonly o: DeploySourceOptions) {
    mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  }

  async preview(id: string): Promise<PreviewSource> {
    const rec = await this.o.store.get(id);
    if (!rec) throw notFound("preview", id);
    return { id, env: rec.spec.env ?? {}, files: await this.o.store.files(id), hasDatabase: !!rec.database };
  }

  /** False once the schema was dropped (a deploy with cleanup). */
  async hasSchema(previewId: string): Promise<boolean> {
    return (await this.o.sql`SELECT 1 FROM pg_namespace WHERE nspname = ${previewName(previewId)}`).length === 1;
  }

  /** The preview schema's model (schema/catalog.ts), read in one snapshot. */
  async previewModel(previewId: string): Promise<SchemaModel> {
    return this.o.sql.begin("ISOLATION LEVEL REPEATABLE READ READ ONLY", (tx) => readModel(tx as never, previewName(previewId)));
  }

  exportFile(deploymentId: string): string {
    return join(this.o.dir, `${deploymentId}.sql`);
  }

  statsFile(deploymentId: string): string {
    return join(this.o.dir, `${deploymentId}.stats.json`);
  }

  /** Dumps the preview's schema to the deployment's export file and writes the statistics of the same snapshot. */
  async export(previewId: string, deploymentId: string): Promise<{ stats: SchemaStats; bytes: number }> {
    const schema = previewName(previewId);
    const file = this.exportFile(deploymentId);
    const stats = await this.o.sql.begin("ISOLATION LEVEL REPEATABLE READ READ ONLY", async (tx) => {
      const [{ snapshot }] = (await tx`SELECT pg_export_snapshot() AS snapshot`) as unknown as [{ snapshot: string }];
      // Both read the same snapshot, so they can run side by side (pg_dump in its own session).
      const dumped = dumpSchemaStream({ url: this.o.adminUrl, schema, snapshot, pgDump: this.o.pgDump }).then((dump) => Bun.write(file, new Response(dump)));
      const [stats] = await Promise.all([schemaStats(tx as never, schema), dumped]);
      return stats;
    });
    await Bun.write(this.statsFile(deploymentId), JSON.stringify(stats));
    return { stats, bytes: Bun.file(file).size };
  }

  async savedStats(deploymentId: string): Promise<SchemaStats | undefined> {
    const f = Bun.file(this.statsFile(deploymentId));
    return (await f.exists()) && (await Bun.file(this.exportFile(deploymentId)).exists()) ? ((await f.json()) as SchemaStats) : undefined;
  }

  forget(deploymentId: string): void {
    rmSync(this.exportFile(deploymentId), { force: true });
    rmSync(this.statsFile(deploymentId), { force: true });
  }
}
