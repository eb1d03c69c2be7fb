// The API token: the setting if given, else one generated at first start and
// kept (mode 0600) in the data dir, so restarts keep working clients.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export function apiToken(configured: string, dataDir: string): { token: string; generated: boolean; path?: string } {
  if (configured) return { token: configured, generated: false };
  const path = join(dataDir, "api-token");
  if (existsSync(path)) return { token: readFileSync(path, "utf8").trim(), generated: false, path };
  mkdirSync(dataDir, { recursive: true });
  const token = randomBytes(24).toString("base64url");
  writeFileSync(path, `${token}\n`, { mode: 0o600 });
  return { token, generated: true, path };
}
