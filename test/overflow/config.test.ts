// buildMachineConfig against Fly's own documented examples, not against our
// fake: the expected JSON below is copied from the published contract
// (/work/shared/reference/fly-railway-api.md §1.5 and the superfly/docs pages
// it cites), so the client and the fake cannot drift into agreeing with each
// other instead of with Fly.
import { describe, expect, test } from "bun:test";
import { autostopMode, buildMachineConfig, DEFAULT_GUEST, METADATA } from "../../src/overflow/config.ts";

const base = { previewId: "k3j9x2m4q8zt", cluster: "prod", node: "node-a", image: "registry.fly.io/previewd-base:latest", port: 8080 };

describe("buildMachineConfig", () => {
  test("services: the documented 'create a Machine with services' shape, plus autostart and suspend", () => {
    // superfly/docs reference/machines/_machines_create_serv_req.erb (the docs' request example):
    const documented = JSON.parse(`{
      "ports": [
        { "port": 443, "handlers": ["tls", "http"] },
        { "port": 80, "handlers": ["http"] }
      ],
      "protocol": "tcp",
      "internal_port": 8080
    }`);
    const cfg = buildMachineConfig(base);
    expect(cfg.services).toHaveLength(1);
    const service = cfg.services![0]!;
    expect(service).toMatchObject(documented);
    expect(service.ports).toEqual(documented.ports); // same ports, same order, same handlers
    // docs machines-resource: `autostart`: bool; `autostop`: one of "off" (false), "stop" (true), "suspend".
    expect(service.autostart).toBe(true);
    expect(service.autostop).toBe("suspend");
  });

  test("files: the documented raw_value example (base64 of the content, absolute guest_path)", () => {
    // superfly/docs machines-resource "files": {"guest_path": "/path/to/hello.txt", "raw_value": "aGVsbG8gd29ybGQK"}
    const cfg = buildMachineConfig({ ...base, files: { "/path/to/hello.txt": "hello world\n" } });
    expect(cfg.files).toEqual([{ guest_path: "/path/to/hello.txt", raw_value: "aGVsbG8gd29ybGQK" }]);
    const bin = buildMachineConfig({ ...base, files: { "/b.bin": { base64: "AAEC" }, "/a.txt": "x" } });
    expect(bin.files!.map((f) => f.guest_path)).toEqual(["/a.txt", "/b.bin"]); // sorted: the function is pure
    expect(bin.files![1]!.raw_value).toBe("AAEC");
    expect(() => buildMachineConfig({ ...base, files: { "relative.txt": "x" } })).toThrow(/absolute/);
    expect(() => buildMachineConfig({ ...base, files: { "/app/../etc/passwd": "x" } })).toThrow();
    expect(buildMachineConfig(base).files).toBeUndefined();
  });

  test("guest: shared, 1 cpu, 512 MB by default; memory in multiples of 256 (docs)", () => {
    // reference §1.5 guest: {cpu_kind: "shared"|"performance", cpus, memory_mb (multiples of 256)}
    expect(buildMachineConfig(base).guest).toEqual({ cpu_kind: "shared", cpus: 1, memory_mb: 512 });
    expect(DEFAULT_GUEST).toEqual({ cpu_kind: "shared", cpus: 1, memory_mb: 512 });
    expect(buildMachineConfig({ ...base, guest: { cpu_kind: "performance", cpus: 2, memory_mb: 4096 } }).guest).toEqual({
      cpu_kind: "performance", cpus: 2, memory_mb: 4096,
    });
    expect(() => buildMachineConfig({ ...base, guest: { cpu_kind: "shared", cpus: 1, memory_mb: 300 } })).toThrow(/256/);
  });

  test("restart, env, image and metadata as the docs define them", () => {
    const cfg = buildMachineConfig({ ...base, env: { APP_ENV: "production" }, maxRetries: 5 });
    // docs: restart {policy: "no" | "on-failure" | "always", max_retries: int}
    expect(cfg.restart).toEqual({ policy: "on-failure", max_retries: 5 });
    expect(buildMachineConfig(base).restart!.policy).toBe("on-failure");
    // docs example: "env": {"APP_ENV": "production"}; config.image is the only required field.
    expect(cfg.env).toEqual({ APP_ENV: "production" });
    expect(cfg.image).toBe("registry.fly.io/previewd-base:latest");
    // docs: metadata {string:string}; the list filter metadata.{key}=value finds a preview's machine.
    expect(cfg.metadata).toEqual({ previewd_preview: "k3j9x2m4q8zt", previewd_cluster: "prod", previewd_node: "node-a" });
    expect(METADATA.preview).toBe("previewd_preview");
  });

  test("the whole body is the documented create request: {config: {...}} with JSON-only values", () => {
    const cfg = buildMachineConfig({ ...base, env: { A: "1" }, files: { "/app/x": "y" } });
    const body = JSON.parse(JSON.stringify({ config: cfg, region: "iad" }));
    expect(Object.keys(body.config).sort()).toEqual(["env", "files", "guest", "image", "metadata", "restart", "services"]);
    for (const v of Object.values(body.config.env)) expect(typeof v).toBe("string");
    for (const v of Object.values(body.config.metadata)) expect(typeof v).toBe("string");
    expect(buildMachineConfig(base)).toEqual(buildMachineConfig(base)); // pure
    expect(() => buildMachineConfig({ ...base, port: 0 })).toThrow();
  });

  test("autostop as Fly sends it back: false = off, true = stop, only suspend as a string (spec fly.MachineService)", () => {
    expect(autostopMode(false)).toBe("off");
    expect(autostopMode(true)).toBe("stop");
    expect(autostopMode("suspend")).toBe("suspend");
    expect(autostopMode(undefined)).toBe("off");
  });
});
