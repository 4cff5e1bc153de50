#!/usr/bin/env bash
# Runs every test suite (what `make test` runs): unit tests, spec lint, compose check, and the HTTP API suite
# against throwaway PostgreSQL clusters, once with the normal build and once with the sanitizer build (each
# pass split over TEST_LANES lanes, every lane with its own cluster, servers and ports, all running at the same
# time), the browser tests beside them, and two starts of `make run` from a directory the cluster user cannot
# enter (tests/cli/run-private-dir.sh).
# Last line: "N passed, N failed", every result of every pass (the API tests run once per pass, so they
# count once each time); the line before says how many distinct API tests there are and in how many passes
# they ran. The exit status is non-zero when anything failed.
#
# Environment:
#   TEST_FILTER       only run API tests whose name matches this pattern (node --test-name-pattern)
#   TEST_SANITIZE=0   skip the sanitizer pass
#   TEST_BROWSER=0    skip the browser test (a video call between two Chromium pages)
#   TEST_LANES        lanes per API pass, each a cluster and servers of its own (default 2, at most 8)
#   TEST_CONCURRENCY  API test files run at the same time within a lane (default 1)
#   KEEP_TMP=1        keep the temporary directory (cluster, keys, server logs) for inspection
#   TMPDIR            where the temporary directory is created (default /tmp)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
export PG_BIN
HEALTH_TIMEOUT=10
VIDEO_GRACE=3 # seconds a dropped video participant may take to come back (short, so the tests can wait it out)
SAN_HEALTH_TIMEOUT=30
STOP_TIMEOUT=10

passed=0
failed=0
finished=0
# The API passes that ran (their labels), the tests of the largest one (each pass runs the same tests) and the
# results of all of them.
api_passes=()
api_distinct=0
api_results=0
tmp=
pg_dir=
pg_port=
server_pid=

pass() { passed=$((passed + ${2:-1})); echo "PASS: $1"; }
fail() { failed=$((failed + ${2:-1})); echo "FAIL: $1"; }
section() { printf '\n=== %s ===\n' "$*"; }

# kill_proc PID: stop a background process, if it still runs, without judging how it exits.
kill_proc() {
  local pid=$1
  [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}
kill_server() { kill_proc "$server_pid"; server_pid=; }
kill_signaling() { kill_proc "$sig_pid"; sig_pid=; }

cleanup() {
  local p
  for p in ${lane_pids[@]+"${lane_pids[@]}"} ${san_lane_pid:-} ${browser_pid:-}; do
    if kill -0 "$p" 2>/dev/null; then
      kill -TERM "$p" 2>/dev/null || true
      wait "$p" 2>/dev/null || true
    fi
  done
  if [ -n "$tmp" ] && [ -d "$tmp/pg-browser" ]; then
    bash scripts/pg.sh stop "$tmp/pg-browser" >/dev/null 2>&1 || true
  fi
  kill_server
  kill_signaling
  if [ -n "$pg_dir" ] && [ -d "$pg_dir" ]; then
    bash scripts/pg.sh stop "$pg_dir" >/dev/null 2>&1 || true
  fi
  if [ -n "$tmp" ] && [ -d "$tmp" ]; then
    if [ "${KEEP_TMP:-0}" = 1 ]; then
      echo "test.sh: temporary files kept in $tmp"
    else
      rm -rf -- "$tmp"
    fi
  fi
}

on_exit() {
  local rc=$?
  set +e
  trap '' PIPE INT TERM HUP
  if [ "$finished" -eq 0 ]; then
    fail "test.sh stopped early (status $rc)"
  fi
  cleanup
  echo
  if [ "${#api_passes[@]}" -gt 0 ]; then
    echo "API tests: $api_distinct distinct, run in ${#api_passes[@]} pass(es) (${api_passes[*]}), so $api_results of the results below"
  fi
  echo "$passed passed, $failed failed"
  if [ "$failed" -eq 0 ]; then exit 0; fi
  exit 1
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
trap 'exit 141' PIPE

# --- helpers for the server phases -----------------------------------------------------------------------------

# The signaling-server next to the api-server of a phase (pid, port).
sig_pid=
sig_port=

# await_ready LABEL WHAT PID URL TIMEOUT LOG: wait until URL answers 2xx while PID runs; on failure report it with
# the end of LOG and stop PID. WHAT names the process in the messages.
await_ready() {
  local label=$1 what=$2 pid=$3 url=$4 timeout=$5 log=$6 st=0
  local deadline=$((SECONDS + timeout))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if curl -fsS --max-time 1 -o /dev/null "$url" 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid" || st=$?
      fail "$label: $what exited during startup (status $st)"
      tail -n 40 "$log"
      return 1
    fi
    sleep 0.2
  done
  fail "$label: $what did not answer $url within ${timeout} s"
  kill_proc "$pid"
  tail -n 40 "$log"
  return 1
}

# await_exit LABEL WHAT PID TIMEOUT LOG: SIGTERM, then PID must exit with status 0 within TIMEOUT seconds.
await_exit() {
  local label=$1 what=$2 pid=$3 timeout=$4 log=$5 st=0
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + timeout))
  while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    kill_proc "$pid"
    fail "$label: $what still running ${timeout} s after SIGTERM (killed)"
    return
  fi
  wait "$pid" || st=$?
  if [ "$st" -eq 0 ]; then
    pass "$label: $what exits 0 on SIGTERM"
  else
    fail "$label: $what exited with status $st after SIGTERM"
    tail -n 20 "$log"
  fi
}

