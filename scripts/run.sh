#!/usr/bin/env bash
# Runs the backend locally (what `make run` runs): keys, private PostgreSQL, migrations, demo data, servers.
#
# Environment:
#   API_LISTEN        address of the HTTP API             (default 127.0.0.1:8080)
#   SIGNALING_LISTEN  address of the signaling server, passed through when build/signaling-server exists
#   PG_PORT           port of the private PostgreSQL      (default 15432)
#   DATABASE_URL      use this database instead of the private cluster (which is then not started)
#   VAR_DIR           persistent state: keys/ and pg/     (default ./var)
# Ctrl-C stops the servers, then the private cluster if this run started it.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

export API_LISTEN=${API_LISTEN:-127.0.0.1:8080}
PG_PORT=${PG_PORT:-15432}
VAR_DIR=${VAR_DIR:-./var}
mkdir -p -- "$VAR_DIR"
VAR_DIR=$(cd "$VAR_DIR" && pwd)

API_BIN=$REPO/build/api-server
SIGNALING_BIN=$REPO/build/signaling-server
[ -x "$API_BIN" ] || { echo "run.sh: $API_BIN not found (run: make all)" >&2; exit 1; }

pg_dir=$VAR_DIR/pg
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
else
  bash scripts/pg.sh init "$pg_dir"
  if ! bash scripts/pg.sh status "$pg_dir" >/dev/null; then
    pg_started=1
  fi
  bash scripts/pg.sh start "$pg_dir" "$PG_PORT"
  DATABASE_URL=$(bash scripts/pg.sh url "$pg_dir" "$PG_PORT")
  export DATABASE_URL
fi
if [ -z "${MIGRATIONS_DIR:-}" ] && [ -d "$REPO/sql" ]; then
  export MIGRATIONS_DIR=$REPO/sql
fi

"$API_BIN" migrate
"$API_BIN" seed-demo

api_url="http://$API_LISTEN"
cat <<EOF

  API:     $api_url/api
  Health:  $api_url/healthz
  Events:  ws://${SIGNALING_LISTEN:-127.0.0.1:8081}/socket.io/  (Socket.IO v4, auth: {token})
  Data:    $VAR_DIR   (database: $DATABASE_URL)

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
