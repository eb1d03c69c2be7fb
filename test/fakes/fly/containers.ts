// A fake Fly Machine is a real local Docker container. This file maps the
// Machine config onto Docker and Machine verbs onto container verbs:
//   create  -> docker create + config.files copied in before the first boot
//   start   -> docker start, or docker unpause for a suspended machine
//   suspend -> docker pause (the cgroup freezer: memory kept, like Fly's snapshot)
//   stop    -> docker stop (memory gone, rootfs kept, as docs suspend-resume say)
//   destroy -> docker rm -f
// Every container carries previewd.test=1, previewd.fake=fly, fly.machine=<id>
// so a test can remove whatever it left behind by label.
import Docker from "dockerode";
import { existsSync } from "node:fs";
import { pack } from "tar-stream";
import type { MachineConfig } from "./schemas.ts";


const HOST_CA = existsSync("/etc/ssl/certs/ca-certificates.crt") ? "/etc/ssl/certs/ca-certificates.crt" : undefined;
export const LABELS = { test: "previewd.test", fake: "previewd.fake", machine: "fly.machine", app: "fly.app", instance: "fly.fake-instance" } as const;

export interface ContainerInput {
  machineId: string;
  app: string;
  region: string;
  config: MachineConfig;
}

export class Containers {
  readonly docker: Docker;
  /** @param instance this fake's own label value: stop() removes only its containers, not another test's. */
  constructor(
    private readonly instance: string,
    docker?: Docker,
  ) {
    this.docker = docker ?? new Docker();
  }

  /** Creates the container and writes config.files into it; nothing runs yet. */
  async create(m: ContainerInput): Promise<string> {
    const c = m.config;
    const tcp = (c.services ?? []).filter((s) => s.protocol === "tcp");
    const memory = (c.guest?.memory_mb ?? 256) * 1024 * 1024;
    const policy = c.restart?.policy || "on-failure"; // "" in docs' example response = unset = on-failure
    const init = c.init ?? {};
    const container = await this.docker.createContainer({
      name: `fly-${m.app}-${m.machineId}`,
      Image: c.image,
      // Fly sets these in every machine (docs reference/runtime-environment).
      // This machine's TLS-inspecting proxy (design.md) must be trusted for installs to reach the npm registry; real Fly has none.
      Env: Object.entries({ ...c.env, ...(HOST_CA ? { NODE_EXTRA_CA_CERTS: "/etc/previewd/ca.pem" } : {}), FLY_APP_NAME: m.app, FLY_MACHINE_ID: m.machineId, FLY_ALLOC_ID: m.machineId, FLY_REGION: m.region }).map(
        ([k, val]) => `${k}=${val}`,
      ),
      ...(init.exec?.length ? { Entrypoint: init.exec, Cmd: [] } : {}),
      ...(!init.exec?.length && init.entrypoint?.length ? { Entrypoint: init.entrypoint } : {}),
      ...(!init.exec?.length && init.cmd?.length ? { Cmd: init.cmd } : {}),
      // Fly's default stop signal is SIGINT (docs, StopRequest).
      StopSignal: c.stop_config?.signal ?? "SIGINT",
      Labels: { [LABELS.test]: "1", [LABELS.fake]: "fly", [LABELS.machine]: m.machineId, [LABELS.app]: m.app, [LABELS.instance]: this.instance },
      ExposedPorts: Object.fromEntries(tcp.map((s) => [`${s.internal_port}/tcp`, {}])),
      HostConfig: {
        Memory: memory,
        MemorySwap: memory,
        NanoCpus: (c.guest?.cpus ?? 1) * 1e9,
        Init: true,
        ...(HOST_CA ? { Binds: [`${HOST_CA}:/etc/previewd/ca.pem:ro`] } : {}),
        // Loopback only: the edge is the way in, as Fly's proxy is.
        PortBindings: Object.fromEntries(tcp.map((s) => [`${s.internal_port}/tcp`, [{ HostIp: "127.0.0.1", HostPort: "" }]])),
        RestartPolicy:
          policy === "on-failure" ? { Name: "on-failure", MaximumRetryCount: c.restart?.max_retries ?? 10 } : { Name: policy === "always" ? "always" : "no" },
        LogConfig: { Type: "json-file", Config: { "max-size": "1m" } },
      },
    });
    try {
      await this.writeFiles(container.id, c.files ?? []);
    } catch (e) {
      await this.remove(container.id);
      throw e;
    }
    return container.id;
  }