# start_signaling LABEL BIN TIMEOUT: start BIN on $sig_port and wait until GET /readyz is 200 (LISTEN is up).
start_signaling() {
  local label=$1 bin=$2 timeout=$3 log=$tmp/$1/signaling.log
  env "DATABASE_URL=$database_url" "JWT_PUBLIC_KEY_FILE=$tmp/keys/jwt-public.pem" "SIGNALING_LISTEN=127.0.0.1:$sig_port" \
    "CORS_ALLOWED_ORIGINS=http://localhost:5173,http://console.test:8080" LOG_LEVEL=warning SIGNALING_POLL_MS=200 "VIDEO_GRACE_SECONDS=$VIDEO_GRACE" "${san_env[@]}" "$bin" >"$log" 2>&1 &
  sig_pid=$!
  if await_ready "$label" signaling-server "$sig_pid" "http://127.0.0.1:$sig_port/readyz" "$timeout" "$log"; then
    pass "$label: signaling-server ready"
    return 0
  fi
  sig_pid=
  return 1
}

# stop_signaling LABEL TIMEOUT: SIGTERM, then it must exit 0 within TIMEOUT seconds.
stop_signaling() {
  await_exit "$1" signaling-server "$sig_pid" "$2" "$tmp/$1/signaling.log"
  sig_pid=
}

# db_env: the environment every api-server command of a phase gets (besides the sanitizer options).
db_env=()
set_db_env() { # set_db_env API_PORT
  db_env=(
    "DATABASE_URL=$database_url"
    "API_LISTEN=127.0.0.1:$1"
    "JWT_PRIVATE_KEY_FILE=$tmp/keys/jwt-private.pem"
    "JWT_PUBLIC_KEY_FILE=$tmp/keys/jwt-public.pem"
    "LOG_LEVEL=warning"
    "MIGRATIONS_DIR=$REPO/sql"
    "CORS_ALLOWED_ORIGINS=http://localhost:5173,http://console.test:8080"
    # The whole suite is one client address and a few users, far faster than people: rate limits on, but
    # never reached (tests/api/flood.test.mjs checks them on servers of its own).
    "API_RATE_PER_ADDRESS=2000" "API_BURST_PER_ADDRESS=10000" "API_RATE_PER_USER=1000" "API_BURST_PER_USER=5000"
    # Thousands of accounts are made and signed in per pass: the cheapest argon2id (hashes made with it still
    # verify the same way; the production cost is PASSWORD_MEMORY_KIB's default, see README).
    "PASSWORD_MEMORY_KIB=1024" "PASSWORD_ITERATIONS=1"
  )
}

