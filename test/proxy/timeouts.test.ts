// Bun.serve's idleTimeout counts from a request's start whatever flows, and
// would cut a stream longer than it (measured on Bun 1.4.5). The proxy turns
// it off while a response is in flight, and back on before its end, so an
// idle keep-alive connection is still closed.
import { afterAll, expect, test } from "bun:test";
import { connect } from "node:net";
import { createLogger } from "../../src/log.ts";
import { createProxy } from "../../src/proxy/index.ts";

const upstream = Bun.serve({
  port: 0,
  idleTimeout: 0,
  fetch() {
    let i = 0;
    return new Response(
      new ReadableStream({
        async pull(c) {
          await Bun.sleep(1000);
          if (i++ === 7) return c.close();
          c.enqueue(new TextEncoder().encode(`data: ${i}\n\n`));
        },
      }),
      { headers: { "content-type": "text/event-stream" } },
    );
  },
});
const target = { host: "127.0.0.1", port: upstream.port! };
const noop = () => {};
const proxy = createProxy({
  domain: "localhost", log: createLogger("warn"), idleTimeoutS: 4,
  lookup: () => target, resolve: async () => target,
  activity: { touch: noop, socketOpened: noop, socketClosed: noop, requestStarted: noop, requestEnded: noop },
});
const server = Bun.serve({ port: 0, fetch: proxy.fetch, websocket: proxy.websocket, idleTimeout: 4 } as never) as { port: number; stop(f: boolean): void };
afterAll(() => {
  server.stop(true);
  upstream.stop(true);
});

test("a 7 s stream passes a 4 s idle timeout whole; the idle keep-alive connection after it is closed", async () => {
  const sock = connect(server.port, "127.0.0.1");
  let got = "";
  let doneAt = 0;
  sock.on("data", (c) => {
    got += c.toString();
    if (got.endsWith("0\r\n\r\n")) doneAt = Date.now(); // the last chunk of a chunked body
  });
  const closed = new Promise<number>((resolve) => sock.on("close", () => resolve(Date.now())));
  sock.write(`GET /events HTTP/1.1\r\nhost: abcdefabcdef12.localhost\r\n\r\n`);
  const closedAt = await Promise.race([closed, Bun.sleep(30_000).then(() => 0)]);
  expect(got.match(/data: \d+/g)).toEqual(["data: 1", "data: 2", "data: 3", "data: 4", "data: 5", "data: 6", "data: 7"]);
  expect(doneAt).toBeGreaterThan(0);
  expect(closedAt).toBeGreaterThan(0); // not left open for ever
  console.log(`idle keep-alive closed ${closedAt - doneAt} ms after the stream ended`);
  expect(closedAt - doneAt).toBeLessThan(15_000);
}, 40_000);
