// The host firewall for previews (issue 10, item 5; per daemon since issue 26).
// A preview's packets to the host itself (the bridge gateways, the host's own
// addresses, anything listening on 0.0.0.0: previewd's API and peer ports,
// sshd, a local mirror) enter through the preview network's bridge and go to
// INPUT; packets to the internet go to FORWARD. Only the database's port (and
// a registry mirror's on this host), DNS and replies to the daemon's own
// connections pass INPUT; FORWARD refuses ports other containers publish on
// the host and 169.254.0.0/16 (a cloud's metadata service). The chains and
// why they compose as a union over the daemons on a bridge:
// firewall-rules.ts.
//
// RETURN, not ACCEPT: what we let through still meets the operator's own
// INPUT rules; we only take away. Only packets entering from the preview
// bridge meet these chains.
//
// Each daemon owns its chains (named from its data dir) and only ever writes
// those, its jumps and the skeletons (same text whoever writes them), each
// write one iptables-restore --noflush transaction. A stop removes its own;
// the shared parts go with the last daemon. A daemon killed with -9 leaves its
// chains: any daemon in the same pid namespace removes them at its start or
// its next check once that process is gone. `check()`, every reconcile
// interval, puts back whatever is missing or changed (a flush by hand, a
// package upgrade reloading iptables) and counts it. iptables, not nft: it is
// what Docker itself programs (iptables-nft here, so both land in the same
// nf_tables tables).
import { existsSync, readFileSync, readlinkSync } from "node:fs";
import type { Logger } from "../log.ts";
import {
  CHAINS, daemonChainId, daemonChains, DIRECTIONS, parseSnapshot, planRemoveDaemons, planRemoveShared, planSync, REPAIR_PARTS,
  type DaemonIdentity, type ParsedIdentity, type Snapshot,
} from "./firewall-rules.ts";

export { FORWARD_CHAIN, INPUT_CHAIN, CHAINS, daemonChain, daemonChainId, MARK_BIT } from "./firewall-rules.ts";

export interface FirewallOptions {
  /** The preview network's bridge interface (br-xxxxxxxxxxxx). */
  bridge: string;
  /** TCP ports on the host previews may open (the database, a registry mirror). */
  allowTcpPorts: number[];
  /** The daemon's data dir: its chains are named from it, so a restart takes its own chains back. */
  dataDir: string;
  log: Logger;
  /** The iptables binary (default: iptables on PATH). */
  iptables?: string;
}

export class HostFirewall {
  readonly identity: DaemonIdentity;
  /** Parts a check found missing or changed and put back, by part, since start (previewd_firewall_repairs_total). */
  readonly repairs: Record<string, number> = Object.fromEntries(REPAIR_PARTS.map((p) => [p, 0]));
  private readonly bin: string;
  private readonly restoreBin: string;
  private readonly ports: number[];
  private queue: Promise<unknown> = Promise.resolve();
  private timer?: ReturnType<typeof setInterval>;

  constructor(private readonly o: FirewallOptions) {
    if (!/^[A-Za-z0-9_.-]{1,15}$/.test(o.bridge)) throw new Error(`not an interface name: ${o.bridge}`);
    this.bin = o.iptables ?? "iptables";
    this.restoreBin = `${this.bin}-restore`;
    this.ports = [...new Set(o.allowTcpPorts.filter((p) => Number.isInteger(p) && p > 0 && p < 65536))].sort((a, b) => a - b);
    const self = processStat(process.pid);
    this.identity = {
      id: daemonChainId(o.dataDir), bridge: o.bridge, pid: process.pid, start: self?.start ?? "0", pidns: pidNamespace() ?? "0", dataDir: o.dataDir,
    };
  }

  /** Why the firewall cannot be installed here, or undefined when it can. */
  async probe(): Promise<string | undefined> {
    if (process.getuid?.() !== 0) return "not running as root";
    const r = await run([this.bin, "-w", "-S", "INPUT"]);
    if (r.code !== 0) return `${this.bin} does not work: ${r.err.trim() || `exit ${r.code}`}`;
    return undefined;
  }

