// HTTP/1.1 message heads, parsed strictly (RFC 9112 §2-§6), for the byte
// relay. Only what routing and framing need is read; the header lines are
// kept as they came so that what reaches the app (and the client) is what
// was sent. Anything ambiguous is refused rather than guessed: a proxy and
// an app that frame one message differently is how requests are smuggled.

/** Largest request head accepted (request line + fields); past it: 431. */
export const MAX_REQUEST_HEAD = 64 * 1024;
/** Largest response head read from an app. */
export const MAX_RESPONSE_HEAD = 64 * 1024;

const CRLFCRLF = Buffer.from("\r\n\r\n");
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) HTTP\/1\.([01])$/;
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: [^\r\n]*)?$/;

export interface Field {
  /** Lowercased. */
  name: string;
  value: string;
  /** The line as received, without its CRLF. */
  line: string;
  /** Where the line starts and ends (after its CRLF), in bytes from the head's start line. */
  start: number;
  end: number;
}

interface Framing {
  /** The body's length, when Content-Length framed; -1 otherwise. */
  contentLength: number;
  /** Transfer-Encoding ends in chunked. */
  chunked: boolean;
  /** Connection: close, or HTTP/1.0 without keep-alive. */
  close: boolean;
  /** The names the Connection fields list, lowercased (RFC 9110 §7.6.1): they stay on their hop too. */
  connection: string[];
}

export interface RequestHead extends Framing {
  method: string;
  target: string;
  minor: 0 | 1;
  fields: Field[];
  host: string | undefined;
  /** The Upgrade field's value, lowercased ("websocket"), when Connection names upgrade. */
  upgrade: string | undefined;
  /** Transfer-Encoding other than plain chunked (gzip, chunked): the general path's business. */
  otherCoding: boolean;
}

export interface ResponseHead extends Framing {
  status: number;
  minor: 0 | 1;
  fields: Field[];
}

export type Parsed<T> = { kind: "incomplete" } | { kind: "error"; status: 400 | 431 | 502; reason: string } | { kind: "head"; head: T; length: number };

const incomplete = { kind: "incomplete" } as const;
const error = (status: 400 | 431 | 502, reason: string) => ({ kind: "error", status, reason }) as const;

// Bytes no head may hold anywhere: controls but HTAB, and CR or LF outside a CRLF (RFC 9110 §5.5, RFC 9112 §2.2).
const BAD_BYTE = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)|(?<!\r)\n/;

/** Splits a head into its first line and fields, or says what is wrong with it. */
function split(buf: Buffer, start: number, max: number): { first: string; fields: Field[]; length: number } | { kind: "incomplete" } | { kind: "error"; reason: string; tooLarge?: boolean } {
  const end = buf.indexOf(CRLFCRLF, start);
  if (end < 0) return buf.length - start > max ? { kind: "error", reason: "head too large", tooLarge: true } : incomplete;
  if (end - start > max) return { kind: "error", reason: "head too large", tooLarge: true };
  const text = buf.toString("latin1", start, end);
  // One scan of the whole head for what no line may hold, then lines by index: no per-line array or value regex.
  const bad = BAD_BYTE.exec(text);
  let eol = text.indexOf("\r\n");
  const first = eol < 0 ? text : text.slice(0, eol);
  if (bad && bad.index < first.length) return { kind: "error", reason: "control characters in the start line" };
  const fields: Field[] = [];
  while (eol >= 0) {
    const from = eol + 2;
    eol = text.indexOf("\r\n", from);
    const to = eol < 0 ? text.length : eol;
    const c = text.charCodeAt(from);
    if (c === 32 || c === 9) return { kind: "error", reason: "obsolete line folding" };
    const colon = text.indexOf(":", from);
    if (colon <= from || colon >= to) return { kind: "error", reason: "field without a name" };
    const name = text.slice(from, colon);
    if (!TOKEN.test(name)) return { kind: "error", reason: `invalid field name ${JSON.stringify(name.slice(0, 40))}` };
    if (bad && bad.index < to) return { kind: "error", reason: `invalid value in ${name}` };
    fields.push({ name: name.toLowerCase(), value: text.slice(colon + 1, to).trim(), line: text.slice(from, to), start: from, end: to + 2 });
  }
  return { first, fields, length: end + 4 - start };
}

