// db/: the daemon's PostgreSQL client and migrations, its state store, the
// per-preview schemas and roles, and the embedded default server.
export { connect, migrate, type Sql } from "./client.ts";
export { MIGRATIONS, type Migration } from "./migrations.ts";
export { PreviewStore } from "./store.ts";
export { PreviewDatabases, type PreviewDatabasesOptions } from "./previewdb.ts";
export { startEmbeddedPostgres, dockerBridgeAddresses, findBinDir, type EmbeddedPostgres, type EmbeddedPostgresOptions } from "./embedded.ts";
export { splitStatements } from "./split.ts";
export { DatabaseWatchdog } from "./watchdog.ts";
export { DatabaseBudget } from "./budget.ts";
