// The byte relay's heads (src/proxy/fast/head.ts, rewrite.ts) on their own:
// what a head parses to, every reason one is refused for, the fields found
// by name, and the heads written for the app and for the client. The relay
// tests (fastpath, fidelity, forwarded) take the same code over real sockets.
import { describe, expect, test } from "bun:test";
import { field, MAX_REQUEST_HEAD, parseRequestHead, parseResponseHead, type RequestHead, type ResponseHead } from "../../src/proxy/fast/head.ts";
import { clientHead, requestHead } from "../../src/proxy/fast/rewrite.ts";
import type { Route } from "../../src/proxy/fast/routes.ts";

const request = (raw: string): RequestHead => {
  const p = parseRequestHead(Buffer.from(raw, "latin1"));
  if (p.kind !== "head") throw new Error(`not a head: ${JSON.stringify(p)}`);
  return p.head;
};
const response = (raw: string): { head: ResponseHead; length: number } => {
  const p = parseResponseHead(Buffer.from(raw, "latin1"));
  if (p.kind !== "head") throw new Error(`not a head: ${JSON.stringify(p)}`);
  return p;
};
const refusal = (raw: string) => parseRequestHead(Buffer.from(raw, "latin1"));

describe("request heads", () => {
  test("a browser's head: what routing and framing read, the rest kept as text", () => {
    const raw = "POST /api/items?x=1 HTTP/1.1\r\nHost: AbC123def456.Preview.Example.com\r\nConnection: keep-alive\r\nContent-Length: 11\r\nCookie: a=1; b=2\r\nX-Empty:\r\n\r\nhello world";
    const p = parseRequestHead(Buffer.from(raw));
    expect(p.kind).toBe("head");
    if (p.kind !== "head") return;
    expect(p.length).toBe(raw.indexOf("\r\n\r\n") + 4);
    const h = p.head;
    expect({ method: h.method, target: h.target, minor: h.minor, host: h.host, contentLength: h.contentLength, chunked: h.chunked, close: h.close, connection: h.connection, upgrade: h.upgrade })
      .toEqual({ method: "POST", target: "/api/items?x=1", minor: 1, host: "AbC123def456.Preview.Example.com", contentLength: 11, chunked: false, close: false, connection: ["keep-alive"], upgrade: undefined });
    expect(field(h, "cookie")).toBe("a=1; b=2");
    expect(field(h, "x-empty")).toBe("");
    expect(field(h, "accept")).toBeUndefined();
    expect(h.text).toBe(raw.slice(0, raw.indexOf("\r\n\r\n") + 2));
  });

  test("names are case-insensitive, values lose their optional whitespace only (SP and HTAB)", () => {
    const h = request("GET / HTTP/1.1\r\nhOsT: \t a.localhost \t\r\nX-A:\xa0v\xa0\r\nx-host: not-the-host\r\n\r\n");
    expect(h.host).toBe("a.localhost");
    expect(field(h, "x-a")).toBe("\xa0v\xa0");
    expect(field(h, "host")).toBe("a.localhost");
  });

  test("framing: chunked, other codings, HTTP/1.0 and Connection", () => {
    expect(request("POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n")).toMatchObject({ chunked: true, otherCoding: false, contentLength: -1 });
    expect(request("POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: gzip\r\nTransfer-Encoding: Chunked\r\n\r\n")).toMatchObject({ chunked: true, otherCoding: true });
    expect(request("GET / HTTP/1.0\r\n\r\n")).toMatchObject({ minor: 0, close: true, host: undefined });
    expect(request("GET / HTTP/1.0\r\nconnection: keep-alive\r\n\r\n")).toMatchObject({ close: false });
    expect(request("GET / HTTP/1.1\r\nhost: a\r\nconnection: Keep-Alive, CLOSE\r\n\r\n")).toMatchObject({ close: true, connection: ["keep-alive", "close"] });
  });

  test("an upgrade counts only when Connection names it", () => {
    expect(request("GET / HTTP/1.1\r\nhost: a\r\nupgrade: WebSocket\r\nconnection: Upgrade\r\n\r\n").upgrade).toBe("websocket");
    expect(request("GET / HTTP/1.1\r\nhost: a\r\nupgrade: websocket\r\n\r\n").upgrade).toBeUndefined();
  });

  test("empty lines before a request are skipped and counted in its length", () => {
    const p = parseRequestHead(Buffer.from("\r\n\r\nGET / HTTP/1.1\r\nhost: a\r\n\r\n"));
    expect(p).toMatchObject({ kind: "head", length: 4 + 27 });
  });

  test("a head not yet whole is incomplete; past 64 KiB it is 431, whole or not", () => {
    expect(refusal("GET / HTTP/1.1\r\nhost: a\r\n").kind).toBe("incomplete");
    expect(refusal("").kind).toBe("incomplete");
    const big = `GET / HTTP/1.1\r\nhost: a\r\ncookie: ${"a".repeat(MAX_REQUEST_HEAD)}`;
    expect(refusal(big)).toMatchObject({ kind: "error", status: 431 });
    expect(refusal(`${big}\r\n\r\n`)).toMatchObject({ kind: "error", status: 431 });
  });

  // Each way a head can be read differently by two parsers, and the reason given.
  const refused: Array<[string, string, string]> = [
    ["obs-fold", "GET / HTTP/1.1\r\nhost: a\r\nx-a: 1\r\n folded\r\n\r\n", "obsolete line folding"],
    ["obs-fold with a tab", "GET / HTTP/1.1\r\nhost: a\r\nx-a: 1\r\n\tfolded\r\n\r\n", "obsolete line folding"],
    ["a field without a name", "GET / HTTP/1.1\r\nhost: a\r\n: v\r\n\r\n", "field without a name"],
    ["a line without a colon", "GET / HTTP/1.1\r\nhost: a\r\njunk\r\n\r\n", "field without a name"],
    ["whitespace before the colon", "GET / HTTP/1.1\r\nhost: a\r\nx-a : 1\r\n\r\n", 'invalid field name "x-a "'],
    ["a bad byte in a name", "GET / HTTP/1.1\r\nhost: a\r\nx(a): 1\r\n\r\n", 'invalid field name "x(a)"'],
    ["a bare LF in a value", "GET / HTTP/1.1\r\nhost: a\r\nx-a: 1\nx-b: 2\r\n\r\n", "invalid value in x-a"],
    ["a bare LF ending a value", "GET / HTTP/1.1\r\nhost: a\r\nx-a: 1\n\r\n\r\n", "invalid value in x-a"],
    ["a bare CR in a value", "GET / HTTP/1.1\r\nhost: a\r\nx-a: 1\r2\r\n\r\n", "invalid value in x-a"],
    ["NUL in a value", "GET / HTTP/1.1\r\nhost: a\r\nx-a: 1\x002\r\n\r\n", "invalid value in x-a"],
    ["a control byte in the target", "GET /a\x01b HTTP/1.1\r\nhost: a\r\n\r\n", "control characters in the start line"],
    ["a bare LF in the start line", "GET / HTTP/1.1\nhost: a\r\n\r\n", "control characters in the start line"],
    ["a bad request line", "GET  / HTTP/1.1\r\nhost: a\r\n\r\n", "invalid request line"],
    ["HTTP/2 in the request line", "GET / HTTP/2.0\r\nhost: a\r\n\r\n", "invalid request line"],
    ["two Content-Lengths", "POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 4\r\nContent-Length: 4\r\n\r\n", "more than one Content-Length"],
    ["a negative Content-Length", "POST / HTTP/1.1\r\nhost: a\r\ncontent-length: -1\r\n\r\n", "invalid Content-Length"],
    ["a Content-Length list", "POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 4, 4\r\n\r\n", "invalid Content-Length"],
    ["Content-Length and Transfer-Encoding", "POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n", "both Content-Length and Transfer-Encoding"],
    ["Transfer-Encoding in HTTP/1.0", "POST / HTTP/1.0\r\ntransfer-encoding: chunked\r\n\r\n", "Transfer-Encoding in HTTP/1.0"],
    ["chunked not last", "POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked, gzip\r\n\r\n", "Transfer-Encoding must end in chunked, once"],
    ["chunked twice", "POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\ntransfer-encoding: chunked\r\n\r\n", "Transfer-Encoding must end in chunked, once"],
    ["a bad coding", "POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chun ked\r\n\r\n", "invalid Transfer-Encoding"],
    ["two Hosts", "GET / HTTP/1.1\r\nhost: a\r\nHost: b\r\n\r\n", "more than one Host"],
    ["no Host in HTTP/1.1", "GET / HTTP/1.1\r\nx-a: 1\r\n\r\n", "no Host"],
  ];
  for (const [name, raw, reason] of refused) {
    test(`refused with 400: ${name}`, () => {
      expect(refusal(raw)).toEqual({ kind: "error", status: 400, reason });
    });
  }
});

