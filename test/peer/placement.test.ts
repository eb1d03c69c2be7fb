import { expect, test } from "bun:test";
import type { Member } from "../../src/gossip/swim.ts";
import { Placement } from "../../src/peer/placement.ts";

const member = (id: string, free: number, state: Member["state"] = "alive"): Member => ({ id, addr: `${id}:1`, incarnation: 1, state, meta: { capacity: 10, running: 10 - free, free }, since: 0 });

test("here while this node has room; no reservation on top of its own exact count", () => {
  let free = 2;
  const p = new Placement("a", () => [member("a", free), member("b", 9)], () => ({ capacity: 10, running: 10 - free, free }));
  expect(p.place()!.node).toBe("a");
  expect(p.place()!.node).toBe("a");
  free = 0;
  expect(p.place()!.node).toBe("b");
});

test("a full node spreads a burst by reservations, and says null when nobody alive has room", () => {
  const p = new Placement("a", () => [member("a", 0), member("b", 2), member("c", 1), member("d", 5, "dead"), member("e", 5, "suspect")], () => ({ capacity: 10, running: 10, free: 0 }));
  const picks = [p.place(), p.place(), p.place()].map((s) => s!.node);
  expect(picks.sort()).toEqual(["b", "b", "c"]);
  expect(p.place()).toBeNull();
});
