// The fake's Machines: state, the state machine of reference §1.8, and wait.
//
// A verb answers at once with the machine in its transient state (starting,
// stopping, suspending, destroying), and the Docker work runs behind it,
// one operation at a time per machine; the persistent state (started,
// stopped, suspended, destroyed) is set when Docker is done. That is why
// clients must `wait` (§1.7), and why this fake makes them. A refused
// transition is 412 {"error": "failed_precondition: ..."} (the form seen from
// Fly in the wild; the docs do not list it).
import { randomBytes } from "node:crypto";
import type { Containers } from "./containers.ts";
import type { MachineConfig } from "./schemas.ts";

export type State =
  | "created" | "starting" | "started" | "stopping" | "stopped" | "suspending" | "suspended" | "destroying" | "destroyed" | "failed";

export interface FakeMachine {
  id: string;
  name: string;
  app: string;
  region: string;
  state: State;
  instance_id: string;
  private_ip: string;
  config: MachineConfig;
  image_ref: { registry: string; repository: string; tag: string; digest: string; labels: Record<string, string> };
  created_at: string;
  updated_at: string;
  events: Array<{ id: string; type: string; status: string; source: string; timestamp: number }>;
  containerId: string;
  /** internal_port -> 127.0.0.1 port of the running container. */
  ports: Map<number, number>;
  /** Last request the edge forwarded (or boot): what autostop measures idleness from. */
  lastActive: number;
}

/** An API answer other than 2xx. */
export class FlyError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

interface Waiter {
  m: FakeMachine;
  states: Set<string>;
  done: () => void;
}

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/** A ULID-shaped id (26 chars): Fly's instance_id/version. */
export function ulid(): string {
  let t = Date.now();
  let time = "";
  for (let i = 0; i < 10; i++, t = Math.floor(t / 32)) time = CROCKFORD[t % 32] + time;
  return time + Array.from(randomBytes(16), (b) => CROCKFORD[b % 32]).join("");
}

const WORDS = [["aged", "bold", "calm", "dry", "late", "misty", "quiet", "wild"], ["thunder", "river", "meadow", "forest", "dawn", "sun", "moon", "leaf"]] as const;
const pick = <T>(a: readonly T[]) => a[Math.floor(Math.random() * a.length)]!;

export class Machines {
  readonly all = new Map<string, FakeMachine>();
  private readonly waiters = new Set<Waiter>();
  private readonly chains = new Map<string, Promise<void>>();

  constructor(private readonly containers: Containers) {}

  /** Docs sample: id 14 hex chars, generated name like aged-thunder-7371. */
  async create(app: string, region: string, config: MachineConfig, name: string | undefined, skipLaunch: boolean): Promise<FakeMachine> {
    const image = await this.containers.image(config.image);
    if (!image) throw new FlyError(400, `failed to get image "${config.image}": not found (the fake runs local Docker images only)`);
    const id = randomBytes(7).toString("hex");
    if (name && [...this.all.values()].some((m) => m.app === app && m.name === name && m.state !== "destroyed")) {
      throw new FlyError(422, `machine name "${name}" already in use`, "name_taken");
    }
    const containerId = await this.containers.create({ machineId: id, app, region, config });
    const now = new Date().toISOString();
    const m: FakeMachine = {
      id, app, region, config, containerId,
      name: name || `${pick(WORDS[0])}-${pick(WORDS[1])}-${1000 + Math.floor(Math.random() * 9000)}`,
      state: "created",
      instance_id: ulid(),
      private_ip: `fdaa:0:1:a7b:${randomBytes(2).toString("hex")}:${randomBytes(2).toString("hex")}:${randomBytes(2).toString("hex")}:2`,
      image_ref: { registry: "local", repository: config.image.split(":")[0]!, tag: image.tag, digest: image.id, labels: {} },
      created_at: now, updated_at: now, events: [], ports: new Map(), lastActive: Date.now(),
    };
    this.all.set(id, m);
    this.event(m, "launch", "created", "user");
    if (!skipLaunch) this.begin(m, "starting", "started", "user", () => this.containers.start(m.containerId));
    return m;
  }

  get(app: string, id: string, includeDestroyed = true): FakeMachine {
    const m = this.all.get(id);
    if (!m || m.app !== app || (!includeDestroyed && m.state === "destroyed")) throw new FlyError(404, "machine not found");
    return m;
  }

  /** POST /start: created, stopped, suspended or failed -> starting -> started (a suspended one resumes). */
  start(m: FakeMachine, source = "user"): { previous_state: string; migrated: boolean; new_host: string } {
    const previous_state = m.state;
    if (m.state === "started" || m.state === "starting") return { previous_state, migrated: false, new_host: "" };
    if (!["created", "stopped", "suspended", "failed"].includes(m.state)) throw precondition(`machine still active (${m.state}), refusing to start`);
    this.begin(m, "starting", "started", source, () => this.containers.start(m.containerId));
    return { previous_state, migrated: false, new_host: "" };
  }

