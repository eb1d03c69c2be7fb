// HTTP/1.1 message heads, parsed strictly (RFC 9112 §2-§6), for the byte
// relay. Only what routing and framing need is read; the head's text is kept
// as it came so that what reaches the app (and the client) is what was sent.
// Anything ambiguous is refused rather than guessed: a proxy and an app that
// frame one message differently is how requests are smuggled.
//
// Per request, on the hot path: a head is checked by two regex scans of its
// text (bytes no head may hold; a line that does not start `token:`), and the
// fields framing needs are found by name in a lowercased copy. No object or
// string is made per field: a per-field split cost ~3 us of the relay's
// ~11 us of JS per request (measured with the response head parsed that way
// and not). A head that fails a check is split line by line once more, only
// to say what is wrong with it.

/** Largest request head accepted (request line + fields); past it: 431. */
export const MAX_REQUEST_HEAD = 64 * 1024;
/** Largest response head read from an app. */
export const MAX_RESPONSE_HEAD = 64 * 1024;

const CRLFCRLF = Buffer.from("\r\n\r\n");
const TCHAR = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]";
const TOKEN = new RegExp(`^${TCHAR}+$`);
const REQUEST_LINE = new RegExp(`^(${TCHAR}+) (\\S+) HTTP/1\\.([01])$`);
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: [^\r\n]*)?$/;
// Bytes no head may hold anywhere: controls but HTAB, and CR or LF outside a CRLF (RFC 9110 §5.5, RFC 9112 §2.2).
const BAD_BYTE = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)|(?<!\r)\n/;
// A line after the start line that is not `name:` (obs-fold, no name, whitespace before the colon, a bad name).
const BAD_LINE = new RegExp(`\\r\\n(?!${TCHAR}+:|$)`);

/** A head as received. */
export interface Head {
  /** Its text (latin1, byte for byte): the start line and every field line, each with its CRLF; not the blank line. */
  text: string;
  /** `text` lowercased (the same length): fields are found by name in it. */
  lower: string;
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

export interface RequestHead extends Head, Framing {
  method: string;
  target: string;
  minor: 0 | 1;
  host: string | undefined;
  /** The Upgrade field's value, lowercased ("websocket"), when Connection names upgrade. */
  upgrade: string | undefined;
  /** Transfer-Encoding other than plain chunked (gzip, chunked): the general path's business. */
  otherCoding: boolean;
}

export interface ResponseHead extends Head, Framing {
  status: number;
  minor: 0 | 1;
}

export type Parsed<T> = { kind: "incomplete" } | { kind: "error"; status: 400 | 431 | 502; reason: string } | { kind: "head"; head: T; length: number };

const incomplete = { kind: "incomplete" } as const;
const error = (status: 400 | 431 | 502, reason: string) => ({ kind: "error", status, reason }) as const;

/** The value of the field line whose name ends at `colon`, without its optional whitespace (RFC 9110 §5.5). */
function valueAt(text: string, colon: number): string {
  let from = colon + 1;
  let to = text.indexOf("\r\n", from);
  while (from < to && isOws(text.charCodeAt(from))) from++;
  while (to > from && isOws(text.charCodeAt(to - 1))) to--;
  return text.slice(from, to);
}
const isOws = (c: number) => c === 32 || c === 9;

/** The value of the first field named `name` (lowercase), if any. */
export function field(h: Head, name: string): string | undefined {
  const at = h.lower.indexOf(`\r\n${name}:`);
  return at < 0 ? undefined : valueAt(h.text, at + 2 + name.length);
}

/** Where the lines of the fields that `names` finds are: [start, end) pairs in `text`, each line with its CRLF, in order. */
export function fieldLines(h: Head, names: RegExp): number[] {
  const out: number[] = [];
  names.lastIndex = 0;
  for (let m = names.exec(h.lower); m; m = names.exec(h.lower)) {
    const start = m.index + 2;
    out.push(start, h.text.indexOf("\r\n", start) + 2);
  }
  return out;
}

/** A global regex finding the field lines named `names` (lowercase) in a head's `lower`, the name captured. */
export const namesPattern = (names: Iterable<string>): RegExp =>
  new RegExp(`\\r\\n(${[...names].map((n) => n.replace(/[-.*+?^${}()|[\]\\]/g, "\\$&")).join("|")}):`, "g");

/** The head's text from `start`, checked; or why it cannot be one. */
function headText(buf: Buffer, start: number, max: number): Head | { kind: "incomplete" } | { kind: "error"; reason: string; tooLarge?: boolean } {
  const end = buf.indexOf(CRLFCRLF, start);
  if (end < 0) return buf.length - start > max ? { kind: "error", reason: "head too large", tooLarge: true } : incomplete;
  if (end - start > max) return { kind: "error", reason: "head too large", tooLarge: true };
  const text = buf.toString("latin1", start, end + 2);
  if (BAD_BYTE.test(text) || BAD_LINE.test(text)) return { kind: "error", reason: whatIsWrong(text) };
  return { text, lower: text.toLowerCase() };
}

/** Says what is wrong with a head that failed a check, line by line (the slow path: it is about to be refused). */
function whatIsWrong(text: string): string {
  const lines = text.slice(0, -2).split("\r\n");
  if (BAD_BYTE.test(lines[0]!)) return "control characters in the start line";
  for (const line of lines.slice(1)) {
    if (line[0] === " " || line[0] === "\t") return "obsolete line folding";
    const colon = line.indexOf(":");
    if (colon <= 0) return "field without a name";
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) return `invalid field name ${JSON.stringify(name.slice(0, 40))}`;
    if (BAD_BYTE.test(line)) return `invalid value in ${name}`;
  }
  return "invalid head";
}

