// Conformance of the byte-level front (src/proxy/fast) on its own: a real
// Node HTTP server as the app, the front before it, raw sockets as clients.
// Framing, pipelining, interim responses, smuggling attempts, head limits,
// backpressure, broken upstreams and disconnects, with connections counted.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect, type Socket } from "node:net";
import { createLogger } from "../../src/log.ts";
import { startFront, type Front } from "../../src/proxy/fast/index.ts";
import { publicRoutes } from "../../src/proxy/fast/routes.ts";
import { InflightLimit } from "../../src/proxy/limits.ts";
import { parse, rawRequest } from "../support/rawhttp.ts";

const ID = "fastpathtest01";
const HOST = `${ID}.localhost`;
const LIMIT = 8;

// The app: a plain Node server whose routes each exercise one framing case.
const appSource = `
const http = require("http");
let conns = 0, open = 0, written = 0, done = 0;
const server = http.createServer((req, res) => {
  const u = new URL(req.url, "http://x");
  const body = [];
  req.on("data", (c) => body.push(c));
  req.on("end", () => {
    done++;
    switch (u.pathname) {
      case "/echo":
        res.setHeader("content-type", "application/json");
        return res.end(JSON.stringify({ n: u.searchParams.get("n"), method: req.method, len: Buffer.concat(body).length, headers: req.headers }));
      case "/stats": return res.end(JSON.stringify({ conns, open, written, done }));
      case "/hints": res.writeEarlyHints({ link: "</app.css>; rel=preload; as=style" }); return res.end("after hints");
      case "/trailers":
        res.writeHead(200, { "transfer-encoding": "chunked", trailer: "x-checksum" });
        res.write("part");
        res.addTrailers({ "x-checksum": "abc" });
        return res.end();
      case "/until-close": res.useChunkedEncodingByDefault = false; res.shouldKeepAlive = false; res.write("no length, "); return setTimeout(() => res.end("ends at close"), 30);
      case "/short": { // promises 1000 bytes, sends 10, then drops the connection
        res.writeHead(200, { "content-length": "1000" });
        res.write("0123456789");
        return setTimeout(() => res.socket.destroy(), 50);
      }
      case "/big": { // 64 MiB, written as fast as the client takes it
        let left = 64;
        const chunk = Buffer.alloc(1024 * 1024, 97);
        res.writeHead(200, { "content-length": String(left * chunk.length) });
        const pump = () => { while (left > 0) { left--; written++; if (!res.write(chunk)) return res.once("drain", pump); } res.end(); };
        return pump();
      }
      case "/slow": res.write("tick"); return setTimeout(() => res.end(), 60000);
      case "/continue": return res.end("got " + Buffer.concat(body).length);
      default: res.statusCode = 404; return res.end("no route");
    }
  });
});
server.on("connection", (s) => { conns++; open++; s.on("close", () => open--); });
// A raw upgrade: 101, then every byte echoed back (the relay must not care what the protocol is).
server.on("upgrade", (req, socket) => {
  socket.write("HTTP/1.1 101 Switching Protocols\\r\\nupgrade: websocket\\r\\nconnection: Upgrade\\r\\n\\r\\n");
  socket.on("error", () => {});
  socket.pipe(socket);
});
server.on("checkContinue", (req, res) => { res.writeContinue(); server.emit("request", req, res); });
server.listen(0, "127.0.0.1", () => console.log("listening " + server.address().port));
`;

let app: ReturnType<typeof Bun.spawn>;
let appPort: number;
let front: Front;
const events: string[] = [];

