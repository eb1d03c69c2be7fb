// The container runtime port in memory: containers are objects, and an app
// is a real HTTP listener on loopback (Bun.serve on a free port), so the
// readiness probe, the proxy and a wake see what they would with Docker, in
// milliseconds. Events are emitted as the Docker adapter emits them. For the
// lifecycle's fast tests and anything that wants the orchestrator without an
// engine; what only Docker shows (confinement, disks, the runner) stays with
// the real-engine tests.
//
// A test steers it: `crash(id, { restarts })` is an app that exits (Docker's
// restart policy brings it back up to `restarts` times, then it stays
// exited), `vanish(id)` a `docker rm -f` behind our back, `appAnswers` whether
// a started app answers at all (a dev server that never listens).
import { parseNodeLines, type NodeLine } from "../nodejs/index.ts";
import type { Endpoint, FileMap } from "../types.ts";
import type { ContainerState, JobOutcome, JobSpec, Runtime, RuntimeEvent, StartOrder } from "./runtime.ts";

interface FakeContainer {
  state: ContainerState;
  files: FileMap;
  order?: StartOrder;
  app?: ReturnType<typeof Bun.serve>;
  cpus?: number;
}

export class MemoryRuntime implements Runtime {
  private readonly containers = new Map<string, FakeContainer>();
  private readonly listeners = new Set<(e: RuntimeEvent) => void>();
  private seq = 0;
  /** Whether apps listen once started (false: an app that never answers HTTP). */
  appAnswers = true;
  /** What a job (install, build) ends with. */
  jobOutcome: JobOutcome = { exitCode: 0, oomKilled: false, timedOut: false };
  /** Every call, by method name (what a test asserts was asked of the engine). */
  readonly calls: Array<{ op: string; containerId?: string }> = [];

  async create(previewId: string): Promise<ContainerState> {
    const containerId = `mem${(++this.seq).toString(16).padStart(12, "0")}`;
    const state: ContainerState = { containerId, previewId, ip: "127.0.0.1", status: "running", exitCode: 0, restartCount: 0 };
    this.containers.set(containerId, { state, files: {} });
    this.record("create", containerId);
    this.emit(state, "start");
    return { ...state };
  }

  async putFiles(containerId: string, files: FileMap): Promise<void> {
    const c = this.need(containerId, "putFiles");
    if (c.state.status === "paused") throw new Error(`Container ${containerId} is paused`);
    Object.assign(c.files, files);
  }

  async deleteFiles(containerId: string, paths: string[]): Promise<void> {
    const c = this.need(containerId, "deleteFiles");
    for (const p of paths) delete c.files[p];
  }

  async startApp(state: ContainerState, order: StartOrder): Promise<void> {
    const c = this.need(state.containerId, "startApp");
    if (c.order) throw new Error("the runner was already given its start order");
    c.order = order;
    this.listen(c);
  }

  async restartApp(state: ContainerState, order: StartOrder): Promise<void> {
    const c = this.need(state.containerId, "restartApp");
    c.order = order;
    this.close(c);
    this.listen(c);
  }

  async appPort(state: ContainerState): Promise<number | undefined> {
    return this.containers.get(state.containerId)?.app?.port;
  }

  /** Memory limits asked for, by container (what a test asserts). */
  readonly memory = new Map<string, number>();

  async setMemory(containerId: string, mb: number): Promise<void> {
    this.need(containerId, "setMemory");
    this.memory.set(containerId, mb);
  }

  async setCpus(containerId: string, cpus: number): Promise<void> {
    this.need(containerId, "setCpus").cpus = cpus;
  }

  async runJob(job: JobSpec): Promise<JobOutcome> {
    this.record("runJob");
    job.onOutput(`[memory runtime] ${job.cmd.join(" ")}\n`);
    return { ...this.jobOutcome };
  }

  async imageIdentity(): Promise<string> {
    return "memory-runtime";
  }

  /** The lines the real image offers (scripts/build-base-image), so choices match what tests of the real engine see. */
  nodeLines = async (): Promise<NodeLine[]> => parseNodeLines("20.20.2:115 22.23.5:127 24.22.3:137 26.12.1:147");

  async isIdle(state: ContainerState): Promise<boolean> {
    const c = this.containers.get(state.containerId);
    return !!c && c.state.status === "running" && !c.order;
  }

  async inspect(containerId: string): Promise<ContainerState | undefined> {
    const c = this.containers.get(containerId);
    return c && { ...c.state };
  }

  async list(): Promise<ContainerState[]> {
    return [...this.containers.values()].map((c) => ({ ...c.state }));
  }

