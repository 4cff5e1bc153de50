#!/usr/bin/env bash
# Runs the browser tests (tests/browser/: a video consultation in two Chromium instances, a client page on
# another origin, the clinic console's scripted day) inside a private network namespace that has only loopback, so WebRTC can only pair on 127.0.0.1
# and Chromium reaches nothing outside. In the namespace it starts its own api-server and signaling-server on
# 127.0.0.1, connected to the PostgreSQL cluster through the cluster's Unix socket (the host's 127.0.0.1 ports are
# not reachable from there), both allowing the origin http://127.0.0.1:18100 (CORS_ALLOWED_ORIGINS), where the
# cross-origin test serves its page (and http://127.0.0.1:18110, not allowed, for the refused case); waits for
# /healthz and /readyz, then runs `node --test tests/browser/`. The api-server serves the console from web/ (filled
# by scripts/web.sh before entering the namespace) and tells it SIGNALING_PUBLIC_URL; the signaling-server also allows
# the api-server's own origin, where the console's pages are.
#
# Usage: scripts/browser-test.sh --pg DIR PORT [--prepare] [--keys DIR] [--bin DIR] [--logs DIR] [--tap FILE]
#   --pg DIR PORT  the cluster (scripts/pg.sh) in DIR listening on PORT; its socket directory is DIR
#   --prepare      for development: create and start the cluster if needed, then migrate and seed-demo
#                  (test.sh's cluster is already prepared)
#   --keys DIR     jwt-private.pem / jwt-public.pem (created with scripts/keys.sh when missing;
#                  default: a temporary directory)
#   --bin DIR      where api-server and signaling-server are (default build)
#   --logs DIR     server logs and the TAP file go here (default: a temporary directory, removed unless it failed)
#   --tap FILE     the TAP report (default LOGS/browser.tap)
# Environment: PG_BIN, CHROMIUM (default /usr/bin/chromium), BROWSER_FILTER (node --test-name-pattern),
#   BROWSER_TIMEOUT (seconds for the whole node run, default 600), BROWSER_LOG=1 (echo the pages' console).
# Needs root (unshare -n) and iproute2, chromium, tests/node_modules (npm ci --prefix tests), web/vendor
# (scripts/web.sh). CONSOLE_SHOTS=DIR: where the console test saves its screenshots (default LOGS/console).
#
# Output: the node spec report, then the TAP totals "# pass N", "# fail N", "# cancelled N" (a setup failure
# counts as "# fail 1"), and "browser tests: N passed, N failed". Exit status 0 only when everything passed.
#
# Example (development):
#   make -s all && bash scripts/browser-test.sh --pg /tmp/brpg 25499 --prepare
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
export PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
export CHROMIUM

die() { echo "browser-test.sh: $*" >&2; exit 2; }

