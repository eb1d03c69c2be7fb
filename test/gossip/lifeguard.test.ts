// Lifeguard's local health awareness on a simulated 10-node network (test
// profile, suspicion stretched to 1 s so a short stop can be refuted): a
// stopped process judges no one when it runs again; a node cut off raises its
// own local health multiplier (its probes fail and no helper nacks) and slows
// its probing, then recovers; probers of a really dead node stay healthy
// (their helpers nack), and the death is still found.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { MemNet } from "../../src/gossip/memnet.ts";
import { testProfile } from "../../src/gossip/profiles.ts";
import { Swim, type Timers } from "../../src/gossip/swim.ts";
import type { Transport } from "../../src/gossip/transport.ts";
import { createLogger } from "../../src/log.ts";
import { SECRET, within } from "./support.ts";

const N = 10;
const profile = { ...testProfile, suspicionMult: 10 };
const net = new MemNet({ latencyMs: 1 });

/**
 * One node played as a process that SIGSTOP freezes: while frozen its timers
 * that come due are held and datagrams to it wait in its socket; on SIGCONT
 * the event loop runs the held timers first (timers phase), then reads the
 * socket (poll phase): the order that makes a naive prober time out on acks
 * it has already received.
 */
class Frozen {
  swim!: Swim;
  /** SIGSTOP: no timer runs, nothing is sent, datagrams queue. */
  private stopped = false;
  /** SIGCONT, timers phase: timers run and may send; datagrams still queue until the poll phase. */
  private reading = true;
  private held: Array<{ fn: () => void; cleared: boolean }> = [];
  private inbox: Array<[string, Uint8Array]> = [];
  private handler: (from: string, bytes: Uint8Array) => void = () => {};
  private freezeOnProbe?: () => void;

  readonly timers: Timers = {
    setTimeout: (fn, ms) => {
      const h = { fn, cleared: false, t: undefined as unknown as ReturnType<typeof setTimeout> };
      h.t = setTimeout(() => (this.stopped ? this.held.push(h) : fn()), ms);
      return h;
    },
    clearTimeout: (h) => {
      const handle = h as { cleared: boolean; t: ReturnType<typeof setTimeout> } | undefined;
      if (!handle) return;
      handle.cleared = true;
      clearTimeout(handle.t);
    },
  };

  wrap(t: Transport): Transport {
    return {
      addr: t.addr,
      send: (to, bytes) => {
        if (this.stopped) return; // its push-pull interval is not held: a stopped process sends nothing
        t.send(to, bytes);
        const body = JSON.parse(JSON.parse(new TextDecoder().decode(bytes)).body) as { t: string; seq: number };
        if (body.t === "ping" && body.seq > 0) this.freezeOnProbe?.();
      },
      onMessage: (h) => {
        this.handler = h;
        t.onMessage((from, bytes) => (this.reading ? h(from, bytes) : this.inbox.push([from, bytes])));
      },
      close: () => t.close(),
    };
  }

  /** Stops the node right after its next probe leaves (its ack is then on its way), for `ms`. */
  async freezeAfterNextProbe(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      this.freezeOnProbe = () => {
        this.freezeOnProbe = undefined;
        this.stopped = true;
        this.reading = false;
        resolve();
      };
    });
    await Bun.sleep(ms);
    this.stopped = false;
    // Timers phase: everything that came due, in order, each followed by its promise continuations.
    for (const h of this.held.splice(0)) {
      if (h.cleared) continue;
      h.fn();
      for (let i = 0; i < 50; i++) await null;
    }
    // Poll phase: the datagrams that waited in the socket.
    this.reading = true;
    for (const [from, bytes] of this.inbox.splice(0)) this.handler(from, bytes);
  }
}
const addr = (i: number) => `10.2.0.${i}:8082`;
const x = new Frozen();
/** Every suspect or dead transition any node saw, in order. */
const accusations: string[] = [];
const nodes = Array.from({ length: N }, (_, i) => {
  const frozen = i === 3 ? x : undefined;
  const swim = new Swim({
    id: `n${i}`, transport: frozen ? frozen.wrap(net.transport(addr(i))) : net.transport(addr(i)), timers: frozen?.timers,
    secret: SECRET, seeds: [addr(0), addr(1)], profile, meta: { capacity: 1, running: 0, free: 1 }, log: createLogger("error"),
    onChange: (m) => {
      if (m.state === "suspect" || m.state === "dead") accusations.push(`n${i} saw ${m.id} ${m.state}`);
    },
  });
  if (frozen) frozen.swim = swim;
  return swim;
});
const stateOf = (viewer: Swim, id: string) => viewer.view().find((m) => m.id === id)?.state;
const allAlive = (list: Swim[]) => list.every((s) => s.view().filter((m) => m.state === "alive").length === list.length);
const healthy = (list: Swim[]) => list.every((s) => s.localHealth === 0);

