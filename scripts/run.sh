#!/usr/bin/env bash
# Runs the backend locally (what `make run` runs): keys, private PostgreSQL, migrations, demo data, servers.
#
# Environment:
#   API_LISTEN        address of the HTTP API             (default 127.0.0.1:8080)
#   SIGNALING_LISTEN  address of the signaling server, passed through when build/signaling-server exists
#   CORS_ALLOWED_ORIGINS  browser origins both servers answer (default: the API's own origin, under its address and
#                     as localhost, and the usual dev servers http://localhost:5173 and http://localhost:3000)
#   SIGNALING_PUBLIC_URL  where the console's browsers reach the signaling-server (default http://SIGNALING_LISTEN)
#   WEB_ROOT          the console's files the api-server serves at /   (default REPO/web, filled by scripts/web.sh)
#   PG_PORT           port of the private PostgreSQL      (default 15432)
#   DATABASE_URL      use this database instead of the private cluster (which is then not started)
#   VAR_DIR           persistent state: keys/ and, normally, the cluster in pg/   (default ./var)
#   PG_DIR            directory of the private cluster    (default VAR_DIR/pg, see below)
#   CLINIC_STATE_DIR  where root keeps clusters the postgres user cannot keep in VAR_DIR (default /var/lib/clinic-dev)
# Ctrl-C stops the servers, then the private cluster if this run started it.
#
# Where the cluster lives, unless PG_DIR says: VAR_DIR/pg. As root the cluster runs as the postgres user, which
# cannot enter a clone under a directory only root may enter (/root is mode 700): then the cluster lives in
# CLINIC_STATE_DIR/<clone name>-<hash of VAR_DIR's path>/pg instead, so each clone keeps its own. A cluster that
# already exists in either place is used again. Every start prints the directory.
#
# Usage: scripts/run.sh            run (the default)
#        scripts/run.sh --where    print the cluster directory this clone uses and exit (nothing is created)
set -euo pipefail

where_only=0
case "${1:-}" in
  '') ;;
  --where) where_only=1 ;;
  *) echo "usage: $0 [--where]" >&2; exit 2 ;;
esac

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

