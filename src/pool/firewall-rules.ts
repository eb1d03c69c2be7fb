// What the host firewall's chains should hold, and what it takes to get there
// from what `iptables -S` shows: pure functions, no iptables here
// (src/pool/firewall.ts runs them). Rules are written in the exact form
// `iptables -S` prints them back, so "installed" and "wanted" compare as text.
//
// Several daemons may share one preview bridge, each allowing its own ports,
// and a packet must pass when ANY of them allows it. A RETURN in a sub-chain
// only returns one level, so per-daemon chains that each ended in REJECT would
// compose as an intersection. Instead each daemon's chain only sets a mark bit
// on what it allows, and one shared skeleton per direction decides:
//
//   INPUT -i <bridge> -j PREVIEWD-INPUT                 (one jump per bridge that has a daemon)
//   PREVIEWD-INPUT
//     MARK clear bit                                     (whatever set it before means nothing here)
//     ESTABLISHED,RELATED  RETURN   DNS 53  RETURN
//     -j PREVIEWD-INPUT-ALLOW                            (-j PREVIEWD-IN-<daemon> for each daemon)
//          PREVIEWD-IN-<daemon>: -i <its bridge> -p tcp --dport <its port> -j MARK set bit
//     not marked, tcp  REJECT tcp-reset
//     not marked       REJECT icmp-port-unreachable
//     MARK clear bit                                     (so nothing after us ever sees it)
//
// and the same for forwarded traffic (PREVIEWD-FORWARD from DOCKER-USER, PREVIEWD-FWD-<daemon>):
// a connection Docker DNAT'ed is refused unless marked, 169.254.0.0/16 always.
//
// The daemons' jumps live in a chain of their own (-ALLOW) so that a daemon
// adds and removes its own jump by its rule text (`-A`, `-D`), without
// positions, and any daemon may rewrite the skeleton atomically without
// knowing the others. The bit is 0x20000000: Kubernetes uses 0x4000/0x8000,
// netavark 0x2000, Tailscale 0xff0000, WireGuard and Docker swarm set small
// whole values; it is cleared on entry and on the way out, so it is only ever
// set between our own rules.
import { createHash } from "node:crypto";
import { resolve } from "node:path";

export const MARK_BIT = "0x20000000";
export const INPUT_CHAIN = "PREVIEWD-INPUT";
export const FORWARD_CHAIN = "PREVIEWD-FORWARD";

export type Direction = "input" | "forward";

interface DirectionNames {
  /** The built-in (or Docker's) chain that jumps to the skeleton. */
  parent: string;
  skeleton: string;
  /** The chain of jumps to each daemon's chain. */
  allow: string;
  /** Each daemon's chain: this prefix and its id (at most 28 characters in all). */
  daemonPrefix: string;
}

export const CHAINS: Record<Direction, DirectionNames> = {
  input: { parent: "INPUT", skeleton: INPUT_CHAIN, allow: "PREVIEWD-INPUT-ALLOW", daemonPrefix: "PREVIEWD-IN-" },
  forward: { parent: "DOCKER-USER", skeleton: FORWARD_CHAIN, allow: "PREVIEWD-FORWARD-ALLOW", daemonPrefix: "PREVIEWD-FWD-" },
};

export const DIRECTIONS: Direction[] = ["input", "forward"];

/** A daemon's firewall identity: its chains' id (from its data dir), and who it is, to tell a dead one's leftovers. */
export interface DaemonIdentity {
  /** 12 hex characters of the SHA-256 of the resolved data dir: the same daemon restarted gets the same chains. */
  id: string;
  bridge: string;
  pid: number;
  /** The process's start time (field 22 of /proc/<pid>/stat): a pid reused by another process is not this daemon. */
  start: string;
  /** The inode of its pid namespace: a pid from another namespace says nothing about liveness here. */
  pidns: string;
  dataDir: string;
}

export function daemonChainId(dataDir: string): string {
  return createHash("sha256").update(resolve(dataDir)).digest("hex").slice(0, 12);
}

export function daemonChain(dir: Direction, id: string): string {
  return `${CHAINS[dir].daemonPrefix}${id}`;
}

const COMMENT_TAG = "previewd-daemon";

/** The comment of a daemon chain's first rule (no spaces or quotes: `iptables -S` prints it back in double quotes, as written). */
export function identityComment(i: DaemonIdentity): string {
  const dir = i.dataDir.replace(/[^A-Za-z0-9/._-]/g, "_").slice(-160);
  return `${COMMENT_TAG}:pid=${i.pid},start=${i.start},pidns=${i.pidns},dir=${dir}`;
}

export interface ParsedIdentity {
  bridge?: string;
  pid: number;
  start: string;
  pidns: string;
}

