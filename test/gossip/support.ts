// A simulated cluster of SWIM nodes on the in-memory network.
import { createLogger } from "../../src/log.ts";
import { MemNet, type MemNetOptions } from "../../src/gossip/memnet.ts";
import type { Profile } from "../../src/gossip/profiles.ts";
import { Swim } from "../../src/gossip/swim.ts";

export const SECRET = "simulated-cluster-secret";
const log = createLogger("error");

export function simCluster(n: number, profile: Profile, net: MemNetOptions = {}, secret = SECRET) {
  const memnet = new MemNet(net);
  const nodes: Swim[] = [];
  for (let i = 0; i < n; i++) {
    const swim = new Swim({
      id: `n${i}`,
      transport: memnet.transport(`10.0.${Math.floor(i / 250)}.${i % 250}:8082`),
      secret,
      seeds: ["10.0.0.0:8082", "10.0.0.1:8082"],
      profile,
      meta: { capacity: 100, running: 0, free: 100 },
      log,
    });
    nodes.push(swim);
  }
  for (const s of nodes) s.start();
  return {
    memnet,
    nodes,
    addr: (i: number) => `10.0.${Math.floor(i / 250)}.${i % 250}:8082`,
    stateOf: (viewer: Swim, id: string) => viewer.view().find((m) => m.id === id)?.state,
    async stop() {
      await Promise.all(nodes.map((s) => s.stop()));
    },
  };
}

/** Polls `ok` every 20 ms; resolves with the elapsed ms, or throws after `ms`. */
export async function within(what: string, ms: number, ok: () => boolean): Promise<number> {
  const t0 = performance.now();
  while (!ok()) {
    if (performance.now() - t0 > ms) throw new Error(`${what}: not within ${ms} ms`);
    await Bun.sleep(20);
  }
  return performance.now() - t0;
}
