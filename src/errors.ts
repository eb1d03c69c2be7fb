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

export function isAppError(e: unknown): e is AppError {
  return e instanceof AppError;
}
