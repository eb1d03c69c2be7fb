// The heads the front writes: a request's for the app (or a sibling's peer
// front) with the hop-by-hop, peer and forwarding fields replaced by ours; a
// request's for the general path as it came, plus the front's word for who
// sent it; and the app's response head for the client, its own bytes with
// only the hop-by-hop lines cut out. Lines are cut by their places in the
// head's text (head.ts finds them): nothing is split per field.
import { PEER_HEADERS } from "../../peer/signing.ts";
import { FORWARDED_FIELDS, forwardedHeaders, FRONT_CLIENT_HEADER, FRONT_HEADERS, FRONT_PEER_HEADER, FRONT_SECRET_HEADER } from "../forwarded.ts";
import { cookieHost, hostOnly } from "../cookies.ts";
import { ACCESS_COOKIE, withoutAccessCookie } from "../../access/cookie.ts";
import { field, fieldLines, namesPattern, type Head, type RequestHead, type ResponseHead } from "./head.ts";
import type { Route, SiblingHop } from "./routes.ts";

// RFC 9110 §7.6.1; te and trailer on the request side; framing fields stay (the body is relayed as it came).
const REQUEST_HOP = ["connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer", "upgrade"];
const REQUEST_DROP = new Set([...REQUEST_HOP, ...FORWARDED_FIELDS, ...PEER_HEADERS, ...FRONT_HEADERS]);
const REQUEST_DROP_LINES = namesPattern(REQUEST_DROP);
// A WebSocket upgrade keeps its Upgrade field: the app must see what it is asked to switch to.
const UPGRADE_DROP_LINES = namesPattern([...REQUEST_DROP].filter((n) => n !== "upgrade"));
const FRONT_LINES = namesPattern(FRONT_HEADERS);
const RESPONSE_HOP = new Set(["connection", "keep-alive", "proxy-connection"]);
const RESPONSE_HOP_LINES = namesPattern(RESPONSE_HOP);
const SET_COOKIE_LINES = namesPattern(["set-cookie"]);
const SET_COOKIE = "set-cookie:".length;

/** A request's head as the route's next hop gets it; `signed`: a sibling hop's first request on its connection. */
export function requestHead(head: RequestHead, route: Route, ip: string, frontSecret: string, signed: boolean): Buffer {
  const text = route.app ? appHead(head, ip, !!route.trusted, route.hop, signed) : generalHead(head, ip, frontSecret, route.peer);
  return Buffer.from(text, "latin1");
}

/** The head for the app (or a sibling): its own fields but hop-by-hop, peer and forwarding ones; ours for forwarding, and the hop's. */
function appHead(head: RequestHead, ip: string, trusted: boolean, hop: SiblingHop | undefined, signed: boolean): string {
  const ws = head.upgrade === "websocket";
  const cut = hopLines(head, ws ? UPGRADE_DROP_LINES : REQUEST_DROP_LINES, REQUEST_DROP);
  // The access cookie never reaches an app, nor a sibling (it decided here): one substring check when there is none.
  const cookies = head.lower.includes(ACCESS_PAIR) ? accessCookieEdit(head, cut) : undefined;
  let out = withoutLines(head.text, cookies ? cookies.cut : cut);
  if (cookies?.line) out += cookies.line;
  const fwd = forwardedHeaders((name) => (name === "host" ? head.host : field(head, name)), ip, trusted);
  for (const name in fwd) out += `${name}: ${fwd[name]}\r\n`;
  if (ws) out += "connection: upgrade\r\n";
  if (hop && signed) {
    const fields = hop.sign();
    for (const name in fields) out += `${name}: ${fields[name]}\r\n`;
  } else if (hop) out += hop.fields;
  return `${out}\r\n`;
}

const ACCESS_PAIR = `${ACCESS_COOKIE}=`;
const COOKIE_LINES = namesPattern(["cookie"]);
const COOKIE = "cookie:".length;

/** The Cookie lines cut (with `cut`, in order), and one line with what they held but the access cookie. */
function accessCookieEdit(head: RequestHead, cut: number[]): { cut: number[]; line: string } {
  const lines = fieldLines(head, COOKIE_LINES);
  const kept: string[] = [];
  for (let i = 0; i < lines.length; i += 2) {
    const rest = withoutAccessCookie(head.text.slice(lines[i]! + COOKIE, lines[i + 1]! - 2).trim());
    if (rest) kept.push(rest);
  }
  const pairs: Array<[number, number]> = [];
  for (let i = 0; i < cut.length; i += 2) pairs.push([cut[i]!, cut[i + 1]!]);
  for (let i = 0; i < lines.length; i += 2) if (!pairs.some((p) => p[0] === lines[i])) pairs.push([lines[i]!, lines[i + 1]!]);
  pairs.sort((a, b) => a[0] - b[0]);
  return { cut: pairs.flat(), line: kept.length ? `cookie: ${kept.join("; ")}\r\n` : "" };
}

/** The head for the general path: as it came, plus the front's word for who the client is (and which node's connection it came on). */
function generalHead(head: RequestHead, ip: string, secret: string, peer: string | undefined): string {
  let out = withoutLines(head.text, fieldLines(head, FRONT_LINES));
  if (peer !== undefined) out += `${FRONT_PEER_HEADER}: ${peer}\r\n`;
  return `${out}${FRONT_SECRET_HEADER}: ${secret}\r\n${FRONT_CLIENT_HEADER}: ${ip}\r\n\r\n`;
}