describe("response heads", () => {
  test("status, framing and Connection; a bad one is 502", () => {
    const { head, length } = response("HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found");
    expect({ status: head.status, contentLength: head.contentLength, close: head.close, length }).toEqual({ status: 404, contentLength: 9, close: true, length: 64 });
    expect(response("HTTP/1.1 204\r\n\r\n").head.status).toBe(204);
    expect(response("HTTP/1.0 200 OK\r\n\r\n").head.close).toBe(true);
    expect(parseResponseHead(Buffer.from("HTTP/1.1 200 OK\r\nx: 1\r\n folded\r\n\r\n"))).toEqual({ kind: "error", status: 502, reason: "obsolete line folding" });
    expect(parseResponseHead(Buffer.from("HTTP/1.1 2000 OK\r\n\r\n"))).toEqual({ kind: "error", status: 502, reason: "invalid status line" });
    expect(parseResponseHead(Buffer.from("HTTP/1.1 200 OK\r\ncontent-length: 1\r\ntransfer-encoding: chunked\r\n\r\n")).kind).toBe("error");
  });
});

describe("the heads the relay writes", () => {
  const app: Route = { to: { host: "10.0.0.2", port: 3000 }, id: "abc123def4567", app: true };

  test("for the app: hop-by-hop, forwarding, peer and front fields and those Connection names are gone; ours are added", () => {
    const h = request(
      "GET /x HTTP/1.1\r\nHost: p.localhost\r\nConnection: keep-alive, X-Secret\r\nKeep-Alive: 5\r\nX-Secret: s\r\nAccept: */*\r\n" +
        "X-Forwarded-For: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\nX-Previewd-Node: evil\r\nX-Previewd-Front: guess\r\nTE: trailers\r\nCookie: a=1\r\n\r\n",
    );
    const text = requestHead(h, app, "192.0.2.7", "front-secret", false).toString("latin1");
    expect(text).toBe(
      "GET /x HTTP/1.1\r\nHost: p.localhost\r\nAccept: */*\r\nCookie: a=1\r\n" +
        'x-forwarded-for: 192.0.2.7\r\nx-forwarded-host: p.localhost\r\nx-forwarded-proto: http\r\nx-real-ip: 192.0.2.7\r\nforwarded: for=192.0.2.7;host="p.localhost";proto=http\r\n\r\n',
    );
  });

  test("for the app: a Connection naming thousands of fields drops each of them, and only them", () => {
    const names = Array.from({ length: 3000 }, (_, i) => `o${i}`);
    const h = request(`GET / HTTP/1.1\r\nhost: p.localhost\r\nconnection: ${names.join(", ")}\r\n${names.slice(0, 2000).map((n) => `${n.toUpperCase()}: 1\r\n`).join("")}o1x: kept\r\nx-o1: kept\r\n\r\n`);
    const text = requestHead(h, app, "192.0.2.7", "s", false).toString("latin1");
    expect(text).toStartWith("GET / HTTP/1.1\r\nhost: p.localhost\r\no1x: kept\r\nx-o1: kept\r\nx-forwarded-for: 192.0.2.7\r\n");
  });

  test("for the app: a WebSocket upgrade keeps its Upgrade field and says connection: upgrade", () => {
    const h = request("GET /ws HTTP/1.1\r\nhost: p.localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n");
    const text = requestHead(h, app, "127.0.0.1", "s", false).toString("latin1");
    expect(text).toStartWith("GET /ws HTTP/1.1\r\nhost: p.localhost\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\nx-forwarded-for: 127.0.0.1\r\n");
    expect(text).toEndWith("connection: upgrade\r\n\r\n");
    expect(text.match(/^connection:/gim)).toHaveLength(1);
  });

  test("for the general path: as it came, but a client's own front fields, plus the front's", () => {
    const h = request("GET /x HTTP/1.1\r\nhost: p.localhost\r\nX-Previewd-Client: 6.6.6.6\r\nx-previewd-front: guess\r\nAccept: */*\r\n\r\n");
    const text = requestHead(h, { to: app.to, app: false }, "192.0.2.7", "front-secret", false).toString("latin1");
    expect(text).toBe("GET /x HTTP/1.1\r\nhost: p.localhost\r\nAccept: */*\r\nx-previewd-front: front-secret\r\nx-previewd-client: 192.0.2.7\r\n\r\n");
  });

  const nodeAnswer = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Sun, 06 Dec 2026 18:40:00 GMT\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nok";

  test("for the client: the app's hop-by-hop lines cut out in place, the head still joined to its body", () => {
    const buf = Buffer.from(`junk${nodeAnswer}`);
    const { head, length } = response(nodeAnswer);
    const at = clientHead(buf, 4, head, false);
    expect(typeof at).toBe("number");
    expect(buf.subarray(at as number).toString()).toBe("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Sun, 06 Dec 2026 18:40:00 GMT\r\nContent-Length: 2\r\n\r\nok");
    expect(buf.subarray(0, 4).toString()).toBe("junk"); // nothing before the head is touched
    expect((at as number) > 4 && (at as number) < 4 + length).toBe(true);
  });

  test("for the client: a head with nothing to cut is left where it is; fields Connection names go too", () => {
    const plain = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
    expect(clientHead(Buffer.from(plain), 0, response(plain).head, false)).toBe(0);
    const named = "HTTP/1.1 200 OK\r\nConnection: x-hop\r\nX-Hop: 1\r\nX-Kept: 2\r\ncontent-length: 0\r\n\r\n";
    const buf = Buffer.from(named);
    const at = clientHead(buf, 0, response(named).head, false) as number;
    expect(buf.subarray(at).toString()).toBe("HTTP/1.1 200 OK\r\nX-Kept: 2\r\ncontent-length: 0\r\n\r\n");
  });

  test("for the client: cut lines first, last and side by side leave the rest in order", () => {
    const cases: Array<[string, string]> = [
      ["HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n", "HTTP/1.1 204 No Content\r\n\r\n"],
      ["HTTP/1.1 200 OK\r\nKeep-Alive: 5\r\nA: 1\r\nProxy-Connection: x\r\nB: 2\r\nConnection: keep-alive\r\n\r\nbody", "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\nbody"],
    ];
    for (const [raw, want] of cases) {
      const buf = Buffer.from(raw);
      const at = clientHead(buf, 0, response(raw).head, false) as number;
      expect(buf.subarray(at).toString()).toBe(want);
    }
  });

  test("for the client: connection: close makes a head of its own, the read buffer untouched", () => {
    const buf = Buffer.from(nodeAnswer);
    const out = clientHead(buf, 0, response(nodeAnswer).head, true);
    expect(Buffer.isBuffer(out)).toBe(true);
    expect((out as Buffer).toString()).toBe("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Sun, 06 Dec 2026 18:40:00 GMT\r\nContent-Length: 2\r\nconnection: close\r\n\r\n");
    expect(buf.toString()).toBe(nodeAnswer);
  });
});