  /** config.files as a tar extracted at / (root-owned, mode as given, else 0644: Fly's init writes them as root). */
  private async writeFiles(id: string, files: NonNullable<MachineConfig["files"]>): Promise<void> {
    if (files.length === 0) return;
    const p = pack();
    for (const f of files) {
      if (f.raw_value === undefined) throw new Error(`file ${f.guest_path}: secret_name needs app secrets, which the fake does not have`);
      p.entry({ name: f.guest_path.replace(/^\/+/, ""), mode: f.mode ?? 0o644, uid: 0, gid: 0 }, Buffer.from(f.raw_value, "base64"));
    }
    p.finalize();
    const chunks: Buffer[] = [];
    for await (const chunk of p) chunks.push(chunk as Buffer);
    await this.docker.getContainer(id).putArchive(Buffer.concat(chunks), { path: "/" });
  }

  /** Boots a created/stopped container, or thaws a paused one (a resume keeps memory). */
  async start(id: string): Promise<void> {
    const info = await this.docker.getContainer(id).inspect();
    if (info.State.Paused) await this.docker.getContainer(id).unpause();
    else if (!info.State.Running) await this.docker.getContainer(id).start();
  }

  async pause(id: string): Promise<void> {
    await this.docker.getContainer(id).pause();
  }

  /** Stops; a paused container is thawed first so it can take its stop signal (its memory is discarded anyway). */
  async stop(id: string, timeoutS = 10): Promise<void> {
    const c = this.docker.getContainer(id);
    const info = await c.inspect();
    if (info.State.Paused) await c.unpause();
    if (info.State.Running) await c.stop({ t: timeoutS }).catch((e) => (e.statusCode === 304 ? undefined : Promise.reject(e)));
  }

  async remove(id: string): Promise<void> {
    await this.docker.getContainer(id).remove({ force: true, v: true }).catch((e) => (e.statusCode === 404 ? undefined : Promise.reject(e)));
  }

  /** internal_port -> 127.0.0.1 host port (assigned at each boot). */
  async ports(id: string): Promise<Map<number, number>> {
    const info = await this.docker.getContainer(id).inspect();
    const out = new Map<number, number>();
    for (const [key, binds] of Object.entries(info.NetworkSettings.Ports ?? {})) {
      const host = binds?.find((b) => b.HostIp === "127.0.0.1")?.HostPort;
      if (host) out.set(Number(key.split("/")[0]), Number(host));
    }
    return out;
  }

  /** running | paused | exited | missing, for the fake's own consistency checks. */
  async status(id: string): Promise<"running" | "paused" | "exited" | "missing"> {
    try {
      const s = (await this.docker.getContainer(id).inspect()).State;
      return s.Paused ? "paused" : s.Running ? "running" : "exited";
    } catch {
      return "missing";
    }
  }

  async image(ref: string): Promise<{ id: string; tag: string } | undefined> {
    try {
      const info = await this.docker.getImage(ref).inspect();
      return { id: info.Id, tag: ref.includes(":") ? ref.slice(ref.lastIndexOf(":") + 1) : "latest" };
    } catch {
      return undefined;
    }
  }

  /** Removes every container this fake made (for `app` only, when given). */
  async removeAll(app?: string): Promise<number> {
    const label = [`${LABELS.instance}=${this.instance}`, ...(app ? [`${LABELS.app}=${app}`] : [])];
    const found = await this.docker.listContainers({ all: true, filters: { label } });
    await Promise.all(found.map((c) => this.remove(c.Id)));
    return found.length;
  }
}
