// Differential test: every request of a corpus goes to the app directly and
// through the proxy, and the two answers must match (status, headers, body)
// but for what a proxy must or may change (src/proxy/README.md):
// hop-by-hop fields (RFC 9110 §7.6.1), message framing (RFC 9112 §6:
// Content-Length vs chunked), Date (RFC 9110 §6.6.1: the origin's or ours).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createPreview, startTestDaemon, type TestDaemon } from "../support/daemon.ts";
import { rawRequest, type RawResponse } from "../support/rawhttp.ts";

const corpusApp = `
const http = require("http");
const zlib = require("zlib");
const page = "<!doctype html><h1>hi</h1>";
const big = Buffer.alloc(300 * 1024, "0123456789abcdef");
const gz = zlib.gzipSync("compressed ".repeat(500));
http.createServer((req, res) => {
  const url = new URL(req.url, "http://x");
  const body = [];
  req.on("data", (c) => body.push(c));
  req.on("end", () => {
    const got = Buffer.concat(body);
    switch (url.pathname) {
      case "/plain": return res.end(page); // no Content-Type: a browser sniffs it (the common res.end case)
      case "/json": res.setHeader("content-type", "application/json"); return res.end('{"a":1}');
      case "/echo":
        res.setHeader("content-type", "application/json");
        return res.end(JSON.stringify({ method: req.method, body: got.toString("base64"), type: req.headers["content-type"] ?? null, cookie: req.headers.cookie ?? null, query: url.search }));
      case "/cookies":
        res.setHeader("set-cookie", ["a=1; Path=/; HttpOnly", "b=2; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Secure", "c=x,y; SameSite=Lax"]);
        return res.end("cookies");
      case "/etag": {
        res.setHeader("etag", '"v1"');
        res.setHeader("cache-control", "public, max-age=60");
        res.setHeader("last-modified", "Wed, 21 Oct 2015 07:28:00 GMT");
        if (req.headers["if-none-match"] === '"v1"') { res.statusCode = 304; return res.end(); }
        res.setHeader("content-type", "text/plain");
        return res.end("versioned");
      }
      case "/range": {
        const data = Buffer.from("0123456789abcdefghij");
        res.setHeader("accept-ranges", "bytes");
        res.setHeader("content-type", "application/octet-stream");
        const m = /^bytes=(\\d+)-(\\d+)$/.exec(req.headers.range || "");
        if (!m) return res.end(data);
        res.statusCode = 206;
        res.setHeader("content-range", "bytes " + m[1] + "-" + m[2] + "/" + data.length);
        return res.end(data.subarray(Number(m[1]), Number(m[2]) + 1));
      }
      case "/gzip":
        res.setHeader("content-type", "text/plain");
        res.setHeader("content-encoding", "gzip");
        res.setHeader("vary", "Accept-Encoding");
        return res.end(gz);
      case "/sse": {
        res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
        let i = 0;
        const t = setInterval(() => { res.write("id: " + i + "\\ndata: tick " + i + "\\n\\n"); if (++i === 3) { clearInterval(t); res.end(); } }, 50);
        return;
      }
      case "/chunked": res.write("part one, "); return setTimeout(() => res.end("part two"), 50);
      case "/big": res.setHeader("content-type", "text/plain"); return res.end(big);
      case "/empty": res.statusCode = 204; return res.end();
      case "/redirect": res.writeHead(302, { location: "/plain?from=redirect" }); return res.end();
      case "/odd":
        res.setHeader("x-dup", ["1", "2"]);
        res.setHeader("x-empty", "");
        res.setHeader("x-quoted", 'a,  b ; c="d,e"');
        res.setHeader("link", "</style.css>; rel=preload; as=style");
        res.setHeader("www-authenticate", ['Basic realm="a"', 'Bearer realm="b"']);
        res.setHeader("content-type", "text/plain; charset=iso-8859-1");
        res.statusCode = 418;
        return res.end("odd");
      case "/error": res.statusCode = 500; res.setHeader("content-type", "text/plain"); return res.end("boom");
      case "/length-only": res.setHeader("content-length", "5"); return res.end("exact");
      default: res.statusCode = 404; return res.end("nope");
    }
  });
}).listen(process.env.PORT, "0.0.0.0");
`;

let d: TestDaemon;
let id: string;
let direct: { host: string; port: number };
beforeAll(async () => {
  d = await startTestDaemon({ PREVIEWD_WARM_POOL: "0" });
  id = (await createPreview(d, { files: { "server.js": corpusApp }, command: ["node", "server.js"] })).id;
  direct = d.orchestrator.endpointIfRunning(id)!;
}, 120_000);
afterAll(() => d?.cleanup());

