// @ts-check
// Every call the dashboard makes: the /v1 API with the operator's token as
// `Authorization: Bearer`. Streams (SSE, followed logs) are read with fetch
// rather than EventSource, which cannot send that header.

/** An answer that was not 2xx, with the spec's error code and message. */
export class ApiError extends Error {
  /** @param {number} status @param {string} code @param {string} message */
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const TOKEN_KEY = "previewd-token";

/** The token of this tab's session, if signed in. */
export function savedToken() {
  return sessionStorage.getItem(TOKEN_KEY) ?? "";
}

/** @param {string} token */
export function saveToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** @param {Response} res */
async function failure(res) {
  let code = `http_${res.status}`;
  let message = `HTTP ${res.status}`;
  try {
    const body = await res.json();
    if (body?.error) ({ code, message } = body.error);
  } catch { /* not JSON: keep the status */ }
  return new ApiError(res.status, code, message);
}

/**
 * One authenticated call; resolves to the parsed JSON body (undefined for 204).
 * @param {string} path @param {RequestInit & { json?: unknown }} [init]
 * @returns {Promise<any>}
 */
export async function api(path, init = {}) {
  const headers = new Headers(init.headers);
  headers.set("authorization", `Bearer ${savedToken()}`);
  let body = init.body;
  if (init.json !== undefined) {
    headers.set("content-type", "application/json");
    body = JSON.stringify(init.json);
  }
  const res = await fetch(path, { ...init, headers, body, cache: "no-store" });
  if (!res.ok) throw await failure(res);
  if (res.status === 204) return undefined;
  return (res.headers.get("content-type") ?? "").includes("json") ? res.json() : res.text();
}

/**
 * Opens an authenticated stream and hands its body to `read`; rejects with
 * ApiError on a non-2xx answer, resolves when the stream ends.
 * @param {string} path @param {AbortSignal} signal @param {(chunk: string) => void} onText
 */
export async function streamText(path, signal, onText) {
  const res = await fetch(path, { headers: { authorization: `Bearer ${savedToken()}` }, signal, cache: "no-store" });
  if (!res.ok) throw await failure(res);
  if (!res.body) return;
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    onText(value);
  }
}

/**
 * Server-Sent Events over an authenticated fetch: calls `onEvent(name, data)`
 * for each event (data parsed as JSON); resolves when the stream ends.
 * @param {string} path @param {AbortSignal} signal @param {(event: string, data: any) => void} onEvent
 */
export async function readEvents(path, signal, onEvent) {
  let buffer = "";
  await streamText(path, signal, (text) => {
    buffer += text;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) onEvent(event, JSON.parse(data.join("\n")));
    }
  });
}
