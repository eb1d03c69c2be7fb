// One error type for the whole daemon. Each constructor names a machine-readable
// code and the HTTP status it maps to; api/ turns it into the spec's error body.

export class AppError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = "AppError";
  }

  toBody(): { error: { code: string; message: string; details?: unknown } } {
    const error: { code: string; message: string; details?: unknown } = { code: this.code, message: this.message };
    if (this.details !== undefined) error.details = this.details;
    return { error };
  }
}

export const badRequest = (message: string, details?: unknown) => new AppError("invalid_request", 400, message, details);
export const invalidPath = (path: string, why: string) =>
  new AppError("invalid_path", 400, `File path ${JSON.stringify(path)} ${why}.`, { path });
export const unauthorized = () => new AppError("unauthorized", 401, "Missing or wrong bearer token.");
export const forbidden = (message: string) => new AppError("forbidden", 403, message);
export const notFound = (what: string, id: string) => new AppError("not_found", 404, `No ${what} with id ${JSON.stringify(id)}.`, { id });
export const conflict = (message: string) => new AppError("conflict", 409, message);
export const tooLarge = (message: string, details?: unknown) => new AppError("too_large", 413, message, details);
export const tooMany = (message: string) => new AppError("too_many_requests", 429, message);
export const noCapacity = (message = "No node in the cluster has room for another preview.") =>
  new AppError("no_capacity", 503, message);
export const migrationFailed = (statement: string, pgMessage: string) =>
  new AppError("migration_failed", 400, `Statement failed: ${pgMessage}`, { statement, message: pgMessage });
export const unavailable = (message: string) => new AppError("unavailable", 503, message);
/**
 * PostgreSQL answered but has no connection slot to give (SQLSTATE 53300: max_connections, the superuser-reserved
 * slots, or a role's CONNECTION LIMIT). Not no_capacity: nodes have room, the shared database does not, and another
 * node would hit the same server. The API adds Retry-After.
 */
export const databaseBusy = (what: string, pgMessage: string) =>
  new AppError("database_busy", 503, `PostgreSQL is out of connections (${pgMessage}): ${what}. Running previews are not affected; try again shortly.`, { cause: "too many connections", message: pgMessage });

/**
 * The disk under the daemon's data (preview disks, dependency cache) is full, or below its free-space floor:
 * 507 as WebDAV names it, not a 500 (nothing is broken, and nothing is left behind) nor a 503 (another node's
 * disk is not this one's problem to retry against).
 */
export const insufficientStorage = (dir: string, detail: string) =>
  new AppError("insufficient_storage", 507, `The disk holding ${dir} is full (${detail}): no new preview or file change fits. Running previews keep serving; free space on that disk and try again.`, { path: dir });

/** ENOSPC from Node, a child process (mkfs, tar) or Docker's message. */
export function isNoSpace(e: unknown): boolean {
  return (e as { code?: unknown })?.code === "ENOSPC" || /ENOSPC|no space left on device/i.test(String((e as Error)?.message ?? e));
}

export function isAppError(e: unknown): e is AppError {
  return e instanceof AppError;
}
