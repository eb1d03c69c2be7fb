// The daemon's database step: the embedded PostgreSQL (unless DATABASE_URL
// names another server), migrated, and PgBouncer in front of it for the
// previews when it is here (src/db/pooler.ts).
import { join } from "node:path";
import { effectiveCapacity, effectiveDbCpus, effectiveDbMemoryMb, type Config } from "../config.ts";
import { serverUser } from "../db/embedded.ts";
import { connect, dockerBridgeAddresses, migrate, startEmbeddedPostgres, type EmbeddedPostgres } from "../db/index.ts";
import { choosePooler, startPooler, type Pooler } from "../db/pooler.ts";
import type { Logger } from "../log.ts";

export interface DaemonDatabase {
  /** Unset with DATABASE_URL. */
  embedded?: EmbeddedPostgres;
  databaseUrl: string;
  sql: ReturnType<typeof connect>;
  pooler?: Pooler;
}

export async function startDatabase(config: Config, log: Logger): Promise<DaemonDatabase> {
  // Previews reach the embedded database through PgBouncer when it is here (src/db/pooler.ts): the server is then sized
  // for capacity x pool size plus the daemon's reserve, and listens on loopback only (the pooler takes the bridge addresses).
  const poolerChoice = choosePooler({ setting: config.dbPooler, external: !!config.databaseUrl, capacity: effectiveCapacity(config), poolSize: config.dbPoolSize, bridges: dockerBridgeAddresses });
  const poolerPlan = poolerChoice.plan;
  const embedded = config.databaseUrl ? undefined : await startEmbeddedPostgres({
    dataDir: join(config.dataDir, "postgres"), log: log.child({ mod: "embedded-pg" }),
    ...(poolerPlan && { listenBridges: false, settings: { max_connections: String(poolerPlan.sizing.maxConnections) } }),
    // Previews' queries run in the server, outside their containers: the server gets a cgroup of its own (src/db/cgroup.ts).
    ...(effectiveDbMemoryMb(config) > 0 && { limits: { memoryMb: effectiveDbMemoryMb(config), cpus: effectiveDbCpus(config) } }),
  });
  const databaseUrl = config.databaseUrl || embedded!.url;
  const sql = connect(databaseUrl);
  await migrate(sql);
  let pooler: Pooler | undefined;
  if (poolerPlan && embedded) {
    const dbUrl = new URL(embedded.url);
    try {
      pooler = await startPooler({
        sql, bin: poolerPlan.bin, dir: join(config.dataDir, "pgbouncer"), listen: poolerPlan.listen, port: embedded.port,
        serverHost: dbUrl.hostname, serverPort: embedded.port, database: decodeURIComponent(dbUrl.pathname.slice(1)) || "postgres",
        sizing: poolerPlan.sizing, owner: serverUser(), log: log.child({ mod: "pgbouncer" }),
      });
    } catch (err) {
      await sql.end({ timeout: 5 });
      await embedded.stop();
      throw new Error(`PgBouncer did not start (PREVIEWD_DB_POOLER=off runs without it): ${(err as Error).message}`);
    }
  } else if (config.dbPooler !== "off") {
    log.info({ reason: poolerChoice.reason }, "previews connect to PostgreSQL directly (no pooler)");
  }
  return { embedded, databaseUrl, sql, pooler };
}
