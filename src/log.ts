// The pino root logger. JSON lines by default (for journald and log shippers);
// readable lines when stdout is a terminal or PREVIEWD_LOG_PRETTY=1.
// Modules take `log.child({ mod: "pool" })`.
import pino, { type Logger } from "pino";

export type { Logger };

export function createLogger(level = process.env.PREVIEWD_LOG_LEVEL ?? "info"): Logger {
  const pretty = process.env.PREVIEWD_LOG_PRETTY === "1" || (process.env.PREVIEWD_LOG_PRETTY !== "0" && process.stdout.isTTY);
  if (pretty) {
    // pino-pretty as a synchronous stream: a worker-thread transport does not
    // survive `bun build --compile`.
    const pinoPretty = require("pino-pretty") as (o: object) => NodeJS.WritableStream;
    return pino({ level }, pinoPretty({ colorize: true, sync: true, translateTime: "HH:MM:ss.l", ignore: "pid,hostname" }));
  }
  return pino({ level, base: undefined });
}

export const log: Logger = createLogger();
