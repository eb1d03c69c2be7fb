// The control API as the CLI sees it: PREVIEWD_API_URL with PREVIEWD_API_TOKEN
// (else the token file in the data dir). Every failure becomes one readable
// line: an unreachable daemon names the URL it tried, an API error carries
// the daemon's own message (the spec's `{"error": {"message"}}`).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { readSetting } from "../config.ts";
import { CliError } from "./args.ts";

export type Api = (path: string, init?: RequestInit) => Promise<Response>;

export function apiBase(): string {
  return readSetting("apiUrl").replace(/\/$/, "");
}

function defaultToken(): string {
  const tokenFile = join(readSetting("dataDir"), "api-token");
  return readSetting("apiToken") || (existsSync(tokenFile) ? readFileSync(tokenFile, "utf8").trim() : "");
}

export function client(base = apiBase(), token = defaultToken()): Api {
  return async (path, init = {}) => {
    try {
      return await fetch(`${base}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...(init.headers as object) } });
    } catch (e) {
      throw unreachable(base, e);
    }
  };
}

function unreachable(base: string, e: unknown): CliError {
  const err = e as { code?: string; message?: string };
  const why = err.code === "ConnectionRefused" || err.code === "ECONNREFUSED" ? "connection refused" : err.code ?? err.message ?? String(e);
  return new CliError(`cannot reach the previewd daemon at ${base} (${why}); is it running? (set PREVIEWD_API_URL to point elsewhere)`);
}

/** The response when it is 2xx; else a CliError with the daemon's message. */
export async function check(res: Response): Promise<Response> {
  if (res.ok) return res;
  let msg = `the daemon answered HTTP ${res.status}`;
  try {
    const body = (await res.json()) as { error?: { message?: string } };
    if (body.error?.message) msg = body.error.message;
  } catch {}
  if (res.status === 401) msg += " (set PREVIEWD_API_TOKEN, or PREVIEWD_DATA_DIR to the daemon's data dir)";
  throw new CliError(msg);
}
