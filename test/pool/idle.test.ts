import { expect, test } from "bun:test";
import { IdleClock } from "../../src/pool/idle.ts";

test("a preview is idle once its last request is older than the timeout", () => {
  let now = 1_000;
  const clock = new IdleClock(() => now);
  clock.touch("a");
  clock.touch("b");
  now = 1_500;
  clock.touch("b");
  now = 2_100;
  expect(clock.idleFor(1_000, ["a", "b"])).toEqual(["a"]);
  now = 2_600;
  expect(clock.idleFor(1_000, ["a", "b"]).sort()).toEqual(["a", "b"]);
});

test("an open WebSocket keeps a preview in use until it closes", () => {
  let now = 0;
  const clock = new IdleClock(() => now);
  clock.socketOpened("a");
  clock.socketOpened("a");
  now = 10_000;
  expect(clock.idleFor(1_000, ["a"])).toEqual([]);
  clock.socketClosed("a");
  now = 20_000;
  expect(clock.idleFor(1_000, ["a"])).toEqual([]);
  clock.socketClosed("a");
  now = 30_000;
  expect(clock.idleFor(1_000, ["a"])).toEqual(["a"]);
});

test("takeDirty hands out each renewed preview once", () => {
  let now = 5;
  const clock = new IdleClock(() => now);
  clock.touch("a");
  clock.touch("a");
  expect(clock.takeDirty()).toEqual([["a", new Date(5)]]);
  expect(clock.takeDirty()).toEqual([]);
  clock.forget("a");
  expect(clock.lastActiveAt("a")).toBeUndefined();
});

test("a request in flight keeps a preview in use like a socket; the clock starts when the last one ends", () => {
  let now = 0;
  const clock = new IdleClock(() => now);
  clock.requestStarted("a");
  clock.socketOpened("a");
  now = 10_000;
  expect(clock.idleFor(1_000, ["a"])).toEqual([]);
  clock.socketClosed("a");
  now = 20_000;
  expect(clock.idleFor(1_000, ["a"])).toEqual([]);
  clock.requestEnded("a");
  now = 20_500;
  expect(clock.idleFor(1_000, ["a"])).toEqual([]);
  now = 21_000;
  expect(clock.idleFor(1_000, ["a"])).toEqual(["a"]);
});
