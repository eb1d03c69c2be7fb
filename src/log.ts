// The pino root logger. Readable lines on a terminal, JSON lines when piped
// (journald, log shippers). PREVIEWD_LOG_FORMAT=json|pretty forces one;
// PREVIEWD_LOG_PRETTY=1|0 (the older setting) still works when it is unset.
// Modules take `log.child({ mod: "pool" })`.
import pino, { type Logger } from "pino";
import { readSetting } from "./config.ts";

export type { Logger };

export type LogFormat = "pretty" | "json";

/** PREVIEWD_LOG_FORMAT, else PREVIEWD_LOG_PRETTY, else pretty exactly when stdout is a terminal. */
export function logFormat(env: Record<string, string | undefined> = process.env, tty = !!process.stdout.isTTY): LogFormat {
  if (env.PREVIEWD_LOG_FORMAT === "json" || env.PREVIEWD_LOG_FORMAT === "pretty") return env.PREVIEWD_LOG_FORMAT;
  if (env.PREVIEWD_LOG_PRETTY === "1") return "pretty";
  if (env.PREVIEWD_LOG_PRETTY === "0") return "json";
  return tty ? "pretty" : "json";
}

/**
 * Fields a readable line leaves out: `summary` carries, for JSON consumers,
 * what a start-up line already says in words (startup.ts).
 */
const PRETTY_HIDDEN = "pid,hostname,summary";

export function createLogger(level: string = readSetting("logLevel"), format = logFormat()): Logger {
  if (format === "pretty") {
    // pino-pretty as a synchronous stream: a worker-thread transport does not
    // survive `bun build --compile`.
    const pinoPretty = require("pino-pretty") as (o: object) => NodeJS.WritableStream;
    return pino({ level }, pinoPretty({ colorize: !!process.stdout.isTTY, sync: true, translateTime: "HH:MM:ss.l", ignore: PRETTY_HIDDEN }));
  }
  return pino({ level, base: undefined });
}

export const log: Logger = createLogger();