export API_LISTEN=${API_LISTEN:-127.0.0.1:8080}
# Pages of the console served by the api-server and of a frontend's dev server may call both servers.
api_port=${API_LISTEN##*:}
export CORS_ALLOWED_ORIGINS=${CORS_ALLOWED_ORIGINS-http://${API_LISTEN%:*}:$api_port,http://localhost:$api_port,http://localhost:5173,http://localhost:3000}
# The console (web/, served at / by the api-server) connects its socket to the signaling-server's address.
export SIGNALING_PUBLIC_URL=${SIGNALING_PUBLIC_URL:-http://${SIGNALING_LISTEN:-127.0.0.1:8081}}
export WEB_ROOT=${WEB_ROOT:-$REPO/web}
PG_PORT=${PG_PORT:-15432}
VAR_DIR=$(realpath -m -- "${VAR_DIR:-./var}")
STATE_DIR=$(realpath -m -- "${CLINIC_STATE_DIR:-/var/lib/clinic-dev}")

# pick_pg_dir: sets pg_dir, and pg_why to a sentence on why it is not VAR_DIR/pg (empty when it is).
pick_pg_dir() {
  pg_why=
  if [ -n "${PG_DIR:-}" ]; then
    pg_dir=$(realpath -m -- "$PG_DIR")
    pg_why="set by PG_DIR"
    return
  fi
  local in_var=$VAR_DIR/pg
  pg_dir=$in_var
  [ "$(id -u)" -eq 0 ] || return 0
  # As root: this clone's directory under the state directory (the name only tells a reader whose it is).
  local name hash state_pg
  name=$(basename -- "$REPO" | tr -c 'A-Za-z0-9._\n-' '_' | cut -c1-32)
  hash=$(printf '%s' "$VAR_DIR" | sha256sum | cut -c1-12)
  state_pg=$STATE_DIR/$name-$hash/pg
  local reason
  if [ -f "$in_var/PG_VERSION" ]; then
    if [ -f "$state_pg/PG_VERSION" ]; then
      echo "run.sh: note: this clone also has a cluster in $state_pg, unused while $in_var exists" >&2
    fi
    if ! reason=$(bash "$REPO/scripts/pg.sh" check "$in_var" 2>&1); then
      echo "run.sh: the cluster in $in_var cannot be used: ${reason#pg.sh: }." >&2
      echo "run.sh: move it where that user can reach it, e.g. 'mkdir -p ${state_pg%/pg} && mv $in_var $state_pg'" \
           "(make run then finds it there), or set PG_DIR to its new place" >&2
      exit 1
    fi
    return 0
  fi
  if [ -f "$state_pg/PG_VERSION" ]; then
    pg_dir=$state_pg
    pg_why="kept outside the clone: the postgres user could not reach $VAR_DIR when it was made"
    return 0
  fi
  if ! reason=$(bash "$REPO/scripts/pg.sh" check "$in_var" 2>&1); then
    pg_dir=$state_pg
    pg_why="kept outside the clone: ${reason#pg.sh: }"
  fi
}
pick_pg_dir

if [ "$where_only" -eq 1 ]; then
  echo "$pg_dir"
  exit 0
fi

mkdir -p -- "$VAR_DIR"

API_BIN=$REPO/build/api-server
SIGNALING_BIN=$REPO/build/signaling-server
[ -x "$API_BIN" ] || { echo "run.sh: $API_BIN not found (run: make all)" >&2; exit 1; }

pg_started=0
pids=()
names=()

stop_cluster() {
  if [ "$pg_started" -eq 1 ]; then
    pg_started=0
    echo "run.sh: stopping PostgreSQL"
    bash scripts/pg.sh stop "$pg_dir" || true
  fi
}
trap stop_cluster EXIT

# Keys
bash scripts/keys.sh "$VAR_DIR/keys"
export JWT_PRIVATE_KEY_FILE=$VAR_DIR/keys/jwt-private.pem
export JWT_PUBLIC_KEY_FILE=$VAR_DIR/keys/jwt-public.pem

# Database
if [ -n "${DATABASE_URL:-}" ]; then
  echo "run.sh: using DATABASE_URL from the environment; the private cluster is not started"
  db_where="not used (DATABASE_URL from the environment)"
else
  echo "run.sh: PostgreSQL cluster in $pg_dir${pg_why:+ ($pg_why)}"
  if [ -n "$pg_why" ] && [ -z "${PG_DIR:-}" ] && [ ! -f "$pg_dir/PG_VERSION" ]; then
    # An empty VAR_DIR/pg left by an attempt that could not use it is not a cluster: tidy it away.
    rmdir -- "$VAR_DIR/pg" 2>/dev/null || true
    # The directory outside the clone says whose it is; the postgres user must be able to traverse it.
    (umask 022 && mkdir -p -- "${pg_dir%/pg}")
    printf 'PostgreSQL cluster (pg/) of the clinic clone in %s, data directory %s\n' "$REPO" "$VAR_DIR" \
      >"${pg_dir%/pg}/ORIGIN"
  fi
  bash scripts/pg.sh init "$pg_dir"
  if ! bash scripts/pg.sh status "$pg_dir" >/dev/null; then
    pg_started=1
  fi
  bash scripts/pg.sh start "$pg_dir" "$PG_PORT"
  DATABASE_URL=$(bash scripts/pg.sh url "$pg_dir" "$PG_PORT")
  export DATABASE_URL
  db_where="$pg_dir   (database: $DATABASE_URL)"
fi
if [ -z "${MIGRATIONS_DIR:-}" ] && [ -d "$REPO/sql" ]; then
  export MIGRATIONS_DIR=$REPO/sql
fi

"$API_BIN" migrate
"$API_BIN" seed-demo

api_url="http://$API_LISTEN"
cat <<EOF

  Console: $api_url/   (sign in with a demo login below; the API reference is at $api_url/docs/)
  API:     $api_url/api
  Health:  $api_url/healthz
  Events:  http://${SIGNALING_LISTEN:-127.0.0.1:8081}/socket.io/  (Socket.IO v4, long-polling and WebSocket, auth: {token})
  Browsers: pages of ${CORS_ALLOWED_ORIGINS:-(no other origin)} may call both
  Data:    cluster $db_where
           keys    $VAR_DIR/keys

  Demo logins (password: demo-password)
    admin@demo.clinic        ADMIN
    Clinic 1 (America/Sao_Paulo): reception1@demo.clinic  doctor1@demo.clinic  doctor1b@demo.clinic  patient1@demo.clinic
    Clinic 2 (America/Manaus):    reception2@demo.clinic  doctor2@demo.clinic  doctor2b@demo.clinic  patient2@demo.clinic

  Press Ctrl-C to stop.

EOF

stopping=0
# shellcheck disable=SC2317  # called from the INT/TERM trap
stop_servers() {
  stopping=1
  local p
  for p in "${pids[@]}"; do
    kill -TERM "$p" 2>/dev/null || true
  done
}
trap stop_servers INT TERM

"$API_BIN" serve &
pids+=("$!")
names+=(api-server)

if [ -x "$SIGNALING_BIN" ]; then
  if [ -n "${SIGNALING_LISTEN:-}" ]; then
    export SIGNALING_LISTEN
  fi
  "$SIGNALING_BIN" &
  pids+=("$!")
  names+=(signaling-server)
fi

# Wait until every server has exited; when one stops on its own, stop the others too.
status=0
while [ "${#pids[@]}" -gt 0 ]; do
  wait -n || true
  left_pids=()
  left_names=()
  for i in "${!pids[@]}"; do
    p=${pids[$i]}
    if kill -0 "$p" 2>/dev/null; then
      left_pids+=("$p")
      left_names+=("${names[$i]}")
      continue
    fi
    st=0
    wait "$p" || st=$?
    if [ "$st" -ne 0 ] && [ "$status" -eq 0 ]; then
      status=$st
    fi
    if [ "$stopping" -eq 0 ]; then
      echo "run.sh: ${names[$i]} exited with status $st; stopping" >&2
      stopping=1
      for q in "${pids[@]}"; do
        [ "$q" = "$p" ] || kill -TERM "$q" 2>/dev/null || true
      done
    fi
  done
  pids=("${left_pids[@]}")
  names=("${left_names[@]}")
done

stop_cluster
exit "$status"
