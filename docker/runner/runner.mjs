// previewd in-container runner: PID 1 of every preview container.
//
// A warm container idles here until the daemon POSTs the start order to the
// control port; the order is saved to /app/.previewd/start.json so that after
// a crash (Docker's restart policy) or a `docker start` the app comes back
// without the daemon. The app's stdout/stderr are this process's, so
// `docker logs` shows them. When the app exits, the runner exits with the
// app's code and Docker's restart policy (bounded backoff) takes over.
//
// Besides starting the app, the runner answers three questions and one order
// on the control port (the app shares this network namespace and may call
// them too; nothing here gives it more than it already has):
//   GET  /health   idle or running, and the Node.js/platform the image has;
//   GET  /status   which port the app serves on (see ports.mjs) — a port the
//                  app bound only on loopback (Vite's localhost:5173) gets a
//                  relay on the container's own address so the proxy reaches it;
//   POST /restart  a new order (dependencies changed): the app restarts in place.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { installOnce, serveFixedPort, unpackOnce } from "./fly.mjs";
import { cgroupMemory, guardMemory, heapCapMiB, nodeOptions } from "./memory.mjs";
import { appPort, ensureRelay } from "./ports.mjs";

const APP = "/app";
const ORDER = `${APP}/.previewd/start.json`;
const CONTROL_PORT = Number(process.env.PREVIEWD_CONTROL_PORT ?? 7070);
/** Preloaded into the app's Node.js processes (see the file). */
const PRELOADS = [new URL("./dev-origins.cjs", import.meta.url).pathname];
/** The dependency cache's mount inside node_modules (read-only; the daemon mounts it). */
const STORE = ".previewd-store";

let child;
let order;
let startedAt = 0;
let restarting = false;
let serving = false;

/** The command to run: the order's command, else package.json's dev, else start. */
function resolveCommand(o) {
  if (Array.isArray(o.command) && o.command.length > 0) return o.command;
  let scripts = {};
  try {
    scripts = JSON.parse(readFileSync(`${APP}/package.json`, "utf8")).scripts ?? {};
  } catch {}
  // Like `npm run`, but without npm's half-second start-up: same PATH rule, same shell.
  const script = scripts.dev ?? scripts.start;
  if (script) return ["sh", "-c", script];
  return ["node", existsSync(`${APP}/server.js`) ? "server.js" : "index.js"];
}

/**
 * Gives the app the sealed cache entry's packages: /app/node_modules is the
 * container's own directory holding one symlink per top-level package into
 * the read-only entry, mounted inside it (.previewd-store/<key>/node_modules:
 * inside the app root, as Turbopack requires of real paths). The packages
 * cannot be changed, and tools that write next to them (Vite's .vite and
 * .vite-temp, babel's .cache) write into the preview's own directory.
 */
function linkDependencies(deps) {
  if (!deps?.key) return;
  const dir = `${APP}/node_modules`;
  const marker = `${dir}/.previewd-deps`;
  try {
    if (readFileSync(marker, "utf8") === deps.key) return; // a restart with the same dependencies keeps tool caches
  } catch {}
  mkdirSync(dir, { recursive: true });
  for (const name of readdirSync(dir)) if (name !== STORE) rmSync(`${dir}/${name}`, { recursive: true, force: true });
  const entry = `${dir}/${STORE}/${deps.key}/node_modules`;
  for (const name of readdirSync(entry)) symlinkSync(`${entry}/${name}`, `${dir}/${name}`);
  writeFileSync(marker, deps.key);
}

