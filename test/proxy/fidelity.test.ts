// Differential test: every request of a corpus goes to the app directly,
// through the proxy of the node it runs on, and through a sibling's (the hop
// between the two daemons' fronts), and the answers must match (status,
// headers, body) but for what a proxy must or may change (src/proxy/README.md):
// hop-by-hop fields (RFC 9110 §7.6.1), message framing (RFC 9112 §6:
// Content-Length vs chunked), Date (RFC 9110 §6.6.1: the origin's or ours).
import { afterAll, beforeAll, expect, test } from "bun:test";
import Docker from "dockerode";
import { startPair } from "../support/cluster.ts";
import { eventually } from "../support/eventually.ts";
import { killDaemons, type DaemonProcess } from "../support/process.ts";
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

const nodes: DaemonProcess[] = [];
/** The node the preview runs on, and its sibling. */
let owner: DaemonProcess;
let via: DaemonProcess;
let id: string;
let direct: { host: string; port: number };
beforeAll(async () => {
  nodes.push(...(await startPair({ PREVIEWD_WARM_POOL: "0" }, "fidelity")));
  const res = await nodes[0]!.api("/v1/previews?wait=1", { method: "POST", body: JSON.stringify({ files: { "server.js": corpusApp }, command: ["node", "server.js"] }) });
  const p = (await res.json()) as { id: string; node: string; status: string };
  expect(p.status).toBe("running");
  id = p.id;
  owner = nodes.find((n) => n.nodeId === p.node)!;
  via = nodes.find((n) => n !== owner)!;
  const [c] = await new Docker().listContainers({ filters: { label: [`previewd.preview=${id}`] } });
  direct = { host: Object.values(c!.NetworkSettings.Networks)[0]!.IPAddress, port: 3000 };
  // The sibling learns where the preview runs from its first request (the general path's lookup).
  await eventually("the sibling reaching the preview", () => send({ host: "127.0.0.1", port: via.proxyPort }, { name: "", path: "/json" }).then((r) => r.status), (s) => s === 200, 30_000);
}, 180_000);
afterAll(() => killDaemons(nodes));

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
 * What a proxy may change (src/proxy/README.md): hop-by-hop fields and Date.
 * The byte-level relay changes nothing else, not even framing or the order
 * and case of field lines: they are compared as lines, in order.
 */
const ALLOWED = new Set(["date", "connection", "keep-alive"]);
const comparable = (r: RawResponse): string[] => r.headers.filter(([k]) => !ALLOWED.has(k)).map(([k, v]) => `${k}: ${v}`);

async function send(to: { host: string; port: number }, c: Case): Promise<RawResponse> {
  const body = c.body === undefined ? undefined : Buffer.from(c.body);
  const lines = [`${c.method ?? "GET"} ${c.path} HTTP/1.1`, `host: ${id}.localhost`, "connection: close"];
  for (const [k, v] of Object.entries(c.headers ?? {})) lines.push(`${k}: ${v}`);
  if (body) lines.push(`content-length: ${body.length}`);
  return rawRequest(to, lines.join("\r\n") + "\r\n\r\n", body);
}

/** Signatures the owner verified: the byte-level hop signs a connection, the general path every request. */
const verified = async () => Number(/^previewd_peer_verified_total (\S+)$/m.exec(await (await owner.api("/metrics")).text())?.[1]);

for (const c of corpus) {
  test(`same answer directly, through the proxy and through a sibling's: ${c.name}`, async () => {
    const a = await send(direct, c);
    for (const [path, node] of [["own node", owner], ["sibling hop", via]] as const) {
      const b = await send({ host: "127.0.0.1", port: node.proxyPort }, c);
      const seen = (r: RawResponse) => ({ path, status: r.status, reason: r.reason, interim: r.interim, chunked: r.chunked, headers: comparable(r) });
      expect(seen(b)).toEqual(seen(a));
      expect(b.body.toString("base64")).toBe(a.body.toString("base64"));
      // A body-less answer stays body-less, and a HEAD keeps the length a GET would have (RFC 9110 §9.3.2).
      const len = (r: RawResponse) => r.headers.find(([k]) => k === "content-length")?.[1];
      if (c.method === "HEAD" || a.status === 204 || a.status === 304) expect(len(b)).toBe(len(a));
    }
  });
}

test("the sibling's answers came over the byte-level hop (a signature per hop connection, not per request)", async () => {
  const before = await verified();
  for (const c of corpus) expect((await send({ host: "127.0.0.1", port: via.proxyPort }, c)).status).toBeGreaterThan(0);
  // Each corpus request is a new client connection; the hop connections under them are pooled and signed once.
  expect((await verified()) - before).toBeLessThan(corpus.length / 2);
});

test("a page sent without Content-Type gets none added (browsers render it instead of downloading it)", async () => {
  for (const node of [owner, via]) {
    const res = await node.preview(id, "/plain");
    expect(res.headers.get("content-type")).toBeNull();
    expect(await res.text()).toContain("<h1>hi</h1>");
  }
});