# run_cmd LABEL LOG BIN ARGS...: run an api-server command with db_env and san_env, output into LOG.
san_env=()
run_cmd() {
  local label=$1 log=$2
  shift 2
  if env "${db_env[@]}" "${san_env[@]}" "$@" >"$log" 2>&1; then
    return 0
  fi
  echo "test.sh: $label failed; output:"
  tail -n 40 "$log"
  return 1
}

# Row count of every table except audit ones (audit rows may legitimately be added by any command).
row_counts() {
  "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$pg_dir" -p "$pg_port" -U postgres -d clinic <<'SQL'
SELECT format('%I.%I', table_schema, table_name) || ' ' ||
       (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', table_schema, table_name),
                                            false, true, '')))[1]::text
  FROM information_schema.tables
 WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE'
   AND table_name !~ 'audit'
 ORDER BY 1;
SQL
}

# Schema of database clinic, without the random \restrict keys newer pg_dump versions add.
schema_dump() {
  "$PG_BIN/pg_dump" -s -h "$pg_dir" -p "$pg_port" -U postgres clinic | sed '/^\\\(un\)\{0,1\}restrict /d'
}

# prepare_db LABEL BIN: migrate twice (second must change nothing), seed twice (second must add nothing).
prepare_db() {
  local label=$1 bin=$2 logdir=$tmp/$1
  mkdir -p "$logdir"
  if ! run_cmd "$label: migrate" "$logdir/migrate-1.log" "$bin" migrate; then
    fail "$label: migrate"
    return 1
  fi
  schema_dump >"$logdir/schema-1.sql"
  if run_cmd "$label: second migrate" "$logdir/migrate-2.log" "$bin" migrate; then
    schema_dump >"$logdir/schema-2.sql"
    if cmp -s "$logdir/schema-1.sql" "$logdir/schema-2.sql"; then
      pass "$label: second migrate is a no-op"
    else
      fail "$label: second migrate changed the schema"
      diff -u "$logdir/schema-1.sql" "$logdir/schema-2.sql" | head -n 40 || true
    fi
  else
    fail "$label: second migrate exits 0"
  fi
  if ! run_cmd "$label: seed-demo" "$logdir/seed-1.log" "$bin" seed-demo; then
    fail "$label: seed-demo"
    return 1
  fi
  row_counts >"$logdir/rows-1.txt"
  if run_cmd "$label: second seed-demo" "$logdir/seed-2.log" "$bin" seed-demo; then
    row_counts >"$logdir/rows-2.txt"
    if cmp -s "$logdir/rows-1.txt" "$logdir/rows-2.txt"; then
      pass "$label: second seed-demo is idempotent"
    else
      fail "$label: second seed-demo changed row counts"
      diff -u "$logdir/rows-1.txt" "$logdir/rows-2.txt" | head -n 40 || true
    fi
  else
    fail "$label: second seed-demo exits 0"
  fi
}

# start_server LABEL BIN PORT TIMEOUT: start "BIN serve" in the background and wait for GET /healthz.
start_server() {
  local label=$1 bin=$2 port=$3 timeout=$4 log=$tmp/$1/server.log
  env "${db_env[@]}" "${san_env[@]}" "$bin" serve >"$log" 2>&1 &
  server_pid=$!
  if await_ready "$label" server "$server_pid" "http://127.0.0.1:$port/healthz" "$timeout" "$log"; then
    return 0
  fi
  server_pid=
  return 1
}

# stop_server LABEL TIMEOUT: SIGTERM, then the server must exit with status 0 within TIMEOUT seconds.
stop_server() {
  await_exit "$1" server "$server_pid" "$2" "$tmp/$1/server.log"
  server_pid=
}

