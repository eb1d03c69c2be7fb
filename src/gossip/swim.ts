// SWIM membership in the style of hashicorp/memberlist. Each round a node
// pings one member (round-robin over a shuffled list); without an ack it
// asks k others to ping on its behalf; still nothing, the member becomes a
// suspect, and dead once the suspicion outlives a timeout scaled by
// log(cluster size). A live node that hears it is suspected refutes with a
// higher incarnation. State changes (and each node's capacity) ride as
// rumours piggybacked on pings and acks, each retransmitted a bounded number
// of times; a periodic full-state sync with one random member lets joiners
// and healed partitions converge.
//
// A node stopped on purpose (an upgrade, a reboot) says so: it gossips itself
// as "left" at a new incarnation, so no one confuses the stop with a death.
// A left member is not probed, and turns dead locally only once it stays away
// past `leftGraceMs`; coming back, it outranks its own "left" (incarnations
// start at the clock) and is alive again.
//
// Local health (Lifeguard): local-health.ts.
import { Envelope } from "./envelope.ts";
import { LocalHealth } from "./local-health.ts";
import { rumourOf, type Member, type MemberStatus, type Meta, type Msg, type SwimOptions, type Timers, type Update } from "./members.ts";
import { RumourQueue } from "./rumours.ts";
import { shuffle } from "./shuffle.ts";

export type { Member, MemberStatus, Meta, SwimOptions, Timers } from "./members.ts";
export { MAX_LOCAL_HEALTH } from "./local-health.ts";

export class Swim {
  readonly envelope: Envelope;
  private readonly members = new Map<string, Member>();
  private readonly queue = new RumourQueue();
  private readonly pending = new Map<number, () => void>();
  private readonly relays = new Map<number, { to: string; seq: number }>();
  private readonly suspicions = new Map<string, unknown>();
  private readonly timers: Array<ReturnType<typeof setInterval>> = [];
  /** Nacks counted per indirect probe in flight (seq of our probe). */
  private readonly nacks = new Map<number, number>();
  private probeTimer?: unknown;
  private readonly clock: Timers;
  private stopped = false;
  private readonly health: LocalHealth;
  private order: string[] = [];
  private next = 0;
  private seq = 0;
  private self: Member;
  /** Datagrams sent, for the messages-per-second figure. */
  sent = 0;
  /** Timers of ours that fired late (this process was starved): each judged no one. */
  get lateTimers(): number {
    return this.health.lateTimers;
  }

  constructor(private readonly o: SwimOptions) {
    this.envelope = new Envelope(o.secret);
    this.health = new LocalHealth(o.profile.ackTimeoutMs, o.log);
    this.clock = o.timers ?? { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (t) => clearTimeout(t as ReturnType<typeof setTimeout>) };
    // A restarted node starts above any incarnation it had before: its old death is refuted at once.
    this.self = { id: o.id, addr: o.transport.addr, incarnation: Date.now(), state: "alive", meta: o.meta, since: Date.now() };
    o.transport.onMessage((from, bytes) => this.receive(from, bytes));
  }

  start(): void {
    this.enqueue(rumourOf(this.self));
    this.syncWithSeeds();
    this.scheduleProbe(performance.now() + this.o.profile.probeIntervalMs);
    this.timers.push(setInterval(() => this.pushPull(), this.o.profile.pushPullIntervalMs));
    // Seeds that were not up at start are retried until they answer.
    this.timers.push(setInterval(() => this.syncWithSeeds(), Math.min(1000, this.o.profile.pushPullIntervalMs)));
  }

  /**
   * Leaves on purpose: the others hear "left, expected back" from the node
   * itself, at an incarnation above any rumour about it, so a stop is never
   * taken for a death (its previews stay put for the grace). Sent three times,
   * a few ms apart: UDP may drop one, and a member that misses all of them
   * still hears it from the others' piggybacks or full syncs.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.clock.clearTimeout(this.probeTimer);
    for (const t of this.timers) clearInterval(t);
    for (const t of this.suspicions.values()) this.clock.clearTimeout(t);
    this.self.incarnation++;
    const bye: Update = { ...rumourOf(this.self), state: "left" };
    // To every member it knows, whatever it thinks of them: a node slow to stop may have taken live peers
    // for dead, and those are exactly the ones that must not take this stop for a death.
    for (let i = 0; i < 3; i++) {
      if (i) await Bun.sleep(20);
      for (const m of this.members.values()) this.send(m.addr, { t: "ping", seq: 0, from: this.self.id, u: [bye] });
    }
    await Bun.sleep(20); // the last datagrams leave before the socket closes
    await this.o.transport.close();
  }

  /** Changes what this node tells about itself (capacity, room); spreads as a new incarnation. */
  setMeta(meta: Meta): void {
    const m = this.self.meta;
    if (m.capacity === meta.capacity && m.running === meta.running && m.free === meta.free && m.memoryFreeMb === meta.memoryFreeMb && m.memoryTotalMb === meta.memoryTotalMb) return;
    this.self.meta = meta;
    this.self.incarnation++;
    this.enqueue(rumourOf(this.self));
  }

