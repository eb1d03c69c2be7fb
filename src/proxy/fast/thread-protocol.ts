// Messages between the main thread and the front threads (threads.ts, thread.ts).
import type { AccessSnapshot } from "../../access/table.ts";

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
  /** The per-preview in-flight limit, counted across every front in `inflight`. */
  maxInflight: number;
  /** One counter per preview slot, in memory shared with the main thread (shared-limit.ts). */
  inflight: Int32Array;
  bodyTimeoutMs: number;
  idleTimeoutMs: number;
  logLevel: string;
  logFormat: string;
  /** In a cluster: what a thread signs a sibling hop with (peer/signing.ts). */
  cluster?: { secret: string; self: string };
  /** The key share cookies are checked with (access/tokens.ts). */
  accessKey: string;
  /** Polls renew no idle clock (pool/polls.ts; PREVIEWD_IDLE_POLLS=ignore). */
  ignorePolls?: boolean;
}

/** A running preview's app address: [id, host, port]. */
export type RouteEntry = [string, string, number];
/** A route with its preview's in-flight counter: [id, host, port, slot]. */
export type SlottedRoute = [string, string, number, number];

/** A preview a recent lookup placed on a sibling: [id, node, its peer host, peer port, good until (ms epoch)]. */
export type SiblingEntry = [string, string, string, number, number];

export type ToThread =
  | { t: "init"; init: ThreadInit }
  /** The whole table of running previews (replaces the last one). */
  | { t: "routes"; routes: SlottedRoute[] }
  /** The whole table of sibling hops (replaces the last one). */
  | { t: "siblings"; siblings: SiblingEntry[] }
  /** Visibility and revoked shares (access/table.ts; replaces the last one). */
  | { t: "access"; access: AccessSnapshot }
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
      /** Polls begun and ended (open while in flight, renewing nothing: pool/polls.ts). */
      pollStarted: Array<[string, number]>;
      pollEnded: Array<[string, number]>;
      /** Pairs of seconds and status, one per request relayed to an app. */
      latencies: number[];
      /** Previews reached through a sibling hop since the last batch (their entries are kept fresh). */
      siblings: string[];
    }
  | { t: "stopped" };