const CRLF = Buffer.from("\r\n");
const CONNECTION_CLOSE = Buffer.from("connection: close\r\n");

/**
 * The app's head for the client: as sent, but the hop-by-hop lines cut out,
 * and `connection: close` when the connection will close. The head is at
 * `buf[start...]`. On a kept-alive connection the kept bytes are moved within
 * `buf` itself (the relay's own read buffer) so that the head still ends
 * where the body begins, and where it now starts is returned: head and body
 * go out in one write with no copy (Node sends Connection and Keep-Alive on
 * every response). A head that grows comes back as a Buffer of its own.
 */
export function clientHead(buf: Uint8Array, start: number, head: ResponseHead, close: boolean, host?: string): number | Buffer {
  const cut = hopLines(head, RESPONSE_HOP_LINES, RESPONSE_HOP);
  const edits = cookieEdits(head, host);
  if (edits) return Buffer.from(edited(head.text, cut, edits, close), "latin1");
  if (!close && cut.length === 0) return start;
  const end = head.text.length; // the blank line's CRLF follows
  if (close) return Buffer.concat([...keptPieces(cut, end).map(([a, b]) => buf.subarray(start + a, start + b)), CONNECTION_CLOSE, CRLF]);
  // The pieces between the cut lines, right to left: each moves right (or stays), none is overwritten before it has moved.
  let w = start + end;
  let to = end;
  for (let i = cut.length; i >= 0; i -= 2) {
    const from = i === 0 ? 0 : cut[i - 1]!;
    w -= to - from;
    buf.copyWithin(w, start + from, start + to);
    if (i > 0) to = cut[i - 2]!;
  }
  return w;
}

/**
 * The app's Set-Cookie lines that need their Domain taken out (../cookies.ts),
 * as [start, end, new line]; undefined when none does. Two substring checks
 * on a head without a Set-Cookie naming a Domain (nearly every one).
 */
export function cookieEdits(head: Head, host: string | undefined): Array<[number, number, string]> | undefined {
  if (!head.lower.includes("\r\nset-cookie:") || !head.lower.includes("domain")) return undefined;
  const lines = fieldLines(head, SET_COOKIE_LINES);
  const own = cookieHost(host);
  let out: Array<[number, number, string]> | undefined;
  for (let i = 0; i < lines.length; i += 2) {
    const a = lines[i]!;
    const b = lines[i + 1]!;
    const fixed = hostOnly(head.text.slice(a + SET_COOKIE, b - 2), own);
    if (fixed !== undefined) (out ??= []).push([a, b, `${head.text.slice(a, a + SET_COOKIE)}${fixed}\r\n`]);
  }
  return out;
}

/** A head's text with the `cut` lines out and the `edits` lines replaced, ending the head (the rare, copying path). */
function edited(text: string, cut: number[], edits: Array<[number, number, string]>, close: boolean): string {
  const ops: Array<[number, number, string]> = [];
  for (let i = 0; i < cut.length; i += 2) ops.push([cut[i]!, cut[i + 1]!, ""]);
  // A line both cut (Connection named it) and edited is cut.
  for (const e of edits) if (!ops.some((o) => o[0] === e[0])) ops.push(e);
  ops.sort((x, y) => x[0] - y[0]);
  let out = "";
  let at = 0;
  for (const [a, b, line] of ops) {
    out += text.slice(at, a) + line;
    at = b;
  }
  out += text.slice(at);
  return `${out}${close ? "connection: close\r\n" : ""}\r\n`;
}

/**
 * The lines `names` finds, and the lines of the fields the head's Connection
 * lists (RFC 9110 §7.6.1) but for those `settled` names (found by `names`, or
 * kept on purpose), in order.
 */
function hopLines(head: Head & { connection: string[] }, names: RegExp, settled: Set<string>): number[] {
  const cut = fieldLines(head, names);
  // Nothing more is made when Connection names only settled fields (`keep-alive`, `upgrade`: nearly every head).
  let named: Set<string> | undefined;
  for (const o of head.connection) if (o && !settled.has(o)) (named ??= new Set()).add(o);
  if (!named) return cut;
  // Rare (Connection naming other fields): one pass over the lines, so a head naming thousands costs no more
  // than one with thousands of fields (a search per name made a 35 KB head cost 36 ms).
  const out: number[] = [];
  let c = 0;
  for (let at = head.text.indexOf("\r\n") + 2; at < head.text.length; ) {
    const next = head.text.indexOf("\r\n", at) + 2;
    if (cut[c] === at) c += 2;
    else if (!named.has(head.lower.slice(at, head.lower.indexOf(":", at)))) {
      at = next;
      continue;
    }
    out.push(at, next);
    at = next;
  }
  return out;
}

/** The [start, end) pieces of a text of length `end` between the lines `cut` takes out. */
function keptPieces(cut: number[], end: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let at = 0;
  for (let i = 0; i < cut.length; i += 2) {
    if (cut[i]! > at) out.push([at, cut[i]!]);
    at = cut[i + 1]!;
  }
  if (end > at) out.push([at, end]);
  return out;
}

/** `text` without the lines `cut` takes out. */
function withoutLines(text: string, cut: number[]): string {
  if (cut.length === 0) return text;
  let out = "";
  for (const [a, b] of keptPieces(cut, text.length)) out += text.slice(a, b);
  return out;
}