/** The identity a daemon chain's rules name, or undefined when none of them does (flushed by hand). */
export function parseIdentity(rules: string[]): ParsedIdentity | undefined {
  for (const rule of rules) {
    const m = new RegExp(`--comment "?${COMMENT_TAG}:pid=(\\d+),start=(\\d+),pidns=(\\d+),`).exec(rule);
    if (!m) continue;
    const bridge = /(?:^|\s)-i (\S+)/.exec(rule)?.[1];
    return { bridge, pid: Number(m[1]), start: m[2]!, pidns: m[3]! };
  }
  return undefined;
}

/** The skeleton's rules (without `-A <chain>`), as `iptables -S` prints them. */
export function skeletonRules(dir: Direction): string[] {
  const clear = `-j MARK --set-xmark 0x0/${MARK_BIT}`;
  const unmarked = `-m mark ! --mark ${MARK_BIT}/${MARK_BIT}`;
  if (dir === "input") {
    return [
      clear,
      "-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN", // replies to the daemon's own connections: proxy, runner control
      "-p udp -m udp --dport 53 -j RETURN", // DNS, for a resolver on the host
      "-p tcp -m tcp --dport 53 -j RETURN",
      `-j ${CHAINS.input.allow}`,
      `-p tcp ${unmarked} -j REJECT --reject-with tcp-reset`,
      `${unmarked} -j REJECT --reject-with icmp-port-unreachable`,
      clear,
    ];
  }
  return [
    clear,
    `-j ${CHAINS.forward.allow}`,
    // A port another container published on the host's addresses.
    `${unmarked} -m conntrack --ctstate DNAT --ctdir ORIGINAL -j REJECT --reject-with icmp-port-unreachable`,
    // Link-local: a cloud's metadata service hands out the machine's credentials.
    "-d 169.254.0.0/16 -j REJECT --reject-with icmp-port-unreachable",
    clear,
  ];
}

/** One daemon's chain: its identity (a rule with no target: it only counts), then a mark for each port it allows. */
export function daemonRules(dir: Direction, i: DaemonIdentity, ports: number[]): string[] {
  const set = `-j MARK --set-xmark ${MARK_BIT}/${MARK_BIT}`;
  const br = `-i ${i.bridge}`;
  const match = dir === "input"
    ? (p: number) => `${br} -p tcp -m tcp --dport ${p} ${set}`
    : (p: number) => `${br} -p tcp -m conntrack --ctstate DNAT --ctorigdstport ${p} --ctdir ORIGINAL ${set}`;
  return [`${br} -m comment --comment "${identityComment(i)}"`, ...ports.map(match)];
}

/** The filter table as `iptables -S` prints it: each chain (built-in ones too) with its `-A` lines. */
export type Snapshot = Map<string, string[]>;

export function parseSnapshot(text: string): Snapshot {
  const chains: Snapshot = new Map();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    const w = line.split(/\s+/);
    if ((w[0] === "-N" || w[0] === "-P") && w[1]) {
      if (!chains.has(w[1])) chains.set(w[1], []);
    } else if (w[0] === "-A" && w[1]) {
      if (!chains.has(w[1])) chains.set(w[1], []);
      chains.get(w[1])!.push(line);
    }
  }
  return chains;
}

/** The parts a sync puts back, each per direction (`input_skeleton`, ...): the labels of previewd_firewall_repairs_total. */
export const REPAIR_PARTS = DIRECTIONS.flatMap((d) => ["skeleton", "allow_chain", "allow_jump", "daemon_chain", "jump"].map((p) => `${d}_${p}`));

/** What one daemon's sync does: chains to create first (`iptables -N`), then one iptables-restore --noflush script. */
export interface Plan {
  create: string[];
  /** Lines between `*filter` and `COMMIT`; empty: nothing to do. */
  script: string[];
  /** What was missing or different, by part (the repairs a drift check counts). */
  repairs: string[];
}

export interface SelfState {
  identity: DaemonIdentity;
  ports: number[];
}

/**
 * What makes `snap` hold this daemon's rules: its own chains, its jumps from
 * the -ALLOW chains, the skeletons and one jump from each parent for its
 * bridge. Touches nothing of another daemon's.
 */
