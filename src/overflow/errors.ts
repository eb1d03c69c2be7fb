// Every Fly API failure is a FlyApiError carrying Fly's own message. Error
// bodies are {"error": "...", "status"?: "<code>"} (reference §1.2, spec
// ErrorResponse); fly-go also reads an optional "message" and prefers it over
// "error" (flaps.go handleAPIError), and so do we.

export class FlyApiError extends Error {
  constructor(
    /** HTTP status; 0 when no answer came (network failure, timeout). */
    readonly status: number,
    /** Fly's body `status` (insufficient_capacity, name_taken, ...) when present, else derived from the HTTP status. */
    readonly code: string,
    message: string,
    /** The `fly-request-id` response header: quote it to Fly support. */
    readonly requestId: string | undefined,
    readonly body?: string,
  ) {
    super(message);
    this.name = "FlyApiError";
  }
}

/** Every region in the list answered insufficient_capacity. */
export class FlyCapacityError extends FlyApiError {
  constructor(
    readonly regions: string[],
    readonly causes: FlyApiError[],
  ) {
    const last = causes[causes.length - 1];
    super(
      last?.status ?? 503,
      "insufficient_capacity",
      `Fly has no capacity for this machine in any of the regions tried (${regions.join(", ") || "default"}): ${last?.message ?? "no answer"}`,
      last?.requestId,
    );
    this.name = "FlyCapacityError";
  }
}

const CODES: Record<number, string> = {
  400: "bad_request",
  401: "unauthorized",
  403: "forbidden",
  404: "not_found",
  408: "timeout",
  409: "conflict",
  412: "failed_precondition",
  422: "unprocessable",
  429: "rate_limited",
};

/** Builds the error for a non-2xx answer; `what` names the call ("POST /apps/x/machines"). */
export function flyApiError(status: number, text: string, requestId: string | undefined, what: string): FlyApiError {
  let body: { error?: unknown; message?: unknown; status?: unknown } | undefined;
  try {
    const parsed = JSON.parse(text);
    if (parsed && typeof parsed === "object") body = parsed;
  } catch {}
  const flyMessage =
    (typeof body?.message === "string" && body.message) || (typeof body?.error === "string" && body.error) || text.trim().slice(0, 300) || `HTTP ${status}`;
  const code =
    typeof body?.status === "string" && body.status && body.status !== "error" ? body.status : (CODES[status] ?? (status >= 500 ? "server_error" : `http_${status}`));
  let message = `Fly API ${what} failed (${status}): ${flyMessage}`;
  if (status === 401) message = `Fly refused FLY_API_TOKEN (401 on ${what}): ${flyMessage}. Check the token is valid and not expired (fly tokens create deploy -a <app>, or an org token to create apps).`;
  if (status === 403) message = `FLY_API_TOKEN may not do ${what} (403): ${flyMessage}. App-scoped deploy tokens cannot create apps; use an org token.`;
  return new FlyApiError(status, code, message, requestId, text);
}
