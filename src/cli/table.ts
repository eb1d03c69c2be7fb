// `previewd ls`: one row per preview, columns padded to their widest cell
// (the last one, the URL, is not padded, so lines carry no trailing blanks).

export interface Row {
  id: string;
  status: string;
  visibility?: string;
  tier?: string;
  node?: string;
  createdAt?: string;
  url: string;
}

/** "42s", "7m", "3h", "12d": the age of a preview, as `docker ps` and `kubectl get` show it. */
export function age(createdAt: string | undefined, now = Date.now()): string {
  const t = createdAt ? Date.parse(createdAt) : NaN;
  if (Number.isNaN(t)) return "-";
  const s = Math.max(0, Math.floor((now - t) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

export function table(rows: Row[], now = Date.now()): string {
  const cells = [["ID", "STATUS", "VISIBILITY", "TIER", "NODE", "AGE", "URL"], ...rows.map((r) => [r.id, r.status, r.visibility ?? "-", r.tier ?? "-", r.node ?? "-", age(r.createdAt, now), r.url])];
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((c) => c[i]!.length)));
  return cells.map((c) => c.map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i]!))).join("  ")).join("\n") + "\n";
}
