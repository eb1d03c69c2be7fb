// The Fly Machine config previewd asks for, as a pure function of the preview.
// Field names and shapes follow Fly's published contract, not our fake:
// /work/shared/reference/fly-railway-api.md §1.5 and superfly/docs
// machines/api/machines-resource ("config object properties", the
// "create a Machine with services" example). test/overflow/config.test.ts
// holds those documented examples and checks this output against them.
import type { FileContent } from "../types.ts";

/** `config.files[]`: one of raw_value (base64 content) or secret_name; guest_path absolute. */
export interface MachineFile {
  guest_path: string;
  raw_value?: string;
  secret_name?: string;
  /** Unix permission bits (fly-go MachineFile.Mode); absent = Fly's default. */
  mode?: number;
}

export interface MachinePort {
  port?: number;
  start_port?: number;
  end_port?: number;
  handlers?: string[];
  force_https?: boolean;
}

/**
 * `autostop` is documented as "off" | "stop" | "suspend", but the API "continues
 * to use booleans for off and stop in responses" (false/true): read it with
 * autostopMode().
 */
export type Autostop = "off" | "stop" | "suspend" | boolean;

export interface MachineService {
  protocol: "tcp" | "udp";
  internal_port: number;
  ports?: MachinePort[];
  autostart?: boolean;
  autostop?: Autostop;
  min_machines_running?: number;
  concurrency?: { type?: "connections" | "requests"; soft_limit?: number; hard_limit?: number };
}

export interface MachineGuest {
  cpu_kind: "shared" | "performance";
  cpus: number;
  /** Multiples of 256 (docs). */
  memory_mb: number;
}

export interface MachineRestart {
  policy: "no" | "always" | "on-failure";
  max_retries?: number;
}

export interface MachineConfig {
  image: string;
  env?: Record<string, string>;
  guest?: MachineGuest;
  services?: MachineService[];
  restart?: MachineRestart;
  metadata?: Record<string, string> | null;
  files?: MachineFile[];
  init?: { exec?: string[] | null; entrypoint?: string[] | null; cmd?: string[] | null; tty?: boolean };
  auto_destroy?: boolean;
  stop_config?: { signal?: string; timeout?: string | number };
  [other: string]: unknown;
}

/** Metadata keys previewd puts on its machines; list({metadata}) finds a preview's machine by them. */
export const METADATA = { preview: "previewd_preview", cluster: "previewd_cluster", node: "previewd_node" } as const;

export const DEFAULT_GUEST: MachineGuest = { cpu_kind: "shared", cpus: 1, memory_mb: 512 };

export interface PreviewMachineInput {
  previewId: string;
  /** The previewd cluster that owns the machine (several clusters may share one Fly app). */
  cluster: string;
  /** The node that created it (placement records it; any node may route to it). */
  node: string;
  image: string;
  env?: Record<string, string>;
  /** Absolute guest path -> content (text, or {base64}); written by Fly before the machine boots. */
  files?: Record<string, FileContent>;
  guest?: MachineGuest;
  /** The port the app listens on inside the machine (the service's internal_port). */
  port: number;
  /** on-failure restarts before Fly gives up on the machine (it then stays stopped/failed). */
  maxRetries?: number;
}

/** A pure function: the same preview gives the same config (files sorted by path). */
export function buildMachineConfig(p: PreviewMachineInput): MachineConfig {
  if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535) throw new RangeError(`port must be 1-65535, got ${p.port}`);
  const guest = p.guest ?? DEFAULT_GUEST;
  if (guest.memory_mb % 256 !== 0) throw new RangeError(`guest.memory_mb must be a multiple of 256 (Fly), got ${guest.memory_mb}`);
  const config: MachineConfig = {
    image: p.image,
    guest: { ...guest },
    env: { ...p.env },
    services: [
      {
        protocol: "tcp",
        internal_port: p.port,
        // Suspend keeps memory (a dev server resumes in a few hundred ms, docs
        // suspend-resume); autostart lets the first request after idle wake it.
        autostop: "suspend",
        autostart: true,
        ports: [
          { port: 443, handlers: ["tls", "http"] },
          { port: 80, handlers: ["http"] },
        ],
      },
    ],
    restart: { policy: "on-failure", max_retries: p.maxRetries ?? 3 },
    metadata: { [METADATA.preview]: p.previewId, [METADATA.cluster]: p.cluster, [METADATA.node]: p.node },
  };
  const files = machineFiles(p.files ?? {});
  if (files.length > 0) config.files = files;
  return config;
}

/** `files` as Fly takes them: absolute guest_path, base64 raw_value. */
export function machineFiles(files: Record<string, FileContent>): MachineFile[] {
  return Object.keys(files)
    .sort()
    .map((path) => {
      if (!path.startsWith("/") || path.split("/").includes("..") || path.includes("\0")) {
        throw new RangeError(`file guest_path must be absolute without "..": ${JSON.stringify(path)}`);
      }
      const content = files[path]!;
      const raw_value = typeof content === "string" ? Buffer.from(content, "utf8").toString("base64") : content.base64;
      return { guest_path: path, raw_value };
    });
}

/** Reads `autostop` as Fly sends it back (false = off, true = stop). */
export function autostopMode(v: Autostop | undefined | null): "off" | "stop" | "suspend" {
  if (v === true) return "stop";
  if (v === false || v === undefined || v === null) return "off";
  return v;
}
