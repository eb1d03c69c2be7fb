// The in-flight limit shared by several fronts (src/proxy/fast/shared-limit.ts):
// two limits over one set of counters, as the main thread and a front thread
// have, and the slot table's hand-out, sweep and quarantine.
import { expect, test } from "bun:test";
import { SlotTable } from "../../src/proxy/fast/shared-limit.ts";
import { InflightLimit } from "../../src/proxy/limits.ts";

test("two fronts over shared counters hold a preview to its limit together, and each gives back what it took", () => {
  const slots = new SlotTable();
  const shared = { counters: slots.counters, slotOf: (id: string) => slots.slotOf(id) };
  const main = new InflightLimit(3, shared);
  const thread = new InflightLimit(3, shared);
  expect([main.tryAcquire("a"), thread.tryAcquire("a"), thread.tryAcquire("a"), main.tryAcquire("a"), thread.tryAcquire("a")]).toEqual([true, true, true, false, false]);
  expect(main.inflight("a")).toBe(3);
  expect(main.tryAcquire("b")).toBe(true); // another preview has a counter of its own
  thread.release("a");
  expect(main.tryAcquire("a")).toBe(true);
  expect(thread.tryAcquire("a")).toBe(false);
});

test("a slot is taken back once its preview has left the routes and its counter is zero, and reused only after the quarantine", () => {
  const slots = new SlotTable();
  const limit = new InflightLimit(8, { counters: slots.counters, slotOf: (id) => slots.slotOf(id) });
  const a = slots.slotOf("a")!;
  const b = slots.slotOf("b")!;
  expect(a).not.toBe(b);
  expect(limit.tryAcquire("b")).toBe(true);
  const t0 = 1_000_000;
  slots.sweep(new Set(), t0); // a: gone and idle, taken back; b: a request still holds its counter
  expect(slots.slotOf("b")).toBe(b);
  const c = slots.slotOf("c")!;
  expect(c).not.toBe(a); // a rests
  slots.sweep(new Set(["b", "c"]), t0 + 6000);
  expect(slots.slotOf("d")).toBe(a); // and after the quarantine it is handed out again
  limit.release("b");
  expect(Atomics.load(slots.counters, b)).toBe(0);
});