export function planSync(snap: Snapshot, self: SelfState): Plan {
  const plan: Plan = { create: [], script: [], repairs: [] };
  const declare: string[] = [];
  const rules: string[] = [];
  for (const dir of DIRECTIONS) {
    const n = CHAINS[dir];
    if (!snap.has(n.parent)) continue; // no DOCKER-USER: Docker's iptables off (the daemon says so at start)
    const mine = daemonChain(dir, self.identity.id);
    const wantMine = daemonRules(dir, self.identity, self.ports).map((r) => `-A ${mine} ${r}`);
    if (!same(snap.get(mine), wantMine)) {
      plan.repairs.push(`${dir}_daemon_chain`);
      declare.push(`:${mine} - [0:0]`);
      rules.push(...wantMine);
    }
    if (!snap.has(n.allow)) {
      plan.repairs.push(`${dir}_allow_chain`);
      plan.create.push(n.allow);
    }
    const myJump = `-A ${n.allow} -j ${mine}`;
    if (!(snap.get(n.allow) ?? []).includes(myJump)) {
      if (snap.has(n.allow)) plan.repairs.push(`${dir}_allow_jump`);
      rules.push(myJump);
    }
    const wantSkeleton = skeletonRules(dir).map((r) => `-A ${n.skeleton} ${r}`);
    if (!same(snap.get(n.skeleton), wantSkeleton)) {
      plan.repairs.push(`${dir}_skeleton`);
      declare.push(`:${n.skeleton} - [0:0]`);
      rules.push(...wantSkeleton);
    }
    const parentJump = `-i ${self.identity.bridge} -j ${n.skeleton}`;
    const present = (snap.get(n.parent) ?? []).filter((l) => l === `-A ${n.parent} ${parentJump}`).length;
    if (present === 0) {
      plan.repairs.push(`${dir}_jump`);
      rules.push(`-I ${n.parent} 1 ${parentJump}`);
    }
    // Two daemons on one bridge starting at once may both have added it: the second is harmless (the same verdict twice), but goes.
    for (let k = 1; k < present; k++) rules.push(`-D ${n.parent} ${parentJump}`);
  }
  plan.script = [...declare, ...rules];
  return plan;
}

/** Every daemon chain in `snap` by id: its chains and the identity they name (if any). */
export function daemonChains(snap: Snapshot): Map<string, { chains: Partial<Record<Direction, string>>; identity?: ParsedIdentity }> {
  const out = new Map<string, { chains: Partial<Record<Direction, string>>; identity?: ParsedIdentity }>();
  for (const [name, rules] of snap) {
    for (const dir of DIRECTIONS) {
      const prefix = CHAINS[dir].daemonPrefix;
      if (!name.startsWith(prefix)) continue;
      const id = name.slice(prefix.length);
      const entry = out.get(id) ?? { chains: {} };
      entry.chains[dir] = name;
      entry.identity ??= parseIdentity(rules);
      out.set(id, entry);
    }
  }
  return out;
}

/** The script that removes these daemons' chains and their jumps from the -ALLOW chains. */
export function planRemoveDaemons(snap: Snapshot, ids: string[]): string[] {
  const script: string[] = [];
  for (const id of ids) {
    for (const dir of DIRECTIONS) {
      const n = CHAINS[dir];
      const chain = daemonChain(dir, id);
      for (const l of snap.get(n.allow) ?? []) if (l === `-A ${n.allow} -j ${chain}`) script.push(`-D ${n.allow} -j ${chain}`);
      if (snap.has(chain)) script.push(`-F ${chain}`, `-X ${chain}`);
    }
  }
  return script;
}

/**
 * After a daemon's own chains went: the parents' jumps for bridges no daemon
 * chain names any more, and, when no daemon chain is left at all, the
 * skeletons and -ALLOW chains too. `-X` of an -ALLOW chain fails when a jump
 * is in it, so a daemon that started meanwhile makes the whole script fail
 * and keeps everything.
 */
export function planRemoveShared(snap: Snapshot): string[] {
  const left = [...daemonChains(snap).values()];
  // A daemon chain flushed by hand names no bridge: its daemon may be on any, so every jump stays.
  if (left.some((d) => !d.identity?.bridge)) return [];
  const bridges = new Set(left.map((d) => d.identity!.bridge!));
  const script: string[] = [];
  for (const dir of DIRECTIONS) {
    const n = CHAINS[dir];
    for (const l of snap.get(n.parent) ?? []) {
      const m = new RegExp(`^-A ${n.parent} (-i (\\S+) -j ${n.skeleton})$`).exec(l);
      if (m && !bridges.has(m[2]!)) script.push(`-D ${n.parent} ${m[1]}`);
    }
    if (left.length) continue;
    if (snap.has(n.skeleton)) script.push(`-F ${n.skeleton}`);
    if (snap.has(n.allow)) script.push(`-X ${n.allow}`);
    if (snap.has(n.skeleton)) script.push(`-X ${n.skeleton}`);
  }
  return script;
}

function same(have: string[] | undefined, want: string[]): boolean {
  return !!have && have.length === want.length && have.every((l, k) => l === want[k]);
}
