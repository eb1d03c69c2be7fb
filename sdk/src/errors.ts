// One error type for everything the SDK rejects with, mirroring the API's
// `{"error": {code, message, details}}` so callers switch on `code` and never
// parse messages. Status 0 means no HTTP answer: the network failed
// (code "network") or a job failed after its request succeeded
// (code "deploy_failed").

export class PreviewdError extends Error {
  override readonly name = "PreviewdError";
  readonly status: number;
  readonly code: string;
  readonly details?: unknown;
  /** For a failed deployment: the step that failed ("building", ...). */
  readonly step?: string;

  constructor(status: number, code: string, message: string, details?: unknown, step?: string) {
    super(message);
    this.status = status;
    this.code = code;
    if (details !== undefined) this.details = details;
    if (step !== undefined) this.step = step;
  }
}

export function isPreviewdError(e: unknown): e is PreviewdError {
  return e instanceof PreviewdError;
}

/** The PreviewdError a non-2xx response stands for (the API's error object when the body has one). */
export async function errorFromResponse(res: Response): Promise<PreviewdError> {
  const text = await res.text().catch(() => "");
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown; details?: unknown } };
    const e = body?.error;
    if (e && typeof e.code === "string" && typeof e.message === "string") return new PreviewdError(res.status, e.code, e.message, e.details);
  } catch {
    // Not JSON: a proxy's or load balancer's page; fall through.
  }
  const snippet = text.trim().slice(0, 200);
  return new PreviewdError(res.status, `http_${res.status}`, `HTTP ${res.status}${snippet ? `: ${snippet}` : ""}`);
}

/** An abort the caller asked for: passed through as is, never turned into a network error. */
export function isAbort(e: unknown, signal?: AbortSignal): boolean {
  return (signal?.aborted ?? false) || (e instanceof Error && e.name === "AbortError");
}

export function networkError(e: unknown): PreviewdError {
  const why = e instanceof Error ? e.message : String(e);
  return new PreviewdError(0, "network", `Could not reach previewd: ${why}`, { cause: why });
}