  get id(): string {
    return this.self.id;
  }

  /** Lifeguard's local health multiplier: 0 is healthy; timeouts are stretched by (this + 1). */
  get localHealth(): number {
    return this.health.value;
  }

  /** This node and every member it knows (dead ones until reaped). */
  view(): Member[] {
    return [{ ...this.self }, ...[...this.members.values()].map((m) => ({ ...m }))];
  }

  /** Members to probe and gossip with: neither dead nor away on purpose. */
  private alive(): Member[] {
    return [...this.members.values()].filter((m) => m.state === "alive" || m.state === "suspect");
  }

  // ---- failure detection ------------------------------------------------------

  private nextTarget(): Member | undefined {
    const candidates = this.alive();
    if (candidates.length === 0) return undefined;
    if (this.next >= this.order.length) {
      this.order = shuffle(candidates.map((m) => m.id));
      this.next = 0;
    }
    const m = this.members.get(this.order[this.next++]!);
    return m && (m.state === "alive" || m.state === "suspect") ? m : this.nextTarget();
  }

  /**
   * One probe after another, each `interval × (LHM+1)` after the previous one
   * began (a chain of timeouts, not setInterval: the interval stretches with
   * the LHM, and probes never overlap). A tick that fires late is the first
   * sign that this process was not running.
   */
  private scheduleProbe(at: number): void {
    if (this.stopped) return;
    this.probeTimer = this.clock.setTimeout(async () => {
      const started = performance.now();
      this.health.checkLate(at, "probe timer");
      await this.probe().catch((err) => this.o.log.warn({ err }, "gossip probe failed"));
      this.scheduleProbe(Math.max(performance.now(), started + this.health.scaled(this.o.profile.probeIntervalMs)));
    }, Math.max(0, at - performance.now()));
  }

  private async probe(): Promise<void> {
    this.reap();
    const target = this.nextTarget();
    if (!target) return;
    const seq = ++this.seq;
    const p = this.o.profile;
    const ackMs = this.health.scaled(p.ackTimeoutMs);
    // Helpers get the rest of the interval, but never less than half an ack timeout (the local profile's
    // interval equals its ack timeout, which would leave them no time at all).
    const indirectMs = this.health.scaled(Math.max(p.probeIntervalMs - p.ackTimeoutMs, p.ackTimeoutMs / 2));
    const acked = this.awaitAck(seq, ackMs + indirectMs);
    const t0 = performance.now();
    // A suspect hears its suspicion in the ping itself (memberlist's compound ping+suspect): once the rumour's
    // retransmits are spent, piggyback alone might never carry it back, and the suspect would die unrefuted.
    const told = target.state === "suspect" ? [{ ...rumourOf(target), state: "suspect" as const }] : [];
    this.send(target.addr, { t: "ping", seq, from: this.self.id, u: [...told, ...this.piggyback()] });
    if (await Promise.race([acked, this.sleep(ackMs).then(() => false)])) return this.health.adjust(-1);
    // Our own timer fired late: the ack may be sitting unread in the socket. This probe proves nothing.
    if (this.health.checkLate(t0 + ackMs, "ack timeout")) return;
    // A busy event loop runs due timers before it reads sockets: let it read once before judging.
    if (await Promise.race([acked, new Promise<false>((r) => setImmediate(() => r(false)))])) return this.health.adjust(-1);
    const helpers = shuffle(this.alive().filter((m) => m.id !== target.id)).slice(0, p.indirectChecks);
    this.nacks.set(seq, 0);
    // Helpers that cannot reach the target either say so (nack) halfway through our wait (memberlist: 80%; half
    // leaves the nack time to arrive on a busy machine): proof that we are healthy, and the target is the problem.
    const nackMs = Math.round(indirectMs / 2);
    for (const h of helpers) this.send(h.addr, { t: "ping-req", seq, from: this.self.id, target: target.addr, u: this.piggyback(), nackMs });
    const ok = await acked;
    const nacks = this.nacks.get(seq) ?? 0;
    this.nacks.delete(seq);
    if (ok) return this.health.adjust(-1);
    if (this.health.checkLate(t0 + ackMs + indirectMs, "indirect probe")) return;
    // memberlist's rule: each helper that stayed silent counts against us; with no helper, the failure itself does.
    this.health.adjust(helpers.length ? helpers.length - nacks : 1);
    const m = this.members.get(target.id);
    if (m && m.state === "alive") {
      this.o.log.warn({ node: m.id, localHealth: this.health.value, nacks, helpers: helpers.length }, "no ack from cluster member: suspect");
      this.apply({ ...rumourOf(m), state: "suspect" });
    }
  }

