// What the byte relay takes from Bun's sockets (src/proxy/fast/io.ts): each
// data callback gets a buffer of its own that Bun never writes to again, so
// a chunk waiting on backpressure may be kept as a view instead of copied. A Bun
// that reused its read buffer would corrupt every relayed body past a
// partial write: this fails first.
import { expect, test } from "bun:test";
import { flush, send, type Outbox } from "../../src/proxy/fast/io.ts";

test("every data callback's buffer is its own and keeps its bytes after the callback returns", async () => {
  const kept: Array<{ chunk: Buffer; copy: Buffer }> = [];
  let received = 0;
  const done = Promise.withResolvers<void>();
  const server = Bun.listen<undefined>({
    hostname: "127.0.0.1", port: 0,
    socket: {
      data(_s, chunk) {
        kept.push({ chunk, copy: Buffer.from(chunk) });
        received += chunk.length;
      },
      close: () => done.resolve(),
    },
  });
  // 16 MiB in pieces whose bytes differ, through io.ts's send and flush (partial writes keep views).
  const PIECES = 4096;
  const piece = (i: number) => Buffer.alloc(4096, i % 251);
  const client = await Bun.connect<Outbox>({
    hostname: "127.0.0.1", port: server.port, data: { queue: [] },
    socket: {
      drain(s) {
        if (flush(s)) pump(s);
      },
    },
  });
  let next = 0;
  function pump(s: typeof client) {
    while (next < PIECES) if (!send(s, piece(next++))) return;
    s.end();
  }
  pump(client);
  await done.promise;
  server.stop(true);
  expect(received).toBe(PIECES * 4096);
  expect(kept.length).toBeGreaterThan(1);
  const buffers = new Set(kept.map((k) => k.chunk.buffer));
  expect(buffers.size).toBe(kept.length);
  for (const k of kept) expect(k.chunk.equals(k.copy)).toBe(true);
  // The bytes arrived in order: piece i is all (i % 251).
  const all = Buffer.concat(kept.map((k) => k.chunk));
  for (let i = 0; i < PIECES; i += 97) expect(all[i * 4096 + 4095]).toBe(i % 251);
});