# tap_summary LABEL FILE STATUS: adds the "# pass N" / "# fail N" / "# cancelled N" totals of a node test run
# (TAP in FILE, the runner's exit STATUS) to the counts; sets tap_failed to the failures (0 when all passed)
# and tap_total to the results it added.
tap_failed=0
tap_total=0
tap_summary() {
  local label=$1 tap=$2 st=$3 p f c
  p=$(sed -n 's/^# pass \([0-9][0-9]*\)$/\1/p' "$tap" 2>/dev/null | tail -n 1)
  f=$(sed -n 's/^# fail \([0-9][0-9]*\)$/\1/p' "$tap" 2>/dev/null | tail -n 1)
  c=$(sed -n 's/^# cancelled \([0-9][0-9]*\)$/\1/p' "$tap" 2>/dev/null | tail -n 1)
  tap_total=0
  if [ -z "$p" ] || [ -z "$f" ]; then
    fail "$label: the test runner gave no summary (status $st)"
    tap_failed=1
    return
  fi
  f=$((f + ${c:-0}))
  tap_total=$((p + f))
  passed=$((passed + p))
  failed=$((failed + f))
  if [ "${tap_quiet:-0}" != 1 ] || [ "$f" -ne 0 ]; then echo "$label: $p passed, $f failed"; fi
  if [ "$st" -ne 0 ] && [ "$f" -eq 0 ]; then
    fail "$label: the test runner exited with status $st"
    f=1
  fi
  tap_failed=$f
}

# queue_take QUEUE: prints the first line of the file QUEUE and removes it (nothing when it is empty); the
# lanes of a pass share one queue of test files, so each file runs once and a lane that ends early takes more.
queue_take() {
  local q=$1 line=
  {
    flock 9
    line=$(head -n 1 "$q")
    if [ -n "$line" ]; then sed -i 1d "$q"; fi
  } 9>"$q.lock"
  printf '%s' "$line"
}

# api_suite LABEL PORT BIN QUEUE: the node API test files taken from QUEUE, one at a time, against the running
# server (BIN is what they may run directly). Sets api_results to the results it counted.
api_suite() {
  local label=$1 port=$2 bin=$3 queue=$4 file tap st
  mkdir -p "$tmp/$label/tap"
  api_results=0
  while file=$(queue_take "$queue"); [ -n "$file" ]; do
    tap=$tmp/$label/tap/${file##*/}.tap
    st=0
    local -a args=(--test "--test-concurrency=${TEST_CONCURRENCY:-1}"
      --test-reporter=spec --test-reporter-destination=stdout
      --test-reporter=tap "--test-reporter-destination=$tap")
    if [ -n "${TEST_FILTER:-}" ]; then
      args+=("--test-name-pattern=$TEST_FILTER")
    fi
    env "${db_env[@]}" "${san_env[@]}" API_URL="http://127.0.0.1:$port" REPO_ROOT="$REPO" API_BIN="$bin" \
      SIGNALING_URL="http://127.0.0.1:$sig_port" SIGNALING_BIN="${bin%api-server}signaling-server" VIDEO_GRACE_SECONDS="$VIDEO_GRACE" \
      PG_DIR="$pg_dir" PG_PORT="$pg_port" \
      node "${args[@]}" "$file" &
    node_pid=$! # waited for in the background, so a TERM to the lane stops it at once (api_lane's trap)
    wait "$node_pid" || st=$?
    node_pid=
    tap_quiet=1 tap_summary "$label: ${file#tests/api/}" "$tap" "$st"
    api_results=$((api_results + tap_total))
    if [ "$tap_failed" -ne 0 ]; then
      echo "--- last lines of the server log ($tmp/$label/server.log) after ${file#tests/api/}"
      tail -n 60 "$tmp/$label/server.log" || true
    fi
  done
  echo "$label: $api_results API test results"
}

# outage_check LABEL PORT: with PostgreSQL stopped the server answers 503 with the error envelope (readiness
# and a real route), and once PostgreSQL is back it recovers without a restart.
outage_check() {
  local label=$1 port=$2 base="http://127.0.0.1:$2" body code tries
  if ! bash scripts/pg.sh stop "$pg_dir" >/dev/null; then
    fail "$label: could not stop PostgreSQL for the outage check"
    return
  fi
  body=$(curl -s -w ' %{http_code}' "$base/readyz")
  if [[ "$body" == *'"code":"service_unavailable"'*' 503' ]]; then
    pass "$label: /readyz is 503 service_unavailable while the database is down"
  else
    fail "$label: /readyz while the database is down answered: $body"
  fi
  body=$(curl -s -w ' %{http_code}' -H 'Content-Type: application/json' \
    -d '{"email":"admin@demo.clinic","password":"demo-password"}' "$base/api/auth/login")
  if [[ "$body" == *'"code":"service_unavailable"'*' 503' ]]; then
    pass "$label: login is 503 service_unavailable while the database is down"
  else
    fail "$label: login while the database is down answered: $body"
  fi
  if [ -n "$sig_pid" ]; then
    if await_code "http://127.0.0.1:$sig_port/readyz" 503 50; then
      pass "$label: signaling-server /readyz is 503 while the database is down"
    else
      fail "$label: signaling-server /readyz is $code while the database is down"
    fi
  fi
  bash scripts/pg.sh start "$pg_dir" "$pg_port" >/dev/null || true
  if [ -n "$sig_pid" ]; then
    if await_code "http://127.0.0.1:$sig_port/readyz" 200 100; then
      pass "$label: signaling-server reconnects once the database is back"
    else
      fail "$label: signaling-server /readyz still $code after the database came back"
    fi
  fi
  if await_code "$base/readyz" 200 50; then
    pass "$label: ready again once the database is back (after ${tries} tries)"
  else
    fail "$label: /readyz still $code after the database came back"
  fi
}

# await_code URL CODE TRIES: GET URL every 0.2 s until it answers CODE, at most TRIES times. Sets code (the last
# status) and tries (how many it took).
await_code() {
  code=000
  for tries in $(seq "$3"); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "$1")
    [ "$code" = "$2" ] && return 0
    sleep 0.2
  done
  return 1
}

