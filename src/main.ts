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
  const { log } = await import("./log.ts");
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
  process.exit(await runCli(command, rest));
}
