// Traffic goes to the port the app actually listens on, on any address inside
// the container (loopback too), unless the request names one; and the
// startup CPU boost ends once the app answers.
import { afterAll, beforeAll, expect, test } from "bun:test";
import Docker from "dockerode";
import { createPreview, startTestDaemon, type TestDaemon } from "../support/daemon.ts";

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon({ PREVIEWD_CPUS: "0.25", PREVIEWD_BOOST_CPUS: "1" });
});
afterAll(async () => {
  await d?.cleanup();
});

const listen = (port: number, host: string, body: string) =>
  `require("http").createServer((q, s) => s.end(${JSON.stringify(body)} + " " + process.env.PORT)).listen(${port}, ${JSON.stringify(host)});`;

test("an app that ignores PORT and listens on loopback only is reached through the runner's relay", async () => {
  const p = await createPreview(d, { files: { "server.js": listen(4321, "127.0.0.1", "loopback app") }, command: ["node", "server.js"] });
  expect(p.error).toBeUndefined();
  expect(p.status).toBe("running");
  expect(await (await d.preview(p.id, "/")).text()).toBe("loopback app 3000");
});

test("PORT wins over another port the app opened first", async () => {
  const server = `${listen(9229, "127.0.0.1", "debug")}\nsetTimeout(() => { ${listen(0, "0.0.0.0", "x").replace("listen(0", "listen(process.env.PORT")} }, 500);`;
  const p = await createPreview(d, { files: { "server.js": server.replace('"x"', '"main"') }, command: ["node", "server.js"] });
  expect(p.status).toBe("running");
  expect(await (await d.preview(p.id, "/")).text()).toBe("main 3000");
});

test("an explicit port is used and given as PORT", async () => {
  const server = `${listen(3000, "0.0.0.0", "not this one")}\n${listen(8000, "0.0.0.0", "asked for")}`;
  const p = await createPreview(d, { files: { "server.js": server.replace("listen(8000", "listen(Number(process.env.PORT)") }, command: ["node", "server.js"], port: 8000 });
  expect(p.status).toBe("running");
  expect(await (await d.preview(p.id, "/")).text()).toBe("asked for 8000");
});

test("the startup CPU boost ends shortly (10 s) after the app first answers", async () => {
  const p = await createPreview(d, { files: { "server.js": listen(3000, "0.0.0.0", "ok") }, command: ["node", "server.js"] });
  expect(p.status).toBe("running");
  const [c] = await new Docker().listContainers({ filters: { label: [`previewd.preview=${p.id}`] } });
  const cpus = async () => (await new Docker().getContainer(c!.Id).inspect()).HostConfig.NanoCpus;
  expect(await cpus()).toBe(1e9); // still boosted: the pages a visitor opens next compile at full speed
  const deadline = Date.now() + 30_000;
  while ((await cpus()) !== 0.25e9 && Date.now() < deadline) await Bun.sleep(250);
  expect(await cpus()).toBe(0.25e9);
  // Warm containers wait at the boost, ready for the next install and start.
  const previews = new Set(d.orchestrator.localIds());
  const spare = (await new Docker().listContainers({ filters: { label: [`previewd.node=${d.nodeId}`] } })).find((x) => !previews.has(x.Labels["previewd.preview"]!));
  expect((await new Docker().getContainer(spare!.Id).inspect()).HostConfig.NanoCpus).toBe(1e9);
});

test("a running app that crashes is restarted by Docker and its status comes back to running (readiness re-armed)", async () => {
  const server = `let n = 0; require("http").createServer((q, s) => { if (q.url === "/crash") process.exit(1); s.end("up " + ++n); }).listen(process.env.PORT, "0.0.0.0");`;
  const p = await createPreview(d, { files: { "server.js": server }, command: ["node", "server.js"] });
  expect(p.status).toBe("running");
  await d.preview(p.id, "/crash").catch(() => {});
  // Restarted with its memory gone: the counter starts again.
  const deadline = Date.now() + 30_000;
  let status = "";
  while (Date.now() < deadline) {
    status = ((await (await d.api(`/v1/previews/${p.id}`)).json()) as { status: string }).status;
    if (status === "running" && (await (await d.preview(p.id, "/")).text()).startsWith("up ")) break;
    await Bun.sleep(100);
  }
  expect(status).toBe("running");
  const [c] = await new Docker().listContainers({ filters: { label: [`previewd.preview=${p.id}`] } });
  expect((await new Docker().getContainer(c!.Id).inspect()).RestartCount).toBeGreaterThanOrEqual(1);
});

test("containers trust the host's CA bundle (a TLS-inspecting proxy's CA): mounted read-only, named by NODE_EXTRA_CA_CERTS", async () => {
  const host = "/etc/ssl/certs/ca-certificates.crt";
  const server = `const fs = require("fs"); require("http").createServer((q, s) => { const p = process.env.NODE_EXTRA_CA_CERTS; let w = "ok"; try { fs.appendFileSync(p, "x"); } catch (e) { w = e.code; } s.end(JSON.stringify({ p, git: process.env.GIT_SSL_CAINFO, sha: require("crypto").createHash("sha256").update(fs.readFileSync(p)).digest("hex"), write: w })); }).listen(process.env.PORT, "0.0.0.0");`;
  const p = await createPreview(d, { files: { "server.js": server }, command: ["node", "server.js"] });
  expect(p.status).toBe("running");
  const seen = (await (await d.preview(p.id, "/")).json()) as { p: string; git: string; sha: string; write: string };
  const sha = new Bun.CryptoHasher("sha256").update(await Bun.file(host).arrayBuffer()).digest("hex");
  expect(seen).toMatchObject({ p: "/etc/previewd/ca.pem", git: "/etc/previewd/ca.pem", sha });
  expect(["EROFS", "EACCES"]).toContain(seen.write); // the app cannot swap in a CA of its own for other previews
});
