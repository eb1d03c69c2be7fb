// What SWIM (swim.ts) knows and says about members: the shapes only, shared
// by the protocol, its rumour queue and the placement that reads the view.
import type { Logger } from "../log.ts";
import type { Profile } from "./profiles.ts";
import type { Transport } from "./transport.ts";

export interface Meta {
  capacity: number;
  running: number;
  free: number;
  /** Memory free for previews (MiB), where the node counts capacity by memory. */
  memoryFreeMb?: number;
  memoryTotalMb?: number;
}

export type MemberStatus = "alive" | "suspect" | "left" | "dead";

export interface Member {
  id: string;
  addr: string;
  incarnation: number;
  state: MemberStatus;
  meta: Meta;
  /** When the state last changed (ms). */
  since: number;
}

/** A rumour: one member's state at one incarnation. */
export type Update = { id: string; addr: string; inc: number; state: MemberStatus; meta: Meta };

export type Msg =
  | { t: "ping"; seq: number; from: string; u: Update[] }
  | { t: "ack"; seq: number; from: string; u: Update[] }
  | { t: "ping-req"; seq: number; from: string; target: string; u: Update[]; nackMs?: number }
  | { t: "nack"; seq: number; from: string }
  | { t: "sync"; from: string; members: Update[]; reply: boolean };

export interface SwimOptions {
  id: string;
  transport: Transport;
  secret: string;
  seeds: string[];
  profile: Profile;
  meta: Meta;
  log: Logger;
  onChange?: (m: Member, before: MemberStatus | undefined) => void;
  /** How long a member that left on purpose is expected back before it counts as dead (default: forever). */
  leftGraceMs?: number;
  /** The failure detector's timers (default: the global ones); a test holds them to play a stopped process. */
  timers?: Timers;
}

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(t: unknown): void;
}

export function rumourOf(m: Member): Update {
  return { id: m.id, addr: m.addr, inc: m.incarnation, state: m.state, meta: m.meta };
}
