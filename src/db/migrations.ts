// The daemon's own schema, as numbered SQL files under sql/. They are
// imported as text so `bun build --compile` carries them inside the binary.
// Add a file there, then a line here; never edit one that has shipped.
import m001 from "../../sql/001_init.sql" with { type: "text" };
import m002 from "../../sql/002_binary_files.sql" with { type: "text" };
import m003 from "../../sql/003_deployments.sql" with { type: "text" };
import m004 from "../../sql/004_static_sites.sql" with { type: "text" };
import m005 from "../../sql/005_static_reuse.sql" with { type: "text" };
import m006 from "../../sql/006_node_heartbeats.sql" with { type: "text" };
import m007 from "../../sql/007_deploy_updates.sql" with { type: "text" };
import m008 from "../../sql/008_sleep.sql" with { type: "text" };
import m009 from "../../sql/009_access.sql" with { type: "text" };

export interface Migration {
  version: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  { version: "001_init", sql: m001 },
  { version: "002_binary_files", sql: m002 },
  { version: "003_deployments", sql: m003 },
  { version: "004_static_sites", sql: m004 },
  { version: "005_static_reuse", sql: m005 },
  { version: "006_node_heartbeats", sql: m006 },
  { version: "007_deploy_updates", sql: m007 },
  { version: "008_sleep", sql: m008 },
  { version: "009_access", sql: m009 },
];
