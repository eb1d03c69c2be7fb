// The fake's Docker plumbing: one bridge network per project (Railway's
// private network, where `<service>.railway.internal` resolves), containers
// with the same confinement previewd gives previews (uid 1000, memory limit,
// no capabilities), and clean-up by label. Every object carries
// previewd.test=1, previewd.fake=railway and this fake's instance id, so a
// test's afterAll (or stop()) finds exactly what it made.
import Docker from "dockerode";
import { PassThrough } from "node:stream";

export const CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";
const CA_PATH = "/etc/previewd/ca.pem";

export interface ContainerSpec {
  name: string;
  projectId: string;
  network: string;
  /** DNS names other containers of the project reach this one by. */
  aliases: string[];
  cmd: string[];
  env: Record<string, string>;
  binds: string[];
  memoryMb: number;
  user?: string;
  labels?: Record<string, string>;
}

export class FakeDocker {
  readonly docker = new Docker();

  constructor(
    readonly instance: string,
    readonly image: string,
    private readonly caBundle: string | undefined,
  ) {}

  labels(extra: Record<string, string> = {}): Record<string, string> {
    return { "previewd.test": "1", "previewd.fake": "railway", "previewd.fake.instance": this.instance, "previewd.fake.pid": String(process.pid), ...extra };
  }

  /** The project's network; inter-container traffic on (apps talk to their database). */
  async createNetwork(projectId: string): Promise<string> {
    const name = `fake-railway-${this.instance}-${projectId.slice(0, 8)}`;
    await this.docker.createNetwork({ Name: name, Driver: "bridge", Labels: this.labels({ "previewd.fake.project": projectId }) });
    return name;
  }

  async run(spec: ContainerSpec): Promise<Docker.Container> {
    const memory = spec.memoryMb * 1024 * 1024;
    const env = { ...spec.env };
    const binds = [...spec.binds];
    if (this.caBundle) {
      // The registry sits behind a TLS-inspecting proxy whose CA the host trusts (as src/pool/docker.ts does).
      binds.push(`${this.caBundle}:${CA_PATH}:ro`);
      env.NODE_EXTRA_CA_CERTS = CA_PATH;
      env.SSL_CERT_FILE = CA_PATH;
    }
    const container = await this.docker.createContainer({
      name: spec.name,
      Image: this.image,
      User: spec.user ?? "1000:1000",
      Cmd: spec.cmd,
      Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      Labels: this.labels({ "previewd.fake.project": spec.projectId, ...spec.labels }),
      HostConfig: {
        Memory: memory,
        MemorySwap: memory,
        PidsLimit: 512,
        Init: true,
        CapDrop: ["ALL"],
        SecurityOpt: ["no-new-privileges"],
        NetworkMode: spec.network,
        Binds: binds,
        LogConfig: { Type: "json-file", Config: { "max-size": "1m", "max-file": "2" } },
      },
      NetworkingConfig: { EndpointsConfig: { [spec.network]: { Aliases: spec.aliases } } },
    });
    await container.start();
    return container;
  }

  /** The container's address on its project network (the host reaches bridge addresses directly). */
  async ip(containerId: string): Promise<string | undefined> {
    try {
      const info = await this.docker.getContainer(containerId).inspect();
      if (!info.State.Running) return undefined;
      const nets = Object.values(info.NetworkSettings.Networks ?? {});
      return nets.find((n) => n.IPAddress)?.IPAddress || undefined;
    } catch {
      return undefined;
    }
  }

  /** Streams a container's output line by line until it exits; resolves with its exit code. */
  async follow(container: Docker.Container, onLine: (line: string, stream: "stdout" | "stderr") => void): Promise<number> {
    let raw: NodeJS.ReadableStream;
    try {
      raw = await container.logs({ follow: true, stdout: true, stderr: true });
    } catch {
      return -1; // removed before its output could be followed: the deployment was torn down
    }
    const split = (stream: "stdout" | "stderr") => {
      const pt = new PassThrough();
      let buf = "";
      pt.on("data", (c: Buffer) => {
        buf += c.toString("utf8");
        let i: number;
        while ((i = buf.indexOf("\n")) >= 0) {
          onLine(buf.slice(0, i).replace(/\r$/, ""), stream);
          buf = buf.slice(i + 1);
        }
      });
      pt.on("end", () => buf && onLine(buf, stream));
      return pt;
    };
    const out = split("stdout");
    const err = split("stderr");
    this.docker.modem.demuxStream(raw, out, err);
    await new Promise<void>((resolve) => {
      raw.on("end", resolve);
      raw.on("close", resolve);
      raw.on("error", () => resolve());
    });
    out.end();
    err.end();
    try {
      const r = (await container.wait()) as { StatusCode?: number };
      return r.StatusCode ?? -1;
    } catch {
      return -1; // removed while we waited: the deployment was torn down
    }
  }

  async remove(containerId: string | undefined): Promise<void> {
    if (!containerId) return;
    await this.docker.getContainer(containerId).remove({ force: true, v: true }).catch(() => {});
  }

  /** Removes containers, then networks, matching a label filter (key=value). */
  async removeByLabel(label: string): Promise<void> {
    const containers = await this.docker.listContainers({ all: true, filters: { label: [label] } });
    await Promise.all(containers.map((c) => this.remove(c.Id)));
    const networks = await this.docker.listNetworks({ filters: { label: [label] } });
    await Promise.all(networks.map((n) => this.docker.getNetwork(n.Id).remove().catch(() => {})));
  }
}
