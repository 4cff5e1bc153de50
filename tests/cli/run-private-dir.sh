#!/usr/bin/env bash
# `make run` from a clone the cluster user cannot enter, such as one under /root (mode 700) when run as root.
# scripts/run.sh is started twice with VAR_DIR inside a mode-700 directory and CLINIC_STATE_DIR in a scratch
# directory: the first start must create the cluster where the cluster user can reach it (as root: under
# CLINIC_STATE_DIR, the postgres user cannot enter the private directory; otherwise: in VAR_DIR/pg), answer
# /healthz and a demo login; the second must use the same cluster again (a refresh token of the first still works).
# Also checks `run.sh --where` and `pg.sh check`. Needs build/api-server (make all).
#
# Usage: tests/cli/run-private-dir.sh   TAP on stdout, ending with "# pass N" and "# fail N"; exit 0 when all pass.
# Everything it starts is stopped and its scratch directory (under TMPDIR, default /tmp) removed, whatever happens.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO" || exit 1
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
export PG_BIN
START_TIMEOUT=90 # seconds for initdb, migrations, demo data and both servers
STOP_TIMEOUT=20

n=0
passes=0
fails=0
ok() { n=$((n + 1)); passes=$((passes + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }
check() { # check DESCRIPTION COMMAND...
  local d=$1
  shift
  if "$@"; then ok "$d"; else not_ok "$d"; fi
}
not() { ! "$@"; }
stopped() { ! bash scripts/pg.sh status "$1" >/dev/null 2>&1; }

work=
run_pid=
clusters=()

# stop_run: TERM the run.sh session (it stops its servers and the cluster it started), KILL it if it lingers.
stop_run() {
  local pid=$run_pid st=0
  run_pid=
  [ -n "$pid" ] || return 0
  kill -TERM -- "-$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    return 1
  fi
  wait "$pid" || st=$?
  return "$st"
}

cleanup() {
  set +e
  stop_run >/dev/null 2>&1
  local d
  for d in "${clusters[@]}"; do
    bash scripts/pg.sh stop "$d" >/dev/null 2>&1
  done
  if [ -n "$work" ] && [ -d "$work" ]; then
    rm -rf -- "$work"
  fi
  echo "# pass $passes"
  echo "# fail $fails"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ ! -x build/api-server ]; then
  not_ok "build/api-server exists (run: make all)"
  exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/clinic-run-private.XXXXXX")
chmod 711 "$work" # the cluster user may pass through, as through /var/lib
private=$work/home
mkdir -m 700 "$private"
var_dir=$private/clinic/var
state_dir=$work/state
mapfile -t ports < <(bash scripts/free-port.sh 3)
api=127.0.0.1:${ports[0]}

run_env=(env -u DATABASE_URL -u PG_DIR -u MIGRATIONS_DIR "VAR_DIR=$var_dir" "CLINIC_STATE_DIR=$state_dir"
  "API_LISTEN=$api" "SIGNALING_LISTEN=127.0.0.1:${ports[1]}" "PG_PORT=${ports[2]}" LOG_LEVEL=warning)

# Where the cluster must be.
if [ "$(id -u)" -eq 0 ]; then
  check "pg.sh check: the postgres user cannot reach a directory inside a mode-700 one" \
    not bash scripts/pg.sh check "$var_dir/pg" 2>"$work/check.err"
  check "pg.sh check names the directory it cannot traverse" grep -qF "cannot traverse $private " "$work/check.err"
  check "pg.sh check: the scratch directory is reachable" bash scripts/pg.sh check "$work/open/pg"
  expect_prefix=$state_dir/
else
  expect_prefix=$var_dir/pg
fi
where=$("${run_env[@]}" timeout 30 bash scripts/run.sh --where)
case "$where" in
  "$expect_prefix"*) ok "run.sh --where: $where" ;;
  *) not_ok "run.sh --where: $where, expected under $expect_prefix" ;;
esac
check "run.sh --where creates nothing" test ! -e "$private/clinic" -a ! -e "$state_dir"
check "run.sh --where honours PG_DIR" \
  test "$("${run_env[@]}" PG_DIR="$work/elsewhere/pg" timeout 30 bash scripts/run.sh --where)" = "$work/elsewhere/pg"
check "run.sh --where: VAR_DIR/pg wherever the cluster user can reach it" \
  test "$("${run_env[@]}" VAR_DIR="$work/open/var" timeout 30 bash scripts/run.sh --where)" = "$work/open/var/pg"
clusters+=("$where")

# start_run LOG: start run.sh in its own session, wait until /healthz answers.
start_run() {
  local log=$1
  setsid "${run_env[@]}" bash scripts/run.sh >"$log" 2>&1 &
  run_pid=$!
  local deadline=$((SECONDS + START_TIMEOUT))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if curl -fsS --max-time 1 -o /dev/null "http://$api/healthz" 2>/dev/null; then
      return 0
    fi
    kill -0 "$run_pid" 2>/dev/null || break
    sleep 0.3
  done
  echo "# run.sh did not come up; last lines of its output:"
  tail -n 30 "$log" | sed 's/^/#   /'
  stop_run
  return 1
}

login() { # login EMAIL -> the answer's body
  curl -s --max-time 10 -H 'Content-Type: application/json' \
    -d "{\"email\":\"$1\",\"password\":\"demo-password\"}" "http://$api/api/auth/login"
}

# First start: a new cluster.
if start_run "$work/run-1.log"; then
  ok "first start: /healthz answers"
  body=$(login admin@demo.clinic)
  refresh=$(sed -n 's/.*"refresh_token":"\([^"]*\)".*/\1/p' <<<"$body")
  check "first start: demo login admin@demo.clinic" test -n "$refresh"
  check "first start: the cluster is in $where" test -f "$where/PG_VERSION"
  check "first start: the output says where the cluster is" grep -qF "PostgreSQL cluster in $where" "$work/run-1.log"
  check "first start: a new cluster was made" grep -qF "initialised cluster in $where" "$work/run-1.log"
  if [ "$(id -u)" -eq 0 ]; then
    check "first start: no cluster inside the private directory" test ! -e "$var_dir/pg"
    check "first start: the state directory tells whose cluster it is" grep -qF "$var_dir" "${where%/pg}/ORIGIN"
  fi
  check "first start: run.sh exits 0 on SIGTERM" stop_run
  check "first start: the cluster is stopped with it" stopped "$where"
else
  not_ok "first start: /healthz answers within $START_TIMEOUT s"
  exit 1
fi

# Second start: the same cluster, the same data.
if start_run "$work/run-2.log"; then
  ok "second start: /healthz answers"
  check "second start: the same cluster is used" grep -qF "PostgreSQL cluster in $where" "$work/run-2.log"
  check "second start: no new cluster" not grep -q "initialised cluster" "$work/run-2.log"
  code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    -d "{\"refresh_token\":\"$refresh\"}" "http://$api/api/auth/refresh")
  check "second start: a refresh token of the first still works (status $code)" test "$code" = 200
  check "second start: run.sh exits 0 on SIGTERM" stop_run
else
  not_ok "second start: /healthz answers within $START_TIMEOUT s"
fi