  /** Writes this daemon's chains, the skeletons and the jumps; removes a dead daemon's leftovers. Idempotent. */
  install(): Promise<void> {
    return this.serial(async () => {
      const snap = await this.snapshot();
      await this.sweep(snap);
      await this.sync();
      if (!snap.has("DOCKER-USER")) this.o.log.warn("no DOCKER-USER chain (Docker's iptables off?): forwarded traffic from previews is not filtered");
      this.o.log.info({ bridge: this.o.bridge, allowTcpPorts: this.ports, chain: this.identity.id }, "host firewall for previews installed");
    });
  }

  /** Compares what is installed with what should be, and puts back what is missing or changed. Resolves to the parts repaired. */
  check(): Promise<string[]> {
    return this.serial(async () => {
      await this.sweep(await this.snapshot());
      const repaired = await this.sync();
      for (const part of repaired) {
        this.repairs[part] = (this.repairs[part] ?? 0) + 1;
        this.o.log.warn({ part, bridge: this.o.bridge }, "host firewall rules were missing or changed under the daemon: put back");
      }
      return repaired;
    });
  }

  /** Runs `check()` every `intervalMs` until `unwatch()` or `remove()`. */
  watch(intervalMs: number): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.check().catch((err: unknown) => this.o.log.warn({ err }, "host firewall check failed")), intervalMs);
    this.timer.unref?.();
  }

  /** Stops the periodic check, after one in flight. */
  async unwatch(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.queue.catch(() => {});
  }

  /**
   * Removes this daemon's chains and jumps, and the shared ones when no other
   * daemon's chain is left (a dead daemon's are removed first). Never another
   * live daemon's. Safe to call when nothing is installed.
   */
  async remove(): Promise<void> {
    await this.unwatch();
    await this.serial(async () => {
      await this.retry(async () => {
        const snap = await this.snapshot();
        return planRemoveDaemons(snap, [this.identity.id, ...this.dead(snap)]);
      });
      // Two daemons stopping at once may both get here: the second finds less to remove, or its script fails on what the first removed.
      await this.retry(async () => planRemoveShared(await this.snapshot()));
      this.o.log.info({ bridge: this.o.bridge, chain: this.identity.id }, "host firewall for previews removed");
    });
  }

  /** One sync: the plan from a fresh snapshot, applied; tried again on a fresh one if another daemon changed the table meanwhile. */
  private async sync(): Promise<string[]> {
    let repairs: string[] = [];
    await this.retry(async () => {
      const plan = planSync(await this.snapshot(), { identity: this.identity, ports: this.ports });
      for (const chain of plan.create) await run([this.bin, "-w", "-N", chain]); // "already exists" from a daemon racing us is fine
      repairs = plan.repairs;
      return plan.script;
    });
    return repairs;
  }

  /** Removes the chains of daemons that are gone, and the parents' jumps for bridges that no longer exist. */
  private async sweep(snap: Snapshot): Promise<void> {
    const dead = this.dead(snap);
    const script = planRemoveDaemons(snap, dead);
    for (const dir of DIRECTIONS) {
      const n = CHAINS[dir];
      for (const l of snap.get(n.parent) ?? []) {
        const m = new RegExp(`^-A ${n.parent} (-i (\\S+) -j ${n.skeleton})$`).exec(l);
        if (m && !existsSync(`/sys/class/net/${m[2]}`)) script.push(`-D ${n.parent} ${m[1]}`);
      }
    }
    if (!script.length) return;
    const r = await this.restore(script);
    if (r) this.o.log.warn({ err: r }, "host firewall: removing a dead daemon's chains failed (tried again at the next check)");
    else if (dead.length) this.o.log.info({ chains: dead }, "host firewall: removed the chains of daemons that are gone");
  }

  /** Ids of daemon chains whose process is gone (same pid namespace, no such process or another one under its pid). */
  private dead(snap: Snapshot): string[] {
    return [...daemonChains(snap)].filter(([id, d]) => id !== this.identity.id && d.identity && isGone(d.identity, this.identity.pidns)).map(([id]) => id);
  }

  private async retry(script: () => Promise<string[]>): Promise<void> {
    let err: string | undefined;
    for (let attempt = 0; attempt < 3; attempt++) {
      const lines = await script();
      if (!lines.length) return;
      err = await this.restore(lines);
      if (!err) return;
    }
    throw new Error(`${this.restoreBin} failed: ${err}`);
  }

  /** Applies the lines as one transaction; the error text, or undefined when it held. */
  private async restore(lines: string[]): Promise<string | undefined> {
    const r = await run([this.restoreBin, "-w", "--noflush"], ["*filter", ...lines, "COMMIT", ""].join("\n"));
    return r.code === 0 ? undefined : r.err.trim() || `exit ${r.code}`;
  }

  private async snapshot(): Promise<Snapshot> {
    const r = await run([this.bin, "-w", "-S"]);
    if (r.code !== 0) throw new Error(`${this.bin} -S failed: ${r.err.trim()}`);
    return parseSnapshot(r.out);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.catch(() => {}).then(fn);
    this.queue = next;
    return next;
  }
}

