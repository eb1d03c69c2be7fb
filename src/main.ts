#!/usr/bin/env bun
// The `previewd` executable: `serve` runs the daemon; the other subcommands
// talk to a daemon's control API (src/cli/).
import pkg from "../package.json" with { type: "json" };
import { runCli, usage } from "./cli/index.ts";
import { ConfigError, loadConfig } from "./config.ts";

const [command, ...rest] = process.argv.slice(2);

if (command === "--version" || command === "-v" || command === "version") {
  console.log(`previewd ${pkg.version}`);
} else if (command === undefined || command === "--help" || command === "-h" || command === "help") {
  console.log(usage(pkg.version));
} else if (command === "serve") {
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`previewd: ${e.message}\n`);
    process.exit(2);
  }
  // Before anything opens a connection: the daemon needs a fetch cap far above one preview's limit.
  const { ensureFetchCap, fetchCap } = await import("./proxy/limits.ts");
  ensureFetchCap(config.previewMaxInflight);
  const { log } = await import("./log.ts");
  const cap = Number(process.env.BUN_CONFIG_MAX_HTTP_REQUESTS);
  if (cap < fetchCap(config.previewMaxInflight)) log.warn({ cap, advised: fetchCap(config.previewMaxInflight) }, "BUN_CONFIG_MAX_HTTP_REQUESTS is low: a few busy previews can stall the proxy for all");
  const { serve } = await import("./daemon.ts");
  try {
    await serve(config, log);
    process.exit(0);
  } catch (err) {
    log.fatal({ err }, "previewd could not start");
    // pino writes asynchronously: say it on stderr too, before the exit cuts the log off.
    process.stderr.write(`previewd could not start: ${(err as Error)?.stack ?? err}\n`);
    process.exit(1);
  }
} else {
  process.exit(await runCli(command, rest, pkg.version));
}
