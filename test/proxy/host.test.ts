import { expect, test } from "bun:test";
import { previewIdFromHost } from "../../src/proxy/host.ts";

test.each([
  ["k3j9x2m4q8zt.localhost:8080", "localhost", "k3j9x2m4q8zt"],
  ["K3J9X2M4Q8ZT.Preview.Example.com", "preview.example.com", "k3j9x2m4q8zt"],
  ["k3j9x2m4q8zt.preview.example.com.", "preview.example.com", "k3j9x2m4q8zt"],
])("%p under %p is preview %p", (host, domain, id) => {
  expect(previewIdFromHost(host, domain)).toBe(id);
});

test.each([
  [null, "localhost"],
  ["localhost:8080", "localhost"],
  ["short.localhost", "localhost"],
  ["k3j9x2m4q8zt.evil.com", "localhost"],
  ["a.k3j9x2m4q8zt.localhost", "localhost"],
  ["k3j9x2m4-q8zt.localhost", "localhost"],
  ["k3j9x2m4q8ztlocalhost", "localhost"],
])("%p under %p is no preview", (host, domain) => {
  expect(previewIdFromHost(host, domain)).toBeUndefined();
});