beforeAll(async () => {
  for (const s of nodes) s.start();
  await within("converged", 10_000, () => allAlive(nodes));
  await within("healthy after start", 10_000, () => healthy(nodes));
});
afterAll(async () => {
  await Promise.all(nodes.map((s) => s.stop()));
});

test("a node stopped for 8 ack timeouts with a probe in flight accuses no one when it runs again", async () => {
  await within("healthy before", 10_000, () => healthy(nodes));
  accusations.length = 0;
  const lateBefore = x.swim.lateTimers;
  await x.freezeAfterNextProbe(400);
  await within("refuted: n3 alive everywhere", 5000, () => nodes.every((s) => s === x.swim || stateOf(s, "n3") === "alive"));
  await Bun.sleep(500); // a few more rounds, in which a wrong suspicion would show
  // The others may have suspected n3 while it was stopped (it refuted); nobody else was accused, no one is dead.
  expect(accusations.filter((a) => !a.endsWith("n3 suspect"))).toEqual([]);
  expect(x.swim.lateTimers).toBeGreaterThan(lateBefore);
  await within("local health back to 0", 10_000, () => x.swim.localHealth === 0);
});

test("a node cut off raises its own local health and probes less often; healed, it comes back to 0", async () => {
  const victim = nodes[5]!;
  net.cut(addr(5));
  await within("n5 unhealthy", 5000, () => victim.localHealth >= 3);
  // Its probes now go out at most every 100 ms × 4: measure its sending rate for one second.
  const before = victim.sent;
  await Bun.sleep(1000);
  const perSecond = victim.sent - before;
  // Healthy: 10 probes/s plus helpers' ping-reqs (3 each) when they fail, ~40; stretched ×4 or more: ~10.
  expect(perSecond).toBeLessThan(20);
  net.heal(addr(5));
  await within("n5 alive everywhere", 10_000, () => nodes.every((s) => s === victim || stateOf(s, "n5") === "alive"));
  await within("n5 sees everyone alive", 10_000, () => victim.view().filter((m) => m.state === "alive").length === N);
  await within("n5 healthy again", 15_000, () => victim.localHealth === 0);
});

test("a node really dies: found dead by all, and the probers stay healthy (their helpers nack)", async () => {
  await within("all healthy before", 15_000, () => healthy(nodes));
  net.cut(addr(7));
  const others = nodes.filter((_, i) => i !== 7);
  const ms = await within("n7 dead everywhere", 8000, () => others.every((s) => stateOf(s, "n7") === "dead"));
  console.log(`death found by all ${N - 1} in ${ms.toFixed(0)} ms; local health of the others: ${others.map((s) => s.localHealth).join(",")}`);
  // A failed probe with nacks from every helper is not the prober's fault: without them each failed probe of
  // n7 would add 3 (its three silent helpers). A late timer on a busy machine may still add 1 here and there.
  expect(Math.max(...others.map((s) => s.localHealth))).toBeLessThanOrEqual(2);
});