# --- inside the namespace ---------------------------------------------------------------------------------------
# Invoked by the outer part as: unshare -n bash browser-test.sh --inner (settings in the environment).
if [ "${1:-}" = --inner ]; then
  api_pid=
  sig_pid=
  stop_proc() { # stop_proc PID NAME: SIGTERM, then SIGKILL after 10 s
    # shellcheck disable=SC2317 # called from the EXIT trap
    local pid=$1 name=$2
    if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then return 0; fi
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "browser-test.sh: $name still running 10 s after SIGTERM: killed"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  }
  cleanup_inner() {
    stop_proc "$sig_pid" signaling-server
    stop_proc "$api_pid" api-server
  }
  trap cleanup_inner EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  ip link set lo up
  # The namespace is private: fixed ports are free.
  api_port=18080
  sig_port=18090
  allowed_origin=http://127.0.0.1:18100 # the page of tests/browser/cross-origin.test.mjs
  foreign_origin=http://127.0.0.1:18110 # its page of an origin that is not listed
  console_origin=http://127.0.0.1:$api_port # the console's pages, served by the api-server
  common_env=(
    "DATABASE_URL=$BT_DATABASE_URL"
    "JWT_PRIVATE_KEY_FILE=$BT_KEYS/jwt-private.pem"
    "JWT_PUBLIC_KEY_FILE=$BT_KEYS/jwt-public.pem"
    "LOG_LEVEL=warning"
    "CORS_ALLOWED_ORIGINS=$allowed_origin,$console_origin"
  )
  env "${common_env[@]}" "API_LISTEN=127.0.0.1:$api_port" "MIGRATIONS_DIR=$REPO/sql" "WEB_ROOT=$REPO/web" \
    "SIGNALING_PUBLIC_URL=http://127.0.0.1:$sig_port" \
    "$BT_BIN/api-server" serve >"$BT_LOGS/api-server.log" 2>&1 &
  api_pid=$!
  env "${common_env[@]}" "SIGNALING_LISTEN=127.0.0.1:$sig_port" SIGNALING_POLL_MS=200 \
    "$BT_BIN/signaling-server" >"$BT_LOGS/signaling-server.log" 2>&1 &
  sig_pid=$!

  # wait_ready NAME PID URL: up to 15 s for a 200.
  wait_ready() {
    local name=$1 pid=$2 url=$3 deadline=$((SECONDS + 15))
    while [ "$SECONDS" -lt "$deadline" ]; do
      if curl -fsS --max-time 1 -o /dev/null "$url" 2>/dev/null; then return 0; fi
      if ! kill -0 "$pid" 2>/dev/null; then
        echo "browser-test.sh: $name exited during startup; last lines of its log:"
        tail -n 30 "$BT_LOGS/$name.log"
        return 1
      fi
      sleep 0.2
    done
    echo "browser-test.sh: $name: $url did not answer 200 within 15 s; last lines of its log:"
    tail -n 30 "$BT_LOGS/$name.log"
    return 1
  }
  wait_ready api-server "$api_pid" "http://127.0.0.1:$api_port/healthz" || exit 3
  wait_ready api-server "$api_pid" "http://127.0.0.1:$api_port/readyz" || exit 3
  wait_ready signaling-server "$sig_pid" "http://127.0.0.1:$sig_port/readyz" || exit 3

  args=(--test --test-concurrency=1
    --test-reporter=spec --test-reporter-destination=stdout
    --test-reporter=tap "--test-reporter-destination=$BT_TAP")
  if [ -n "${BROWSER_FILTER:-}" ]; then args+=("--test-name-pattern=$BROWSER_FILTER"); fi
  st=0
  env "${common_env[@]}" API_URL="http://127.0.0.1:$api_port" REPO_ROOT="$REPO" API_BIN="$BT_BIN/api-server" \
    SIGNALING_URL="http://127.0.0.1:$sig_port" SIGNALING_BIN="$BT_BIN/signaling-server" BROWSER_NETNS=1 \
    BROWSER_ALLOWED_ORIGIN="$allowed_origin" BROWSER_FOREIGN_ORIGIN="$foreign_origin" \
    CONSOLE_SHOTS="${CONSOLE_SHOTS:-$BT_LOGS/console}" \
    timeout --kill-after=10 "${BROWSER_TIMEOUT:-600}" node "${args[@]}" tests/browser/ || st=$?
  if [ "$st" -ge 124 ] && [ "$st" -le 137 ]; then echo "browser-test.sh: node --test stopped after ${BROWSER_TIMEOUT:-600} s (status $st)"; fi
  exit "$st"
fi