  // ---- timers -------------------------------------------------------------------

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.clock.setTimeout(resolve, ms));
  }

  private awaitAck(seq: number, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = this.clock.setTimeout(() => {
        this.pending.delete(seq);
        resolve(false);
      }, ms);
      this.pending.set(seq, () => {
        this.clock.clearTimeout(timer);
        this.pending.delete(seq);
        resolve(true);
      });
    });
  }

  private suspicionTimeoutMs(): number {
    const n = this.members.size + 1;
    return this.o.profile.suspicionMult * Math.max(1, Math.log10(n)) * this.o.profile.probeIntervalMs;
  }

  // ---- rumours ----------------------------------------------------------------

  private enqueue(u: Update): void {
    this.queue.add(u); // a newer rumour about a member replaces the older one
  }

  private piggyback(): Update[] {
    return this.queue.take(this.o.profile.retransmitMult * Math.ceil(Math.log10(this.members.size + 2)));
  }

  /**
   * Applies a rumour by the SWIM rules: a higher incarnation wins; at equal
   * ones suspect beats alive, left beats both, and dead beats all (a left
   * member past its grace is declared dead at the same incarnation).
   */
  private apply(u: Update): void {
    if (u.id === this.self.id) {
      if (u.state !== "alive" && u.inc >= this.self.incarnation) {
        this.self.incarnation = u.inc + 1; // refute: "I am alive, and newer than that"
        this.enqueue(rumourOf(this.self));
        if (u.state === "suspect" || u.state === "dead") this.health.adjust(1); // others could not hear us: likely our fault (Lifeguard)
      } else if (u.state === "suspect" && !this.queue.has(u.id)) {
        // Someone still suspects an incarnation we already refuted: our refutation's retransmits were spent
        // before it reached them. Send it again, or they declare us dead.
        this.enqueue(rumourOf(this.self));
      }
      return;
    }
    const m = this.members.get(u.id);
    if (!m) {
      if (u.state === "dead") return; // no news about strangers' deaths
      // A stranger that left is kept (a node that joined while it was away must not take it for dead).
      this.members.set(u.id, { id: u.id, addr: u.addr, incarnation: u.inc, state: u.state, meta: u.meta, since: Date.now() });
      this.enqueue(u);
      if (u.state === "suspect") this.startSuspicion(u.id, u.inc);
      this.o.onChange?.(this.members.get(u.id)!, undefined);
      return;
    }
    const before = m.state;
    const newer = u.inc > m.incarnation;
    const same = u.inc === m.incarnation;
    const wins =
      (u.state === "alive" && newer) ||
      (u.state === "suspect" && (newer || (same && m.state === "alive"))) ||
      (u.state === "left" && (newer || (same && (m.state === "alive" || m.state === "suspect")))) ||
      (u.state === "dead" && (newer || same) && m.state !== "dead");
    if (!wins) return;
    Object.assign(m, { addr: u.addr, incarnation: u.inc, state: u.state, meta: u.meta });
    if (before !== u.state) m.since = Date.now();
    if (u.state === "suspect") this.startSuspicion(u.id, u.inc);
    else this.cancelSuspicion(u.id);
    this.enqueue(u);
    if (before !== u.state || u.state === "alive") this.o.onChange?.(m, before);
  }

  private startSuspicion(id: string, inc: number): void {
    this.arm(id, inc, this.suspicionTimeoutMs());
  }

  private arm(id: string, inc: number, ms: number): void {
    this.cancelSuspicion(id);
    const due = performance.now() + ms;
    this.suspicions.set(
      id,
      this.clock.setTimeout(() => {
        this.suspicions.delete(id);
        const m = this.members.get(id);
        if (!m || m.state !== "suspect" || m.incarnation !== inc) return;
        // Fired late: the suspect's refutation may be among the datagrams not read yet. Give them one probe interval.
        if (this.health.checkLate(due, "suspicion")) return this.arm(id, inc, this.health.scaled(this.o.profile.probeIntervalMs));
        this.o.log.warn({ node: id }, "cluster member is dead");
        this.apply({ ...rumourOf(m), state: "dead" });
      }, ms),
    );
  }

  private cancelSuspicion(id: string): void {
    const t = this.suspicions.get(id);
    if (t) this.clock.clearTimeout(t);
    this.suspicions.delete(id);
  }

  private reap(): void {
    const cutoff = Date.now() - this.o.profile.reapAfterMs;
    for (const m of this.members.values()) if (m.state === "dead" && m.since < cutoff) this.members.delete(m.id);
    this.expireLeft();
  }

  /** A member that left and stayed away past the grace is dead (same incarnation: dead wins). */
  private expireLeft(): void {
    const grace = this.o.leftGraceMs;
    if (grace === undefined) return;
    const cutoff = Date.now() - grace;
    for (const m of this.members.values()) {
      if (m.state !== "left" || m.since > cutoff) continue;
      this.o.log.warn({ node: m.id, graceMs: grace }, "cluster member left and did not come back within the grace: dead");
      this.apply({ ...rumourOf(m), state: "dead" });
    }
  }

  // ---- state sync ---------------------------------------------------------------

  private fullState(): Update[] {
    return [rumourOf(this.self), ...[...this.members.values()].map((m) => rumourOf(m))];
  }

  private pushPull(): void {
    const peers = this.alive();
    const m = peers[Math.floor(Math.random() * peers.length)];
    if (m) this.send(m.addr, { t: "sync", from: this.self.id, members: this.fullState(), reply: true });
  }

  private syncWithSeeds(): void {
    const known = new Set(this.alive().map((m) => m.addr));
    for (const seed of this.o.seeds) {
      if (seed === this.self.addr || known.has(seed)) continue;
      this.send(seed, { t: "sync", from: this.self.id, members: this.fullState(), reply: true });
    }
  }

  // ---- wire -----------------------------------------------------------------------

  private send(addr: string, msg: Msg): void {
    this.sent++;
    this.o.transport.send(addr, this.envelope.seal(msg));
  }

  private receive(from: string, bytes: Uint8Array): void {
    // A stopping node only says goodbye: were it to hear its own "left" back (a sibling's piggyback), it would
    // refute it with a newer "alive", and its siblings would take the stop for a death.
    if (this.stopped) return;
    try {
      this.handle(from, bytes);
    } catch (err) {
      this.o.log.warn({ err, from }, "malformed gossip message");
    }
  }

  private handle(from: string, bytes: Uint8Array): void {
    const msg = this.envelope.open(bytes) as Msg | undefined;
    if (!msg || typeof msg !== "object") return;
    switch (msg.t) {
      case "ping":
        msg.u.forEach((u) => this.apply(u));
        if (msg.seq) this.send(from, { t: "ack", seq: msg.seq, from: this.self.id, u: this.piggyback() });
        break;
      case "ack": {
        msg.u.forEach((u) => this.apply(u));
        this.pending.get(msg.seq)?.();
        const relay = this.relays.get(msg.seq);
        if (relay) {
          this.relays.delete(msg.seq);
          this.send(relay.to, { t: "ack", seq: relay.seq, from: this.self.id, u: [] });
        }
        break;
      }
      case "ping-req": {
        msg.u.forEach((u) => this.apply(u));
        const seq = ++this.seq;
        this.relays.set(seq, { to: from, seq: msg.seq });
        // Kept as long as the prober waits (its windows stretch with its LHM: twice the nack delay it sent).
        this.clock.setTimeout(() => this.relays.delete(seq), Math.max(this.o.profile.probeIntervalMs * 2, (msg.nackMs ?? 0) * 2));
        this.send(msg.target, { t: "ping", seq, from: this.self.id, u: this.piggyback() });
        // No ack from the target in time: tell the prober we are here (and it is not its own fault).
        if (msg.nackMs) this.clock.setTimeout(() => this.relays.has(seq) && this.send(from, { t: "nack", seq: msg.seq, from: this.self.id }), msg.nackMs);
        break;
      }
      case "nack": {
        const n = this.nacks.get(msg.seq);
        if (n !== undefined) this.nacks.set(msg.seq, n + 1);
        break;
      }
      case "sync":
        msg.members.forEach((u) => this.apply(u));
        if (msg.reply) this.send(from, { t: "sync", from: this.self.id, members: this.fullState(), reply: false });
        break;
    }
  }
}
