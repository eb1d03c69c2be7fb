// Shares and visibility in PostgreSQL (sql/009_access.sql), shared by every
// node: what the control API writes, and what sync.ts reads into the table.
import type { Sql } from "../db/client.ts";
import type { Visibility } from "../types.ts";

export interface ShareRow {
  id: string;
  previewId: string;
  expiresAt: Date;
  passwordHash: string | null;
  createdAt: Date;
  revokedAt: Date | null;
}

export class AccessStore {
  constructor(private readonly sql: Sql) {}

  async insertShare(s: { id: string; previewId: string; expiresAt: Date; passwordHash: string | null }): Promise<void> {
    await this.sql`INSERT INTO previewd.preview_shares (id, preview_id, expires_at, password_hash)
      VALUES (${s.id}, ${s.previewId}, ${s.expiresAt}, ${s.passwordHash})`;
  }

  /** Live shares of a preview (not revoked, not expired), oldest first. */
  async listShares(previewId: string): Promise<ShareRow[]> {
    const rows = await this.sql<Array<{ id: string; preview_id: string; expires_at: Date; password_hash: string | null; created_at: Date; revoked_at: Date | null }>>`
      SELECT id, preview_id, expires_at, password_hash, created_at, revoked_at FROM previewd.preview_shares
      WHERE preview_id = ${previewId} AND revoked_at IS NULL AND expires_at > now() ORDER BY created_at, id`;
    return rows.map((r) => ({ id: r.id, previewId: r.preview_id, expiresAt: r.expires_at, passwordHash: r.password_hash, createdAt: r.created_at, revokedAt: r.revoked_at }));
  }

  async share(id: string): Promise<ShareRow | undefined> {
    const [r] = await this.sql<Array<{ id: string; preview_id: string; expires_at: Date; password_hash: string | null; created_at: Date; revoked_at: Date | null }>>`
      SELECT id, preview_id, expires_at, password_hash, created_at, revoked_at FROM previewd.preview_shares WHERE id = ${id}`;
    return r && { id: r.id, previewId: r.preview_id, expiresAt: r.expires_at, passwordHash: r.password_hash, createdAt: r.created_at, revokedAt: r.revoked_at };
  }

  /** True when it was live (a second revoke, or another preview's share id, is false). */
  async revokeShare(previewId: string, id: string): Promise<boolean> {
    const rows = await this.sql`UPDATE previewd.preview_shares SET revoked_at = now()
      WHERE id = ${id} AND preview_id = ${previewId} AND revoked_at IS NULL RETURNING id`;
    return rows.length === 1;
  }

  /** False when there is no such preview. */
  async setVisibility(previewId: string, v: Visibility): Promise<boolean> {
    const rows = await this.sql`UPDATE previewd.previews SET visibility = ${v}, updated_at = now() WHERE id = ${previewId} RETURNING id`;
    return rows.length === 1;
  }

  async visibility(previewId: string): Promise<Visibility | undefined> {
    const [r] = await this.sql<Array<{ visibility: string }>>`SELECT visibility FROM previewd.previews WHERE id = ${previewId}`;
    return r && (r.visibility === "private" ? "private" : "public");
  }

  /** Everything the proxy's table holds: every preview's visibility, and the shares revoked but not yet expired. */
  async snapshot(): Promise<{ previews: Array<[string, boolean]>; revoked: string[] }> {
    const [previews, revoked] = await Promise.all([
      this.sql<Array<{ id: string; visibility: string }>>`SELECT id, visibility FROM previewd.previews`,
      this.sql<Array<{ id: string }>>`SELECT id FROM previewd.preview_shares WHERE revoked_at IS NOT NULL AND expires_at > now()`,
    ]);
    return { previews: previews.map((r) => [r.id, r.visibility === "private"]), revoked: revoked.map((r) => r.id) };
  }
}
