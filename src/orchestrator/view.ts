// The public preview object of spec/api.md, from a record.
import type { PreviewRecord, PreviewView } from "../types.ts";
import { prismaUrl } from "./env.ts";

export function toView(r: PreviewRecord, url: string): PreviewView {
  const view: PreviewView = {
    id: r.id,
    url,
    status: r.status,
    ...(r.status === "suspended" && r.sleep && { sleep: r.sleep }),
    tier: r.tier,
    node: r.node,
    visibility: r.visibility ?? r.spec.visibility ?? "public",
    createdAt: r.createdAt.toISOString(),
    lastActiveAt: r.lastActiveAt.toISOString(),
  };
  if (r.database) view.database = { ...r.database, prismaUrl: prismaUrl(r.database) };
  if (r.failure) view.error = r.failure;
  if (r.spec.tierReason) view.tierReason = r.spec.tierReason;
  if (r.spec.runtime) view.runtime = r.spec.runtime;
  return view;
}
