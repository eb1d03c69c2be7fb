import { expect, test } from "bun:test";
import { Envelope } from "../../src/gossip/envelope.ts";

test("sealed datagrams open once; unsigned, forged, stale and replayed ones are dropped and counted", () => {
  let now = 1_000_000;
  const a = new Envelope("secret-one-secret-one", () => now);
  const b = new Envelope("secret-one-secret-one", () => now);
  const sealed = a.seal({ hello: "world" });
  expect(b.open(sealed)).toEqual({ hello: "world" });
  expect(b.open(sealed)).toBeUndefined(); // replay
  expect(b.open(new TextEncoder().encode('{"body":"{}"}'))).toBeUndefined(); // unsigned
  expect(b.open(new TextEncoder().encode("not json"))).toBeUndefined(); // unsigned
  expect(b.open(new Envelope("another-secret-entirely", () => now).seal({ x: 1 }))).toBeUndefined(); // forged
  const tampered = JSON.parse(new TextDecoder().decode(a.seal({ role: "member" })));
  tampered.body = JSON.stringify({ role: "admin" });
  expect(b.open(new TextEncoder().encode(JSON.stringify(tampered)))).toBeUndefined(); // forged
  const old = a.seal({ x: 2 });
  now += 31_000;
  expect(b.open(old)).toBeUndefined(); // stale
  expect(b.dropped).toEqual({ unsigned: 2, forged: 2, stale: 1, replayed: 1 });
});
