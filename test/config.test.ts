import { expect, test } from "bun:test";
import { join } from "node:path";
import { ConfigError, effectiveCapacity, loadConfig, previewUrl } from "../src/config.ts";

const ROOT = join(import.meta.dir, "..");

test("defaults follow spec/api.md", () => {
  const c = loadConfig({});
  expect([c.proxyPort, c.apiPort, c.peerPort]).toEqual([8080, 8081, 8082]);
  expect(c.host).toBe("127.0.0.1");
  expect(c.domain).toBe("localhost");
  expect(c.warmPool).toBe(20);
  expect(c.idleTimeout).toBe(3600);
  expect(c.image).toBe("previewd/preview-base:latest");
  expect(c.dataDir).toBe("./data");
  expect(c.peers).toEqual([]);
  expect(c.clusterSecret).toBe("");
  expect(c.flyApiUrl).toBe("https://api.machines.dev");
});

test("values are parsed: ports, peers, domain case, capacity", () => {
  const c = loadConfig({ PREVIEWD_API_PORT: "9000", PREVIEWD_PEERS: " a:1 , 10.0.0.2:8082,", PREVIEWD_CLUSTER_SECRET: "0123456789abcdef", PREVIEWD_DOMAIN: "Preview.Example.COM", PREVIEWD_CAPACITY: "7" });
  expect(c.apiPort).toBe(9000);
  expect(c.peers).toEqual(["a:1", "10.0.0.2:8082"]);
  expect(c.domain).toBe("preview.example.com");
  expect(effectiveCapacity(c)).toBe(7);
  expect(effectiveCapacity(loadConfig({}))).toBeGreaterThan(0);
  expect(previewUrl(c, "abc123abc123")).toBe("http://abc123abc123.preview.example.com:8080");
  expect(previewUrl(loadConfig({ PREVIEWD_URL_TEMPLATE: "https://{id}.p.example.com" }), "abc123abc123")).toBe("https://abc123abc123.p.example.com");
});

test.each([
  ["PREVIEWD_API_PORT", "notaport", "TCP port"],
  ["PREVIEWD_PROXY_PORT", "70000", "TCP port"],
  ["PREVIEWD_PEER_PORT", "-1", "TCP port"],
  ["PREVIEWD_HOST", "not-an-ip", "address"],
  ["PREVIEWD_DOMAIN", "bad_domain!", "DNS name"],
  ["PREVIEWD_PEERS", "a:1,b", "host:peerPort"],
  ["PREVIEWD_WARM_POOL", "many", "whole number"],
  ["PREVIEWD_IDLE_TIMEOUT", "0", "seconds"],
  ["PREVIEWD_CAPACITY", "0", "positive integer"],
  ["PREVIEWD_API_TOKEN", "short", "16 characters"],
  ["PREVIEWD_CLUSTER_SECRET", "short", "16 characters"],
  ["DATABASE_URL", "mysql://x", "postgres"],
  ["PREVIEWD_NODE_ID", "bad id", "node name"],
  ["PREVIEWD_CPUS", "lots", "CPU share"],
  ["FLY_API_URL", "not a url", "URL"],
  ["PREVIEWD_URL_TEMPLATE", "https://x.example.com", "{id}"],
])("%s=%p is refused with a message naming it", (env, value, expected) => {
  try {
    loadConfig({ [env]: value });
    throw new Error("accepted");
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    const err = e as ConfigError;
    expect(err.setting).toBe(env);
    expect(err.message).toStartWith(`${env}=${JSON.stringify(value)} is invalid: expected`);
    expect(err.message).toContain(expected);
  }
});

test("peers without a cluster secret are refused: peer traffic is always authenticated", () => {
  expect(() => loadConfig({ PREVIEWD_PEERS: "a:1" })).toThrow("PREVIEWD_CLUSTER_SECRET");
});

test("a bad setting stops `previewd serve` with exit code 2 and one line naming it", async () => {
  const proc = Bun.spawn([process.execPath, join(ROOT, "src/main.ts"), "serve"], {
    env: { ...process.env, PREVIEWD_API_PORT: "notaport" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [code, err] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  expect(code).toBe(2);
  const lines = err.trim().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toContain("PREVIEWD_API_PORT");
  expect(lines[0]).toContain("notaport");
});