# --- a. build and unit tests ------------------------------------------------------------------------------------
section "build and unit tests"
built=1
if ! make -s all unit-tests; then
  fail "make all unit-tests"
  built=0
fi
shopt -s nullglob
unit_bins=(build/tests/test_*)
shopt -u nullglob
if [ "${#unit_bins[@]}" -eq 0 ]; then
  fail "no unit test binaries in build/tests"
fi
for t in "${unit_bins[@]}"; do
  if [ ! -f "$t" ] || [ ! -x "$t" ]; then continue; fi
  st=0
  out=$(CMOCKA_MESSAGE_OUTPUT=stdout timeout 300 "$t" 2>&1) || st=$?
  p=$(sed -n 's/^\[  PASSED  \] \([0-9][0-9]*\) test.*/\1/p' <<<"$out" | awk '{s += $1} END {print s + 0}')
  f=$(sed -n 's/^\[  FAILED  \] \([0-9][0-9]*\) test.*/\1/p' <<<"$out" | awk '{s += $1} END {print s + 0}')
  note=
  if [ "$st" -ge 124 ] || { [ "$st" -ne 0 ] && [ "$f" -eq 0 ]; }; then
    f=$((f + 1))
    case "$st" in
      124) note=" (timed out)" ;;
      *) note=" (exit status $st)" ;;
    esac
  fi
  passed=$((passed + p))
  failed=$((failed + f))
  echo "${t##*/}: $p passed, $f failed$note"
  if [ "$f" -ne 0 ]; then
    printf '%s\n' "$out"
  fi
done

# --- b. node packages of the test suites ------------------------------------------------------------------------
section "test dependencies"
if [ ! -f tests/package.json ]; then
  fail "tests/package.json is missing: the API test suite and the spec linter cannot be installed"
elif [ ! -f tests/package-lock.json ]; then
  fail "tests/package-lock.json is missing (create it with: npm install --prefix tests)"
elif [ ! -d tests/node_modules ] || [ tests/package-lock.json -nt tests/node_modules/.package-lock.json ] ||
     [ tests/package.json -nt tests/node_modules/.package-lock.json ]; then
  if npm ci --prefix tests --no-audit --no-fund --loglevel=error; then
    echo "installed tests/node_modules"
  else
    fail "npm ci --prefix tests"
  fi
