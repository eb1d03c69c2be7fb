// A Server-Sent Events parser over a fetch body stream. EventSource cannot
// send an Authorization header or use an injected fetch, so the SDK reads
// the stream itself. Follows the WHATWG event-stream rules that matter here:
// CRLF/CR/LF line ends, `:` comments (keep-alives), multi-line `data:`,
// one optional space after the colon, dispatch on a blank line.

export interface SseMessage {
  event: string;
  data: string;
  id?: string;
  /** The server's `retry:` hint in milliseconds. */
  retry?: number;
}

/** Yields each complete message; ends when the stream ends (a partial last message is dropped, as the spec says). */
export async function* parseSse(body: ReadableStream<Uint8Array>, onBytes?: () => void): AsyncGenerator<SseMessage> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  let event = "";
  let data: string[] = [];
  let id: string | undefined;
  let retry: number | undefined;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      onBytes?.();
      buf += decoder.decode(value, { stream: true });
      // A lone CR at the end may be the first half of CRLF: wait for more.
      let m: RegExpExecArray | null;
      const lineEnd = /\r\n|\r(?!$)|\n/g;
      let start = 0;
      while ((m = lineEnd.exec(buf))) {
        const line = buf.slice(start, m.index);
        start = m.index + m[0].length;
        if (line === "") {
          if (data.length) yield { event: event || "message", data: data.join("\n"), ...(id !== undefined && { id }), ...(retry !== undefined && { retry }) };
          event = "";
          data = [];
          continue;
        }
        if (line.startsWith(":")) continue; // comment: keep-alive
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "event") event = value;
        else if (field === "data") data.push(value);
        else if (field === "id" && !value.includes("\0")) id = value;
        else if (field === "retry" && /^\d+$/.test(value)) retry = Number(value);
      }
      buf = buf.slice(start);
    }
  } finally {
    // Stop the body when the consumer stops early (break, abort, error).
    reader.cancel().catch(() => {});
  }
}