beforeAll(async () => {
  app = Bun.spawn(["node", "--max-http-header-size=131072", "-e", appSource], { stdout: "pipe", stderr: "inherit" });
  const reader = (app.stdout as ReadableStream<Uint8Array>).getReader();
  let text = "";
  while (!/listening (\d+)/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the app did not start: ${text}`);
    text += new TextDecoder().decode(value);
  }
  appPort = Number(/listening (\d+)/.exec(text)![1]);
  front = startFront({
    hostname: "127.0.0.1", port: 0, log: createLogger("error"),
    route: publicRoutes({
      domain: "localhost", lookup: (id) => (id === ID ? { host: "127.0.0.1", port: appPort } : undefined),
      general: { host: "127.0.0.1", port: 9 }, trustsForwarded: () => false,
    }),
    activity: {
      touch: () => {}, socketOpened: (id) => events.push(`open ${id}`), socketClosed: (id) => events.push(`close ${id}`),
      requestStarted: (id) => events.push(`start ${id}`), requestEnded: (id) => events.push(`end ${id}`),
    },
    limit: new InflightLimit(LIMIT), frontSecret: "s",
    bodyTimeoutMs: 2000, idleTimeoutMs: 120_000,
  });
});
afterAll(async () => {
  await front?.stop(100);
  app?.kill();
});

const appStats = async () => (await (await fetch(`http://127.0.0.1:${appPort}/stats`, { headers: { connection: "close" } })).json()) as { conns: number; open: number; written: number; done: number };

/** Sends raw bytes on one connection and collects what comes back until `done` says it is enough or the server closes. */
async function exchange(raw: string | Buffer, done: (got: Buffer) => boolean, ms = 10_000): Promise<{ got: Buffer; closed: boolean }> {
  const sock = connect(front.port, "127.0.0.1");
  const chunks: Buffer[] = [];
  let closed = false;
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out with: ${Buffer.concat(chunks).toString("latin1").slice(0, 400)}`)), ms);
    sock.on("data", (c: Buffer) => {
      chunks.push(c);
      if (done(Buffer.concat(chunks))) (clearTimeout(t), resolve());
    });
    sock.on("close", () => ((closed = true), clearTimeout(t), resolve()));
    sock.on("error", () => {});
    sock.write(raw);
  });
  sock.destroy();
  return { got: Buffer.concat(chunks), closed };
}

async function waitFor(what: string, ok: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await Bun.sleep(50);
  }
}

const count = (buf: Buffer, s: string) => buf.toString("latin1").split(s).length - 1;

test("pipelined requests on one connection are answered in order", async () => {
  const reqs = [1, 2, 3].map((n) => `GET /echo?n=${n} HTTP/1.1\r\nhost: ${HOST}\r\n\r\n`).join("");
  const { got } = await exchange(reqs, (b) => count(b, '"method"') === 3);
  const ns = [...got.toString("latin1").matchAll(/"n":"(\d)"/g)].map((m) => m[1]);
  expect(ns).toEqual(["1", "2", "3"]);
});

test("a keep-alive connection reuses one upstream connection for many requests", async () => {
  const before = await appStats();
  const reqs = Array.from({ length: 50 }, (_, i) => `GET /echo?n=${i} HTTP/1.1\r\nhost: ${HOST}\r\n\r\n`).join("");
  await exchange(reqs, (b) => count(b, '"method"') === 50);
  const after = await appStats();
  // One new connection at most for the 50 (the pool may already hold one), plus the /stats call's own.
  expect(after.conns - before.conns).toBeLessThanOrEqual(2);
});

test("the app gets our forwarding headers, not the client's, and no hop-by-hop or peer fields", async () => {
  const head = `GET /echo HTTP/1.1\r\nhost: ${HOST}\r\nx-forwarded-host: evil.com\r\nx-forwarded-proto: https\r\nforwarded: for=1.2.3.4\r\nx-real-ip: 1.2.3.4\r\n` +
    `x-previewd-sig: forged\r\nkeep-alive: timeout=5\r\nconnection: x-secret\r\nx-secret: hop\r\nx-kept: yes\r\nconnection: close\r\n\r\n`;
  const res = await rawRequest(front.port, head);
  const seen = JSON.parse(res.body.toString()).headers as Record<string, string>;
  expect(seen["x-forwarded-host"]).toBe(HOST);
  expect(seen["x-forwarded-proto"]).toBe("http");
  expect(seen["x-forwarded-for"]).toBe("127.0.0.1");
  expect(seen["x-real-ip"]).toBe("127.0.0.1");
  expect(seen.forwarded).toBe(`for=127.0.0.1;host="${HOST}";proto=http`);
  expect(seen["x-kept"]).toBe("yes");
  for (const gone of ["x-previewd-sig", "keep-alive", "x-secret"]) expect(seen[gone]).toBeUndefined();
});

test("103 Early Hints and 100 Continue are passed on before the final answer", async () => {
  const hints = await rawRequest(front.port, `GET /hints HTTP/1.1\r\nhost: ${HOST}\r\nconnection: close\r\n\r\n`);
  expect(hints.interim).toEqual([103]);
  expect(hints.body.toString()).toBe("after hints");
  // The client waits for 100 Continue before it sends its body, as curl does.
  const sock = connect(front.port, "127.0.0.1");
  const got: Buffer[] = [];
  sock.on("data", (c: Buffer) => got.push(c));
  sock.write(`POST /continue HTTP/1.1\r\nhost: ${HOST}\r\ncontent-length: 5\r\nexpect: 100-continue\r\nconnection: close\r\n\r\n`);
  await waitFor("100 Continue", () => Buffer.concat(got).toString().startsWith("HTTP/1.1 100 Continue\r\n"));
  sock.write("hello");
  await new Promise((r) => sock.on("close", r));
  const res = parse(Buffer.concat(got));
  expect(res.interim).toEqual([100]);
  expect(res.body.toString()).toBe("got 5");
});

test("chunked trailers pass through, a HEAD answer has no body, and a body that runs to close closes the client too", async () => {
  const t = await rawRequest(front.port, `GET /trailers HTTP/1.1\r\nhost: ${HOST}\r\nconnection: close\r\n\r\n`);
  expect(t.chunked).toBe(true);
  expect(t.body.toString()).toBe("part");
  const raw = await exchange(`GET /trailers HTTP/1.1\r\nhost: ${HOST}\r\n\r\n`, (b) => b.toString().endsWith("\r\n\r\n") && b.includes("x-checksum: abc"));
  expect(raw.got.toString()).toContain("0\r\nx-checksum: abc\r\n\r\n");

  // HEAD then GET pipelined: the HEAD answer's Content-Length must not swallow the GET's answer.
  const both = await exchange(`HEAD /echo HTTP/1.1\r\nhost: ${HOST}\r\n\r\nGET /echo?n=7 HTTP/1.1\r\nhost: ${HOST}\r\n\r\n`, (b) => b.includes('"n":"7"'));
  expect(count(both.got, "HTTP/1.1 200")).toBe(2);

  const u = await exchange(`GET /until-close HTTP/1.1\r\nhost: ${HOST}\r\n\r\n`, () => false);
  expect(u.closed).toBe(true);
  expect(u.got.toString()).toContain("no length, ends at close");
  expect(u.got.toString().toLowerCase()).toContain("connection: close");
});

test("ambiguous framing is refused with 400 before anything reaches the app (no smuggling)", async () => {
  const cases: Record<string, string> = {
    "content-length and chunked": `POST /echo HTTP/1.1\r\nhost: ${HOST}\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n`,
    "two content-lengths": `POST /echo HTTP/1.1\r\nhost: ${HOST}\r\ncontent-length: 4\r\ncontent-length: 5\r\n\r\nabcde`,
    "obs-fold": `GET /echo HTTP/1.1\r\nhost: ${HOST}\r\nx-a: 1\r\n folded\r\n\r\n`,
    "chunked not last": `POST /echo HTTP/1.1\r\nhost: ${HOST}\r\ntransfer-encoding: chunked, gzip\r\n\r\n0\r\n\r\n`,
    "bad chunk size": `POST /echo HTTP/1.1\r\nhost: ${HOST}\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`,
    "negative length": `POST /echo HTTP/1.1\r\nhost: ${HOST}\r\ncontent-length: -1\r\n\r\n`,
    "space before colon": `GET /echo HTTP/1.1\r\nhost: ${HOST}\r\nx-a : 1\r\n\r\n`,
    "bare LF in a value": `GET /echo HTTP/1.1\r\nhost: ${HOST}\r\nx-a: 1\nx-b: 2\r\n\r\n`,
    // At a value's edge a bare LF is not in the value, but a lenient app would read the line after it as a field of its own.
    "bare LF ending a value": `GET /echo HTTP/1.1\r\nhost: ${HOST}\r\nx-a: 1\n\r\n\r\n`,
    "bare LF starting a value": `POST /echo HTTP/1.1\r\nhost: ${HOST}\r\nx-a:\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n0\r\n\r\n`,
    "control byte in the target": `GET /ec\x01ho HTTP/1.1\r\nhost: ${HOST}\r\n\r\n`,
    "two hosts": `GET /echo HTTP/1.1\r\nhost: ${HOST}\r\nhost: other.localhost\r\n\r\n`,
  };
  const before = await appStats();
  for (const [name, raw] of Object.entries(cases)) {
    const { got, closed } = await exchange(raw, () => false);
    const res = parse(got);
    expect({ name, status: res.status, closed }).toEqual({ name, status: 400, closed: true });
    expect(JSON.parse(res.body.toString()).error.code).toBe("bad_request");
  }
  const after = await appStats();
  // The /stats call's own: no case became a whole request at the app (a bad chunk cuts its request off mid-body).
  expect(after.done - before.done).toBe(1);
});

test("a 60 KiB request head is relayed; past 64 KiB the answer is 431", async () => {
  const ok = await rawRequest(front.port, `GET /echo HTTP/1.1\r\nhost: ${HOST}\r\ncookie: ${"a".repeat(60 * 1024)}\r\nconnection: close\r\n\r\n`);
  expect(ok.status).toBe(200);
  expect((JSON.parse(ok.body.toString()).headers.cookie as string).length).toBe(60 * 1024);
  const big = await exchange(`GET /echo HTTP/1.1\r\nhost: ${HOST}\r\ncookie: ${"a".repeat(70 * 1024)}\r\n\r\n`, () => false);
  expect(parse(big.got).status).toBe(431);
});

test("a slow reader holds the app back (backpressure), and its bytes all arrive", async () => {
  const sock: Socket = connect(front.port, "127.0.0.1");
  // Counted from the first byte: a listener added only after the pause could miss a chunk read before it.
  let total = 0;
  sock.on("data", (c: Buffer) => (total += c.length));
  sock.write(`GET /big HTTP/1.1\r\nhost: ${HOST}\r\nconnection: close\r\n\r\n`);
  sock.pause(); // reads nothing for a while
  await Bun.sleep(1500);
  const held = await appStats();
  // 64 MiB asked for; with nobody reading, only socket buffers' worth may have left the app.
  expect(held.written).toBeLessThan(24);
  sock.resume();
  await new Promise((r) => sock.on("close", r));
  expect(total).toBeGreaterThan(64 * 1024 * 1024); // the body plus its head
});

test("an upstream that dies mid-response closes the client; no connection is leaked either way", async () => {
  const short = await exchange(`GET /short HTTP/1.1\r\nhost: ${HOST}\r\n\r\n`, () => false);
  expect(short.closed).toBe(true);
  expect(short.got.toString()).toContain("0123456789");
  expect(short.got.toString()).not.toContain("Bad Gateway");

  // Clients that go away mid-response: their upstream connections are closed, not pooled or left open.
  const clients = Array.from({ length: LIMIT }, () => {
    const s = connect(front.port, "127.0.0.1");
    s.write(`GET /slow HTTP/1.1\r\nhost: ${HOST}\r\n\r\n`);
    return s;
  });
  await waitFor("the requests at the app", async () => (await appStats()).open >= LIMIT);
  for (const s of clients) s.destroy();
  await waitFor("client connections gone", () => front.connections === 0);
  await waitFor("upstream connections closed", async () => (await appStats()).open <= 1 + front.upstreams);
  expect(front.upstreams).toBeLessThanOrEqual(2); // at most the pooled keep-alive ones
  // Every request started was ended, whatever way it ended.
  const started = events.filter((e) => e.startsWith("start")).length;
  const ended = events.filter((e) => e.startsWith("end")).length;
  expect(ended).toBe(started);
});

test("past the per-preview limit: 503 with Retry-After, and the connection stays usable", async () => {
  const hanging = Array.from({ length: LIMIT }, () => {
    const s = connect(front.port, "127.0.0.1");
    s.write(`GET /slow HTTP/1.1\r\nhost: ${HOST}\r\n\r\n`);
    return s;
  });
  try {
    await waitFor("the requests at the app", async () => (await appStats()).open >= LIMIT);
    const { got } = await exchange(`GET /echo HTTP/1.1\r\nhost: ${HOST}\r\n\r\n`, (b) => b.includes("preview_busy"));
    const res = parse(got);
    expect(res.status).toBe(503);
    expect(res.headers).toContainEqual(["retry-after", "1"]);
  } finally {
    for (const s of hanging) s.destroy();
  }
  await waitFor("client connections gone", () => front.connections === 0);
  const ok = await rawRequest(front.port, `GET /echo HTTP/1.1\r\nhost: ${HOST}\r\nconnection: close\r\n\r\n`);
  expect(ok.status).toBe(200);
});

test("a slow request body is cut with 408", async () => {
  const { got, closed } = await exchange(`POST /echo HTTP/1.1\r\nhost: ${HOST}\r\ncontent-length: 100\r\n\r\nab`, () => false, 8000);
  expect(closed).toBe(true);
  expect(parse(got).status).toBe(408);
});

test("an upgrade is relayed as bytes both ways and counted as an open socket until it closes", async () => {
  const sock = connect(front.port, "127.0.0.1");
  const got: Buffer[] = [];
  sock.on("data", (c: Buffer) => got.push(c));
  sock.write(`GET /ws HTTP/1.1\r\nhost: ${HOST}\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`);
  await waitFor("101", () => Buffer.concat(got).includes("\r\n\r\n"));
  expect(Buffer.concat(got).toString()).toStartWith("HTTP/1.1 101 Switching Protocols\r\n");
  expect(events.at(-1)).toBe(`open ${ID}`);
  got.length = 0;
  sock.write("any bytes at all \x00\x01");
  await waitFor("echo", () => Buffer.concat(got).toString() === "any bytes at all \x00\x01");
  sock.destroy();
  await waitFor("socket closed in the idle clock", () => events.at(-1) === `close ${ID}`);
  await waitFor("upstream closed", async () => (await appStats()).open <= 1 + front.upstreams);
});
