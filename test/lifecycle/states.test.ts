// The lifecycle's table and its move(): fast, no engine, no database.
import { describe, expect, test } from "bun:test";
import { MemoryStore } from "../../src/db/memory-store.ts";
import { canMove, IllegalTransition, Lifecycle, STATUSES, TRANSITIONS, type Transition } from "../../src/lifecycle/index.ts";
import { createLogger } from "../../src/log.ts";
import type { PreviewRecord, PreviewStatus } from "../../src/types.ts";

const log = createLogger("silent");

function record(id: string, status: PreviewStatus): PreviewRecord {
  const now = new Date();
  return { id, node: "n1", tier: "container", status, spec: { files: {}, env: {}, tier: "auto" }, createdAt: now, lastActiveAt: now };
}

async function setup(status: PreviewStatus = "starting") {
  const store = new MemoryStore();
  const moves: Array<[PreviewStatus | undefined, PreviewStatus]> = [];
  const told: Transition[] = [];
  const lc = new Lifecycle({ store, log });
  lc.react("container", (_s, from, to) => moves.push([from, to]));
  lc.on((t) => told.push(t));
  const s = { record: record("p1", status === "installing" ? "installing" : "starting") };
  await lc.insert(s);
  if (s.record.status !== status) await lc.move(s, status, "set up");
  return { store, lc, s, moves, told };
}

describe("the table of moves", () => {
  test("deleted is final; every other status may fail and be deleted", () => {
    expect(TRANSITIONS.deleted).toEqual([]);
    for (const from of STATUSES) {
      if (from === "deleted") continue;
      expect(canMove(from, "deleted")).toBe(true);
      expect(canMove(from, "failed") || from === "failed").toBe(true);
    }
  });

  test("a stopped preview wakes through starting (its app restarts); nothing resurrects a deleted one", () => {
    expect(canMove("stopped", "starting")).toBe(true);
    expect(canMove("failed", "running")).toBe(false); // a failed app answers only after it started again
    expect(canMove("installing", "running")).toBe(false);
    for (const to of STATUSES) expect(canMove("deleted", to)).toBe(false);
  });

  test("every status the table names is a status", () => {
    for (const [from, tos] of Object.entries(TRANSITIONS)) {
      expect(STATUSES).toContain(from as PreviewStatus);
      for (const to of tos) expect(STATUSES).toContain(to);
    }
  });
});

describe("Lifecycle.move", () => {
  test("a move changes the record, lets the tier react, writes the store and tells the listeners", async () => {
    const { store, lc, s, moves, told } = await setup();
    expect(await lc.move(s, "running", "the app answers HTTP")).toBe(true);
    expect(s.record.status).toBe("running");
    expect(moves).toEqual([[undefined, "starting"], ["starting", "running"]]);
    expect((await store.get("p1"))?.status).toBe("running");
    expect(told.map((t) => [t.from, t.to, t.reason])).toEqual([[undefined, "starting", "created"], ["starting", "running", "the app answers HTTP"]]);
  });

  test("an illegal move throws, names both ends, and changes nothing", async () => {
    const { store, lc, s, told } = await setup("installing");
    const err = await lc.move(s, "running", "skipping the start").catch((e) => e);
    expect(err).toBeInstanceOf(IllegalTransition);
    expect(String(err.message)).toContain("installing to running");
    expect(s.record.status).toBe("installing");
    expect((await store.get("p1"))?.status).toBe("installing");
    expect(told).toHaveLength(1);
  });

  test("a failure's text is kept with failed and cleared once it runs again", async () => {
    const { store, lc, s } = await setup();
    await lc.move(s, "failed", "start timeout", { failure: "did not answer" });
    expect((await store.get("p1"))?.failure).toBe("did not answer");
    await lc.move(s, "starting", "the engine came back");
    expect(s.record.failure).toBeUndefined();
    expect((await store.get("p1"))?.failure).toBeUndefined();
  });

  test("`during` runs after the in-memory change; false calls it off, a throw undoes it, neither is written", async () => {
    const { store, lc, s, moves } = await setup("running");
    let seen: PreviewStatus | undefined;
    expect(await lc.move(s, "suspended", "idle", { during: async () => { seen = s.record.status; return false; } })).toBe(false);
    expect(seen).toBe("suspended"); // routing already followed the move while the pause ran
    expect(s.record.status).toBe("running");
    expect(moves.slice(-2)).toEqual([["running", "suspended"], ["suspended", "running"]]);
    const boom = await lc.move(s, "suspended", "idle", { during: async () => { throw new Error("engine away"); } }).catch((e) => e);
    expect(String(boom)).toContain("engine away");
    expect(s.record.status).toBe("running");
    expect(store.updates.filter((u) => u.patch.status === "suspended")).toHaveLength(0);
  });

  test("a new preview starts installing or starting, nothing else", async () => {
    const lc = new Lifecycle({ store: new MemoryStore(), log });
    await expect(lc.insert({ record: record("p2", "running") })).rejects.toBeInstanceOf(IllegalTransition);
  });
});

describe("Lifecycle.queue", () => {
  test("one preview's operations run one at a time in arrival order, whatever each one's outcome", async () => {
    const { lc } = await setup();
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const a = lc.queue("p1", async () => { order.push("a start"); await gate; order.push("a end"); });
    const b = lc.queue("p1", async () => { order.push("b"); throw new Error("b failed"); });
    const c = lc.queue("p1", async () => { order.push("c"); return 3; });
    const other = lc.queue("p2", async () => { order.push("other preview"); });
    await other;
    expect(order).toEqual(["a start", "other preview"]); // another preview does not wait
    release();
    await a;
    await expect(b).rejects.toThrow("b failed");
    expect(await c).toBe(3);
    expect(order).toEqual(["a start", "other preview", "a end", "b", "c"]);
    expect(lc.queued).toBe(0);
  });
});
