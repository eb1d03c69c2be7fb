// The small HTML pages the proxy answers itself.
const page = (title: string, body: string) =>
  `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title>` +
  `<style>body{font:16px system-ui,sans-serif;max-width:36em;margin:15vh auto;color:#333}</style></head>` +
  `<body><h1>${title}</h1><p>${body}</p></body></html>`;

export const notFoundPage = () =>
  new Response(page("Preview not found", "There is no preview at this address. It may have been deleted."), {
    status: 404,
    headers: { "content-type": "text/html; charset=utf-8" },
  });

export const failedPage = () =>
  new Response(page("Preview failed", "This preview's app stopped. Its logs are available from the control API."), {
    status: 502,
    headers: { "content-type": "text/html; charset=utf-8" },
  });

export const upstreamErrorPage = () =>
  new Response(page("Preview unreachable", "The preview did not answer. Try again in a moment."), {
    status: 502,
    headers: { "content-type": "text/html; charset=utf-8" },
  });

/**
 * Answers the proxy gives for a request it refuses: the spec's error body
 * (`{"error": {"code", "message"}}`) for API clients, a page for browsers
 * (those that ask for text/html).
 */
function refusal(req: Request, status: number, code: string, title: string, message: string, headers: Record<string, string>): Response {
  const html = (req.headers.get("accept") ?? "").includes("text/html");
  return new Response(html ? page(title, message) : JSON.stringify({ error: { code, message } }), {
    status,
    headers: { "content-type": html ? "text/html; charset=utf-8" : "application/json", "cache-control": "no-store", ...headers },
  });
}

/** 503 past the preview's limit on requests in flight; Retry-After per RFC 9110 §10.2.3. */
export const busyPage = (req: Request, retryAfterS: number) =>
  refusal(req, 503, "preview_busy", "Preview busy", "This preview has too many requests in flight. Try again in a moment.", { "retry-after": String(retryAfterS) });

/** 408 for a request body that came too slowly (RFC 9110 §15.5.9: the server closes the connection). */
export const bodyTimeoutPage = (req: Request) =>
  refusal(req, 408, "request_timeout", "Request timeout", "The request body arrived too slowly.", { connection: "close" });

/** 503 while this node is fenced (orchestrator/fencing.ts): its previews may be starting on a sibling. */
export const isolatedPage = (req: Request, retryAfterS: number) =>
  refusal(req, 503, "node_isolated", "Preview unavailable", "The node that runs this preview lost contact with the cluster. Try again in a moment.", { "retry-after": String(retryAfterS) });