else
  echo "tests/node_modules is up to date"
fi

# The console's browser libraries (web/vendor/), which the API suites and the browser test load from the server.
if bash scripts/web.sh; then
  echo "web/vendor is up to date"
else
  fail "scripts/web.sh (the console's browser libraries)"
fi

# --- c. OpenAPI lint and compose file ---------------------------------------------------------------------------
section "openapi.yaml and docker-compose.yml"
redocly=tests/node_modules/.bin/redocly
if [ ! -f openapi.yaml ]; then
  fail "openapi.yaml is missing"
elif [ ! -x "$redocly" ]; then
  fail "redocly lint: $redocly not installed (@redocly/cli belongs in tests/package.json)"
elif out=$(REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_COLOR=1 \
             timeout 120 "$redocly" lint openapi.yaml 2>&1); then
  pass "redocly lint openapi.yaml"
else
  printf '%s\n' "$out"
  fail "redocly lint openapi.yaml"
fi
if ! command -v docker-compose >/dev/null 2>&1; then
  fail "docker-compose config: docker-compose is not installed (scripts/deps.sh test)"
elif out=$(TURN_SECRET=compose-check-turn-secret POSTGRES_PASSWORD=compose-check-db-password docker-compose -f docker-compose.yml config -q 2>&1); then
  pass "docker-compose config"
else
  printf '%s\n' "$out"
  fail "docker-compose config"
fi

# --- d. API suites against throwaway clusters ---------------------------------------------------------------
# Two passes of the API suite, the normal build and the sanitizer build, each split over TEST_LANES lanes; a lane
# is a cluster, an api-server and a signaling-server of its own, and takes test files from its pass's queue
# (largest first) until none is left, so every file runs once per pass and the lanes end close together. The
# browser tests run beside them on a cluster of their own. The suites spend most of their time waiting on
# timers and sockets, so the lanes together take little longer than the slowest one. Each lane's output goes to a
# file, printed in order when everything has ended; its counts come back through a file too.
section "API tests"
if [ "$built" -eq 0 ] || [ ! -x build/api-server ]; then
  fail "API tests not run: build/api-server was not built"
  finished=1
  exit
