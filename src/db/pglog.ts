// How loud a line of the embedded PostgreSQL's own output is in our log.
// FATAL and PANIC are warnings, except the messages a healthy server prints
// in normal operation: while it starts, the daemon's readiness probe (and
// any early client) is refused with "the database system is starting up";
// while it stops, clients hear "shutting down" or "terminating connection
// due to administrator command" (also what the query watchdog's
// pg_terminate_backend does, which logs its own line); a preview container
// stopped mid-query leaves "connection to client lost". Everything else
// (ERROR and WARNING come from preview apps' own statements) stays at debug.

const NORMAL = [
  /the database system is (starting up|shutting down|not yet accepting connections)/,
  /terminating connection due to administrator command/,
  /connection to client lost/,
];

export function pgLineLevel(line: string): "warn" | "debug" {
  if (!/^(FATAL|PANIC):/.test(line)) return "debug";
  if (line.startsWith("FATAL:") && NORMAL.some((re) => re.test(line))) return "debug";
  return "warn";
}
