// A minimal HTTP/1.1 client over a raw socket, for tests that need the wire
// as it is: every header line in order (fetch's Headers merges and sorts),
// the reason phrase, interim 1xx responses, and sockets held open on purpose.
import { connect, type Socket } from "node:net";

export interface RawResponse {
  /** Interim (1xx) responses seen before the final one, as status codes. */
  interim: number[];
  status: number;
  reason: string;
  /** [lowercased name, value] in wire order, duplicates kept. */
  headers: Array<[string, string]>;
  /** The body with chunked framing removed. */
  body: Buffer;
  chunked: boolean;
}

/** Sends `head` (+ body) on a new connection with Connection: close and reads the whole answer. */
export async function rawRequest(to: number | { host: string; port: number }, head: string, body?: string | Buffer, timeoutMs = 15_000): Promise<RawResponse> {
  const { host, port } = typeof to === "number" ? { host: "127.0.0.1", port: to } : to;
  const sock = connect(port, host);
  const chunks: Buffer[] = [];
  sock.on("data", (c: Buffer) => chunks.push(c));
  const done = new Promise<void>((resolve, reject) => {
    sock.on("end", resolve);
    sock.on("close", () => resolve());
    sock.on("error", reject);
    setTimeout(() => reject(new Error(`no complete answer in ${timeoutMs} ms: ${Buffer.concat(chunks).toString("latin1").slice(0, 300)}`)), timeoutMs).unref();
  });
  sock.write(head);
  if (body !== undefined) sock.write(body);
  await done;
  sock.destroy();
  return parse(Buffer.concat(chunks), head.startsWith("HEAD "));
}

/** Sends `wire` (pipelined requests, the last with Connection: close) and reads to the close: the status of every answer (bodies must not hold a status line). */
export async function statuses(port: number, wire: string, timeoutMs = 15_000): Promise<number[]> {
  const sock = connect(port, "127.0.0.1");
  const chunks: Buffer[] = [];
  sock.on("data", (c: Buffer) => chunks.push(c));
  await new Promise<void>((resolve, reject) => {
    sock.on("close", () => resolve());
    sock.on("error", reject);
    setTimeout(() => reject(new Error(`not closed in ${timeoutMs} ms`)), timeoutMs).unref();
    sock.write(wire);
  });
  sock.destroy();
  return [...Buffer.concat(chunks).toString("latin1").matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]));
}

export function parse(buf: Buffer, isHead = false): RawResponse {
  const interim: number[] = [];
  let off = 0;
  for (;;) {
    const end = buf.indexOf("\r\n\r\n", off);
    if (end < 0) throw new Error(`no complete head in: ${buf.toString("latin1").slice(0, 300)}`);
    const lines = buf.subarray(off, end).toString("latin1").split("\r\n");
    off = end + 4;
    const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(lines[0]!);
    if (!m) throw new Error(`bad status line: ${lines[0]}`);
    const status = Number(m[1]);
    const headers = lines.slice(1).map((l) => {
      const i = l.indexOf(":");
      return [l.slice(0, i).toLowerCase(), l.slice(i + 1).trim()] as [string, string];
    });
    if (status >= 100 && status < 200 && status !== 101) {
      interim.push(status);
      continue;
    }
    const chunked = headers.some(([k, v]) => k === "transfer-encoding" && /chunked/i.test(v));
    let body = buf.subarray(off);
    if (isHead || status === 204 || status === 304) body = Buffer.alloc(0);
    else if (chunked) body = dechunk(body);
    else {
      const len = headers.find(([k]) => k === "content-length");
      if (len) body = body.subarray(0, Number(len[1]));
    }
    return { interim, status, reason: m[2]!, headers, body, chunked };
  }
}

function dechunk(buf: Buffer): Buffer {
  const out: Buffer[] = [];
  let off = 0;
  for (;;) {
    const eol = buf.indexOf("\r\n", off);
    if (eol < 0) break;
    const size = parseInt(buf.subarray(off, eol).toString("latin1"), 16);
    if (!size) break;
    out.push(buf.subarray(eol + 2, eol + 2 + size));
    off = eol + 2 + size + 2;
  }
  return Buffer.concat(out);
}

/** Opens a connection and sends `head`, then `drip` one byte every `everyMs`; collects whatever comes back. */
export function holdOpen(port: number, head: string, drip = "", everyMs = 5000): { socket: Socket; received: () => string; closed: Promise<void> } {
  const socket = connect(port, "127.0.0.1");
  let got = "";
  let timer: ReturnType<typeof setInterval> | undefined;
  socket.on("data", (c) => (got += c.toString("latin1")));
  socket.on("error", () => {});
  const closed = new Promise<void>((resolve) => socket.on("close", () => (clearInterval(timer), resolve())));
  socket.write(head);
  let i = 0;
  if (drip) timer = setInterval(() => (i < drip.length ? socket.write(drip[i++]!) : clearInterval(timer)), everyMs);
  return { socket, received: () => got, closed };
}