  readOnlyDisks(): Set<string> {
    return new Set();
  }

  async pause(containerId: string): Promise<void> {
    const c = this.need(containerId, "pause");
    if (c.state.status !== "running") throw new Error(`Container ${containerId} is not running`);
    c.state.status = "paused";
    this.emit(c.state, "pause");
  }

  async unpause(containerId: string): Promise<void> {
    const c = this.need(containerId, "unpause");
    if (c.state.status !== "paused") throw new Error(`Container ${containerId} is not paused`);
    c.state.status = "running";
    this.emit(c.state, "unpause");
  }

  async stop(containerId: string): Promise<void> {
    const c = this.need(containerId, "stop");
    if (c.state.status === "exited") return;
    this.close(c);
    c.state.status = "exited";
    c.state.exitCode = 0;
    this.emit(c.state, "die");
  }

  async start(containerId: string): Promise<void> {
    const c = this.need(containerId, "start");
    if (c.state.status === "running") return;
    c.state.status = "running";
    c.state.oomKilled = false; // Docker clears it on start
    this.emit(c.state, "start");
    if (c.order) this.listen(c); // the runner replays its saved start order
  }

  async remove(containerId: string): Promise<void> {
    const c = this.containers.get(containerId);
    this.record("remove", containerId);
    if (!c) return;
    this.close(c);
    this.containers.delete(containerId);
    if (c.state.status !== "exited") this.emit({ ...c.state, status: "exited" }, "die");
    this.emit(c.state, "destroy");
  }

  async logs(containerId: string): Promise<ReadableStream<Uint8Array>> {
    this.need(containerId, "logs");
    return new Response(`[memory runtime] logs of ${containerId}\n`).body!;
  }

  async watch(onEvent: (e: RuntimeEvent) => void): Promise<() => void> {
    this.listeners.add(onEvent);
    return () => this.listeners.delete(onEvent);
  }

  endpoint(state: ContainerState, port: number): Endpoint {
    return { host: state.ip, port };
  }

  // ---- what a test does to the "engine" -------------------------------------------

  /**
   * The app exits with `exitCode`. Docker's restart policy: up to `restarts`
   * more runs, then it stays exited (the die event comes once it has settled).
   */
  crash(containerId: string, opts: { exitCode?: number; restarts?: number; oomKilled?: boolean } = {}): void {
    const c = this.need(containerId, "crash");
    this.close(c);
    c.state.exitCode = opts.exitCode ?? 1;
    c.state.oomKilled = opts.oomKilled ?? false;
    if (opts.oomKilled) this.emit(c.state, "oom"); // Docker sends it before the die
    c.state.restartCount += 1;
    const restarting = (opts.restarts ?? 0) > 0;
    c.state.status = restarting ? "restarting" : "exited";
    this.emit(c.state, "die");
    if (restarting) {
      // Docker's back-off before the restart (it starts at 100 ms).
      setTimeout(() => {
        if (this.containers.get(containerId) !== c || c.state.status !== "restarting") return;
        c.state.status = "running";
        this.emit(c.state, "start");
        if (c.order) this.listen(c);
      }, 100);
    }
  }

  /** The container is removed behind the daemon's back, with no event (a lost event stream). */
  vanish(containerId: string): void {
    const c = this.need(containerId, "vanish");
    this.close(c);
    this.containers.delete(containerId);
  }

  /** The files a container holds (what a test asserts a change wrote). */
  filesOf(containerId: string): FileMap | undefined {
    return this.containers.get(containerId)?.files;
  }

  /** Stops every app listener (end of a test). */
  async close(): Promise<void>;
  close(c: FakeContainer): void;
  close(c?: FakeContainer): void | Promise<void> {
    if (c) {
      c.app?.stop(true);
      c.app = undefined;
      return;
    }
    for (const x of this.containers.values()) this.close(x);
    return Promise.resolve();
  }

  private listen(c: FakeContainer): void {
    if (!this.appAnswers) return;
    const id = c.state.previewId;
    c.app = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response(`app ${id}`) });
  }

  private need(containerId: string, op: string): FakeContainer {
    this.record(op, containerId);
    const c = this.containers.get(containerId);
    if (!c) throw Object.assign(new Error(`No such container: ${containerId}`), { statusCode: 404 });
    return c;
  }

  private record(op: string, containerId?: string): void {
    this.calls.push({ op, containerId });
  }

  private emit(state: ContainerState, action: RuntimeEvent["action"]): void {
    const e: RuntimeEvent = { previewId: state.previewId, containerId: state.containerId, action };
    for (const l of this.listeners) queueMicrotask(() => l(e));
  }
}
