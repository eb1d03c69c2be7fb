// The host firewall's planning (src/pool/firewall-rules.ts) on snapshots as
// `iptables -S` prints them: what a sync writes, what a stop may take away.
// The rules' effect on real packets is test/pool/firewall.test.ts's.
import { describe, expect, test } from "bun:test";
import {
  CHAINS, daemonChain, daemonChains, daemonRules, parseSnapshot, planRemoveDaemons, planRemoveShared, planSync, skeletonRules,
  type DaemonIdentity, type Snapshot,
} from "../../src/pool/firewall-rules.ts";

const base = "-P INPUT ACCEPT\n-P FORWARD DROP\n-P OUTPUT ACCEPT\n-N DOCKER-USER\n-A DOCKER-USER -j RETURN\n";
const a: DaemonIdentity = { id: "aaaaaaaaaaaa", bridge: "br-one", pid: 10, start: "100", pidns: "4026531836", dataDir: "/var/lib/a" };
const b: DaemonIdentity = { ...a, id: "bbbbbbbbbbbb", pid: 11, start: "200", dataDir: "/var/lib/b" };

/** The snapshot after applying a sync's plan (enough of iptables-restore for these scripts). */
function apply(snap: Snapshot, create: string[], script: string[]): Snapshot {
  const out: Snapshot = new Map([...snap].map(([k, v]) => [k, [...v]]));
  for (const c of create) if (!out.has(c)) out.set(c, []);
  for (const line of script) {
    const w = line.split(" ");
    const [op, chain] = [w[0]!, w[1]!];
    const rest = w.slice(2).join(" ");
    if (op.startsWith(":")) out.set(op.slice(1), []);
    else if (op === "-A") out.get(chain)!.push(line);
    else if (op === "-I") out.get(chain)!.splice(Number(w[2]) - 1, 0, `-A ${chain} ${w.slice(3).join(" ")}`);
    else if (op === "-D") out.get(chain)!.splice(out.get(chain)!.indexOf(`-A ${chain} ${rest}`), 1);
    else if (op === "-F") out.set(chain, []);
    else if (op === "-X") {
      if (out.get(chain)!.length) throw new Error(`-X ${chain}: not empty`);
      out.delete(chain);
    }
  }
  return out;
}

function synced(snap: Snapshot, who: DaemonIdentity, ports: number[]): Snapshot {
  const plan = planSync(snap, { identity: who, ports });
  return apply(snap, plan.create, plan.script);
}

describe("firewall planning", () => {
  test("a sync on a bare table writes everything, and a second sync finds nothing to do", () => {
    const snap = parseSnapshot(base);
    const plan = planSync(snap, { identity: a, ports: [5432] });
    expect(plan.create).toEqual([CHAINS.input.allow, CHAINS.forward.allow]);
    const after = apply(snap, plan.create, plan.script);
    expect(after.get("INPUT")).toEqual(["-A INPUT -i br-one -j PREVIEWD-INPUT"]);
    expect(after.get("DOCKER-USER")![0]).toBe("-A DOCKER-USER -i br-one -j PREVIEWD-FORWARD");
    expect(after.get(CHAINS.input.allow)).toEqual([`-A ${CHAINS.input.allow} -j ${daemonChain("input", a.id)}`]);
    expect(planSync(after, { identity: a, ports: [5432] })).toEqual({ create: [], script: [], repairs: [] });
  });

  test("the daemon chain names fit iptables' 28 characters", () => {
    for (const dir of ["input", "forward"] as const) expect(daemonChain(dir, a.id).length).toBeLessThanOrEqual(28);
    for (const n of Object.values(CHAINS)) expect(n.allow.length).toBeLessThanOrEqual(28);
  });

  test("a second daemon's sync adds its chain and jump and leaves the first's rules as they were", () => {
    const one = synced(parseSnapshot(base), a, [5432]);
    const two = synced(one, b, [6543]);
    expect(two.get(daemonChain("input", a.id))).toEqual(one.get(daemonChain("input", a.id))!);
    expect(two.get(CHAINS.input.allow)!.length).toBe(2);
    expect(two.get("INPUT")).toEqual(one.get("INPUT")!); // one jump for the shared bridge
    expect(two.get(CHAINS.input.skeleton)).toEqual(skeletonRules("input").map((r) => `-A ${CHAINS.input.skeleton} ${r}`));
  });

  test("what a hand flushed is named in the repairs", () => {
    const one = synced(parseSnapshot(base), a, [5432]);
    one.set(CHAINS.input.skeleton, []);
    one.set("INPUT", []);
    expect(planSync(one, { identity: a, ports: [5432] }).repairs).toEqual(["input_skeleton", "input_jump"]);
  });

  test("a stop with another daemon left takes its own chains only; the last one's takes the shared ones too", () => {
    const two = synced(synced(parseSnapshot(base), a, [5432]), b, [6543]);
    const bGone = apply(two, [], planRemoveDaemons(two, [b.id]));
    expect(planRemoveShared(bGone)).toEqual([]); // a still runs on br-one: its jump and the skeletons stay
    expect(daemonChains(bGone).size).toBe(1);
    const aGone = apply(bGone, [], planRemoveDaemons(bGone, [a.id]));
    const bare = apply(aGone, [], planRemoveShared(aGone));
    expect([...bare.keys()].filter((k) => k.startsWith("PREVIEWD-"))).toEqual([]);
    expect(bare.get("INPUT")).toEqual([]);
    expect(bare.get("DOCKER-USER")).toEqual(["-A DOCKER-USER -j RETURN"]);
  });

  test("the last stop's script fails whole when a daemon started meanwhile (its jump is in the -ALLOW chain)", () => {
    const one = synced(parseSnapshot(base), a, [5432]);
    const aGone = apply(one, [], planRemoveDaemons(one, [a.id]));
    const script = planRemoveShared(aGone); // planned before b's start...
    const bStarted = synced(aGone, b, [6543]);
    expect(() => apply(bStarted, [], script)).toThrow(/not empty/); // ...and iptables-restore refuses it all
  });

  test("a daemon chain flushed by hand names no bridge: every parent jump stays", () => {
    const two = synced(synced(parseSnapshot(base), a, [5432]), { ...b, bridge: "br-two" }, [6543]);
    two.set(daemonChain("input", b.id), []);
    two.set(daemonChain("forward", b.id), []);
    const aGone = apply(two, [], planRemoveDaemons(two, [a.id]));
    expect(planRemoveShared(aGone)).toEqual([]);
  });

  test("a daemon's identity is read back from its chain", () => {
    const snap = synced(parseSnapshot(base), a, [5432]);
    expect(daemonChains(snap).get(a.id)?.identity).toEqual({ bridge: "br-one", pid: 10, start: "100", pidns: "4026531836" });
    expect(daemonRules("input", a, [])).toHaveLength(1); // no port: the chain still says who it is
  });
});
