// Binary files and whole-project archives through a real daemon: what goes
// in (JSON base64, a .tar.gz upload, an archive PATCH) comes back byte for
// byte from an app in the preview that serves its own files.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import { pngBytes, staticAppSource } from "../fixtures/static-app.ts";
import { createPreview, startTestDaemon, type TestDaemon } from "../support/daemon.ts";
import { tgzOf } from "../support/tgz.ts";

let d: TestDaemon;
const png = pngBytes();
const sha = (b: ArrayBuffer | Buffer) => createHash("sha256").update(Buffer.from(b as ArrayBuffer)).digest("hex");
const command = ["node", "static.js"];

beforeAll(async () => {
  d = await startTestDaemon({ PREVIEWD_WARM_POOL: "2", PREVIEWD_MAX_BYTES: "2000000" });
});
afterAll(() => d?.cleanup());

/** POST an archive; options in the header, the simple ones in the query. */
function postArchive(body: Buffer, opts: { query?: string; options?: object; type?: string } = {}) {
  const headers: Record<string, string> = { "content-type": opts.type ?? "application/gzip" };
  if (opts.options) headers["x-previewd-options"] = JSON.stringify(opts.options);
  return d.api(`/v1/previews?wait=1${opts.query ? `&${opts.query}` : ""}`, { method: "POST", body: new Uint8Array(body), headers });
}

async function served(id: string, path: string): Promise<{ status: number; sha: string; text: string }> {
  const res = await d.preview(id, path);
  const body = await res.arrayBuffer();
  return { status: res.status, sha: sha(body), text: Buffer.from(body).toString("utf8") };
}

describe("binary files", () => {
  test("JSON {base64} content arrives byte for byte", async () => {
    const { id } = await createPreview(d, { files: { "static.js": staticAppSource, "img/logo.png": { base64: png.toString("base64") } }, command });
    expect(await served(id, "/img/logo.png")).toMatchObject({ status: 200, sha: sha(png) });
  });

  test("a .tar.gz upload: the top folder is stripped, binary and text files arrive intact, options from the header", async () => {
    const body = await tgzOf([
      { name: "myapp/", type: "directory" },
      { name: "myapp/static.js", body: staticAppSource },
      { name: "myapp/img/logo.png", body: png },
      { name: "myapp/hello.txt", body: "héllo" },
    ]);
    const res = await postArchive(body, { options: { command, env: { A: "1" } } });
    const view = (await res.json()) as { id: string; status: string };
    expect(res.status).toBe(201);
    expect(view.status).toBe("running");
    expect(await served(view.id, "/img/logo.png")).toMatchObject({ status: 200, sha: sha(png) });
    expect((await served(view.id, "/hello.txt")).text).toBe("héllo");
    expect((await served(view.id, "/myapp/hello.txt")).status).toBe(404);
  });

  test("PATCH with an archive writes its files (folders kept) and deletes what the header lists", async () => {
    const { id } = await createPreview(d, { files: { "static.js": staticAppSource, "old.txt": "old", "keep.txt": "keep" }, command });
    const other = Buffer.from(png).reverse();
    const res = await d.api(`/v1/previews/${id}/files`, {
      method: "PATCH",
      body: new Uint8Array(await tgzOf({ "assets/other.png": other, "keep.txt": "changed" })),
      headers: { "content-type": "application/x-gzip", "x-previewd-options": JSON.stringify({ delete: ["old.txt"] }) },
    });
    expect(res.status).toBe(200);
    expect(await served(id, "/assets/other.png")).toMatchObject({ status: 200, sha: sha(other) });
    expect((await served(id, "/keep.txt")).text).toBe("changed");
    expect((await served(id, "/old.txt")).status).toBe(404);
  });

  test("the query takes port, tier and database; an unknown query option names the header instead", async () => {
    const tgz = await tgzOf({ "static.js": staticAppSource });
    const res = await postArchive(tgz, { query: "tier=container&port=3000&database=1", options: { command } });
    expect(res.status).toBe(201);
    expect(((await res.json()) as { database?: { schema: string } }).database?.schema).toStartWith("preview_");
    const bad = await postArchive(tgz, { query: "command=node" });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toContain("X-Previewd-Options");
    const badPort = await postArchive(tgz, { query: "port=eighty" });
    expect(badPort.status).toBe(400);
    expect(((await badPort.json()) as { error: { message: string } }).error.message).toContain("options.port");
  });
});

describe("archive errors over HTTP", () => {
  test("a symlink, a path out of the root, a corrupt body: 400 naming the problem", async () => {
    const cases: Array<[Buffer, string]> = [
      [await tgzOf([{ name: "app/link", type: "symlink", linkname: "/etc/passwd" }]), "symlink"],
      [await tgzOf({ "../escape.txt": "x" }), "escapes the app root"],
      [Buffer.from("not gzip at all"), "not valid gzip"],
    ];
    for (const [body, want] of cases) {
      const res = await postArchive(body);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message).toContain(want);
    }
  });

  test("an X-Previewd-Options header that is not a JSON object, or holds files: 400", async () => {
    const tgz = await tgzOf({ "a.txt": "x" });
    for (const [header, want] of [["{nope", "not valid JSON"], ["[1]", "must be a JSON object"], ['{"files":{}}', "may not hold files"], ['{"colour":"red"}', "options"]]) {
      const res = await d.api("/v1/previews", { method: "POST", body: new Uint8Array(tgz), headers: { "content-type": "application/gzip", "x-previewd-options": header! } });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message).toContain(want!);
    }
  });

  test("a gzip bomb is 413, fast", async () => {
    const bomb = Buffer.concat(Array(32).fill(gzipSync(Buffer.alloc(64 * 1024 * 1024))));
    const t0 = Date.now();
    const res = await postArchive(bomb);
    expect(res.status).toBe(413);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  test("bad base64 in JSON is 400 naming the file", async () => {
    const res = await d.api("/v1/previews", { method: "POST", body: JSON.stringify({ files: { "img/a.png": { base64: "%%%" } } }) });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain('file "img/a.png"');
  });
});
