// The host firewall for previews (issue 10, item 5). A preview's packets to
// the host itself (the bridge gateways, the host's own addresses, anything
// listening on 0.0.0.0: previewd's API and peer ports, sshd, a local mirror)
// enter through the preview network's bridge and go to INPUT; packets to the
// internet go to FORWARD and are left alone. So:
//
//   INPUT -i <bridge> -j PREVIEWD-INPUT
//     ESTABLISHED,RELATED  RETURN   (replies to the daemon's own connections: proxy, runner control)
//     udp/tcp 53           RETURN   (DNS, for a resolver on the host)
//     tcp <allowed ports>  RETURN   (the database previews are given, a registry mirror on the host)
//     tcp                  REJECT tcp-reset
//     anything else        REJECT icmp-port-unreachable
//
//   DOCKER-USER -i <bridge> -j PREVIEWD-FORWARD   (forwarded traffic)
//     new connection DNAT'ed by Docker (a port another container published on the host's addresses)
//                          REJECT, unless its original port is an allowed one
//     169.254.0.0/16       REJECT   (link-local: a cloud's metadata service hands out the machine's credentials)
//
// RETURN, not ACCEPT: what we let through still meets the operator's own
// INPUT rules; we only take away. Only packets entering from the preview
// bridge are looked at: the machine's other traffic never meets these chains.
//
// Installed at daemon start (a restart or a reboot reinstalls it), each chain
// rewritten atomically (iptables-restore --noflush), the jumps made exactly
// once; removed at a clean stop. iptables, not nft: it is what Docker itself
// programs (iptables-nft here, so both land in the same nf_tables tables).
import { existsSync } from "node:fs";
import type { Logger } from "../log.ts";

export const INPUT_CHAIN = "PREVIEWD-INPUT";
export const FORWARD_CHAIN = "PREVIEWD-FORWARD";

export interface FirewallOptions {
  /** The preview network's bridge interface (br-xxxxxxxxxxxx). */
  bridge: string;
  /** TCP ports on the host previews may open (the database, a registry mirror). */
  allowTcpPorts: number[];
  log: Logger;
  /** The iptables binary (default: iptables on PATH). */
  iptables?: string;
}

export class HostFirewall {
  private readonly bin: string;
  private readonly restoreBin: string;
  private readonly ports: number[];

  constructor(private readonly o: FirewallOptions) {
    if (!/^[A-Za-z0-9_.-]{1,15}$/.test(o.bridge)) throw new Error(`not an interface name: ${o.bridge}`);
    this.bin = o.iptables ?? "iptables";
    this.restoreBin = `${this.bin}-restore`;
    this.ports = [...new Set(o.allowTcpPorts.filter((p) => Number.isInteger(p) && p > 0 && p < 65536))].sort((a, b) => a - b);
  }

  /** Why the firewall cannot be installed here, or undefined when it can. */
  async probe(): Promise<string | undefined> {
    if (process.getuid?.() !== 0) return "not running as root";
    const r = await run([this.bin, "-w", "-S", "INPUT"]);
    if (r.code !== 0) return `${this.bin} does not work: ${r.err.trim() || `exit ${r.code}`}`;
    return undefined;
  }

  /** Writes both chains (atomically each) and makes each jump exist exactly once. Idempotent. */
  async install(): Promise<void> {
    const hasDockerUser = (await run([this.bin, "-w", "-S", "DOCKER-USER"])).code === 0;
    const lines = ["*filter", `:${INPUT_CHAIN} - [0:0]`, ...this.inputRules().map((r) => `-A ${INPUT_CHAIN} ${r}`)];
    if (hasDockerUser) lines.push(`:${FORWARD_CHAIN} - [0:0]`, ...this.forwardRules().map((r) => `-A ${FORWARD_CHAIN} ${r}`));
    lines.push("COMMIT", "");
    const restored = await run([this.restoreBin, "-w", "--noflush"], lines.join("\n"));
    if (restored.code !== 0) throw new Error(`${this.restoreBin} failed: ${restored.err.trim()}`);
    await this.ensureJump("INPUT", INPUT_CHAIN);
    if (hasDockerUser) await this.ensureJump("DOCKER-USER", FORWARD_CHAIN);
    else this.o.log.warn("no DOCKER-USER chain (Docker's iptables off?): forwarded traffic from previews is not filtered");
    this.o.log.info({ bridge: this.o.bridge, allowTcpPorts: this.ports }, "host firewall for previews installed");
  }

