// The secret share links are signed with: PREVIEWD_CLUSTER_SECRET when set
// (every node must verify what any node issued), else one generated at first
// start and kept (mode 0600) in the data dir, so links survive a restart.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export function accessSecret(clusterSecret: string, dataDir: string): string {
  if (clusterSecret) return `cluster\0${clusterSecret}`;
  // The daemon's own data dir (not a preview's files): no link a preview made can be in it.
  const path = join(dataDir, "access-secret");
  if (existsSync(path)) return readFileSync(path, "utf8").trim();
  mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(32).toString("base64url");
  writeFileSync(path, `${secret}\n`, { mode: 0o600 });
  return secret;
}
