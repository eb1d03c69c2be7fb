import { expect, test } from "bun:test";
import { PeerVerifier, sha256Hex, signHeaders, type SignedCall } from "../../src/peer/signing.ts";
import { rendezvous } from "../../src/peer/recovery.ts";

const SECRET = "a-cluster-secret-of-some-length";
const proxyCall = (host: string, to = "node-b"): SignedCall => ({ to, method: "", target: host });
const apiCall = (method: string, path: string, body = "", to = "node-b"): SignedCall => ({ to, method, target: path, bodySha256: sha256Hex(body) });
const as = (c: SignedCall) => () => c;

test("a signed call is accepted once; its replay is refused and counted", () => {
  const v = new PeerVerifier(SECRET);
  const h = new Headers(signHeaders(SECRET, "node-a", "proxy", proxyCall("abc.localhost")));
  expect(v.verify(h, as(proxyCall("abc.localhost")))).toEqual({ node: "node-a", kind: "proxy" });
  expect(v.verify(h, as(proxyCall("abc.localhost")))).toEqual({ refused: "replayed" });
  expect(v.refused.replayed).toBe(1);
});

test("unsigned, forged (wrong secret or other target) and stale calls are refused and counted", () => {
  const v = new PeerVerifier(SECRET);
  expect(v.verify(new Headers(), as(proxyCall("x")))).toEqual({ refused: "unsigned" });
  const wrongSecret = new Headers(signHeaders("another-secret-entirely", "node-a", "api", apiCall("GET", "/v1/previews")));
  expect(v.verify(wrongSecret, as(apiCall("GET", "/v1/previews")))).toEqual({ refused: "forged" });
  const otherTarget = new Headers(signHeaders(SECRET, "node-a", "api", apiCall("GET", "/v1/previews")));
  expect(v.verify(otherTarget, as(apiCall("GET", "/v1/previews/abc")))).toEqual({ refused: "forged" });
  const old = new Headers(signHeaders(SECRET, "node-a", "api", apiCall("GET", "/x"), Date.now() - 60_000));
  expect(v.verify(old, as(apiCall("GET", "/x")))).toEqual({ refused: "stale" });
  expect(v.refused).toEqual({ unsigned: 1, forged: 2, stale: 1, replayed: 0 });
});

test("a signature is good for one method, one recipient and one body only", () => {
  const v = new PeerVerifier(SECRET);
  // Made for GET /v1/previews/V: not a DELETE of V.
  const get = signHeaders(SECRET, "node-a", "api", apiCall("GET", "/v1/previews/v"));
  expect(v.verify(new Headers(get), as(apiCall("DELETE", "/v1/previews/v")))).toEqual({ refused: "forged" });
  // Made for node-b: not spent on node-c.
  expect(v.verify(new Headers(get), as(apiCall("GET", "/v1/previews/v", "", "node-c")))).toEqual({ refused: "forged" });
  // Made for one body: another body is not accepted under it.
  const post = signHeaders(SECRET, "node-a", "api", apiCall("POST", "/v1/previews", '{"files":{}}'));
  expect(v.verify(new Headers(post), as(apiCall("POST", "/v1/previews", '{"files":{"evil.js":"x"}}')))).toEqual({ refused: "forged" });
  expect(v.verify(new Headers(post), as(apiCall("POST", "/v1/previews", '{"files":{}}')))).toEqual({ node: "node-a", kind: "api" });
});

test("a node without a secret refuses every peer call", () => {
  const v = new PeerVerifier("");
  expect(v.verify(new Headers(signHeaders("", "n", "api", apiCall("GET", "/"))), as(apiCall("GET", "/")))).toEqual({ refused: "unsigned" });
});

test("rendezvous picks one owner per id, the same from any order, and spreads ids over nodes", () => {
  const nodes = ["a", "b", "c", "d"];
  const owners = new Map<string, number>();
  for (let i = 0; i < 400; i++) {
    const id = `preview${i}`;
    const o = rendezvous(id, nodes)!;
    expect(rendezvous(id, [...nodes].reverse())).toBe(o);
    owners.set(o, (owners.get(o) ?? 0) + 1);
  }
  for (const n of nodes) expect(owners.get(n)!).toBeGreaterThan(60);
  // removing a node moves only that node's ids
  for (let i = 0; i < 100; i++) {
    const id = `preview${i}`;
    const before = rendezvous(id, nodes)!;
    if (before !== "d") expect(rendezvous(id, ["a", "b", "c"])).toBe(before);
  }
  expect(rendezvous("x", [])).toBeUndefined();
});