/** Content-Length and Transfer-Encoding, refusing any combination two parsers could read differently. */
function framing(fields: Field[], minor: 0 | 1): (Framing & { otherCoding: boolean }) | string {
  let contentLength = -1;
  let te: string | undefined;
  const connection: string[] = [];
  for (const f of fields) {
    if (f.name === "content-length") {
      if (contentLength >= 0) return "more than one Content-Length";
      if (!/^\d{1,15}$/.test(f.value)) return "invalid Content-Length";
      contentLength = Number(f.value);
    } else if (f.name === "transfer-encoding") {
      te = te === undefined ? f.value : `${te}, ${f.value}`;
    } else if (f.name === "connection") {
      for (const c of f.value.split(",")) connection.push(c.trim().toLowerCase());
    }
  }
  let chunked = false;
  let otherCoding = false;
  if (te !== undefined) {
    if (contentLength >= 0) return "both Content-Length and Transfer-Encoding";
    if (minor === 0) return "Transfer-Encoding in HTTP/1.0";
    const codings = te.split(",").map((c) => c.trim().toLowerCase());
    if (codings.some((c) => !TOKEN.test(c))) return "invalid Transfer-Encoding";
    if (codings.at(-1) !== "chunked" || codings.indexOf("chunked") !== codings.length - 1) return "Transfer-Encoding must end in chunked, once";
    chunked = true;
    otherCoding = codings.length > 1;
  }
  const close = connection.includes("close") || (minor === 0 && !connection.includes("keep-alive"));
  return { contentLength, chunked, close, otherCoding, connection };
}

export function parseRequestHead(buf: Buffer, start = 0): Parsed<RequestHead> {
  const origin = start;
  // Clients may send empty lines between requests (RFC 9112 §2.2).
  while (buf[start] === 13 && buf[start + 1] === 10) start += 2;
  if (start >= buf.length) return incomplete;
  const s = split(buf, start, MAX_REQUEST_HEAD);
  if ("kind" in s) return s.kind === "incomplete" ? s : error(s.tooLarge ? 431 : 400, s.reason);
  const m = REQUEST_LINE.exec(s.first);
  if (!m) return error(400, "invalid request line");
  const minor = m[3] === "1" ? 1 : 0;
  const f = framing(s.fields, minor);
  if (typeof f === "string") return error(400, f);
  let host: string | undefined;
  let upgrade: string | undefined;
  for (const field of s.fields) {
    if (field.name === "host") {
      if (host !== undefined) return error(400, "more than one Host");
      host = field.value;
    } else if (field.name === "upgrade" && f.connection.includes("upgrade")) upgrade = field.value.toLowerCase();
  }
  if (minor === 1 && host === undefined) return error(400, "no Host"); // RFC 9112 §3.2
  const head: RequestHead = { method: m[1]!, target: m[2]!, minor, fields: s.fields, host, upgrade, contentLength: f.contentLength, chunked: f.chunked, close: f.close, connection: f.connection, otherCoding: f.otherCoding };
  return { kind: "head", head, length: s.length + (start - origin) };
}

export function parseResponseHead(buf: Buffer, start = 0): Parsed<ResponseHead> {
  const s = split(buf, start, MAX_RESPONSE_HEAD);
  if ("kind" in s) return s.kind === "incomplete" ? s : error(502, s.reason);
  const m = STATUS_LINE.exec(s.first);
  if (!m) return error(502, "invalid status line");
  const minor = m[1] === "1" ? 1 : 0;
  const f = framing(s.fields, minor);
  if (typeof f === "string") return error(502, f);
  const head: ResponseHead = { status: Number(m[2]), minor, fields: s.fields, contentLength: f.contentLength, chunked: f.chunked, close: f.close, connection: f.connection };
  return { kind: "head", head, length: s.length };
}
