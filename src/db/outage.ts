// Is this error PostgreSQL being unreachable (down, restarting, refusing
// connections), rather than a bad query? Then the control API answers 503
// with Retry-After: the client should try again, nothing was wrong with
// what it asked.

/** postgres.js's own connection errors. */
const CLIENT_CODES = new Set(["CONNECTION_CLOSED", "CONNECTION_ENDED", "CONNECTION_DESTROYED", "CONNECT_TIMEOUT", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENOTFOUND"]);

/**
 * SQLSTATEs of a server that cannot take the work now: 57P01-57P03 (shut
 * down, crash, cannot connect now), 53300 (too many connections), 08xxx
 * (connection exceptions), 55000 with "not currently accepting connections"
 * (ALLOW_CONNECTIONS false: a maintenance window).
 */
/** SQLSTATE 53300, "too many connections": the server is up, but has no slot for this login now. */
export function isDatabaseBusy(err: unknown): boolean {
  return (err as { code?: string } | undefined)?.code === "53300";
}

export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | undefined;
  const code = e?.code ?? "";
  if (CLIENT_CODES.has(code)) return true;
  if (/^57P0[123]$/.test(code) || code === "53300" || code.startsWith("08")) return true;
  return code === "55000" && /not currently accepting connections/.test(e?.message ?? "");
}
