// A preview from POST to proxy and back: real Docker, real PostgreSQL, real daemon.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import Docker from "dockerode";
import { crashingApp, echoApp } from "../fixtures/apps.ts";
import { createPreview, startTestDaemon, type TestDaemon } from "../support/daemon.ts";

let d: TestDaemon;
let id: string;
const docker = new Docker();

beforeAll(async () => {
  d = await startTestDaemon({ PREVIEWD_WARM_POOL: "2", PREVIEWD_MAX_BYTES: "2000000" });
  id = (await createPreview(d, { files: { ...echoApp, "data.txt": "version 1" } })).id;
});
afterAll(() => d?.cleanup());

describe("a running preview", () => {
  test("is running and answers through the proxy", async () => {
    const view = (await (await d.api(`/v1/previews/${id}`)).json()) as { status: string; url: string; node: string };
    expect(view.status).toBe("running");
    expect(view.url).toBe(`http://${id}.localhost:${d.proxyPort}`);
    expect(view.node).toBe(d.nodeId);
    const res = await d.preview(id, "/");
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("hello from the echo app");
  });

  test("1 MiB downloads arrive intact", async () => {
    const body = new Uint8Array(await (await d.preview(id, "/1mib")).arrayBuffer());
    expect(body.length).toBe(1024 * 1024);
    const expected = Buffer.alloc(1024 * 1024, "abcdefghijklmnopqrstuvwxyz0123456789");
    expect(Buffer.from(body).equals(expected)).toBe(true);
  });

  test("5 MB uploads arrive intact", async () => {
    const upload = Buffer.alloc(5 * 1000 * 1000);
    for (let i = 0; i < upload.length; i++) upload[i] = (i * 7919) & 0xff;
    const res = await d.preview(id, "/upload", { method: "POST", body: upload });
    const got = (await res.json()) as { length: number; sha256: string };
    expect(got.length).toBe(upload.length);
    expect(got.sha256).toBe(createHash("sha256").update(upload).digest("hex"));
  });

  test("forwarding headers are set and redirects are passed through, not followed", async () => {
    const headers = (await (await d.preview(id, "/headers")).json()) as Record<string, string>;
    expect(headers["x-forwarded-host"]).toBe(`${id}.localhost`);
    expect(headers["x-forwarded-for"]).toContain("127.0.0.1");
    expect(headers["x-forwarded-proto"]).toBe("http");
    const res = await d.preview(id, "/redirect", { redirect: "manual" });
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe("/small");
  });

  test("WebSocket messages flow both ways, text and binary, with the chosen subprotocol", async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${d.proxyPort}/ws`, { headers: { host: `${id}.localhost` }, protocols: ["chat"] } as never);
    ws.binaryType = "arraybuffer";
    const received: Array<string | ArrayBuffer> = [];
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error("ws error"));
    });
    expect(ws.protocol).toBe("chat");
    const done = new Promise<void>((resolve) => {
      ws.onmessage = (ev) => {
        received.push(ev.data);
        if (received.length === 2) resolve();
      };
    });
    ws.send("hello over ws");
    ws.send(new Uint8Array([1, 2, 3, 250]));
    await done;
    expect(received[0]).toBe("hello over ws");
    expect([...new Uint8Array(received[1] as ArrayBuffer)]).toEqual([1, 2, 3, 250]);
    ws.close();
  });

  test("PATCH changes files in place", async () => {
    expect(await (await d.preview(id, "/read?path=data.txt")).text()).toBe("version 1");
    const res = await d.api(`/v1/previews/${id}/files`, { method: "PATCH", body: JSON.stringify({ files: { "data.txt": "version 2", "sub/dir/new.txt": "new" } }) });
    expect(res.status).toBe(200);
    expect(await (await d.preview(id, "/read?path=data.txt")).text()).toBe("version 2");
    expect(await (await d.preview(id, "/read?path=sub/dir/new.txt")).text()).toBe("new");
    await d.api(`/v1/previews/${id}/files`, { method: "PATCH", body: JSON.stringify({ delete: ["sub/dir/new.txt"] }) });
    expect((await d.preview(id, "/read?path=sub/dir/new.txt")).status).toBe(404);
  });

  test("logs show the app's output", async () => {
    const res = await d.api(`/v1/previews/${id}/logs?tail=50`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("echo app listening on 3000");
  });

  test("logs follow: new lines stream as the app writes them", async () => {
    const ctrl = new AbortController();
    const pending = d.api(`/v1/previews/${id}/logs?follow=1&tail=0`, { signal: ctrl.signal });
    await Bun.sleep(200);
    await d.preview(id, "/log?msg=followed-line-1");
    const res = await pending;
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let text = "";
    const read = async (want: string) => {
      while (!text.includes(want)) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
    };
    await read("followed-line-1");
    await d.preview(id, "/log?msg=followed-line-2");
    await read("followed-line-2");
    ctrl.abort();
    expect(text).toContain("followed-line-1");
    expect(text).toContain("followed-line-2");
  });

  test("suspend pauses the container; the next request resumes it with memory intact", async () => {
    const before = Number(await (await d.preview(id, "/counter")).text());
    const s = await d.api(`/v1/previews/${id}/suspend`, { method: "POST" });
    expect(((await s.json()) as { status: string }).status).toBe("suspended");
    const c = (await docker.listContainers({ filters: { label: [`previewd.preview=${id}`] } }))[0]!;
    expect(c.State).toBe("paused");
    const after = Number(await (await d.preview(id, "/counter")).text());
    expect(after).toBe(before + 1);
    const view = (await (await d.api(`/v1/previews/${id}`)).json()) as { status: string };
    expect(view.status).toBe("running");
  });

  test("the container is confined: limits, no capabilities, loopback-only port", async () => {
    const c = (await docker.listContainers({ filters: { label: [`previewd.preview=${id}`] } }))[0]!;
    let info = await docker.getContainer(c.Id).inspect();
    // The startup boost ends 10 s after the app first answered; then 0.25 CPU is the limit.
    for (const deadline = Date.now() + 30_000; info.HostConfig.NanoCpus !== 250_000_000 && Date.now() < deadline; await Bun.sleep(250)) {
      info = await docker.getContainer(c.Id).inspect();
    }
    expect(info.HostConfig.Memory).toBe(512 * 1024 * 1024);
    expect(info.HostConfig.NanoCpus).toBe(250_000_000);
    expect(info.HostConfig.CapDrop).toEqual(["ALL"]);
    expect(info.HostConfig.SecurityOpt).toContain("no-new-privileges");
    expect(info.HostConfig.PidsLimit).toBeGreaterThan(0);
    expect(info.Config.Labels["previewd.node"]).toBe(d.nodeId);
    for (const bindings of Object.values(info.HostConfig.PortBindings ?? {}) as Array<Array<{ HostIp: string }>>) {
      for (const b of bindings) expect(b.HostIp).toBe("127.0.0.1");
    }
    expect(info.Config.User).not.toBe("");
  });
});

describe("errors", () => {
  test("no token: 401; wrong token: 401", async () => {
    expect((await fetch(`http://127.0.0.1:${d.apiPort}/v1/previews`)).status).toBe(401);
    const res = await fetch(`http://127.0.0.1:${d.apiPort}/v1/previews`, { headers: { authorization: "Bearer nope" } });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("unauthorized");
  });

  test.each([["../etc/passwd"], ["/etc/passwd"], ["a/../../b"], ["a\u0000b"], [".previewd/start.json"], ["a\\b"], ["a//b"]])("path %p is refused with 400 invalid_path", async (path) => {
    const res = await d.api("/v1/previews", { method: "POST", body: JSON.stringify({ files: { [path]: "x" } }) });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("invalid_path");
    expect(body.error.message).toContain("File path");
  });

  test("a body that is not JSON, or has a wrong field, names the problem", async () => {
    const bad = await d.api("/v1/previews", { method: "POST", body: "{nope" });
    expect(bad.status).toBe(400);
    const wrong = await d.api("/v1/previews", { method: "POST", body: JSON.stringify({ files: {}, port: "eighty" }) });
    expect(wrong.status).toBe(400);
    expect(((await wrong.json()) as { error: { message: string } }).error.message).toContain("body.port");
  });

  test("the runner's control port and env names JavaScript objects reserve are refused by name, not taken or dropped", async () => {
    const create = async (extra: object) => {
      const res = await d.api("/v1/previews", { method: "POST", body: JSON.stringify({ files: echoApp, ...extra }) });
      return { status: res.status, message: ((await res.json()) as { error?: { message: string } }).error?.message ?? "" };
    };
    const port = await create({ port: 7070 });
    expect(port.status).toBe(400);
    expect(port.message).toContain("body.port: port 7070 is reserved for previewd's runner");
    // Raw JSON: JSON.stringify of an object literal would not keep a "__proto__" key.
    for (const name of ["__proto__", "constructor", "prototype"]) {
      const res = await d.api("/v1/previews", { method: "POST", body: `{"files": ${JSON.stringify(echoApp)}, "env": {"OK": "1", ${JSON.stringify(name)}: "x"}}` });
      expect({ name, status: res.status }).toEqual({ name, status: 400 });
      expect(((await res.json()) as { error: { message: string } }).error.message).toContain(`environment variable ${JSON.stringify(name)} is not allowed`);
    }
  });

  test("a tier that cannot run the app is refused with the reason, not silently run elsewhere", async () => {
    const browser = await d.api("/v1/previews", { method: "POST", body: JSON.stringify({ files: echoApp, tier: "browser" }) });
    expect(browser.status).toBe(400);
    const refused = (await browser.json()) as { error: { code: string; message: string } };
    expect(refused.error.code).toBe("tier_unavailable");
    expect(refused.error.message).toContain("server entry file (server.js)");
    const fly = await d.api("/v1/previews", { method: "POST", body: JSON.stringify({ files: echoApp, tier: "fly" }) });
    expect(fly.status).toBe(503);
    const bogus = await d.api("/v1/previews", { method: "POST", body: JSON.stringify({ files: echoApp, tier: "moon" }) });
    expect(bogus.status).toBe(400);
    expect(((await bogus.json()) as { error: { message: string } }).error.message).toContain("body.tier");
  });

  test("too many files: 413", async () => {
    const files = Object.fromEntries(Array.from({ length: 5001 }, (_, i) => [`f${i}.txt`, "x"]));
    const res = await d.api("/v1/previews", { method: "POST", body: JSON.stringify({ files }) });
    expect(res.status).toBe(413);
  });

  test("files past the size limit, or a body past the body limit: 413", async () => {
    const big = await d.api("/v1/previews", { method: "POST", body: JSON.stringify({ files: { "a.txt": "x".repeat(2_100_000) } }) });
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: { code: string } }).error.code).toBe("too_large");
    const huge = await d.api("/v1/previews", { method: "POST", body: "x".repeat(6 * 1024 * 1024) });
    expect(huge.status).toBe(413);
  });

  test("/metrics reports previews by status and the warm pool", async () => {
    const text = await (await fetch(`http://127.0.0.1:${d.apiPort}/metrics`)).text();
    expect(text).toMatch(/^previewd_previews\{tier="container",status="running"\} [1-9]/m);
    expect(text).toContain("# TYPE previewd_warm_available gauge");
  });

  test("unknown ids: 404 from the API and a small HTML page from the proxy", async () => {
    expect((await d.api("/v1/previews/doesnotexist0000")).status).toBe(404);
    const res = await d.preview("doesnotexist0000", "/");
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toContain("text/html");
  });

  test("a crashing app ends failed, with its logs", async () => {
    const p = await createPreview(d, { files: crashingApp, command: ["node", "server.js"] });
    expect(p.status).toBe("failed");
    expect(p.error).toContain("boom");
    const logs = await (await d.api(`/v1/previews/${p.id}/logs`)).text();
    expect(logs).toContain("about to crash: boom");
  });

  test("a request to a preview that is still starting is held until the app answers", async () => {
    const res = await d.api("/v1/previews", { method: "POST", body: JSON.stringify({ files: { ...echoApp, "server.js": `setTimeout(() => { ${echoApp["server.js"]} }, 700);` } }) });
    const p = (await res.json()) as { id: string; status: string };
    expect(p.status).toBe("starting");
    const t0 = performance.now();
    const first = await d.preview(p.id, "/small");
    expect(first.status).toBe(200);
    expect(await first.text()).toBe("ok");
    expect(performance.now() - t0).toBeGreaterThan(300); // it waited for the app, it was not refused
  });

  test("a deleted preview's URL answers 404 and its container is gone", async () => {
    const p = await createPreview(d, { files: echoApp });
    expect((await d.preview(p.id, "/small")).status).toBe(200);
    expect((await d.api(`/v1/previews/${p.id}`, { method: "DELETE" })).status).toBe(204);
    expect((await d.preview(p.id, "/small")).status).toBe(404);
    expect((await d.api(`/v1/previews/${p.id}`)).status).toBe(404);
    expect(await docker.listContainers({ all: true, filters: { label: [`previewd.preview=${p.id}`] } })).toHaveLength(0);
  });
});