// The fields framing needs, found in one scan.
const REQUEST_FRAMING = namesPattern(["content-length", "transfer-encoding", "connection", "host", "upgrade"]);
const RESPONSE_FRAMING = namesPattern(["content-length", "transfer-encoding", "connection"]);

/**
 * Content-Length and Transfer-Encoding, refusing any combination two parsers
 * could read differently; and, for a request, its Host and Upgrade.
 */
function framing(h: Head, minor: 0 | 1, names: RegExp) {
  let contentLength = -1;
  let te: string | undefined;
  let host: string | undefined;
  let upgrade: string | undefined;
  let hosts = 0;
  const connection: string[] = [];
  names.lastIndex = 0;
  for (let m = names.exec(h.lower); m; m = names.exec(h.lower)) {
    const name = m[1]!;
    const colon = m.index + 2 + name.length;
    if (name === "content-length") {
      const v = valueAt(h.text, colon);
      if (contentLength >= 0) return "more than one Content-Length";
      if (!/^\d{1,15}$/.test(v)) return "invalid Content-Length";
      contentLength = Number(v);
    } else if (name === "transfer-encoding") {
      const v = valueAt(h.text, colon);
      te = te === undefined ? v : `${te}, ${v}`;
    } else if (name === "connection") {
      for (const o of valueAt(h.lower, colon).split(",")) connection.push(o.trim());
    } else if (name === "host") {
      host = valueAt(h.text, colon);
      hosts++;
    } else upgrade = valueAt(h.lower, colon);
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
  if (upgrade !== undefined && !connection.includes("upgrade")) upgrade = undefined;
  return { contentLength, chunked, close, otherCoding, connection, host, hosts, upgrade };
}

export function parseRequestHead(buf: Buffer, start = 0): Parsed<RequestHead> {
  const origin = start;
  // Clients may send empty lines between requests (RFC 9112 §2.2).
  while (buf[start] === 13 && buf[start + 1] === 10) start += 2;
  if (start >= buf.length) return incomplete;
  const h = headText(buf, start, MAX_REQUEST_HEAD);
  if ("kind" in h) return h.kind === "incomplete" ? h : error(h.tooLarge ? 431 : 400, h.reason);
  const m = REQUEST_LINE.exec(h.text.slice(0, h.text.indexOf("\r\n")));
  if (!m) return error(400, "invalid request line");
  const minor = m[3] === "1" ? 1 : 0;
  const f = framing(h, minor, REQUEST_FRAMING);
  if (typeof f === "string") return error(400, f);
  if (f.hosts > 1) return error(400, "more than one Host");
  if (minor === 1 && f.host === undefined) return error(400, "no Host"); // RFC 9112 §3.2
  const head: RequestHead = {
    text: h.text, lower: h.lower, method: m[1]!, target: m[2]!, minor, host: f.host, upgrade: f.upgrade,
    contentLength: f.contentLength, chunked: f.chunked, close: f.close, connection: f.connection, otherCoding: f.otherCoding,
  };
  return { kind: "head", head, length: h.text.length + 2 + (start - origin) };
}

export function parseResponseHead(buf: Buffer, start = 0): Parsed<ResponseHead> {
  const h = headText(buf, start, MAX_RESPONSE_HEAD);
  if ("kind" in h) return h.kind === "incomplete" ? h : error(502, h.reason);
  const m = STATUS_LINE.exec(h.text.slice(0, h.text.indexOf("\r\n")));
  if (!m) return error(502, "invalid status line");
  const minor = m[1] === "1" ? 1 : 0;
  const f = framing(h, minor, RESPONSE_FRAMING);
  if (typeof f === "string") return error(502, f);
  const head: ResponseHead = { text: h.text, lower: h.lower, status: Number(m[2]), minor, contentLength: f.contentLength, chunked: f.chunked, close: f.close, connection: f.connection };
  return { kind: "head", head, length: h.text.length + 2 };
}