  /** Removes the jumps and both chains. Safe to call when nothing is installed. */
  async remove(): Promise<void> {
    for (const [parent, chain] of [["INPUT", INPUT_CHAIN], ["DOCKER-USER", FORWARD_CHAIN]] as const) {
      for (const rule of await this.jumps(parent, chain)) await run([this.bin, "-w", "-D", parent, ...rule]);
      await run([this.bin, "-w", "-F", chain]);
      await run([this.bin, "-w", "-X", chain]);
    }
    this.o.log.info({ bridge: this.o.bridge }, "host firewall for previews removed");
  }

  inputRules(): string[] {
    return [
      "-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
      "-p udp -m udp --dport 53 -j RETURN",
      "-p tcp -m tcp --dport 53 -j RETURN",
      ...this.ports.map((p) => `-p tcp -m tcp --dport ${p} -j RETURN`),
      "-p tcp -j REJECT --reject-with tcp-reset",
      "-j REJECT --reject-with icmp-port-unreachable",
    ];
  }

  forwardRules(): string[] {
    return [
      ...this.ports.map((p) => `-p tcp -m conntrack --ctstate DNAT --ctdir ORIGINAL --ctorigdstport ${p} -j RETURN`),
      "-m conntrack --ctstate DNAT --ctdir ORIGINAL -j REJECT --reject-with icmp-port-unreachable",
      "-d 169.254.0.0/16 -j REJECT --reject-with icmp-port-unreachable",
    ];
  }

  /**
   * One jump from `parent` for our bridge, first in the chain; jumps left by
   * an earlier run for a bridge that no longer exists (the network was
   * recreated) and duplicates are deleted.
   */
  private async ensureJump(parent: string, chain: string): Promise<void> {
    const mine = ["-i", this.o.bridge, "-j", chain];
    let kept = false;
    for (const rule of await this.jumps(parent, chain)) {
      const iface = rule[rule.indexOf("-i") + 1];
      const same = rule.join(" ") === mine.join(" ");
      if (same && !kept) {
        kept = true;
        continue;
      }
      if (same || (iface && !existsSync(`/sys/class/net/${iface}`))) await run([this.bin, "-w", "-D", parent, ...rule]);
    }
    if (kept) return;
    const r = await run([this.bin, "-w", "-I", parent, "1", ...mine]);
    if (r.code !== 0) throw new Error(`${this.bin} -I ${parent} failed: ${r.err.trim()}`);
  }

  /** The rules of `parent` that jump to `chain`, as argument lists (without "-A parent"). */
  private async jumps(parent: string, chain: string): Promise<string[][]> {
    const r = await run([this.bin, "-w", "-S", parent]);
    if (r.code !== 0) return [];
    return r.out
      .split("\n")
      .map((l) => l.trim().split(/\s+/))
      .filter((w) => w[0] === "-A" && w[1] === parent && w[w.indexOf("-j") + 1] === chain && w.indexOf("-j") > 0)
      .map((w) => w.slice(2));
  }
}

/** The rules in `chain` as `iptables -S` prints them (for tests and operators), or undefined when it does not exist. */
export async function listChain(chain: string, bin = "iptables"): Promise<string[] | undefined> {
  const r = await run([bin, "-w", "-S", chain]);
  if (r.code !== 0) return undefined;
  return r.out.split("\n").filter((l) => l.startsWith("-A "));
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
