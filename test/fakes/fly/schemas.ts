// What the fake accepts, as valibot schemas: the documented request shapes
// (reference §1.4-1.6, superfly/docs machines-resource "config object
// properties"). Objects are loose (unknown fields pass, as Go's JSON decoder
// lets them), but a field we know must have its documented type, so a client
// that sends `autostop: "sometimes"` or a relative guest_path fails here as it
// would at Fly.
import * as v from "valibot";

const Port = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535));

const Service = v.looseObject({
  protocol: v.picklist(["tcp", "udp"]),
  internal_port: Port,
  ports: v.optional(
    v.array(
      v.looseObject({
        port: v.optional(Port),
        start_port: v.optional(Port),
        end_port: v.optional(Port),
        handlers: v.optional(v.array(v.picklist(["http", "tls", "tcp", "pg_tls", "proxy_proto", "edge_http"]))),
        force_https: v.optional(v.boolean()),
      }),
    ),
  ),
  autostart: v.optional(v.boolean()),
  // "off" | "stop" | "suspend", and the legacy booleans (false = off, true = stop).
  autostop: v.optional(v.union([v.picklist(["off", "stop", "suspend"]), v.boolean()])),
  min_machines_running: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0))),
});

const File = v.pipe(
  v.looseObject({
    guest_path: v.pipe(v.string(), v.startsWith("/", "guest_path must be an absolute path")),
    raw_value: v.optional(v.pipe(v.string(), v.base64("raw_value must be base64"))),
    secret_name: v.optional(v.string()),
    mode: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(0o7777))),
  }),
  v.check((f) => (f.raw_value !== undefined) !== (f.secret_name !== undefined), "one of raw_value or secret_name must be provided"),
);

const StringArray = v.nullish(v.array(v.string()));

export const MachineConfig = v.looseObject({
  image: v.pipe(v.string(), v.minLength(1, "config.image is required")),
  env: v.optional(v.nullable(v.record(v.string(), v.string()))),
  metadata: v.optional(v.nullable(v.record(v.string(), v.string()))),
  guest: v.optional(
    v.looseObject({
      cpu_kind: v.optional(v.picklist(["shared", "performance"])),
      cpus: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))),
      memory_mb: v.optional(v.pipe(v.number(), v.integer(), v.multipleOf(256, "memory_mb must be a multiple of 256"))),
    }),
  ),
  services: v.optional(v.nullable(v.array(Service))),
  restart: v.optional(v.looseObject({ policy: v.optional(v.picklist(["no", "always", "on-failure", ""])), max_retries: v.optional(v.number()) })),
  files: v.optional(v.nullable(v.array(File))),
  init: v.optional(v.looseObject({ exec: StringArray, entrypoint: StringArray, cmd: StringArray })),
  auto_destroy: v.optional(v.boolean()),
  stop_config: v.optional(v.looseObject({ signal: v.optional(v.string()), timeout: v.optional(v.union([v.string(), v.number()])) })),
});
export type MachineConfig = v.InferOutput<typeof MachineConfig>;

export const CreateMachine = v.looseObject({
  config: MachineConfig,
  name: v.optional(v.pipe(v.string(), v.regex(/^[a-z0-9-]{0,63}$/, "name: lower-case letters, digits and -"))),
  region: v.optional(v.pipe(v.string(), v.regex(/^[a-z]{3}$/, "region: a three-letter region code"))),
  skip_launch: v.optional(v.boolean()),
  lease_ttl: v.optional(v.number()),
});

// Docs and curl examples send app_name; the current spec and fly-go send name.
export const CreateApp = v.pipe(
  v.looseObject({
    app_name: v.optional(v.string()),
    name: v.optional(v.string()),
    org_slug: v.pipe(v.string(), v.minLength(1, "org_slug is required")),
    network: v.optional(v.string()),
  }),
  v.check((b) => !!(b.app_name ?? b.name), "app_name (or name) is required"),
  v.transform((b) => ({ name: (b.app_name ?? b.name)!, org_slug: b.org_slug, network: b.network })),
);

export const IpAssign = v.looseObject({
  type: v.picklist(["v4", "v6", "shared_v4", "private_v6", "egress_v4", "egress_v6", "egress_pair"]),
  region: v.optional(v.string()),
  org_slug: v.optional(v.string()),
  network: v.optional(v.string()),
  service_name: v.optional(v.string()),
});

export const StopBody = v.optional(
  v.nullable(v.looseObject({ signal: v.optional(v.string()), timeout: v.optional(v.union([v.string(), v.number()])) })),
);

/** The first issue as one line, for {"error": "..."}. */
export function issueText(issues: v.BaseIssue<unknown>[]): string {
  const i = issues[0]!;
  const path = i.path?.map((p) => String(p.key)).join(".");
  return path ? `${path}: ${i.message}` : i.message;
}
