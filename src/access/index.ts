// Private previews and share links (issue 30): the table every front decides
// from, kept in step with the store, and the operations of the control API.
//
// Across nodes: the node a visitor connects to decides (its table is read
// from the shared store once a second, and its own changes apply at once),
// and only a request it let through goes on to the node that runs the
// preview, over the peer hop signed with the cluster secret (peer/signing.ts);
// the access cookie is taken out before the hop. The owner trusts a signed
// hop's decision as it trusts the hop itself: only a cluster member holds the
// secret, and every member runs this same check. A change (visibility, a
// revoked share) is in effect on its own node at once and on every other
// within about a second (SYNC_MS), plus a query's time.
import { newShareId, AccessSigner } from "./tokens.ts";
import { AccessTable } from "./table.ts";
import { AccessStore } from "./store.ts";
import { SHARE_PARAM } from "./cookie.ts";
import type { Logger } from "../log.ts";
import type { Sql } from "../db/client.ts";
import { notFound } from "../errors.ts";
import type { Visibility } from "../types.ts";
import type { AccessService, ShareView } from "../api/service.ts";

export { AccessTable, type Decision, type AccessSnapshot } from "./table.ts";
export { AccessSigner } from "./tokens.ts";
export { accessSecret } from "./secret.ts";

/** How often every node reads visibility and revoked shares from the store. */
export const SYNC_MS = 1000;

export class Access implements AccessService {
  readonly table: AccessTable;
  readonly signer: AccessSigner;
  private readonly store: AccessStore;
  private timer: ReturnType<typeof setInterval> | undefined;
  private syncing = false;

  constructor(private readonly o: { sql: Sql; secret: string; log: Logger; now?: () => number }) {
    this.signer = AccessSigner.fromSecret(o.secret, o.now);
    this.table = new AccessTable(this.signer, o.now);
    this.store = new AccessStore(o.sql);
  }

  async start(): Promise<void> {
    await this.sync();
    this.timer = setInterval(() => void this.sync(), SYNC_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One read of the store into the table; a failed read keeps the last table (running previews keep their rule). */
  async sync(): Promise<void> {
    if (this.syncing) return;
    this.syncing = true;
    const at = Date.now();
    try {
      const s = await this.store.snapshot();
      this.table.replace(s.previews, s.revoked, at);
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message }, "could not read preview visibility and revoked shares; keeping the last ones");
    } finally {
      this.syncing = false;
    }
  }

  /** A preview the table does not hold yet (made since the last sync), read once; false: no such preview. */
  async load(id: string): Promise<boolean> {
    const v = await this.store.visibility(id);
    if (v === undefined) return false;
    this.table.set(id, v === "private");
    return true;
  }

  visibilityOf(id: string): Visibility | undefined {
    const p = this.table.isPrivate(id);
    return p === undefined ? undefined : p ? "private" : "public";
  }

  async setVisibility(id: string, v: Visibility): Promise<void> {
    if (!(await this.store.setVisibility(id, v))) throw notFound("preview", id);
    this.table.set(id, v === "private");
  }

  async createShare(previewId: string, previewUrl: string, o: { ttlSeconds: number; password?: string }): Promise<ShareView> {
    const id = newShareId();
    const now = (this.o.now ?? Date.now)();
    const exp = Math.floor(now / 1000) + o.ttlSeconds;
    const passwordHash = o.password === undefined ? null : await Bun.password.hash(o.password);
    await this.store.insertShare({ id, previewId, expiresAt: new Date(exp * 1000), passwordHash });
    return { id, url: this.url(previewUrl, previewId, id, exp, passwordHash !== null), expiresAt: new Date(exp * 1000).toISOString(), createdAt: new Date(now).toISOString(), password: passwordHash !== null };
  }

  async listShares(previewId: string, previewUrl: string): Promise<ShareView[]> {
    const rows = await this.store.listShares(previewId);
    return rows.map((r) => {
      const exp = Math.floor(r.expiresAt.getTime() / 1000);
      return { id: r.id, url: this.url(previewUrl, previewId, r.id, exp, r.passwordHash !== null), expiresAt: r.expiresAt.toISOString(), createdAt: r.createdAt.toISOString(), password: r.passwordHash !== null };
    });
  }

  async revokeShare(previewId: string, shareId: string): Promise<void> {
    if (!(await this.store.revokeShare(previewId, shareId))) throw notFound("share", shareId);
    this.table.revoke(shareId);
  }

  /** A password share's password, checked against its hash (the one query of the share flow, at the form). */
  async checkPassword(previewId: string, shareId: string, password: string): Promise<boolean> {
    const s = await this.store.share(shareId);
    if (!s || s.previewId !== previewId || s.revokedAt || !s.passwordHash) return false;
    return Bun.password.verify(password, s.passwordHash);
  }

  private url(previewUrl: string, previewId: string, shareId: string, exp: number, password: boolean): string {
    const u = new URL(previewUrl);
    u.searchParams.set(SHARE_PARAM, this.signer.link(previewId, shareId, exp, password));
    return u.toString();
  }
}
