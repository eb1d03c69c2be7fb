// Network splits between daemons on loopback, made with iptables rules in a
// chain of the test's own (jumped from INPUT on `lo`): the gossip datagrams
// between one node's peer port and the others', and every TCP packet to or
// from its peer port (sibling hops and peer API calls). Needs root.
import type { DaemonProcess } from "./process.ts";

const peerPortOf = (d: DaemonProcess) => String(d.env.PREVIEWD_PEER_PORT);

async function iptables(...args: string[]): Promise<number> {
  const p = Bun.spawn(["iptables", "-w", ...args], { stdout: "ignore", stderr: "pipe" });
  return await p.exited;
}

async function must(...args: string[]): Promise<void> {
  const p = Bun.spawn(["iptables", "-w", ...args], { stdout: "ignore", stderr: "pipe" });
  if ((await p.exited) !== 0) throw new Error(`iptables ${args.join(" ")}: ${await new Response(p.stderr).text()}`);
}

export function splitter(chain: string) {
  /** Removes the jump and the chain (idempotent: also sweeps a run that died before its afterAll). */
  async function heal(): Promise<void> {
    while ((await iptables("-D", "INPUT", "-i", "lo", "-j", chain)) === 0) {}
    await iptables("-F", chain);
    await iptables("-X", chain);
  }

  /** Cuts `c` off from `others`. */
  async function split(c: DaemonProcess, others: DaemonProcess[]): Promise<void> {
    await heal();
    await must("-N", chain);
    const cp = peerPortOf(c);
    for (const o of others) {
      const op = peerPortOf(o);
      // Gossip: both sockets are bound to the peer ports, so the pair names exactly C <-> this node.
      await must("-A", chain, "-p", "udp", "--sport", cp, "--dport", op, "-j", "DROP");
      await must("-A", chain, "-p", "udp", "--sport", op, "--dport", cp, "-j", "DROP");
    }
    // The peer port over TCP: the others' hops and API calls to C (the tests never call it themselves).
    await must("-A", chain, "-p", "tcp", "--dport", cp, "-j", "DROP");
    await must("-A", chain, "-p", "tcp", "--sport", cp, "-j", "DROP");
    await must("-I", "INPUT", "1", "-i", "lo", "-j", chain);
  }

  return { heal, split };
}
