// Placeholder: the daemon's composition (adapters, listeners, drain) lands with the pool/proxy work.
import type { Config } from "./config.ts";
import type { Logger } from "./log.ts";

/** Runs the daemon until SIGTERM/SIGINT; resolves after a clean drain. */
export async function serve(config: Config, log: Logger): Promise<void> {
  log.info({ node: config.nodeId }, "serve is not wired yet");
}