/** The rules in `chain` as `iptables -S` prints them (for tests and operators), or undefined when it does not exist. */
export async function listChain(chain: string, bin = "iptables"): Promise<string[] | undefined> {
  const r = await run([bin, "-w", "-S", chain]);
  if (r.code !== 0) return undefined;
  return r.out.split("\n").filter((l) => l.startsWith("-A "));
}

function isGone(who: ParsedIdentity, ourPidns: string): boolean {
  if (who.pidns !== ourPidns) return false; // its pid means nothing here: leave it
  const stat = processStat(who.pid);
  return !stat || stat.zombie || stat.start !== who.start;
}

/** A process's start time (clock ticks since boot) and whether it is a zombie, from /proc/<pid>/stat; undefined when there is none. */
function processStat(pid: number): { start: string; zombie: boolean } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = text.slice(text.lastIndexOf(")") + 2).split(" "); // f[0] is field 3 (state); the comm before may hold spaces
    return { start: f[19] ?? "0", zombie: f[0] === "Z" || f[0] === "X" };
  } catch {
    return undefined;
  }
}

function pidNamespace(): string | undefined {
  try {
    return /\[(\d+)\]/.exec(readlinkSync("/proc/self/ns/pid"))?.[1];
  } catch {
    return undefined;
  }
}

async function run(cmd: string[], stdin?: string): Promise<{ code: number; out: string; err: string }> {
  try {
    const p = Bun.spawn(cmd, { stdin: stdin === undefined ? "ignore" : new TextEncoder().encode(stdin), stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    return { code, out, err };
  } catch (e) {
    return { code: 127, out: "", err: (e as Error).message };
  }
}

/**
 * The ports of those URLs that point at this host (loopback or one of its
 * addresses): previews reach them through the host, so the firewall lets them
 * through. A URL elsewhere (Supabase, a remote registry) is reached through
 * FORWARD and needs nothing here.
 */
export function hostPortsOf(urls: Array<string | undefined>, localAddresses: string[]): number[] {
  const ports: number[] = [];
  for (const raw of urls) {
    if (!raw) continue;
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      continue;
    }
    const host = u.hostname.replace(/^\[|\]$/g, "");
    const local = host === "localhost" || host.startsWith("127.") || host === "::1" || host === "0.0.0.0" || localAddresses.includes(host);
    const port = Number(u.port || { "postgres:": 5432, "postgresql:": 5432, "http:": 80, "https:": 443 }[u.protocol] || 0);
    if (local && port) ports.push(port);
  }
  return ports;
}