# --- outside: arguments, checks, preparation --------------------------------------------------------------------
pg_dir=
pg_port=
prepare=0
keys=
bin=$REPO/build
logs=
tap=
while [ $# -gt 0 ]; do
  case "$1" in
    --pg) [ $# -ge 3 ] || die "--pg needs DIR and PORT"; pg_dir=$(realpath -m -- "$2"); pg_port=$3; shift 3 ;;
    --prepare) prepare=1; shift ;;
    --keys) [ $# -ge 2 ] || die "--keys needs DIR"; keys=$(realpath -m -- "$2"); shift 2 ;;
    --bin) [ $# -ge 2 ] || die "--bin needs DIR"; bin=$(realpath -m -- "$2"); shift 2 ;;
    --logs) [ $# -ge 2 ] || die "--logs needs DIR"; logs=$(realpath -m -- "$2"); shift 2 ;;
    --tap) [ $# -ge 2 ] || die "--tap needs FILE"; tap=$(realpath -m -- "$2"); shift 2 ;;
    -h|--help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[ -n "$pg_dir" ] || die "--pg DIR PORT is required (see --help)"

passed=0
failed=0
cancelled=0
own_tmp=
finish() { # the totals test.sh reads, then the exit status
  local rc=$?
  set +e
  if [ "$failed" -eq 0 ] && [ "$passed" -eq 0 ] && [ "$rc" -ne 0 ]; then failed=1; fi
  # As node's TAP totals: failed = fail + cancelled.
  echo "# pass $passed"
  echo "# fail $((failed - ${cancelled:-0}))"
  echo "# cancelled ${cancelled:-0}"
  echo "browser tests: $passed passed, $failed failed"
  if [ -n "$own_tmp" ]; then
    if [ "$failed" -eq 0 ] && [ "${KEEP_TMP:-0}" != 1 ]; then rm -rf -- "$own_tmp"; else echo "browser-test.sh: logs kept in $own_tmp"; fi
  fi
  [ "$failed" -eq 0 ] && exit 0
  exit 1
}
trap finish EXIT
setup_fail() { echo "browser-test.sh: $*"; failed=1; exit 1; }

[ "$(id -u)" -eq 0 ] || setup_fail "needs root for unshare -n (a private network namespace)"
command -v unshare >/dev/null || setup_fail "unshare (util-linux) is not installed"
command -v ip >/dev/null || setup_fail "ip (iproute2) is not installed (scripts/deps.sh test)"
[ -x "$CHROMIUM" ] || setup_fail "$CHROMIUM is missing (scripts/deps.sh test installs chromium)"
if [ ! -x "$bin/api-server" ] || [ ! -x "$bin/signaling-server" ]; then
  setup_fail "$bin/api-server or $bin/signaling-server missing (make all)"
fi
# No network in the namespace: the node packages must be there before.
if [ ! -d tests/node_modules/playwright-core ] || [ ! -f tests/node_modules/socket.io-client/dist/socket.io.min.js ] ||
   [ ! -f tests/node_modules/axe-core/axe.min.js ]; then
  npm ci --prefix tests --no-audit --no-fund --loglevel=error || setup_fail "npm ci --prefix tests"
fi
bash scripts/web.sh || setup_fail "scripts/web.sh (the console's browser libraries)"

if [ -z "$logs" ]; then
  own_tmp=$(mktemp -d "${TMPDIR:-/tmp}/clinic-browser.XXXXXX")
  logs=$own_tmp
fi
mkdir -p -- "$logs"
[ -n "$tap" ] || tap=$logs/browser.tap
rm -f -- "$tap"
if [ -z "$keys" ]; then
  keys=$logs/keys
fi
bash scripts/keys.sh "$keys" >/dev/null || setup_fail "scripts/keys.sh $keys"

# The cluster through its Unix socket (DIR is its socket directory).
enc_dir=$(node -e 'process.stdout.write(encodeURIComponent(process.argv[1]).replace(/%2F/g, "/"))' "$pg_dir")
database_url="postgresql://clinic@/clinic?host=$enc_dir&port=$pg_port"

if [ "$prepare" -eq 1 ]; then
  if ! bash scripts/pg.sh status "$pg_dir" >/dev/null 2>&1; then
    bash scripts/pg.sh init "$pg_dir" --fast >/dev/null || setup_fail "pg.sh init $pg_dir"
  fi
  bash scripts/pg.sh start "$pg_dir" "$pg_port" >/dev/null || setup_fail "pg.sh start $pg_dir $pg_port"
  for cmd in migrate seed-demo; do
    env "DATABASE_URL=$database_url" "JWT_PRIVATE_KEY_FILE=$keys/jwt-private.pem" "JWT_PUBLIC_KEY_FILE=$keys/jwt-public.pem" \
      LOG_LEVEL=warning "MIGRATIONS_DIR=$REPO/sql" "$bin/api-server" "$cmd" >"$logs/$cmd.log" 2>&1 ||
      { tail -n 30 "$logs/$cmd.log"; setup_fail "api-server $cmd"; }
  done
fi
cur=$(bash scripts/pg.sh status "$pg_dir" 2>/dev/null) || setup_fail "no PostgreSQL running in $pg_dir (start it, or pass --prepare)"
[ "$cur" = "$pg_port" ] || setup_fail "the cluster in $pg_dir listens on port $cur, not $pg_port"

st=0
BT_DATABASE_URL=$database_url BT_KEYS=$keys BT_BIN=$bin BT_LOGS=$logs BT_TAP=$tap \
  unshare -n -- bash "$REPO/scripts/browser-test.sh" --inner || st=$?

p=$(sed -n 's/^# pass \([0-9][0-9]*\)$/\1/p' "$tap" 2>/dev/null | tail -n 1)
f=$(sed -n 's/^# fail \([0-9][0-9]*\)$/\1/p' "$tap" 2>/dev/null | tail -n 1)
cancelled=$(sed -n 's/^# cancelled \([0-9][0-9]*\)$/\1/p' "$tap" 2>/dev/null | tail -n 1)
cancelled=${cancelled:-0}
if [ -z "$p" ] || [ -z "$f" ]; then
  echo "browser-test.sh: no test summary (status $st)"
  failed=1
else
  passed=$p
  failed=$((f + cancelled))
  if [ "$st" -ne 0 ] && [ "$failed" -eq 0 ]; then
    echo "browser-test.sh: node --test exited with status $st"
    failed=1
  fi
fi
if [ "$failed" -ne 0 ]; then
  for l in api-server signaling-server; do
    echo "--- last lines of $logs/$l.log"
    tail -n 40 "$logs/$l.log" 2>/dev/null || true
  done
fi
