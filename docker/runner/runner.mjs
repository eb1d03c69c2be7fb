// previewd in-container runner: PID 1 of every preview container.
//
// A warm container idles here until the daemon POSTs the start order to the
// control port; the order is saved to /app/.previewd/start.json so that after
// a crash (Docker's restart policy) or a `docker start` the app comes back
// without the daemon. The app's stdout/stderr are this process's, so
// `docker logs` shows them. When the app exits, the runner exits with the
// app's code and Docker's restart policy (bounded backoff) takes over.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";

const APP = "/app";
const ORDER = `${APP}/.previewd/start.json`;
const CONTROL_PORT = Number(process.env.PREVIEWD_CONTROL_PORT ?? 7070);

/** The command to run: the order's command, else package.json's dev, else start. */
function resolveCommand(order) {
  if (Array.isArray(order.command) && order.command.length > 0) return order.command;
  let scripts = {};
  try {
    scripts = JSON.parse(readFileSync(`${APP}/package.json`, "utf8")).scripts ?? {};
  } catch {}
  // Like `npm run`, but without npm's half-second start-up: same PATH rule, same shell.
  const script = scripts.dev ?? scripts.start;
  if (script) return ["sh", "-c", script];
  return ["node", existsSync(`${APP}/server.js`) ? "server.js" : "index.js"];
}

function runApp(order) {
  const [cmd, ...args] = resolveCommand(order);
  const env = {
    ...process.env,
    ...order.env,
    PORT: String(order.port),
    PATH: `${APP}/node_modules/.bin:${process.env.PATH}`,
  };
  delete env.PREVIEWD_CONTROL_PORT;
  const child = spawn(cmd, args, { cwd: APP, env, stdio: "inherit" });
  child.on("error", (e) => {
    console.error(`[previewd] cannot start ${cmd}: ${e.message}`);
    process.exit(127);
  });
  child.on("exit", (code, signal) => {
    console.error(`[previewd] app exited with ${signal ? `signal ${signal}` : `code ${code}`}`);
    process.exit(code ?? 1);
  });
  // Forward termination so `docker stop` stops the app cleanly.
  for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => child.kill(sig));
}

if (existsSync(ORDER)) {
  runApp(JSON.parse(readFileSync(ORDER, "utf8")));
} else {
  const server = createServer((req, res) => {
    if (req.method === "GET" && req.url === "/health") return void res.end("idle");
    if (req.method !== "POST" || req.url !== "/start") return void res.writeHead(404).end();
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      let order;
      try {
        order = JSON.parse(body);
      } catch {
        return void res.writeHead(400).end("bad order");
      }
      mkdirSync(`${APP}/.previewd`, { recursive: true });
      writeFileSync(ORDER, JSON.stringify(order));
      res.end("started");
      // The control port closes for good: the app may not re-order its runner.
      server.close();
      server.closeAllConnections?.();
      runApp(order);
    });
  });
  server.listen(CONTROL_PORT, "0.0.0.0");
  for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => process.exit(0));
}
