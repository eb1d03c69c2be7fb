// Hop-by-hop handling of the forwarder against a real upstream server.
import { afterAll, expect, test } from "bun:test";
import { forward, stripHopByHop } from "../../src/proxy/forward.ts";

const upstream = Bun.serve({
  port: 0,
  fetch: (req) =>
    new Response(JSON.stringify(Object.fromEntries(req.headers)), {
      headers: { connection: "keep-alive, x-upstream-private", "keep-alive": "timeout=5", "x-upstream-private": "1", "x-kept": "yes", "content-encoding": "identity" },
    }),
});
afterAll(() => upstream.stop(true));

test("fields named by Connection and the hop-by-hop ones stay on their hop", () => {
  const h = new Headers({ connection: "close, X-Secret", "x-secret": "s", "keep-alive": "1", te: "trailers", "proxy-authorization": "p", "x-app": "a", upgrade: "h2c" });
  stripHopByHop(h);
  expect([...h.keys()]).toEqual(["x-app"]);
});

test("a forwarded request drops hop-by-hop fields both ways, keeps the rest, and carries the extra headers", async () => {
  const req = new Request("http://abc.localhost/path?q=1", {
    headers: { connection: "x-client-private", "x-client-private": "1", "x-app": "a", "accept-encoding": "gzip", "x-previewd-sig": "forged" },
  });
  const res = await forward(req, `http://127.0.0.1:${upstream.port}/path?q=1`, { "x-forwarded-for": "1.2.3.4" });
  const seen = (await res.json()) as Record<string, string>;
  expect(seen["x-client-private"]).toBeUndefined();
  expect(seen["x-previewd-sig"]).toBeUndefined();
  expect(seen["x-app"]).toBe("a");
  expect(seen["accept-encoding"]).toBe("gzip");
  expect(seen["x-forwarded-for"]).toBe("1.2.3.4");
  expect(res.headers.get("x-upstream-private")).toBeNull();
  expect(res.headers.get("keep-alive")).toBeNull();
  expect(res.headers.get("x-kept")).toBe("yes");
  expect(res.headers.get("content-encoding")).toBe("identity");
});

test("a GET whose kept-alive upstream connection drops is sent once more; a POST is not", async () => {
  let calls = 0;
  // A raw TCP upstream: the first connection is closed without an answer, later ones answer.
  const server = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(socket) {
        calls++;
        if (calls === 1) return void socket.end();
        socket.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        socket.end();
      },
    },
  });
  try {
    const get = await forward(new Request("http://x.localhost/"), `http://127.0.0.1:${server.port}/`, {});
    expect(await get.text()).toBe("ok");
    expect(calls).toBe(2);
    calls = 0;
    const post = forward(new Request("http://x.localhost/", { method: "POST", body: "data" }), `http://127.0.0.1:${server.port}/`, {});
    await expect(post).rejects.toThrow();
    expect(calls).toBe(1);
  } finally {
    server.stop(true);
  }
});