  /** POST /stop: started or suspended (its snapshot discarded) -> stopping -> stopped. */
  stop(m: FakeMachine, timeoutS: number, source = "user"): void {
    if (m.state === "stopped" || m.state === "stopping" || m.state === "created") return;
    if (!["started", "starting", "suspended", "suspending", "failed"].includes(m.state)) throw precondition(`machine not in a stoppable state (${m.state})`);
    this.begin(m, "stopping", "stopped", source, () => this.containers.stop(m.containerId, timeoutS));
  }

  /** POST /suspend: started -> suspending -> suspended (docker pause keeps memory). */
  suspend(m: FakeMachine, source = "user"): void {
    if (m.state === "suspended" || m.state === "suspending") return;
    if (m.state !== "started") throw precondition(`machine not started (${m.state}), cannot suspend`);
    this.begin(m, "suspending", "suspended", source, () => this.containers.pause(m.containerId));
  }

  /** DELETE: only a machine that is not running, unless force (reference §1.6). */
  destroy(m: FakeMachine, force: boolean): void {
    if (m.state === "destroyed" || m.state === "destroying") return;
    if (!force && ["started", "starting", "stopping", "suspending"].includes(m.state)) {
      throw precondition(`unable to destroy machine, not currently stopped or suspended (${m.state}); use force=true`);
    }
    this.begin(m, "destroying", "destroyed", "user", () => this.containers.remove(m.containerId));
  }

  /** Resolves true once the machine is in one of `states` (and instance `version`, when given), false at the timeout. */
  wait(m: FakeMachine, states: string[], version: string | undefined, timeoutMs: number): Promise<boolean> {
    const want = new Set(states);
    if (version && version !== m.instance_id) return Bun.sleep(timeoutMs).then(() => false); // that instance never comes
    if (this.matches(m, want)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const w: Waiter = { m, states: want, done: () => (clearTimeout(timer), this.waiters.delete(w), resolve(true)) };
      const timer = setTimeout(() => (this.waiters.delete(w), resolve(false)), timeoutMs);
      this.waiters.add(w);
    });
  }

  private matches(m: FakeMachine, want: Set<string>): boolean {
    if (want.has(m.state)) return true;
    // spec: "settled" = any persistent state (not a transition in flight).
    return want.has("settled") && ["created", "started", "stopped", "suspended", "failed", "destroyed"].includes(m.state);
  }

  /** Sets the transient state now and runs the Docker work after this machine's earlier work. */
  private begin(m: FakeMachine, transient: State, final: State, source: string, work: () => Promise<void>): void {
    this.set(m, transient, source);
    const prev = this.chains.get(m.id) ?? Promise.resolve();
    const next = prev.then(async () => {
      try {
        await work();
        if (final === "started") {
          m.ports = await this.containers.ports(m.containerId);
          m.lastActive = Date.now();
        }
        this.set(m, final, source);
      } catch (e) {
        this.event(m, "exit", "failed", "flyd");
        this.set(m, final === "destroyed" ? "destroyed" : "failed", "flyd");
        console.error(`[fake-fly] ${transient} ${m.id} failed: ${(e as Error).message}`);
      }
    });
    this.chains.set(m.id, next);
  }

  /** Resolves when every Docker operation queued so far has finished (stop() of the fake). */
  async settle(): Promise<void> {
    await Promise.all(this.chains.values());
  }

  private set(m: FakeMachine, state: State, source: string): void {
    m.state = state;
    m.updated_at = new Date().toISOString();
    const type = { starting: "start", started: "start", stopping: "stop", stopped: "exit", suspending: "suspend", suspended: "suspend", destroying: "destroy", destroyed: "destroy", created: "launch", failed: "exit" }[state];
    if (state !== "failed") this.event(m, type, state, source);
    for (const w of this.waiters) if (w.m === m && this.matches(m, w.states)) w.done();
  }

  private event(m: FakeMachine, type: string, status: string, source: string): void {
    m.events.unshift({ id: ulid(), type, status, source, timestamp: Date.now() });
    m.events.length = Math.min(m.events.length, 50);
  }
}

const precondition = (msg: string) => new FlyError(412, `failed_precondition: ${msg}`);

/**
 * The Machine object as the API sends it (reference §1.5). `autostop` goes
 * out as Fly sends it: "off" as false, "stop" as true, only "suspend" as a string.
 */
export function machineJson(m: FakeMachine, summary = false): Record<string, unknown> {
  const services = m.config.services?.map((s) => {
    const a = s.autostop;
    return a === undefined ? s : { ...s, autostop: a === "off" ? false : a === "stop" ? true : a };
  });
  const config = { ...m.config, ...(services ? { services } : {}) };
  return {
    id: m.id, name: m.name, state: m.state, region: m.region, instance_id: m.instance_id, version: m.instance_id,
    private_ip: m.private_ip, image_ref: m.image_ref, created_at: m.created_at, updated_at: m.updated_at, host_status: "ok",
    ...(summary ? {} : { config, events: m.events.slice(0, 20), checks: [] }),
  };
}
