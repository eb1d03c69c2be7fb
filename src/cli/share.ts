// `previewd visibility|share|shares|unshare`: private previews and their
// share links (spec/api.md), as thin calls of the control API.
import * as v from "valibot";
import { usageError } from "./args.ts";
import { check, type client } from "./client.ts";

type Api = ReturnType<typeof client>;
interface Share { id: string; url: string; expiresAt: string; password?: boolean }

const Ttl = v.pipe(v.string(), v.regex(/^\d{1,7}$/, "--ttl takes a number of seconds"), v.transform(Number));
const ShareId = v.pipe(v.string("a share id is required"), v.regex(/^sh[a-z0-9]{20}$/, "a share id looks like sh and 20 letters or digits"));

export async function setVisibility(api: Api, id: string, value: string | undefined, write: (s: string) => void): Promise<number> {
  if (value !== "public" && value !== "private") throw usageError("visibility takes ID and public or private");
  const res = await check(await api(`/v1/previews/${id}`, { method: "PATCH", body: JSON.stringify({ visibility: value }) }));
  const p = (await res.json()) as { id: string; visibility: string };
  write(`${p.id} is ${p.visibility}\n`);
  return 0;
}

/** A new share link; its URL printed alone (for scripts: `url=$(previewd share ID)`), or the object with --json. */
export async function share(api: Api, id: string, o: { ttl?: string; password?: string; json: boolean }, write: (s: string) => void): Promise<number> {
  const body = { ...(o.ttl !== undefined ? { ttlSeconds: v.parse(Ttl, o.ttl) } : {}), ...(o.password !== undefined ? { password: o.password } : {}) };
  const res = await check(await api(`/v1/previews/${id}/shares`, { method: "POST", body: JSON.stringify(body) }));
  const { share: s } = (await res.json()) as { share: Share };
  write(o.json ? `${JSON.stringify(s)}\n` : `${s.url}\n`);
  return 0;
}

export async function listShares(api: Api, id: string, json: boolean, write: (s: string) => void): Promise<number> {
  const { shares } = (await (await check(await api(`/v1/previews/${id}/shares`))).json()) as { shares: Share[] };
  if (json) write(`${JSON.stringify(shares)}\n`);
  else for (const s of shares) write(`${s.id}  until ${s.expiresAt}${s.password ? "  (password)" : ""}  ${s.url}\n`);
  return 0;
}

export async function unshare(api: Api, id: string, shareId: string | undefined, write: (s: string) => void): Promise<number> {
  const sid = v.parse(ShareId, shareId);
  await check(await api(`/v1/previews/${id}/shares/${sid}`, { method: "DELETE" }));
  write(`revoked ${sid}\n`);
  return 0;
}