async function runApp() {
  linkDependencies(order.deps);
  await unpackOnce(APP);
  // The app's Node.js line first (the daemon chose it from .nvmrc, engines...): node, npm and the
  // package managers' `#!/usr/bin/env node` all resolve to it. Without one, the image's default node.
  const path = order.nodeBin ? `${order.nodeBin}:${process.env.PATH}` : process.env.PATH;
  await installOnce(APP, order, path);
  if (order.servePort && !serving) {
    serving = true;
    serveFixedPort(order.servePort, () => {
      const found = appPort(order, startedAt, CONTROL_PORT);
      return found && { host: found.loopbackOnly ? found.loopbackHost : "127.0.0.1", port: found.port };
    });
  }
  const [cmd, ...args] = resolveCommand(order);
  const env = {
    ...process.env,
    ...order.env,
    PORT: String(order.port ?? order.portHint ?? 3000),
    PATH: `${APP}/node_modules/.bin:${path}`,
  };
  // A heap cap from the container's limit (see memory.mjs), and the preloads.
  const limit = cgroupMemory()?.limit;
  env.NODE_OPTIONS = nodeOptions(env.NODE_OPTIONS, heapCapMiB(limit), PRELOADS);
  if (limit) env.PREVIEWD_MEMORY_LIMIT_MB = String(Math.floor(limit / 2 ** 20)); // dev-origins.cjs reads it
  delete env.PREVIEWD_CONTROL_PORT;
  startedAt = Date.now();
  // Its own process group, so a restart stops every process the dev script started (concurrently, watchers).
  const c = spawn(cmd, args, { cwd: APP, env, stdio: "inherit", detached: true });
  child = c;
  c.on("error", (e) => {
    console.error(`[previewd] cannot start ${cmd}: ${e.message}`);
    if (!restarting) process.exit(127);
  });
  c.on("exit", (code, signal) => {
    if (c !== child || restarting) return;
    console.error(`[previewd] app exited with ${signal ? `signal ${signal}` : `code ${code}`}`);
    process.exit(code ?? 1);
  });
}

/** Stops the app's whole process group: TERM, then KILL after 3 s. */
async function stopApp() {
  const c = child;
  if (!c || c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise((resolve) => c.once("exit", resolve));
  const kill = (sig) => {
    try {
      process.kill(-c.pid, sig);
    } catch {}
  };
  kill("SIGTERM");
  const timer = setTimeout(() => kill("SIGKILL"), 3000);
  await exited;
  clearTimeout(timer);
}

function saveOrder(o) {
  mkdirSync(`${APP}/.previewd`, { recursive: true });
  writeFileSync(ORDER, JSON.stringify(o));
  order = o;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
      if (body.length > 1 << 20) req.destroy();
    });
    req.on("end", () => {
      try {
        resolve(JSON.parse(body));
      } catch (e) {
        reject(e);
      }
    });
    req.on("error", reject);
  });
}

function reply(res, status, body) {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}

const server = createServer(async (req, res) => {
  try {
    if (req.method === "GET" && req.url === "/health") {
      return reply(res, 200, { state: order ? "running" : "idle", node: process.version, arch: process.arch });
    }
    if (req.method === "GET" && req.url === "/status") {
      if (!order) return reply(res, 200, { state: "idle" });
      const found = appPort(order, startedAt, CONTROL_PORT);
      if (found?.loopbackOnly) await ensureRelay(found.port, found.loopbackHost);
      return reply(res, 200, { state: "running", port: found?.port ?? null, waitingFor: found ? undefined : "a listening port" });
    }
    if (req.method === "POST" && req.url === "/start") {
      if (order) return reply(res, 409, { error: "already started" });
      saveOrder(await readBody(req));
      reply(res, 200, { state: "running" });
      void runApp();
      return;
    }
    if (req.method === "POST" && req.url === "/restart") {
      if (!order) return reply(res, 409, { error: "not started" });
      const next = await readBody(req);
      restarting = true;
      await stopApp();
      saveOrder(next);
      restarting = false;
      await runApp();
      return reply(res, 200, { state: "running" });
    }
    reply(res, 404, { error: "no such route" });
  } catch (e) {
    reply(res, 400, { error: String(e?.message ?? e) });
  }
});
server.listen(CONTROL_PORT, "0.0.0.0");

// Restarts the app in place before the kernel's OOM killer ends it: same
// container, files and address; HMR clients reconnect to the new server.
guardMemory(async (why) => {
  if (!order || !child || restarting) return;
  console.error(`[previewd] ${why}: restarting the app before the kernel kills it`);
  restarting = true;
  try {
    await stopApp();
  } finally {
    restarting = false;
  }
  await runApp();
});

for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => {
    if (!child) process.exit(0);
    // Forward termination so `docker stop` stops the app cleanly; its exit ends the runner.
    try {
      process.kill(-child.pid, sig);
    } catch {
      process.exit(0);
    }
  });
}

if (existsSync(ORDER)) {
  order = JSON.parse(readFileSync(ORDER, "utf8"));
  void runApp();
}
