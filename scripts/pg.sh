#!/usr/bin/env bash
# Manages a private PostgreSQL 15 cluster for development and tests, run as an unprivileged user.
#
# Usage:
#   scripts/pg.sh init DIR [--fast]   create the cluster in DIR if DIR/PG_VERSION is missing
#                                     (--fast: fsync/synchronous_commit/full_page_writes off, throwaway only)
#   scripts/pg.sh start DIR PORT      start it on 127.0.0.1:PORT (socket in DIR) unless already running,
#                                     then ensure role and database "clinic" and the extensions exist
#   scripts/pg.sh stop DIR            fast shutdown if running
#   scripts/pg.sh status DIR          exit 0 if running (prints the port), 1 if not
#   scripts/pg.sh reset DIR PORT      drop and recreate database "clinic" (cluster must be running)
#   scripts/pg.sh url DIR PORT        print the DATABASE_URL for the clinic role
#   scripts/pg.sh check DIR           exit 0 if the cluster user can reach DIR (to create or run a cluster there),
#                                     else 1 with the reason on stderr
#
# As root the server runs as the "postgres" system user (or as the owner of DIR when it already belongs to
# another non-root user); otherwise it runs as the calling user. That user must be able to traverse every parent
# of DIR: as root, DIR must not be inside a directory only root may enter (such as /root, mode 700).
# Env PG_BIN overrides the binaries directory.
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
DB_NAME=clinic
DB_ROLE=clinic

die() { echo "pg.sh: $*" >&2; exit 1; }

usage() {
  sed -n '4,14p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

[ -x "$PG_BIN/pg_ctl" ] || die "PostgreSQL binaries not found in $PG_BIN (install postgresql-15 or set PG_BIN)"

# abs_dir DIR: absolute, normalised path (DIR need not exist yet).
abs_dir() { realpath -m -- "$1"; }

check_port() {
  case "$1" in
    ''|*[!0-9]*) die "invalid port '$1'" ;;
  esac
  if [ "$1" -lt 1 ] || [ "$1" -gt 65535 ]; then die "invalid port '$1'"; fi
}

# Decide which account owns and runs the cluster in $dir.
pick_user() {
  if [ "$(id -u)" -ne 0 ]; then
    pg_user=$(id -un)
    return
  fi
  pg_user=postgres
  if [ -d "$dir" ]; then
    local owner
    owner=$(stat -c %U -- "$dir")
    if [ "$owner" != root ] && [ "$owner" != UNKNOWN ]; then
      pg_user=$owner
    fi
  fi
  id -u "$pg_user" >/dev/null 2>&1 || die "user '$pg_user' does not exist (is the postgresql package installed?)"
}

# as_pg CMD...: run CMD as the cluster user, from / so an unreadable working directory does not matter.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    (cd / && runuser -u "$pg_user" -- "$@")
  else
    (cd / && "$@")
  fi
}

# reach_problem [--new]: succeeds when the cluster user can traverse every parent of $dir and, if $dir exists,
# enter and write it; otherwise sets reach_msg to the reason and fails. With --new, an existing empty $dir only
# needs reachable parents (init hands it over to the cluster user).
reach_msg=
reach_problem() {
  reach_msg=
  [ "$(id -u)" -eq 0 ] || return 0
  if [ -d "$dir" ] && as_pg test -x "$dir" -a -w "$dir"; then return 0; fi
  local p=/ part
  local -a parts
  IFS=/ read -r -a parts <<<"${dir#/}"
  for part in "${parts[@]}"; do
    p=${p%/}/$part
    # What does not exist yet is created by init: parents with mode 755, $dir for the cluster user.
    [ -e "$p" ] || return 0
    if [ "$p" = "$dir" ] && [ "${1:-}" = --new ] && [ -d "$p" ] && [ -z "$(ls -A -- "$p")" ]; then
      return 0
    fi
    if ! as_pg test -x "$p"; then
      reach_msg="user '$pg_user' cannot traverse $p (mode $(stat -c %A -- "$p"), owner $(stat -c %U -- "$p"))"
      return 1
    fi
  done
  reach_msg="user '$pg_user' cannot write to $dir"
  return 1
}

# The cluster user must be able to reach DIR: report the first parent directory it cannot traverse.
check_traversable() {
  reach_problem && return 0
  die "$reach_msg; put the cluster directory somewhere '$pg_user' can reach (e.g. under /var/lib)"
}

check_socket_path() {
  # Unix socket paths are limited to 107 bytes: DIR/.s.PGSQL.NNNNN must fit.
  local sock="$dir/.s.PGSQL.65535"
  [ "${#sock}" -le 107 ] || die "cluster directory path too long for a Unix socket (${#sock} > 107 bytes): $dir"
}

running() {
  [ -f "$dir/PG_VERSION" ] || return 1
  as_pg "$PG_BIN/pg_ctl" status -D "$dir" >/dev/null 2>&1
}

# Port of the running postmaster (line 4 of postmaster.pid).
running_port() { sed -n 4p "$dir/postmaster.pid" 2>/dev/null; }

