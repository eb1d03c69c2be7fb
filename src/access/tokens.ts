// Share links and the access cookie they set, both HMAC-SHA256 signed and
// stateless, so any node checks them from memory (no query per request).
//
// The key comes from PREVIEWD_CLUSTER_SECRET when set (every node of a
// cluster verifies what any node issued), else from a secret the daemon keeps
// in its data dir (secret.ts). Each MAC covers a purpose tag and the preview
// id, so a link is not a cookie, and neither works for another preview.
//
//   link   (the URL's previewd_share): <shareId>.<expiry>.<p>.<mac>   p: 1 when a password is asked first
//   cookie (previewd_access):          <shareId>.<expiry>.<mac>
//
// The share id is random (unguessable on its own); expiry is Unix seconds.
// Revocation is by share id (table.ts holds the revoked ones).
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export interface ShareClaims {
  shareId: string;
  /** Unix seconds. */
  exp: number;
  /** A password is asked before the cookie is set. */
  password: boolean;
}

const SHARE_ID = /^sh[a-z0-9]{20}$/;
const EXP = /^\d{1,12}$/;

/** A new share id: "sh" and 20 base-36 characters (about 103 random bits). */
export function newShareId(): string {
  const bytes = randomBytes(20);
  let s = "sh";
  for (const b of bytes) s += "abcdefghijklmnopqrstuvwxyz0123456789"[b % 36];
  return s;
}

export class AccessSigner {
  constructor(private readonly key: Buffer, private readonly now: () => number = Date.now) {}

  /** The key is derived from the secret with a purpose of its own (the cluster secret also signs peer traffic). */
  static fromSecret(secret: string, now?: () => number): AccessSigner {
    return new AccessSigner(createHmac("sha256", secret).update("previewd access key v1").digest(), now);
  }

  /** The key as base64, for the front threads (each verifies on its own). */
  get exported(): string {
    return this.key.toString("base64");
  }

  static fromExported(key: string, now?: () => number): AccessSigner {
    return new AccessSigner(Buffer.from(key, "base64"), now);
  }

  link(previewId: string, shareId: string, exp: number, password: boolean): string {
    const body = `${shareId}.${exp}.${password ? 1 : 0}`;
    return `${body}.${this.mac("link", previewId, body)}`;
  }

  cookie(previewId: string, shareId: string, exp: number): string {
    const body = `${shareId}.${exp}`;
    return `${body}.${this.mac("cookie", previewId, body)}`;
  }

  /** The claims of an authentic, unexpired link for this preview; undefined otherwise. */
  verifyLink(previewId: string, token: string): ShareClaims | undefined {
    const parts = token.split(".");
    if (parts.length !== 4) return undefined;
    const [shareId, exp, p, mac] = parts as [string, string, string, string];
    if (!SHARE_ID.test(shareId) || !EXP.test(exp) || (p !== "0" && p !== "1")) return undefined;
    if (!this.same(mac, this.mac("link", previewId, `${shareId}.${exp}.${p}`))) return undefined;
    const e = Number(exp);
    return e * 1000 > this.now() ? { shareId, exp: e, password: p === "1" } : undefined;
  }

  /** The share id and expiry of an authentic cookie for this preview (expiry not checked: the caller caches). */
  verifyCookie(previewId: string, value: string): { shareId: string; exp: number } | undefined {
    const parts = value.split(".");
    if (parts.length !== 3) return undefined;
    const [shareId, exp, mac] = parts as [string, string, string];
    if (!SHARE_ID.test(shareId) || !EXP.test(exp)) return undefined;
    if (!this.same(mac, this.mac("cookie", previewId, `${shareId}.${exp}`))) return undefined;
    return { shareId, exp: Number(exp) };
  }

  private mac(purpose: string, previewId: string, body: string): string {
    return createHmac("sha256", this.key).update(`${purpose}\0${previewId}\0${body}`).digest("base64url");
  }

  private same(a: string, b: string): boolean {
    const x = Buffer.from(a);
    const y = Buffer.from(b);
    return x.length === y.length && timingSafeEqual(x, y);
  }
}
