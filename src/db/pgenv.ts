// The environment for a libpq tool (pg_dump, psql) that connects with exactly
// what a postgres:// URL says: no ~/.pgpass, no service file, no inherited PG*.
export function pgEnv(url: string, appName: string): Record<string, string> {
  const u = new URL(url);
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
    PGHOST: u.hostname.replace(/^\[(.*)\]$/, "$1"),
    PGPORT: u.port || "5432",
    PGUSER: decodeURIComponent(u.username),
    PGPASSWORD: decodeURIComponent(u.password),
    PGDATABASE: decodeURIComponent(u.pathname.slice(1)) || decodeURIComponent(u.username),
    PGAPPNAME: appName,
    PGCONNECT_TIMEOUT: "10",
    PGPASSFILE: "/dev/null",
    PGSERVICEFILE: "/dev/null",
  };
  const sslmode = u.searchParams.get("sslmode");
  if (sslmode) env.PGSSLMODE = sslmode;
  return env;
}