psql_su() { # psql_su PORT DB [psql args...]: psql as superuser through the socket directory
  local port=$1 db=$2
  shift 2
  PGOPTIONS='-c client_min_messages=warning' \
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d "$db" "$@"
}

ensure_db() {
  local port=$1
  psql_su "$port" postgres >/dev/null <<SQL
SELECT 'CREATE ROLE $DB_ROLE LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE'
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$DB_ROLE')\\gexec
SELECT 'CREATE DATABASE $DB_NAME OWNER $DB_ROLE ENCODING ''UTF8'' TEMPLATE template0'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$DB_NAME')\\gexec
SQL
  psql_su "$port" "$DB_NAME" >/dev/null <<SQL
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE EXTENSION IF NOT EXISTS pgcrypto;
SQL
}

cmd_init() {
  local fast=0 arg
  for arg in "$@"; do
    case "$arg" in
      --fast) fast=1 ;;
      *) die "init: unknown option '$arg'" ;;
    esac
  done
  pick_user
  if [ -f "$dir/PG_VERSION" ]; then
    return 0
  fi
  check_socket_path
  if [ ! -d "$dir" ]; then
    # Parents we create get ordinary 755 permissions whatever the caller's umask.
    (umask 022 && mkdir -p -- "$dir")
    chmod 700 -- "$dir"
  fi
  if [ -n "$(ls -A -- "$dir")" ]; then
    die "$dir exists, is not empty and holds no cluster (no PG_VERSION); refusing to initialise it"
  fi
  if [ "$(id -u)" -eq 0 ]; then
    chown "$pg_user:" -- "$dir"
  fi
  check_traversable

  local out
  if ! out=$(as_pg "$PG_BIN/initdb" -D "$dir" --auth=trust --username=postgres -E UTF8 --locale=C.UTF-8 \
               --no-instructions 2>&1); then
    printf '%s\n' "$out" >&2
    die "initdb failed in $dir"
  fi

  local conf="$dir/postgresql.conf" sockdir=${dir//\'/\'\'}
  {
    echo
    echo "# Settings for the private development cluster"
    echo "listen_addresses = '127.0.0.1'"
    echo "unix_socket_directories = '$sockdir'"
    echo "logging_collector = off"
    echo "max_connections = 100"
    if [ "$fast" -eq 1 ]; then
      echo "# Throwaway test cluster: durability off"
      echo "fsync = off"
      echo "synchronous_commit = off"
      echo "full_page_writes = off"
    fi
  } | as_pg tee -a "$conf" >/dev/null
  echo "pg.sh: initialised cluster in $dir (run as $pg_user)"
}

cmd_start() {
  local port=$1
  check_port "$port"
  pick_user
  [ -f "$dir/PG_VERSION" ] || die "no cluster in $dir (run: pg.sh init $dir)"
  check_traversable
  if running; then
    local cur
    cur=$(running_port)
    [ "$cur" = "$port" ] || die "cluster in $dir is already running on port $cur, not $port"
    ensure_db "$port"
    echo "pg.sh: PostgreSQL already running on 127.0.0.1:$port ($dir)"
    return 0
  fi
  # A new session keeps the server out of the terminal's process group: Ctrl-C in the caller does not reach it.
  if ! as_pg setsid -w "$PG_BIN/pg_ctl" start -w -s -t 60 -D "$dir" -l "$dir/server.log" -o "-p $port" \
         >/dev/null 2>&1; then
    echo "pg.sh: PostgreSQL failed to start on port $port; last lines of $dir/server.log:" >&2
    tail -n 20 "$dir/server.log" >&2 2>/dev/null || true
    exit 1
  fi
  ensure_db "$port"
  echo "pg.sh: PostgreSQL running on 127.0.0.1:$port ($dir)"
}

cmd_stop() {
  pick_user
  if running; then
    as_pg "$PG_BIN/pg_ctl" stop -w -s -m fast -D "$dir" >/dev/null
  fi
}

cmd_status() {
  pick_user
  if running; then
    running_port
    return 0
  fi
  return 1
}

cmd_check() {
  pick_user
  if [ ! -f "$dir/PG_VERSION" ]; then
    reach_problem --new && return 0
  else
    reach_problem && return 0
  fi
  echo "pg.sh: $reach_msg" >&2
  return 1
}

cmd_reset() {
  local port=$1
  check_port "$port"
  pick_user
  running || die "cluster in $dir is not running"
  psql_su "$port" postgres -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null
  ensure_db "$port"
}

[ $# -ge 2 ] || usage
sub=$1
dir=$(abs_dir "$2")
shift 2

case "$sub" in
  init) cmd_init "$@" ;;
  start) [ $# -eq 1 ] || usage; cmd_start "$1" ;;
  stop) [ $# -eq 0 ] || usage; cmd_stop ;;
  status) [ $# -eq 0 ] || usage; cmd_status ;;
  reset) [ $# -eq 1 ] || usage; cmd_reset "$1" ;;
  check) [ $# -eq 0 ] || usage; cmd_check ;;
  url) [ $# -eq 1 ] || usage; check_port "$1"; echo "postgresql://$DB_ROLE@127.0.0.1:$1/$DB_NAME" ;;
  *) usage ;;
esac
