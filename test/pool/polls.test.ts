// Idle by traffic class (src/pool/polls.ts): which requests are background ones, when a background request
// becomes a poll, and that a poll holds a preview open while in flight without renewing its idle clock.
import { describe, expect, test } from "bun:test";
import { IdleClock } from "../../src/pool/idle.ts";
import { backgroundKey, POLL_GAP_MS, POLL_REPEATS, PollFilter } from "../../src/pool/polls.ts";

const headers = (h: Record<string, string>) => (name: string) => h[name];

describe("backgroundKey", () => {
  test("a GET or HEAD that is not a navigation, an upgrade or a stream is background, keyed without its query", () => {
    expect(backgroundKey("GET", "/api/health?t=123", headers({ accept: "application/json" }))).toBe("GET /api/health");
    expect(backgroundKey("HEAD", "/", headers({}))).toBe("HEAD /");
  });
  test("navigations, writes, upgrades and event streams are foreground", () => {
    expect(backgroundKey("GET", "/", headers({ "sec-fetch-mode": "navigate" }))).toBeUndefined();
    expect(backgroundKey("GET", "/", headers({ accept: "text/html,application/xhtml+xml,*/*;q=0.8" }))).toBeUndefined();
    expect(backgroundKey("GET", "/events", headers({ accept: "text/event-stream" }))).toBeUndefined();
    expect(backgroundKey("GET", "/ws", headers({ upgrade: "websocket" }))).toBeUndefined();
    expect(backgroundKey("POST", "/api/health", headers({}))).toBeUndefined();
  });
});

describe("PollFilter", () => {
  const clocked = () => {
    let now = 0;
    return { f: new PollFilter(() => now), tick: (ms: number) => (now += ms) };
  };
  test(`the same background request ${POLL_REPEATS} times in a row, a period apart, is a poll from then on`, () => {
    const { f, tick } = clocked();
    const seen = Array.from({ length: 5 }, () => (tick(POLL_GAP_MS), f.isPoll("p1", "GET /health")));
    expect(seen).toEqual([false, false, true, true, true]);
  });
  test("a burst of the same request (closer than the gap) counts once: a page's parallel calls are no poll", () => {
    const { f, tick } = clocked();
    const burst = Array.from({ length: 20 }, () => (tick(10), f.isPoll("p1", "GET /api/user")));
    expect(burst.some(Boolean)).toBe(false);
  });
  test("another path, or any foreground request, starts the count again; previews are counted apart", () => {
    const { f, tick } = clocked();
    for (let i = 0; i < 5; i++) (tick(POLL_GAP_MS), f.isPoll("p1", "GET /health"));
    tick(POLL_GAP_MS);
    expect(f.isPoll("p1", "GET /other")).toBe(false);
    for (let i = 0; i < 5; i++) (tick(POLL_GAP_MS), f.isPoll("p1", "GET /health"));
    expect(f.isPoll("p1", undefined)).toBe(false); // a navigation
    tick(POLL_GAP_MS);
    expect(f.isPoll("p1", "GET /health")).toBe(false);
    expect(f.isPoll("p2", "GET /health")).toBe(false);
  });
});

describe("IdleClock with polls", () => {
  test("a poll in flight keeps the preview open (never paused under it) but renews nothing", () => {
    let now = 1_000;
    const clock = new IdleClock(() => now);
    clock.touch("p1");
    now = 5_000;
    clock.pollStarted("p1");
    expect(clock.busy("p1")).toBe(true);
    expect(clock.idleFor(1_000, ["p1"])).toEqual([]); // in flight: not idle
    now = 6_000;
    clock.pollEnded("p1");
    expect(clock.busy("p1")).toBe(false);
    expect(clock.lastActiveAt("p1")).toBe(1_000); // the clock still runs from the last real use
    expect(clock.idleFor(4_000, ["p1"])).toEqual(["p1"]);
    clock.requestStarted("p1");
    clock.requestEnded("p1");
    expect(clock.lastActiveAt("p1")).toBe(6_000);
  });
});