interface Case {
  name: string;
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

const corpus: Case[] = [
  { name: "no content-type", path: "/plain" },
  { name: "no content-type, HEAD", method: "HEAD", path: "/plain" },
  { name: "json", path: "/json", headers: { accept: "application/json" } },
  { name: "HEAD json", method: "HEAD", path: "/json" },
  { name: "query string", path: "/echo?a=1&b=%20x&c" },
  { name: "POST form", method: "POST", path: "/echo", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "a=1&b=2" },
  { name: "PUT binary", method: "PUT", path: "/echo", headers: { "content-type": "application/octet-stream" }, body: Buffer.from([0, 1, 2, 255, 254, 10, 13]) },
  { name: "PATCH json", method: "PATCH", path: "/echo", headers: { "content-type": "application/json" }, body: '{"x":[1,2]}' },
  { name: "DELETE", method: "DELETE", path: "/echo" },
  { name: "OPTIONS", method: "OPTIONS", path: "/echo" },
  { name: "request cookies", path: "/echo", headers: { cookie: "a=1; b=2" } },
  { name: "several Set-Cookie", path: "/cookies" },
  { name: "ETag", path: "/etag" },
  { name: "304 Not Modified", path: "/etag", headers: { "if-none-match": '"v1"' } },
  { name: "Range 206", path: "/range", headers: { range: "bytes=2-5" } },
  { name: "no Range", path: "/range" },
  { name: "gzip passed through untouched", path: "/gzip", headers: { "accept-encoding": "gzip, br" } },
  { name: "SSE", path: "/sse", headers: { accept: "text/event-stream" } },
  { name: "chunked", path: "/chunked" },
  { name: "300 KiB", path: "/big" },
  { name: "204", path: "/empty" },
  { name: "302 not followed", path: "/redirect" },
  { name: "odd but legal headers", path: "/odd" },
  { name: "500", path: "/error" },
  { name: "explicit Content-Length", path: "/length-only" },
  { name: "404 from the app", path: "/missing" },
];

/**
 * What a proxy may change (src/proxy/README.md). The rest must be equal.
 * Content-Length vs Transfer-Encoding: chunked is framing (RFC 9112 §6); the
 * body, unframed, is compared.
 */
const ALLOWED = new Set(["date", "connection", "keep-alive", "transfer-encoding", "content-length"]);
function comparable(r: RawResponse): string[] {
  // RFC 9110 §5.3: field lines of one name may be combined into one, comma-separated, except Set-Cookie
  // (fetch's Headers does combine them: src/proxy/README.md).
  const merged = new Map<string, string[]>();
  const out: string[] = [];
  for (const [k, v] of r.headers) {
    if (ALLOWED.has(k) || k.startsWith("x-forwarded-")) continue;
    if (k === "set-cookie") out.push(`${k}: ${v}`);
    else merged.set(k, [...(merged.get(k) ?? []), v]);
  }
  for (const [k, vs] of merged) out.push(`${k}: ${vs.join(", ")}`);
  return out.sort();
}

async function send(to: { host: string; port: number }, c: Case): Promise<RawResponse> {
  const body = c.body === undefined ? undefined : Buffer.from(c.body);
  const lines = [`${c.method ?? "GET"} ${c.path} HTTP/1.1`, `host: ${id}.localhost`, "connection: close"];
  for (const [k, v] of Object.entries(c.headers ?? {})) lines.push(`${k}: ${v}`);
  if (body) lines.push(`content-length: ${body.length}`);
  return rawRequest(to, lines.join("\r\n") + "\r\n\r\n", body);
}

for (const c of corpus) {
  test(`same answer directly and through the proxy: ${c.name}`, async () => {
    const [a, b] = [await send(direct, c), await send({ host: "127.0.0.1", port: d.proxyPort }, c)];
    expect({ status: b.status, headers: comparable(b) }).toEqual({ status: a.status, headers: comparable(a) });
    expect(b.body.toString("base64")).toBe(a.body.toString("base64"));
    // A body-less answer stays body-less, and a HEAD keeps the length a GET would have (RFC 9110 §9.3.2).
    const len = (r: RawResponse) => r.headers.find(([k]) => k === "content-length")?.[1];
    if (c.method === "HEAD" || a.status === 204 || a.status === 304) expect(len(b)).toBe(len(a));
  });
}

test("a page sent without Content-Type gets none added (browsers render it instead of downloading it)", async () => {
  const res = await d.preview(id, "/plain");
  expect(res.headers.get("content-type")).toBeNull();
  expect(await res.text()).toContain("<h1>hi</h1>");
});
