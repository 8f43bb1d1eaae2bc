#!/usr/bin/env bash
# Throwaway, project-local PostgreSQL cluster for `make run` / `make test`.
#
# Usage: scripts/pg.sh start|stop|status|url|admin-url|createdb NAME|dropdb NAME|dir|port
#
#   start          init (first time) and start the cluster; idempotent
#   stop           fast shutdown; succeeds if not running
#   status         exit 0 if running, 3 if not
#   url            postgres://postgres@127.0.0.1:PORT/$PGDATABASE_NAME?sslmode=disable
#                  (PGDATABASE_NAME defaults to "switchboard")
#   admin-url      same, database "postgres"
#   createdb NAME  create database if missing (starts the cluster if needed)
#   dropdb NAME    drop database if it exists, WITH (FORCE) (starts the cluster if needed)
#   dir            print the data directory
#   port           print the port
#
# Data lives in <checkout>/.data/pg when the server user can reach it,
# otherwise in ${TMPDIR:-/tmp}/switchboard-<basename>-<hash8>/pg. The unix
# socket and pg.log live in the parent of the data directory.
# Port: $SWITCHBOARD_PG_PORT, else 54320 + (hash of checkout path mod 500).
set -euo pipefail

PROG=${0##*/}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
SERVER_USER=postgres
START_TIMEOUT=30

die() { echo "$PROG: error: $*" >&2; exit 1; }
note() { echo "$PROG: $*" >&2; }

usage() {
  echo "usage: $PROG start|stop|status|url|admin-url|createdb NAME|dropdb NAME|dir|port" >&2
  exit 2
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# ---- identity of this checkout ------------------------------------------

path_hash() {
  if command -v sha256sum >/dev/null 2>&1; then
    printf '%s' "$ROOT" | sha256sum | cut -c1-8
  else
    printf '%08x' "$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)"
  fi
}
HASH=$(path_hash)

pg_port() {
  if [ -n "${SWITCHBOARD_PG_PORT:-}" ]; then
    case $SWITCHBOARD_PG_PORT in
      *[!0-9]*) die "SWITCHBOARD_PG_PORT must be a number, got '$SWITCHBOARD_PG_PORT'" ;;
    esac
    [ "$SWITCHBOARD_PG_PORT" -ge 1 ] && [ "$SWITCHBOARD_PG_PORT" -le 65535 ] ||
      die "SWITCHBOARD_PG_PORT out of range: $SWITCHBOARD_PG_PORT"
    echo "$SWITCHBOARD_PG_PORT"
  else
    echo $((54320 + 16#$HASH % 500))
  fi
}
PORT=$(pg_port)

# ---- running things as the server user -------------------------------------

ensure_server_user() {
  is_root || return 0
  id -u "$SERVER_USER" >/dev/null 2>&1 && return 0
  command -v useradd >/dev/null 2>&1 || die "user '$SERVER_USER' does not exist and useradd is not available"
  note "creating system user '$SERVER_USER'"
  useradd --system --user-group --no-create-home --home-dir /var/lib/postgresql \
    --shell /bin/sh "$SERVER_USER" || die "could not create user '$SERVER_USER'"
}

# Run a command as the user the server runs as (postgres when we are root,
# ourselves otherwise). Always from / so the server user can stat its cwd,
# and without the lock fd, so a started postmaster doesn't inherit the lock.
as_server() {
  if is_root; then
    (cd / && runuser -u "$SERVER_USER" -- "$@" 9>&-)
  else
    (cd / && "$@" 9>&-)
  fi
}

# ---- where the cluster lives ---------------------------------------------

# Max length of the socket directory: sun_path is 108 bytes including NUL and
# the file name is "/.s.PGSQL.NNNNN".
MAX_SOCKDIR_LEN=90

local_base_usable() {
  local base="$ROOT/.data"
  [ ${#base} -le $MAX_SOCKDIR_LEN ] || return 1
  if is_root; then
    # root can create/chown .data; the server user only has to get there.
    as_server test -x "$ROOT" 2>/dev/null || return 1
    if [ -e "$base" ]; then
      [ -d "$base" ] || return 1
    fi
    return 0
  fi
  if [ -e "$base" ]; then
    [ -d "$base" ] && [ -w "$base" ] && [ -x "$base" ]
  else
    [ -w "$ROOT" ] && [ -x "$ROOT" ]
  fi
}

tmp_base() {
  local tmp=${TMPDIR:-/tmp} name
  tmp=${tmp%/}
  name=$(basename "$ROOT")
  name=${name//[^A-Za-z0-9._-]/_}
  echo "$tmp/switchboard-$name-$HASH"
}

ensure_user_for_layout() {
  # `dir` needs to know what the server user can reach.
  if is_root; then ensure_server_user; fi
}

compute_base() {
  if local_base_usable; then echo "$ROOT/.data"; else tmp_base; fi
}

# Create BASE and make sure the server user owns/can write it.
prepare_base() {
  local base=$1
  if [ "$base" = "$ROOT/.data" ]; then
    mkdir -p "$base"
  else
    if [ ! -d "$base" ]; then
      mkdir -m 700 "$base" 2>/dev/null || [ -d "$base" ] || die "cannot create $base"
    fi
    if [ -L "$base" ]; then die "$base is a symlink; refusing to use it"; fi
    local owner
    owner=$(stat -c %U "$base")
    if is_root; then
      [ "$owner" = "$SERVER_USER" ] || [ "$owner" = root ] ||
        die "$base is owned by '$owner'; remove it or set TMPDIR"
    else
      [ "$owner" = "$(id -un)" ] || die "$base is owned by '$owner'; remove it or set TMPDIR"
    fi
  fi
  if is_root && ! as_server test -w "$base" -a -x "$base" 2>/dev/null; then
    chown "$SERVER_USER:" "$base" || die "cannot chown $base to $SERVER_USER"
  fi
  as_server test -w "$base" -a -x "$base" 2>/dev/null ||
    die "$base is not writable by user '$(is_root && echo "$SERVER_USER" || id -un)'"
}

ensure_gitignore() {
  local gi="$ROOT/.gitignore"
  if [ -f "$gi" ] && grep -qE '^/?\.data/?$' "$gi"; then return 0; fi
  if [ -s "$gi" ] && [ -n "$(tail -c1 "$gi")" ]; then echo >>"$gi"; fi
  echo '.data/' >>"$gi"
}

# ---- binaries --------------------------------------------------------------

BINDIR=
find_bindir() {
  local p d best=
  if p=$(command -v initdb 2>/dev/null) && [ -n "$p" ]; then
    p=$(readlink -f "$p")
    d=$(dirname "$p")
    if [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
  fi
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] || continue
    best="$best$d"$'\n'
  done
  [ -n "$best" ] || return 1
  printf '%s' "$best" | sort -V | tail -n1
}

ensure_binaries() {
  [ -n "$BINDIR" ] && return 0
  if ! BINDIR=$(find_bindir); then
    is_root || die "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in /usr/lib/postgresql/*/bin; install them, e.g. 'sudo apt-get install -y postgresql'"
    command -v apt-get >/dev/null 2>&1 || die "PostgreSQL not installed and apt-get is not available"
    note "PostgreSQL not found; installing with apt-get (this may take a minute)"
    { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql; } >&2 ||
      die "apt-get install postgresql failed"
    BINDIR=$(find_bindir) || die "PostgreSQL installed but initdb not found in /usr/lib/postgresql/*/bin"
  fi
}

client_bin() {
  local name=$1 p
  if [ -n "$BINDIR" ] && [ -x "$BINDIR/$name" ]; then echo "$BINDIR/$name"; return 0; fi
  p=$(command -v "$name" 2>/dev/null) || die "'$name' not found"
  echo "$p"
}

# ---- cluster state ---------------------------------------------------------

BASE= DATA=
setup_paths() {
  ensure_user_for_layout
  BASE=$(compute_base)
  DATA="$BASE/pg"
}

# Is PID a live (non-zombie) postgres process? Where nobody reaps orphans
# (containers), a kill -9'd postmaster lingers as a zombie that kill(pid, 0)
# -- and so pg_ctl and postgres itself -- still consider alive.
pid_is_live_postgres() {
  local pid=$1 state comm
  case $pid in ''|*[!0-9]*) return 1 ;; esac
  if [ ! -d /proc/self ]; then kill -0 "$pid" 2>/dev/null; return; fi
  [ -r "/proc/$pid/stat" ] || return 1
  state=$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' "/proc/$pid/stat" 2>/dev/null) || return 1
  [ "$state" != Z ] && [ "$state" != X ] || return 1
  comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
  case $comm in postgres|postmaster) return 0 ;; *) return 1 ;; esac
}

is_running() {
  [ -f "$DATA/PG_VERSION" ] || return 1
  local rc=0
  as_server "$BINDIR/pg_ctl" status -D "$DATA" >/dev/null 2>&1 || rc=$?
  [ "$rc" -eq 0 ] || return 1
  pid_is_live_postgres "$(sed -n 1p "$DATA/postmaster.pid" 2>/dev/null)"
}

# Remove lock files left by a killed postmaster whose PID is gone or a zombie.
clear_stale_locks() {
  local f pid
  for f in "$DATA/postmaster.pid" "$BASE/.s.PGSQL.$PORT.lock"; do
    [ -f "$f" ] || continue
    pid=$(sed -n 1p "$f" 2>/dev/null | tr -d '[:space:]-')
    if ! pid_is_live_postgres "$pid"; then
      rm -f "$f"
    fi
  done
}

running_port() {
  # line 4 of postmaster.pid is the port
  sed -n 4p "$DATA/postmaster.pid" 2>/dev/null | tr -d '[:space:]'
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null
}

conf_quote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"; }

with_lock() {
  if command -v flock >/dev/null 2>&1; then
    exec 9>>"$BASE/pg.lock"
    flock -w 120 9 || die "timed out waiting for lock $BASE/pg.lock"
  fi
}

init_cluster() {
  local out
  if [ -f "$DATA/PG_VERSION" ]; then
    local have want
    have=$(cat "$DATA/PG_VERSION")
    want=$("$BINDIR/pg_ctl" --version | awk '{print $3}' | cut -d. -f1)
    [ "$have" = "$want" ] || die "cluster in $DATA is PostgreSQL $have but binaries are $want; remove it: $0 stop; rm -rf '$DATA'"
    return 0
  fi
  # Half-initialised leftovers: it's a throwaway cluster, start over.
  if [ -e "$DATA" ]; then rm -rf "$DATA"; fi
  note "initialising cluster in $DATA"
  out=$(as_server "$BINDIR/initdb" -D "$DATA" --auth=trust --username=postgres \
    --encoding=UTF8 --locale=C 2>&1) || { echo "$out" >&2; die "initdb failed"; }
  printf '\n# managed by scripts/pg.sh\n%s\n' "include_if_exists = 'switchboard.conf'" |
    as_server sh -c 'cat >> "$1/postgresql.conf"' sh "$DATA" ||
    die "cannot update $DATA/postgresql.conf"
}

write_conf() {
  local conf
  conf=$(cat <<EOF
# Generated by scripts/pg.sh on every start; do not edit.
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = $(conf_quote "$BASE")
max_connections = 300
shared_buffers = 128MB
EOF
)
  printf '%s\n' "$conf" | as_server sh -c 'cat > "$1/switchboard.conf"' sh "$DATA" ||
    die "cannot write $DATA/switchboard.conf"
}

wait_ready() {
  local isready i
  isready=$(client_bin pg_isready)
  for ((i = 0; i < START_TIMEOUT * 5; i++)); do
    if "$isready" -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -t 2 >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.2
  done
  return 1
}

log_tail() {
  if [ -f "$BASE/pg.log" ]; then
    echo "--- last lines of $BASE/pg.log ---" >&2
    tail -n 20 "$BASE/pg.log" >&2
  fi
}

# ---- commands --------------------------------------------------------------

cmd_start() {
  ensure_binaries
  setup_paths
  ensure_server_user
  prepare_base "$BASE"
  if [ "$BASE" = "$ROOT/.data" ]; then ensure_gitignore; fi
  with_lock

  if is_running; then
    local rp
    rp=$(running_port)
    [ "$rp" = "$PORT" ] || die "cluster in $DATA is already running on port $rp, but the configured port is $PORT; run '$0 stop' first"
    wait_ready || die "cluster in $DATA is running but not accepting connections on 127.0.0.1:$PORT"
    note "postgres already running on 127.0.0.1:$PORT (data: $DATA)"
    return 0
  fi

  if port_in_use; then
    die "port $PORT on 127.0.0.1 is already in use by something that is not this checkout's cluster ($DATA); set SWITCHBOARD_PG_PORT to another port"
  fi

  init_cluster
  write_conf
  clear_stale_locks

  local attempt out ok=0
  for attempt in 1 2 3; do
    # After a kill -9, orphaned backends may hold the old shared memory for a
    # moment; postgres refuses to start until they are gone, so retry.
    if out=$(as_server "$BINDIR/pg_ctl" start -D "$DATA" -l "$BASE/pg.log" -w -t "$START_TIMEOUT" 2>&1); then
      ok=1
      break
    fi
    if is_running; then ok=1; break; fi
    if port_in_use; then break; fi
    if [ "$attempt" -lt 3 ]; then sleep 2; fi
  done
  if [ "$ok" -ne 1 ]; then
    echo "$out" >&2
    log_tail
    die "could not start postgres (data: $DATA, log: $BASE/pg.log)"
  fi
  if ! wait_ready; then
    log_tail
    die "postgres started but is not accepting connections on 127.0.0.1:$PORT within ${START_TIMEOUT}s"
  fi
  note "postgres running on 127.0.0.1:$PORT (data: $DATA)"
}

cmd_stop() {
  if ! BINDIR=$(find_bindir); then
    note "postgres not installed; nothing to stop"
    return 0
  fi
  setup_paths
  if ! is_running; then
    note "postgres not running (data: $DATA)"
    return 0
  fi
  local out
  out=$(as_server "$BINDIR/pg_ctl" stop -D "$DATA" -m fast -w -t 60 2>&1) || {
    if ! is_running; then note "postgres stopped"; return 0; fi
    echo "$out" >&2
    die "could not stop postgres (data: $DATA)"
  }
  note "postgres stopped (data: $DATA)"
}

cmd_status() {
  if ! BINDIR=$(find_bindir); then
    echo "postgres not installed"
    exit 3
  fi
  setup_paths
  if is_running; then
    echo "running on 127.0.0.1:$(running_port) (data: $DATA, log: $BASE/pg.log)"
  else
    echo "not running (data: $DATA, port: $PORT)"
    exit 3
  fi
}

url_for() { echo "postgres://postgres@127.0.0.1:$PORT/$1?sslmode=disable"; }

admin_psql() {
  local psql
  psql=$(client_bin psql)
  (cd / && "$psql" -X -q -At -v ON_ERROR_STOP=1 "$@" "$(url_for postgres)")
}

check_dbname() {
  [ -n "$1" ] || usage
  [ ${#1} -le 63 ] || die "database name too long (max 63 bytes): $1"
}

db_exists() {
  [ "$(admin_psql -v name="$1" <<'SQL'
SELECT count(*) FROM pg_database WHERE datname = :'name';
SQL
)" = 1 ]
}

cmd_createdb() {
  local name=$1
  check_dbname "$name"
  cmd_start
  if db_exists "$name"; then return 0; fi
  if ! admin_psql -v name="$name" >/dev/null <<'SQL'
CREATE DATABASE :"name";
SQL
  then
    # A concurrent createdb may have won the race.
    db_exists "$name" || die "could not create database '$name'"
  fi
  note "created database '$name'"
}

cmd_dropdb() {
  local name=$1
  check_dbname "$name"
  cmd_start
  admin_psql -v name="$name" >/dev/null <<'SQL' || die "could not drop database '$name'"
DROP DATABASE IF EXISTS :"name" WITH (FORCE);
SQL
}

[ $# -ge 1 ] || usage
cmd=$1
shift
case $cmd in
  start)     [ $# -eq 0 ] || usage; cmd_start ;;
  stop)      [ $# -eq 0 ] || usage; cmd_stop ;;
  status)    [ $# -eq 0 ] || usage; cmd_status ;;
  url)       [ $# -eq 0 ] || usage; url_for "${PGDATABASE_NAME:-switchboard}" ;;
  admin-url) [ $# -eq 0 ] || usage; url_for postgres ;;
  createdb)  [ $# -eq 1 ] || usage; cmd_createdb "$1" ;;
  dropdb)    [ $# -eq 1 ] || usage; cmd_dropdb "$1" ;;
  dir)       [ $# -eq 0 ] || usage; setup_paths; echo "$DATA" ;;
  port)      [ $# -eq 0 ] || usage; echo "$PORT" ;;
  -h|--help|help) usage ;;
  *) usage ;;
esac
