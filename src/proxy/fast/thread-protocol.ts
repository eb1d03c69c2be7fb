// Messages between the main thread and the front threads (threads.ts, thread.ts).

export interface ThreadInit {
  index: number;
  hostname: string;
  /** The port the main thread's front is bound to (with SO_REUSEPORT, as every thread's). */
  port: number;
  domain: string;
  /** The general path on loopback (the main thread's fetch-based proxy). */
  general: { host: string; port: number };
  frontSecret: string;
  trustedProxies: string[];
  /** This thread's share of the per-preview in-flight limit. */
  maxInflight: number;
  bodyTimeoutMs: number;
  idleTimeoutMs: number;
  logLevel: string;
  logFormat: string;
}

/** A running preview's app address: [id, host, port]. */
export type RouteEntry = [string, string, number];

export type ToThread =
  | { t: "init"; init: ThreadInit }
  /** The whole table of running previews (replaces the last one). */
  | { t: "routes"; routes: RouteEntry[] }
  /** Stop routing `id` (a suspend is about to pause it); answer whether this thread is using it. */
  | { t: "drop"; id: string; seq: number }
  | { t: "stop"; graceMs: number };

export type ToMain =
  | { t: "ready"; port: number }
  | { t: "dropped"; seq: number; busy: boolean }
  | {
      t: "activity";
      touched: string[];
      started: Array<[string, number]>;
      ended: Array<[string, number]>;
      opened: Array<[string, number]>;
      closed: Array<[string, number]>;
      /** Pairs of seconds and status, one per request relayed to an app. */
      latencies: number[];
    }
  | { t: "stopped" };
