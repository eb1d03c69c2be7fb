// What a preview on a Fly Machine needs from the runner that a local one gets
// from the daemon beside it:
// - its dependencies: installed in the machine at first boot (the order's
//   `install` command), since the node's dependency cache is not there;
//   a marker keeps a restart from installing again;
// - one fixed port: a Fly service points at one internal_port, while the app
//   listens where it likes (Vite: 5173). A relay on `servePort` forwards each
//   connection to the port the app is found on (the same rule as locally).
import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createConnection, createServer } from "node:net";

/** A large file set arrives as one gzipped tar (config.files has a request size to respect): unpacked at first boot. */
export async function unpackOnce(app) {
  const tgz = `${app}/.previewd/files.tgz`;
  // Beside the installed packages: .previewd/ is written by Fly as root, node_modules is the app's.
  const marker = `${app}/node_modules/.previewd-unpacked`;
  if (!existsSync(tgz) || existsSync(marker)) return;
  const code = await run("tar", ["-xzf", tgz, "-C", app, "--no-same-owner"], app);
  if (code !== 0) {
    console.error(`[previewd] could not unpack the app's files (tar exited with ${code})`);
    process.exit(code);
  }
  writeFileSync(marker, "");
}

function run(cmd, args, cwd, env = process.env) {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { cwd, stdio: "inherit", env });
    c.on("error", () => resolve(127));
    c.on("exit", (code) => resolve(code ?? 1));
  });
}

export async function installOnce(app, order, path = process.env.PATH) {
  if (!Array.isArray(order.install) || order.install.length === 0) return;
  const marker = `${app}/node_modules/.previewd-installed`;
  const key = order.installKey ?? order.install.join(" ");
  try {
    if (readFileSync(marker, "utf8") === key) return;
  } catch {}
  console.error(`[previewd] installing dependencies: ${order.install.join(" ")}`);
  const [cmd, ...args] = order.install;
  // COREPACK_*: as the node's own installs (src/deps/sandbox.ts) do.
  const env = { ...process.env, PATH: path, CI: "true", npm_config_update_notifier: "false", COREPACK_INTEGRITY_KEYS: "0", COREPACK_ENABLE_DOWNLOAD_PROMPT: "0" };
  const code = await run(cmd, args, app, env);
  if (code !== 0) {
    console.error(`[previewd] dependency install failed with code ${code}`);
    process.exit(code);
  }
  writeFileSync(marker, key);
}

/** Relays `port` to the app's port as `target()` finds it (waiting up to a minute for the app to listen). */
export function serveFixedPort(port, target) {
  const server = createServer((inbound) => {
    inbound.pause();
    const deadline = Date.now() + 60_000;
    const connect = () => {
      const t = target();
      if (!t) {
        if (Date.now() > deadline || inbound.destroyed) return inbound.destroy();
        return setTimeout(connect, 200);
      }
      const outbound = createConnection(t);
      const close = () => {
        inbound.destroy();
        outbound.destroy();
      };
      inbound.on("error", close);
      outbound.on("error", close);
      inbound.pipe(outbound).pipe(inbound);
      inbound.resume();
    };
    connect();
  });
  server.on("error", (e) => console.error(`[previewd] serve port ${port}: ${e.message}`));
  server.listen({ host: "0.0.0.0", port });
}
