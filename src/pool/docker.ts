// The Docker adapter of Runtime: the only file that imports dockerode.
// Every container carries previewd.node=<node> and previewd.preview=<id>;
// this adapter lists, watches and touches only its own node's containers, so
// several daemons can share one engine.
import Docker from "dockerode";
import { PassThrough, Readable } from "node:stream";
import { AppError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { parseNodeLines, type NodeLine } from "../nodejs/index.ts";
import type { Endpoint, FileMap } from "../types.ts";
import { CONTROL_PORT, type ContainerState, type JobOutcome, type JobSpec, type Runtime, type RuntimeEvent, type StartOrder } from "./runtime.ts";
import type { PreviewDisks } from "./disk.ts";
import { watchEvents } from "./docker-events.ts";
import { HttpRunnerControl } from "./runner-client.ts";
import { APP_UID, tarFiles } from "./tar.ts";

export { CONTROL_PORT };
/** The port published on 127.0.0.1 for operators (the proxy talks to the container's own address). */
export const PUBLISHED_PORT = 3000;

export interface DockerRuntimeOptions {
  nodeId: string;
  image: string;
  memoryMb: number;
  cpus: number;
  pidsLimit: number;
  log: Logger;
  /** Bridge network with inter-container traffic off: previews cannot reach each other. */
  network?: string;
  /** Extra labels on every container (tests add previewd.test=1). */
  labels?: Record<string, string>;
  docker?: Docker;
  /** Crashes Docker itself restarts (with its doubling back-off) before the preview is failed. */
  maxRestarts?: number;
  /** The dependency cache's entries directory, mounted read-only at DEPS_MOUNT in every preview. */
  depsDir?: string;
  /** A CA bundle the containers trust on top of Node's own (a TLS-inspecting proxy's CA). */
  caBundle?: string;
  /** CPUs a container gets while it starts (startup boost); the app drops to `cpus` once it answers. */
  boostCpus?: number;
  /** CPUs a dependency install gets (package managers fetch and unpack in parallel). */
  installCpus?: number;
  /** Memory of an install (the page cache of the files it writes counts against it). */
  installMemoryMb?: number;
  /** A size-limited filesystem per preview for /app and /tmp, on a read-only root (the disk budget); unset: the writable overlay root, unbounded. */
  disks?: PreviewDisks;
}

/**
 * Where the dependency cache appears in every preview: inside the app root,
 * because bundlers that refuse files outside their workspace root (Next.js's
 * Turbopack) follow node_modules' symlinks to their real paths.
 */
export const DEPS_MOUNT = "/app/node_modules/.previewd-store";
/** The PATH the base image sets (its Dockerfile's ENV): a job that puts a Node.js line first keeps the rest. */
export const IMAGE_PATH = "/usr/local/bin:/usr/local/sbin:/usr/bin:/bin:/usr/sbin:/sbin";

/** Where the CA bundle appears inside containers. */
const CA_PATH = "/etc/previewd/ca.pem";

export class DockerRuntime implements Runtime {
  readonly docker: Docker;
  private readonly network: string;
  private networkReady?: Promise<void>;
  private readonly runner = new HttpRunnerControl();

  constructor(private readonly o: DockerRuntimeOptions) {
    this.docker = o.docker ?? new Docker();
    this.network = o.network ?? "previewd";
  }

  private ensureNetwork(): Promise<void> {
    this.networkReady ??= (async () => {
      const existing = await this.docker.listNetworks({ filters: { name: [this.network] } });
      if (existing.some((n) => n.Name === this.network)) return;
      try {
        await this.docker.createNetwork({
          Name: this.network,
          Driver: "bridge",
          Options: { "com.docker.network.bridge.enable_icc": "false" },
          Labels: { "previewd.network": "1" },
        });
      } catch (e) {
        if ((e as { statusCode?: number }).statusCode !== 409) throw e; // another daemon made it first
      }
    })();
    return this.networkReady;
  }

  /** The host interface of the preview network (made if missing): Docker names a bridge br-<first 12 of its id> unless told otherwise. */
  async bridgeInterface(): Promise<string> {
    await this.ensureNetwork();
    const n = (await this.docker.getNetwork(this.network).inspect()) as { Id: string; Options?: Record<string, string> };
    return n.Options?.["com.docker.network.bridge.name"] || `br-${n.Id.slice(0, 12)}`;
  }

  private gateway?: Promise<string>;

  /**
   * The host's address on Docker's default bridge (where the host's
   * PostgreSQL listens for previews), named in each container's /etc/hosts.
   * Not Docker's "host-gateway": after an engine restart with live-restore,
   * Docker 20.10 resolves it to "<nil>" (measured here), and previews lose
   * their database.
   */
  private hostGateway(): Promise<string> {
    this.gateway ??= this.docker
      .getNetwork("bridge")
      .inspect()
      .then((n: { IPAM?: { Config?: Array<{ Gateway?: string }> } }) => n.IPAM?.Config?.find((c) => c.Gateway)?.Gateway ?? "host-gateway")
      .catch(() => "host-gateway");
    return this.gateway;
  }

  async create(previewId: string): Promise<ContainerState> {
    await this.ensureNetwork();
    const memory = this.o.memoryMb * 1024 * 1024;
    // The disk budget: /app and /tmp on the preview's own filesystem, nothing else writable.
    // Mounts, not Binds: a missing source (disk not mounted) fails the start instead of being made on the host's disk.
    const disk = this.o.disks ? await this.o.disks.prepare(previewId) : undefined;
    const container = await this.docker.createContainer({
      name: `previewd-${this.o.nodeId}-${previewId}`,
      Image: this.o.image,
      Labels: { ...this.o.labels, "previewd.node": this.o.nodeId, "previewd.preview": previewId },
      Env: [`PREVIEWD_CONTROL_PORT=${CONTROL_PORT}`, ...this.caEnv()],
      ExposedPorts: { [`${PUBLISHED_PORT}/tcp`]: {} },
      HostConfig: {
        Memory: memory,
        MemorySwap: memory, // no swap: the limit is the limit
        // Boosted until the app answers (orchestrator), so an install or a dev server's boot is not 4x slower.
        NanoCpus: Math.round((this.o.boostCpus ?? this.o.cpus) * 1e9),
        PidsLimit: this.o.pidsLimit,
        // Docker's init (tini) as PID 1 reaps orphans: an app's background children would otherwise stay zombies and fill the pids limit.
        Init: true,
        CapDrop: ["ALL"],
        SecurityOpt: ["no-new-privileges"],
        NetworkMode: this.network,
        Binds: this.binds(this.o.depsDir ? [`${this.o.depsDir}:${DEPS_MOUNT}:ro`] : []),
        ...(disk && {
          ReadonlyRootfs: true,
          Mounts: [
            { Type: "bind" as const, Source: disk.app, Target: "/app" },
            { Type: "bind" as const, Source: disk.tmp, Target: "/tmp" },
          ],
        }),
        ExtraHosts: [`host.docker.internal:${await this.hostGateway()}`],
        PortBindings: { [`${PUBLISHED_PORT}/tcp`]: [{ HostIp: "127.0.0.1", HostPort: "" }] },
        RestartPolicy: { Name: "on-failure", MaximumRetryCount: this.o.maxRestarts ?? 4 },
        LogConfig: { Type: "json-file", Config: { "max-size": "1m", "max-file": "2" } },
      },
    }).catch(async (err) => {
      await this.o.disks?.release(previewId).catch(() => {});
      throw err;
    });
    try {
      await container.start();
      const state = await this.inspect(container.id);
      if (!state) throw new Error(`container ${container.id} vanished right after start`);
      await this.runner.waitUntilIdle(state);
      return state;
    } catch (err) {
      await this.remove(container.id); // a container that never became a spare is nobody's: no leftovers
      throw err;
    }
  }

  private caEnv(): string[] {
    if (!this.o.caBundle) return [];
    return [`NODE_EXTRA_CA_CERTS=${CA_PATH}`, `GIT_SSL_CAINFO=${CA_PATH}`, `SSL_CERT_FILE=${CA_PATH}`];
  }

  private binds(extra: string[]): string[] {
    return [...extra, ...(this.o.caBundle ? [`${this.o.caBundle}:${CA_PATH}:ro`] : [])];
  }

  /** The image's identity for cache keys: its root filesystem's hash (Node.js build, platform), else its id. */
  async imageIdentity(): Promise<string> {
    const info = await this.docker.getImage(this.o.image).inspect();
    return info.Config?.Labels?.["previewd.rootfs-hash"] ?? info.Id;
  }

  async nodeLines(): Promise<NodeLine[]> {
    const info = await this.docker.getImage(this.o.image).inspect();
    return parseNodeLines(info.Config?.Labels?.["previewd.node-lines"]);
  }

  async setMemory(containerId: string, mb: number): Promise<void> {
    const bytes = mb * 1024 * 1024;
    await this.docker.getContainer(containerId).update({ Memory: bytes, MemorySwap: bytes });
  }

  async setCpus(containerId: string, cpus: number): Promise<void> {
    await this.docker.getContainer(containerId).update({ NanoCpus: Math.round(cpus * 1e9) });
  }

  /**
   * Writes files into /app by running tar inside the container as the app's
   * user, not by Docker's archive extraction (root): an app that swaps a
   * directory for a symlink to /etc mid-write (issue 10's race) can then lead
   * a write only where it could write itself, never into root-owned files.
   */
  async putFiles(containerId: string, files: FileMap): Promise<void> {
    if (Object.keys(files).length === 0) return;
    const r = await this.execAsApp(containerId, ["tar", "-x", "--no-same-owner", "-m", "-C", "/app"], await tarFiles(files));
    if (r.exitCode !== 0) throw filesNotWritten(`Files could not be written (tar exited with ${r.exitCode}): ${r.output.trim().slice(-500)}`);
  }

  async deleteFiles(containerId: string, paths: string[]): Promise<void> {
    if (paths.length === 0) return;
    const r = await this.execAsApp(containerId, ["rm", "-rf", "--", ...paths.map((p) => `/app/${p}`)]);
    if (r.exitCode !== 0) throw filesNotWritten(`Files could not be deleted (rm exited with ${r.exitCode}): ${r.output.trim().slice(-500)}`);
  }

  /** Runs a command in the container as uid 1000 in /app, feeding `stdin`; its exit code and output. */
  private async execAsApp(containerId: string, cmd: string[], stdin?: Buffer): Promise<{ exitCode: number; output: string }> {
    const exec = await this.docker.getContainer(containerId).exec({
      Cmd: cmd,
      User: `${APP_UID}:${APP_UID}`,
      WorkingDir: "/app",
      AttachStdin: stdin !== undefined,
      AttachStdout: true,
      AttachStderr: true,
    });
    const stream = await exec.start({ hijack: true, stdin: stdin !== undefined });
    let output = "";
    const out = new PassThrough();
    out.on("data", (c: Buffer) => {
      if (output.length < 64 * 1024) output += c.toString("utf8");
    });
    this.docker.modem.demuxStream(stream, out, out);
    const ended = new Promise<void>((resolve) => {
      stream.on("end", resolve);
      stream.on("close", resolve);
      stream.on("error", () => resolve());
    });
    if (stdin !== undefined) stream.end(stdin); // half-close: EOF on the command's stdin
    await ended;
    const info = await exec.inspect();
    return { exitCode: info.ExitCode ?? -1, output };
  }

  /**
   * Runs a one-off job (a dependency install) in a container with the same
   * confinement as a preview (uid 1000, no capabilities, memory/pids limits,
   * the preview network: registry yes, other containers no), at boost CPUs.
   * Output goes to `onOutput` live; the container is removed afterwards.
   */
  async runJob(job: JobSpec): Promise<JobOutcome> {
    await this.ensureNetwork();
    const memory = (this.o.installMemoryMb ?? this.o.memoryMb) * 1024 * 1024;
    const container = await this.docker.createContainer({
      Image: this.o.image,
      Cmd: job.cmd,
      WorkingDir: job.workdir,
      User: `${APP_UID}:${APP_UID}`,
      Env: [...this.caEnv(), ...Object.entries(job.env).map(([k, v]) => `${k}=${v}`)],
      Labels: { ...this.o.labels, "previewd.node": this.o.nodeId, "previewd.role": job.role },
      HostConfig: {
        Memory: memory,
        MemorySwap: memory,
        NanoCpus: Math.round((this.o.installCpus ?? this.o.boostCpus ?? this.o.cpus) * 1e9),
        PidsLimit: this.o.pidsLimit,
        CapDrop: ["ALL"],
        SecurityOpt: ["no-new-privileges"],
        NetworkMode: this.network,
        Binds: this.binds(job.tmpDir ? [...job.binds, `${job.tmpDir}:/tmp`] : job.binds),
        // With its own /tmp, nothing else is writable: no write can land in Docker's layer on the host's disk.
        ReadonlyRootfs: !!job.tmpDir,
        LogConfig: { Type: "json-file", Config: { "max-size": "5m", "max-file": "1" } },
      },
    });
    let timedOut = false;
    const kill = () => void container.kill().catch(() => {});
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, job.timeoutMs);
    job.signal.addEventListener("abort", kill, { once: true });
    try {
      const raw = await container.attach({ stream: true, stdout: true, stderr: true });
      const out = new PassThrough();
      out.on("data", (c: Buffer) => job.onOutput(c.toString("utf8")));
      this.docker.modem.demuxStream(raw, out, out);
      const exited = container.wait({ condition: "next-exit" });
      await container.start();
      const { StatusCode } = (await exited) as { StatusCode: number };
      const info = await container.inspect();
      return { exitCode: StatusCode, oomKilled: info.State.OOMKilled, timedOut };
    } finally {
      clearTimeout(timer);
      job.signal.removeEventListener("abort", kill);
      await container.remove({ force: true }).catch(() => {});
    }
  }

  async inspect(containerId: string): Promise<ContainerState | undefined> {
    try {
      const info = await this.docker.getContainer(containerId).inspect();
      const net = info.NetworkSettings.Networks[this.network];
      return {
        containerId: info.Id,
        previewId: info.Config.Labels["previewd.preview"] ?? "",
        ip: net?.IPAddress ?? "",
        status: info.State.Status as ContainerState["status"],
        exitCode: info.State.ExitCode,
        restartCount: info.RestartCount,
        oomKilled: info.State.OOMKilled === true,
      };
    } catch (e) {
      if ((e as { statusCode?: number }).statusCode === 404) return undefined;
      throw e;
    }
  }

  readOnlyDisks(): Set<string> {
    return this.o.disks?.readOnly() ?? new Set();
  }

  async list(): Promise<ContainerState[]> {
    const found = await this.docker.listContainers({ all: true, filters: { label: [`previewd.node=${this.o.nodeId}`] } });
    const states = await Promise.all(found.map((c) => this.inspect(c.Id)));
    return states.filter((s): s is ContainerState => s !== undefined);
  }

  /**
   * The cgroup freezer gives up when a task does not freeze in time (runc: "unable to freeze", seen on a
   * loaded 2-core host with a process in the middle of a syscall); a moment later it does. Tried three times.
   */
  pause = async (id: string): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return void (await this.docker.getContainer(id).pause());
      } catch (err) {
        if (attempt >= 3 || !/unable to freeze/i.test(String((err as Error).message))) throw err;
        this.o.log.warn({ id, attempt }, "the freezer did not freeze the container in time; trying again");
        await Bun.sleep(100 * attempt);
      }
    }
  };
  unpause = (id: string) => this.docker.getContainer(id).unpause().then(() => undefined);
  /** Starts a stopped container; its disk is mounted again first if a reboot unmounted it. */
  async start(id: string): Promise<void> {
    const previewId = this.o.disks && (await this.previewOf(id));
    if (previewId) await this.o.disks!.ensure(previewId);
    await this.docker.getContainer(id).start();
  }

  /** The preview a container belongs to (its label), or undefined if it is gone. */
  private async previewOf(id: string): Promise<string | undefined> {
    try {
      return (await this.docker.getContainer(id).inspect()).Config.Labels["previewd.preview"] || undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * At start-up, before anything is created: disks of this node's containers
   * are kept (mounted again after a reboot), any other disk (a crash between
   * making a disk and its container, a container removed behind our back) is
   * released.
   */
  async reconcileDisks(): Promise<void> {
    if (!this.o.disks) return;
    const found = await this.docker.listContainers({ all: true, filters: { label: [`previewd.node=${this.o.nodeId}`] } });
    const keep = new Set(found.map((c) => c.Labels["previewd.preview"]).filter((x): x is string => !!x));
    await this.o.disks.reconcile(keep);
  }

  async stop(id: string): Promise<void> {
    await this.docker.getContainer(id).stop({ t: 5 }).catch(ignoreStatus(304));
  }

  async remove(id: string): Promise<void> {
    const previewId = this.o.disks && (await this.previewOf(id));
    await this.docker.getContainer(id).remove({ force: true, v: true }).catch(ignoreStatus(404, 409));
    // The container is gone, so is the disk's last user: deleting it gives the space back.
    if (previewId) await this.o.disks!.release(previewId).catch((err) => this.o.log.warn({ err, previewId }, "could not release a preview's disk"));
  }

  async logs(id: string, opts: { tail?: number; follow?: boolean; signal?: AbortSignal }): Promise<ReadableStream<Uint8Array>> {
    const container = this.docker.getContainer(id);
    const common = { stdout: true, stderr: true, tail: opts.tail ?? 200 } as const;
    const out = new PassThrough();
    if (opts.follow) {
      const raw = await container.logs({ ...common, follow: true });
      this.docker.modem.demuxStream(raw, out, out);
      raw.on("end", () => out.end());
      opts.signal?.addEventListener("abort", () => (raw as unknown as { destroy(): void }).destroy());
    } else {
      const buf = await container.logs({ ...common, follow: false });
      const raw = Readable.from([buf]);
      this.docker.modem.demuxStream(raw, out, out);
      raw.on("end", () => out.end());
    }
    return Readable.toWeb(out) as ReadableStream<Uint8Array>;
  }

  // The runner's control port (runner-client.ts): the same for every engine that runs the image.
  isIdle = (state: ContainerState) => this.runner.isIdle(state);
  startApp = (state: ContainerState, order: StartOrder) => this.runner.startApp(state, order);
  restartApp = (state: ContainerState, order: StartOrder) => this.runner.restartApp(state, order);
  appPort = (state: ContainerState) => this.runner.appPort(state);

  watch(onEvent: (e: RuntimeEvent) => void, onReturn?: (downSince: number) => void): Promise<() => void> {
    return watchEvents(this.docker, this.o.nodeId, this.o.log, onEvent, onReturn);
  }

  endpoint(state: ContainerState, port: number): Endpoint {
    return { host: state.ip, port };
  }
}

/** A write or delete in the container failed: the app changed the path under it, or its disk is full. */
const filesNotWritten = (message: string) => new AppError("files_not_written", 409, message);

function ignoreStatus(...codes: number[]) {
  return (e: unknown) => {
    if (!codes.includes((e as { statusCode?: number }).statusCode ?? 0)) throw e;
  };
}