fi
lanes=${TEST_LANES:-2}
if ! [[ "$lanes" =~ ^[1-8]$ ]]; then
  fail "TEST_LANES must be a number from 1 to 8 (it is '$lanes')"
  finished=1
  exit
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/clinic-test.XXXXXX")
chmod 711 "$tmp" # the clusters run as the postgres user when we are root: they must reach $tmp/pg*
mapfile -t ports < <(bash scripts/free-port.sh $((6 * lanes + 1)))
bash scripts/keys.sh "$tmp/keys" >/dev/null
# shellcheck disable=SC2012 # file names of our own, without spaces
ls -S tests/api/*.test.mjs >"$tmp/queue-api"
cp "$tmp/queue-api" "$tmp/queue-san"

# start_cluster DIR PORT: a fresh cluster in DIR on PORT; sets pg_dir, pg_port and database_url.
start_cluster() {
  pg_dir=$1
  pg_port=$2
  if ! bash scripts/pg.sh init "$pg_dir" --fast >/dev/null || ! bash scripts/pg.sh start "$pg_dir" "$pg_port" >/dev/null; then
    return 1
  fi
  database_url=$(bash scripts/pg.sh url "$pg_dir" "$pg_port")
}

# api_lane LABEL BIN PG_PORT API_PORT SIG_PORT QUEUE HEALTH_TIMEOUT [outage]: one lane (see above) on a cluster in
# $tmp/pg-LABEL; with "outage", the outage check after the suite. Writes "passed failed api-results" to
# $tmp/LABEL.counts when it gets to the end.
api_lane() {
  local label=$1 bin=$2 api_port=$4 queue=$6 timeout=$7 outage=${8:-}
  passed=0
  failed=0
  api_results=0
  server_pid=
  sig_pid=
  node_pid=
  pg_dir=
  trap 'kill_proc "$node_pid"; kill_server; kill_signaling; [ -z "$pg_dir" ] || bash scripts/pg.sh stop "$pg_dir" >/dev/null 2>&1 || true' EXIT
  trap 'exit 143' TERM
  trap 'exit 130' INT
  section "API tests: lane $label"
  if ! start_cluster "$tmp/pg-$label" "$3"; then
    fail "$label: not run, its PostgreSQL cluster did not start"
  else
    sig_port=$5
    set_db_env "$api_port"
    if prepare_db "$label" "$bin"; then
      if start_server "$label" "$bin" "$api_port" "$timeout" &&
         start_signaling "$label" "${bin%api-server}signaling-server" "$timeout"; then
        api_suite "$label" "$api_port" "$bin" "$queue"
        if [ -n "$outage" ]; then outage_check "$label" "$api_port"; fi
        stop_signaling "$label" "$STOP_TIMEOUT"
        stop_server "$label" "$STOP_TIMEOUT"
      fi
    fi
    bash scripts/pg.sh stop "$pg_dir" >/dev/null 2>&1 || true
    pg_dir=
  fi
  echo "$passed $failed $api_results" >"$tmp/$label.counts"
}

# sanitizer_pass: the sanitizer build, its lanes, then a check that no sanitizer wrote a report. Writes
# "passed failed lanes-ran" (1 when the build succeeded and the lanes ran, else 0) to $tmp/san.counts when it
# gets to the end.
sanitizer_pass() {
  passed=0
  failed=0
  local san_logs=$tmp/sanitizers i
  local -a reports
  san_pids=()
  trap 'for p in ${san_pids[@]+"${san_pids[@]}"}; do kill -TERM "$p" 2>/dev/null; done; wait' EXIT
  trap 'exit 143' TERM
  section "sanitizer build"
  if ! make -s SANITIZE=1 || [ ! -x build/san/api-server ]; then
    fail "sanitizer build (make SANITIZE=1 -> build/san/api-server)"
    echo "$passed $failed 0" >"$tmp/san.counts"
    return
  fi
  pass "sanitizer build"
  mkdir -p "$san_logs"
  san_env=(
    "ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:log_path=$san_logs/asan"
    "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=0:log_path=$san_logs/ubsan"
  )
  # Known third-party leaks can be listed in tests/lsan.supp.
  if [ -f tests/lsan.supp ]; then
    san_env+=("LSAN_OPTIONS=suppressions=$REPO/tests/lsan.supp:print_suppressions=0")
  fi
  for i in $(seq "$lanes"); do
    api_lane "san-$i" "$REPO/build/san/api-server" "${ports[$((6 * i - 3))]}" "${ports[$((6 * i - 2))]}" \
      "${ports[$((6 * i - 1))]}" "$tmp/queue-san" "$SAN_HEALTH_TIMEOUT" >"$tmp/san-$i.out" 2>&1 &
    san_pids+=($!)
  done
  wait "${san_pids[@]}" || true
  san_pids=()
  shopt -s nullglob
  reports=("$san_logs"/asan.* "$san_logs"/ubsan.*)
  shopt -u nullglob
  if [ "${#reports[@]}" -eq 0 ]; then
    pass "no sanitizer reports"
  else
    fail "sanitizer reports: ${#reports[@]} file(s)"
    for r in "${reports[@]}"; do
      echo "--- $r"
      head -n 80 "$r"
    done
  fi
  echo "$passed $failed 1" >"$tmp/san.counts"
}

# browser_lane: the browser tests on a cluster of their own ($tmp/pg-browser, prepared by browser-test.sh).
browser_lane() {
  local st=0
  mkdir -p "$tmp/browser"
  bash scripts/browser-test.sh --pg "$tmp/pg-browser" "${ports[$((6 * lanes))]}" --prepare --keys "$tmp/keys" \
    --bin "$REPO/build" --logs "$tmp/browser" >"$tmp/browser/out.txt" 2>&1 &
  browser_run=$!
  trap 'kill_proc "$browser_run"; bash scripts/pg.sh stop "$tmp/pg-browser" >/dev/null 2>&1 || true' EXIT
  trap 'exit 143' TERM
  wait "$browser_run" || st=$?
  browser_run=
  echo "$st" >"$tmp/browser.status"
}

lane_pids=()
for i in $(seq "$lanes"); do
  outage=
  if [ "$i" -eq 1 ]; then outage=outage; fi
  api_lane "api-$i" "$REPO/build/api-server" "${ports[$((6 * i - 6))]}" "${ports[$((6 * i - 5))]}" \
    "${ports[$((6 * i - 4))]}" "$tmp/queue-api" "$HEALTH_TIMEOUT" $outage >"$tmp/api-$i.out" 2>&1 &
  lane_pids+=($!)
done
san_lane_pid=
if [ "${TEST_SANITIZE:-1}" != 0 ]; then
  sanitizer_pass >"$tmp/san.out" 2>&1 &
  san_lane_pid=$!
fi
browser_pid=
if [ "${TEST_BROWSER:-1}" != 0 ]; then
  browser_lane &
  browser_pid=$!
fi
echo "(running: $lanes API lane(s), ${san_lane_pid:+$lanes sanitizer lane(s), }${browser_pid:+the browser tests, }each reported when all have ended)"

# lane_counts LABEL: adds the counts a lane wrote; returns 1 when it wrote none.
lane_counts() {
  local lp lf lr
  if ! read -r lp lf lr <"$tmp/$1.counts" 2>/dev/null; then
    fail "lane $1 stopped before its end"
    return 1
  fi
  passed=$((passed + lp))
  failed=$((failed + lf))
  lane_results=$((lane_results + ${lr:-0}))
}

# pass_done LABEL RESULTS: records an API pass that counted RESULTS results.
pass_done() {
  if [ "$2" -gt 0 ]; then
    api_passes+=("$1")
    api_results=$((api_results + $2))
    if [ "$2" -gt "$api_distinct" ]; then api_distinct=$2; fi
  fi
}

# --- d3. make run from a clone the cluster user cannot enter (as root: one under /root) -------------------------
# (in the foreground while the lanes run)
section "make run from a private directory"
mkdir -p "$tmp/run-private"
st=0
bash tests/cli/run-private-dir.sh >"$tmp/run-private/out.tap" 2>&1 || st=$?

lane_results=0
for i in $(seq "$lanes"); do
  wait "${lane_pids[$((i - 1))]}" || true
  cat "$tmp/api-$i.out"
  lane_counts "api-$i" || true
done
lane_pids=()
pass_done api "$lane_results"

cat "$tmp/run-private/out.tap"
tap_summary "make run from a private directory" "$tmp/run-private/out.tap" "$st"

# --- d2. the browser tests: a video call in two Chromium pages, the console, in a loopback-only namespace --------
section "browser tests"
if [ -z "$browser_pid" ]; then
  echo "skipped (TEST_BROWSER=0)"
else
  wait "$browser_pid" || true
  browser_pid=
  cat "$tmp/browser/out.txt"
  tap_summary browser "$tmp/browser/out.txt" "$(cat "$tmp/browser.status" 2>/dev/null || echo 1)"
fi

# --- e. the sanitizer pass's report -----------------------------------------------------------------------------
if [ -z "$san_lane_pid" ]; then
  section "API tests with sanitizers"
  echo "skipped (TEST_SANITIZE=0)"
else
  wait "$san_lane_pid" || true
  san_lane_pid=
  lane_results=0
  ran=0
  if read -r sp sf ran <"$tmp/san.counts" 2>/dev/null; then
    passed=$((passed + sp))
    failed=$((failed + sf))
  else
    fail "the sanitizer pass stopped before its end"
  fi
  if [ "$ran" = 1 ]; then
    for i in $(seq "$lanes"); do
      cat "$tmp/san-$i.out" 2>/dev/null || true
      lane_counts "san-$i" || true
    done
  fi
  cat "$tmp/san.out"
  pass_done san "$lane_results"
fi

finished=1
