import { expect, test } from "bun:test";
import type { udp } from "bun";
import { Envelope } from "../../src/gossip/envelope.ts";
import { testProfile } from "../../src/gossip/profiles.ts";
import { Swim } from "../../src/gossip/swim.ts";
import type { Transport } from "../../src/gossip/transport.ts";
import { udpTransport } from "../../src/gossip/udp.ts";
import { createLogger } from "../../src/log.ts";
import { within } from "./support.ts";

const SECRET = "udp-cluster-secret-0123";

test("sealed datagrams open once; unsigned, forged, stale and replayed ones are dropped and counted", () => {
  let now = 1_000_000;
  const a = new Envelope("secret-one-secret-one", () => now);
  const b = new Envelope("secret-one-secret-one", () => now);
  const sealed = a.seal({ hello: "world" });
  expect(b.open(sealed)).toEqual({ hello: "world" });
  expect(b.open(sealed)).toBeUndefined(); // replay
  expect(b.open(new TextEncoder().encode('{"body":"{}"}'))).toBeUndefined(); // unsigned
  expect(b.open(new TextEncoder().encode("not json"))).toBeUndefined(); // unsigned
  expect(b.open(new Envelope("another-secret-entirely", () => now).seal({ x: 1 }))).toBeUndefined(); // forged
  const tampered = JSON.parse(new TextDecoder().decode(a.seal({ role: "member" })));
  tampered.body = JSON.stringify({ role: "admin" });
  expect(b.open(new TextEncoder().encode(JSON.stringify(tampered)))).toBeUndefined(); // forged
  const old = a.seal({ x: 2 });
  now += 31_000;
  expect(b.open(old)).toBeUndefined(); // stale
  expect(b.dropped).toEqual({ unsigned: 2, forged: 2, stale: 1, replayed: 1, misaddressed: 0 });
});

/** A plain UDP socket on loopback: the attacker's, or a tap that captures what is sent to a port. */
async function rawSocket(port = 0): Promise<{ socket: udp.Socket<"buffer">; got: Array<{ data: Uint8Array; from: string }> }> {
  const got: Array<{ data: Uint8Array; from: string }> = [];
  const socket = await Bun.udpSocket({ hostname: "127.0.0.1", port, socket: { data: (_s, data, p, a) => void got.push({ data: new Uint8Array(data), from: `${a}:${p}` }) } });
  return { socket, got };
}

function inbox(t: Transport): Array<{ from: string; bytes: Uint8Array }> {
  const got: Array<{ from: string; bytes: Uint8Array }> = [];
  t.onMessage((from, bytes) => void got.push({ from, bytes }));
  return got;
}

test("over real UDP: a datagram captured on its way to node A and replayed to node B is refused and counted", async () => {
  const sender = await udpTransport("127.0.0.1", 0, undefined, SECRET);
  const seal = new Envelope(SECRET); // the sender's membership code seals, the transport addresses
  // Capture: a tap on A's port records what the sender sends to A, then A itself binds that port.
  const tap = await rawSocket();
  const aPort = tap.socket.port;
  sender.send(`127.0.0.1:${aPort}`, seal.seal({ t: "sync", from: "sender", members: [], reply: true }));
  await within("the tap captures the datagram", 2000, () => tap.got.length === 1);
  const captured = tap.got[0]!.data;
  tap.socket.close();
  const a = await udpTransport("127.0.0.1", aPort, undefined, SECRET);
  const b = await udpTransport("127.0.0.1", 0, undefined, SECRET);
  const [toA, toB] = [inbox(a), inbox(b)];
  const openA = new Envelope(SECRET); // each node's membership code opens with its own envelope (nonces)
  const openB = new Envelope(SECRET);
  const attacker = await rawSocket();
  try {
    // Replayed to B: refused before the membership code sees it, counted.
    attacker.socket.send(captured, Number(b.addr.split(":")[1]), "127.0.0.1");
    await within("B counts the misaddressed datagram", 2000, () => b.dropped!.misaddressed === 1);
    expect(toB).toEqual([]);
    // Re-addressed to B by the attacker (the route rewritten, no secret): forged.
    const text = new TextDecoder().decode(captured);
    const rewritten = new TextEncoder().encode(text.replace(`127.0.0.1:${aPort} `, `${b.addr} `));
    expect(rewritten).not.toEqual(captured);
    attacker.socket.send(rewritten, Number(b.addr.split(":")[1]), "127.0.0.1");
    // Stripped of its route (the bare sealed datagram, which B's envelope would accept): unsigned.
    const bare = captured.subarray(captured.indexOf(10) + 1);
    expect(openB.open(bare.slice())).toEqual({ t: "sync", from: "sender", members: [], reply: true }); // what was at stake
    attacker.socket.send(bare, Number(b.addr.split(":")[1]), "127.0.0.1");
    await within("B counts the forged and the unsigned ones", 2000, () => b.dropped!.forged === 1 && b.dropped!.unsigned === 1);
    expect(toB).toEqual([]);
    // Replayed to A, whom it was for, from the attacker's address: A takes it once (its envelope then stops
    // the replay), and the reply address handed up is the signed sender's, not the attacker's source address.
    attacker.socket.send(captured, aPort, "127.0.0.1");
    await within("A receives it", 2000, () => toA.length === 1);
    expect(toA[0]!.from).toBe(sender.addr);
    expect(toA[0]!.from).not.toBe(`127.0.0.1:${attacker.socket.port}`);
    expect(openA.open(toA[0]!.bytes)).toEqual({ t: "sync", from: "sender", members: [], reply: true });
    attacker.socket.send(captured, aPort, "127.0.0.1");
    await within("A receives the replay", 2000, () => toA.length === 2);
    expect(openA.open(toA[1]!.bytes)).toBeUndefined();
    expect(openA.dropped.replayed).toBe(1);
    expect(a.dropped!.misaddressed).toBe(0);
    expect(b.dropped).toEqual({ unsigned: 1, forged: 1, stale: 0, replayed: 0, misaddressed: 1 });
  } finally {
    attacker.socket.close();
    await Promise.all([a.close(), b.close(), sender.close()]);
  }
});

test("over real UDP: a seed given by name is this node; addressed clusters still form", async () => {
  const log = createLogger("error");
  const ta = await udpTransport("127.0.0.1", 0, undefined, SECRET);
  const tb = await udpTransport("127.0.0.1", 0, undefined, SECRET);
  const meta = { capacity: 1, running: 0, free: 1 };
  // B knows A only as "localhost:port" (a PREVIEWD_PEERS name): A resolves it to itself and answers.
  const a = new Swim({ id: "a", transport: ta, secret: SECRET, seeds: [], profile: testProfile, meta, log });
  const b = new Swim({ id: "b", transport: tb, secret: SECRET, seeds: [`localhost:${ta.addr.split(":")[1]}`], profile: testProfile, meta, log });
  a.start();
  b.start();
  try {
    const alive = (s: Swim, id: string) => s.view().some((m) => m.id === id && m.state === "alive");
    await within("both see each other alive", 5000, () => alive(a, "b") && alive(b, "a"));
    await Bun.sleep(500); // some rounds of probes and acks, all addressed
    expect(alive(a, "b") && alive(b, "a")).toBe(true);
    expect(ta.dropped!.misaddressed! + tb.dropped!.misaddressed!).toBe(0);
    expect(a.envelope.dropped.forged + b.envelope.dropped.forged).toBe(0);
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
});
