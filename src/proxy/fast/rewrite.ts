// The heads the front writes: a request's for the app (or a sibling's peer
// front) with the hop-by-hop, peer and forwarding fields replaced by ours; a
// request's for the general path as it came, plus the front's word for who
// sent it; and the app's response head for the client, its own bytes with
// only the hop-by-hop lines cut out.
import { PEER_HEADERS } from "../../peer/signing.ts";
import { FORWARDED_FIELDS, forwardedHeaders, FRONT_CLIENT_HEADER, FRONT_HEADERS, FRONT_PEER_HEADER, FRONT_SECRET_HEADER } from "../forwarded.ts";
import type { RequestHead, ResponseHead } from "./head.ts";
import type { Route, SiblingHop } from "./routes.ts";

// RFC 9110 §7.6.1; te and trailer on the request side; framing fields stay (the body is relayed as it came).
const REQUEST_HOP = new Set(["connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer", "upgrade"]);
const REQUEST_DROP = new Set([...REQUEST_HOP, ...FORWARDED_FIELDS, ...PEER_HEADERS, ...FRONT_HEADERS]);
const FRONT_FIELDS = new Set(FRONT_HEADERS);
const RESPONSE_HOP = new Set(["connection", "keep-alive", "proxy-connection"]);

/** A request's head as the route's next hop gets it; `signed`: a sibling hop's first request on its connection. */
export function requestHead(head: RequestHead, route: Route, ip: string, frontSecret: string, signed: boolean): Buffer {
  const text = route.app ? appHead(head, ip, !!route.trusted, route.hop, signed) : generalHead(head, ip, frontSecret, route.peer);
  return Buffer.from(text, "latin1");
}

/** The head for the app (or a sibling): its own fields but hop-by-hop, peer and forwarding ones; ours for forwarding, and the hop's. */
function appHead(head: RequestHead, ip: string, trusted: boolean, hop: SiblingHop | undefined, signed: boolean): string {
  const options = head.connection;
  let out = `${head.method} ${head.target} HTTP/1.1\r\n`;
  const get = (name: string) => head.fields.find((f) => f.name === name)?.value;
  for (const f of head.fields) {
    if (REQUEST_DROP.has(f.name) || (options.length && options.includes(f.name))) {
      if (f.name === "upgrade" && head.upgrade === "websocket") out += `${f.line}\r\n`;
      continue;
    }
    out += `${f.line}\r\n`;
  }
  const fwd = forwardedHeaders(get, ip, trusted);
  for (const name in fwd) out += `${name}: ${fwd[name]}\r\n`;
  if (head.upgrade === "websocket") out += "connection: upgrade\r\n";
  if (hop && signed) {
    const fields = hop.sign();
    for (const name in fields) out += `${name}: ${fields[name]}\r\n`;
  } else if (hop) out += hop.fields;
  return `${out}\r\n`;
}

/** The head for the general path: as it came, plus the front's word for who the client is (and which node's connection it came on). */
function generalHead(head: RequestHead, ip: string, secret: string, peer: string | undefined): string {
  let out = `${head.method} ${head.target} HTTP/1.${head.minor}\r\n`;
  for (const f of head.fields) if (!FRONT_FIELDS.has(f.name)) out += `${f.line}\r\n`;
  if (peer !== undefined) out += `${FRONT_PEER_HEADER}: ${peer}\r\n`;
  return `${out}${FRONT_SECRET_HEADER}: ${secret}\r\n${FRONT_CLIENT_HEADER}: ${ip}\r\n\r\n`;
}

const CRLF = Buffer.from("\r\n");
const CONNECTION_CLOSE = Buffer.from("connection: close\r\n");

/** The app's head for the client: as sent, but the hop-by-hop lines cut out, and `connection: close` when the connection will close. */
export function clientHead(raw: Uint8Array, head: ResponseHead, close: boolean): Uint8Array {
  const options = head.connection;
  const strip = (name: string) => RESPONSE_HOP.has(name) || (options.length > 0 && options.includes(name));
  if (!close && !head.fields.some((f) => strip(f.name))) return raw;
  // The app's bytes between the lines that go (Node sends Connection and Keep-Alive on every response).
  const pieces: Uint8Array[] = [];
  let at = 0;
  for (const f of head.fields) {
    if (!strip(f.name)) continue;
    if (f.start > at) pieces.push(raw.subarray(at, f.start));
    at = f.end;
  }
  pieces.push(raw.subarray(at, raw.length - 2)); // up to the blank line
  if (close) pieces.push(CONNECTION_CLOSE);
  pieces.push(CRLF);
  return Buffer.concat(pieces);
}
