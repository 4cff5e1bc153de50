#!/usr/bin/env bash
# Benchmark of the API (what `make bench` runs): a throwaway cluster with the demo data plus 10,000
# patients in clinic 1 and the queue dataset of tests/bench/queue-data.sql (5 more clinics, 20
# doctors, 20,000 patients, 200,000 past visits, a board of 140 visits today in "Bench Clínica 1"),
# the server as built, then wrk at 64 connections against GET /api/patients?q=, GET /api/auth/me,
# GET /api/queue (as that clinic's receptionist) and POST /api/queue/phase/move (tests/bench/move.lua:
# waiting visits to with_doctor and back, every move legal), pgbench running the board's own query
# (SELECT queue_board($1, NULL, $2), the floor of GET /api/queue) with as many clients as the server's
# pool, the board's size and EXPLAIN timing, the resident memory of the server, and its limits under load
# (tests/bench/api-flood.mjs: a client's latency while floods of idle connections hold the server, the memory of
# 2,000 idle connections), and last the signaling benchmark (tests/bench/signaling/run.sh).
# The board's ETag and cache (api-server/h_board.c) get three more runs: conditional GETs
# (tests/bench/conditional.lua: If-None-Match with the last tag seen, 304 while the board holds), and the
# unconditional GET on a second server with QUEUE_CACHE_BYTES=0 (the board built on every request) and,
# with BENCH_BASELINE_REV=<commit> (or BENCH_BASELINE_BIN=<api-server binary>), on the api-server of
# that commit serving the same database (unconditional and conditional): the figures before and after, in one
# run, with their ratios.
# Figures are printed, never asserted. Env: BENCH_SECONDS (default 15), BENCH_CONNECTIONS (64),
# DB_POOL_SIZE (16, also pgbench's clients), BENCH_EXPLAIN=full (print the whole plan of the board),
# BENCH_FLOOD=0 (skip the floods), BENCH_SIGNALING=0 (skip the signaling benchmark), BENCH_DELIVERY=0 (skip the
# outbound e-mail and webhook benchmarks, tests/bench/deliveries.mjs and webhooks.mjs), BENCH_OUTAGE=0 (skip the
# SMTP outage run, tests/bench/delivery-outage.mjs), BENCH_CHAT=0 (skip the chat delivery benchmark,
# tests/bench/chat.mjs), BENCH_FILES=0 (skip the document upload and download benchmark, tests/bench/files.mjs).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
command -v wrk >/dev/null || { echo "bench: wrk is missing (bash scripts/deps.sh test)" >&2; exit 1; }
PGBENCH=${PG_BIN:-/usr/lib/postgresql/15/bin}/pgbench
[ -x "$PGBENCH" ] || { echo "bench: $PGBENCH is missing (postgresql-15; bash scripts/deps.sh)" >&2; exit 1; }
SECONDS_RUN=${BENCH_SECONDS:-15}
CONNS=${BENCH_CONNECTIONS:-64}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/clinic-bench.XXXXXX")
chmod 755 "$tmp"
server_pid=
extra_pids=()
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  for p in "${extra_pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  bash scripts/pg.sh stop "$tmp/pg" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

mapfile -t ports < <(bash scripts/free-port.sh 4)
pg_port=${ports[0]} api_port=${ports[1]} nocache_port=${ports[2]} base_port=${ports[3]}

# The baseline api-server, built before anything runs so the build does not share the machine with a measurement.
baseline_bin=${BENCH_BASELINE_BIN:-}
if [ -z "$baseline_bin" ] && [ -n "${BENCH_BASELINE_REV:-}" ]; then
  mkdir -p "$tmp/base"
  git -C "$REPO" archive "$BENCH_BASELINE_REV" | tar -x -C "$tmp/base"
  make -C "$tmp/base" -s build/api-server >/dev/null || { echo "bench: building $BENCH_BASELINE_REV failed" >&2; exit 1; }
  baseline_bin=$tmp/base/build/api-server
fi
bash scripts/pg.sh init "$tmp/pg" --fast >/dev/null
bash scripts/pg.sh start "$tmp/pg" "$pg_port" >/dev/null
bash scripts/keys.sh "$tmp/keys" >/dev/null
export DATABASE_URL=$(bash scripts/pg.sh url "$tmp/pg" "$pg_port")
export JWT_PRIVATE_KEY_FILE=$tmp/keys/jwt-private.pem JWT_PUBLIC_KEY_FILE=$tmp/keys/jwt-public.pem
export MIGRATIONS_DIR=$REPO/sql API_LISTEN=127.0.0.1:$api_port LOG_LEVEL=warning DB_POOL_SIZE=${DB_POOL_SIZE:-16}
# wrk is one address and one user asking thousands of times a second: no rate limits in this server.
export API_RATE_PER_ADDRESS=0 API_RATE_PER_USER=0
build/api-server migrate 2>/dev/null
build/api-server seed-demo 2>/dev/null
psql -q "$DATABASE_URL" <<'SQL'
INSERT INTO patients (clinic_id, full_name, phone, email)
SELECT 1,
       (ARRAY['Ana','Bruno','Carla','Diego','Elisa','Fábio','Gabriela','Hugo','Isabel','Jorge'])[1 + g % 10] || ' ' ||
       (ARRAY['Silva','Souza','Costa','Oliveira','Pereira','Lima','Carvalho','Almeida','Ribeiro','Martins'])[1 + (g / 10) % 10] ||
       ' ' || g,
       '+55 11 9' || lpad(g::text, 8, '0'), 'p' || g || '@example.com'
FROM generate_series(1, 10000) g;
ANALYZE patients;
SQL

# The queue dataset: the base, the 200,000 past visits in two parallel sessions (the per-row work of
# the visits_announce trigger dominates), then the counters and ANALYZE.
load_start=$(date +%s%N)
qdata() { psql -X -q "$DATABASE_URL" -f tests/bench/queue-data.sql "$@"; }
qdata -v part=base
qdata -v part=visits -v lo=0 -v hi=99999 & load_a=$!
qdata -v part=visits -v lo=100000 -v hi=199999 & load_b=$!
wait "$load_a" && wait "$load_b" || { echo "bench: loading the past visits failed" >&2; exit 1; }
qdata -v part=finish
load_ms=$(( ($(date +%s%N) - load_start) / 1000000 ))
read -r qclinic qday < <(psql -X -A -t -F ' ' "$DATABASE_URL" \
  -c "SELECT c.id, clinic_day(c.id, now()) FROM clinics c WHERE c.name = 'Bench Clínica 1'")
move_ids=$(psql -X -A -t "$DATABASE_URL" -c "SELECT string_agg(id::text, ',' ORDER BY queue_number) FROM visits
  WHERE clinic_id = $qclinic AND queue_date = '$qday' AND status IN ('waiting', 'called')")

build/api-server serve 2>"$tmp/server.log" &
server_pid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$api_port/healthz" >/dev/null && break; sleep 0.1; done
sleep 1
rss_idle=$(awk '/VmRSS/ {print $2}' "/proc/$server_pid/status")

login() {
  curl -sf -H 'Content-Type: application/json' -d "{\"email\":\"$1\",\"password\":\"demo-password\"}" \
    "http://127.0.0.1:$api_port/api/auth/login" | sed -E 's/.*"access_token":"([^"]+)".*/\1/'
}
token=$(login reception1@demo.clinic)
qtoken=$(login bench-reception1@bench.clinic)
[ -n "$token" ] && [ -n "$qtoken" ] || { echo "bench: login failed" >&2; exit 1; }
printf 'wrk.headers["Authorization"] = "Bearer %s"\n' "$token" > "$tmp/auth.lua"
printf 'wrk.headers["Authorization"] = "Bearer %s"\n' "$qtoken" > "$tmp/queue-auth.lua"

# run NAME PATH [SCRIPT [ARGS...]]: wrk with the script (default: the demo receptionist's token).
last_rps=
run() {
  local name=$1 path=$2 script=${3:-$tmp/auth.lua} out
  shift $(( $# < 3 ? $# : 3 ))
  out=$(wrk -t2 -c"${RUN_CONNS:-$CONNS}" -d"${SECONDS_RUN}s" --latency -s "$script" "http://127.0.0.1:$api_port$path" "$@")
  local rps p50 p99 non2xx extra
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  extra=$(grep -E '^(moves|conditional):' <<<"$out" | sed 's/^/   /' || true)
  printf '%-34s %10s req/s   p50 %8s   p99 %8s   non-2xx %s%s\n' "$name" "$rps" "$p50" "$p99" "${non2xx:-0}" "$extra"
  last_rps=$rps
}

# pgbench_floor NAME: the board's query as the server sends it, prepared, pool-size clients.
pgbench_floor() {
  local name=$1 p50 p99 tps failed
  echo 'SELECT queue_board(:clinic, NULL, :today);' > "$tmp/queue-board.sql"
  (cd "$tmp" && "$PGBENCH" -n -M prepared -c"$DB_POOL_SIZE" -j2 -T"$SECONDS_RUN" -D clinic="$qclinic" \
     -D today="$qday" -f "$tmp/queue-board.sql" -l --log-prefix="$tmp/pgbench" "$DATABASE_URL" \
     >"$tmp/pgbench.out" 2>&1) || { cat "$tmp/pgbench.out" >&2; echo "bench: pgbench failed" >&2; exit 1; }
  tps=$(awk '/^tps = / {printf "%.2f", $3}' "$tmp/pgbench.out")
  failed=$(awk '/number of failed transactions/ {print $5}' "$tmp/pgbench.out")
  # Per-transaction log: the third field is the latency in microseconds.
  read -r p50 p99 < <(cat "$tmp"/pgbench.[0-9]* | awk '{print $3}' | sort -n | \
    awk '{v[NR] = $1} END {printf "%.2fms %.2fms\n", v[int((NR - 1) * 0.50) + 1] / 1000, v[int((NR - 1) * 0.99) + 1] / 1000}')
  printf '%-34s %10s tps     p50 %8s   p99 %8s   non-2xx %s (failed transactions)\n' "$name" "$tps" "$p50" "$p99" "${failed:-0}"
  last_tps=$tps
}

echo "bench: ${CONNS} connections, 2 threads, ${SECONDS_RUN}s each, 10,006 patients in clinic 1"
run "GET /api/patients?q=silva" "/api/patients?q=silva"
run "GET /api/patients?q=9000012" "/api/patients?q=9000012"
run "GET /api/auth/me" "/api/auth/me"

echo "bench: queue of clinic $qclinic on $qday: $(psql -X -A -t "$DATABASE_URL" -c "SELECT format('%s visits (%s)',
  sum(n), string_agg(status || ' ' || n, ', ' ORDER BY status)) FROM (SELECT status, count(*) n FROM visits
  WHERE clinic_id = $qclinic AND queue_date = '$qday' GROUP BY status) s"); \
$(psql -X -A -t "$DATABASE_URL" -c "SELECT count(*) FROM visits") visits in all, loaded in $((load_ms / 1000)).$(printf '%03d' $((load_ms % 1000)))s"
board_sql="queue_board($qclinic, NULL, '$qday')"
psql -X -q -A -t "$DATABASE_URL" -c "SELECT $board_sql" >/dev/null
http_bytes=$(curl -sf -o /dev/null -w '%{size_download}' -H "Authorization: Bearer $qtoken" \
  "http://127.0.0.1:$api_port/api/queue?clinic_id=$qclinic")
echo "queue_board JSON: $(psql -X -A -t "$DATABASE_URL" -c "SELECT octet_length($board_sql::text)") bytes \
(GET /api/queue body: $http_bytes bytes)"
call_plan=$(psql -X -A -t "$DATABASE_URL" -c "EXPLAIN (ANALYZE, BUFFERS) SELECT $board_sql")
# The function's query (what its RETURN computes) with the arguments as constants: its own
# planning time and plan nodes.
body_plan=$(psql -X -A -t "$DATABASE_URL" -c "SELECT replace(replace(replace(replace(
  substring(prosrc FROM 'RETURN \\((.*)\\);\\s*END'), 'p_clinic', '$qclinic::bigint'),
  'p_doctor', 'NULL::bigint'), 'p_day', '''$qday''::date'), 'p_as_of', 'now()') FROM pg_proc
  WHERE proname = 'queue_board' AND prolang = (SELECT oid FROM pg_language WHERE lanname = 'plpgsql') ORDER BY oid DESC LIMIT 1" |
  { printf 'EXPLAIN (ANALYZE, BUFFERS) '; cat; echo ';'; } | psql -X -A -t "$DATABASE_URL")
echo "EXPLAIN (ANALYZE, BUFFERS) SELECT $board_sql: $(awk '/Execution Time/ {printf "execution %s ms", $3}
  /^ *Buffers:/ && !b {b = 1; sub(/^ */, ""); printf "%s, ", tolower($0)}' <<<"$call_plan")"
echo "  its body as one query: $(awk '/^Planning Time/ {p = $3} /^Execution Time/ {e = $3}
  END {printf "planning %s ms, execution %s ms", p, e}' <<<"$body_plan"); seq scans: $(grep -oE 'Seq Scan on [a-z_]+ [a-z_0-9]*' <<<"$body_plan" |
  sed 's/Seq Scan on //' | sort | uniq | paste -sd, - | sed 's/,/, /g')"
[ "${BENCH_EXPLAIN:-}" = full ] && printf '%s\n' "$body_plan"
run "GET /api/queue?clinic_id=$qclinic" "/api/queue?clinic_id=$qclinic" "$tmp/queue-auth.lua"
queue_rps=$last_rps
run "GET /api/queue (If-None-Match)" "/api/queue?clinic_id=$qclinic" "$REPO/tests/bench/conditional.lua" "$qtoken"
cond_rps=$last_rps
# start_extra NAME PORT BIN [VAR=VALUE...]: another api-server on this database (the same migrations).
start_extra() {
  local name=$1 port=$2 bin=$3
  shift 3
  env API_LISTEN="127.0.0.1:$port" "$@" "$bin" serve 2>"$tmp/$name.log" &
  extra_pids+=($!)
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && return 0; sleep 0.1; done
  echo "bench: the $name api-server did not start:" >&2
  cat "$tmp/$name.log" >&2
  exit 1
}
# run_on PORT NAME PATH: run against another server (same scripts and tokens: one database, one key).
run_on() { local port=$1 saved=$api_port; shift; api_port=$port; run "$@"; api_port=$saved; }
start_extra nocache "$nocache_port" build/api-server QUEUE_CACHE_BYTES=0
run_on "$nocache_port" "GET /api/queue, QUEUE_CACHE_BYTES=0" "/api/queue?clinic_id=$qclinic" "$tmp/queue-auth.lua"
nocache_rps=$last_rps
base_rps=
base_cond_rps=
if [ -n "$baseline_bin" ]; then
  start_extra baseline "$base_port" "$baseline_bin"
  run_on "$base_port" "GET /api/queue, ${BENCH_BASELINE_REV:-baseline} (before)" "/api/queue?clinic_id=$qclinic" \
    "$tmp/queue-auth.lua"
  base_rps=$last_rps
  run_on "$base_port" "GET /api/queue (If-None-Match), before" "/api/queue?clinic_id=$qclinic" \
    "$REPO/tests/bench/conditional.lua" "$qtoken"
  base_cond_rps=$last_rps
fi
awk -v u="$queue_rps" -v c="$cond_rps" -v n="$nocache_rps" -v b="$base_rps" -v bc="${base_cond_rps:-}" 'BEGIN {
  printf "GET /api/queue: conditional / unconditional %.1fx, unconditional / built every time %.1fx", c / u, u / n
  if (b != "") printf ", unconditional / before %.1fx, conditional / before (unconditional) %.1fx", u / b, c / b
  if (bc != "") printf ", conditional / before (conditional) %.1fx", c / bc
  printf "\n" }'
for p in "${extra_pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
extra_pids=()
pgbench_floor "pgbench SELECT queue_board(..)"
awk -v r="$queue_rps" -v t="$last_tps" 'BEGIN {if (t > 0) printf "GET /api/queue / pgbench floor: %.1f%%\n", 100 * r / t}'
# The same board with two clients: the latency of one request when nothing queues for the pool.
RUN_CONNS=2 run "GET /api/queue (2 connections)" "/api/queue?clinic_id=$qclinic" "$tmp/queue-auth.lua"
run "POST /api/queue/phase/move" "/api/queue/phase/move" "$REPO/tests/bench/move.lua" \
  "$qtoken" 2 "$move_ids"
rss_after=$(awk '/VmRSS/ {print $2}' "/proc/$server_pid/status")
echo "api-server RSS: idle ${rss_idle} KiB, after the runs ${rss_after} KiB"

# Limits under load, on the same server: the floods come from other addresses of 127/8 than wrk's.
if [ "${BENCH_FLOOD:-1}" != 0 ]; then
  node tests/bench/api-flood.mjs --url "http://127.0.0.1:$api_port" --pid "$server_pid"
fi

# Outbound e-mail: deliveries per second through a local SMTP sink, one sender and two
# (tests/bench/deliveries.mjs; BENCH_DELIVERIES e-mails, default 500); webhooks the same through a local
# HTTP receiver, and the time from an event's commit to its arrival (tests/bench/webhooks.mjs).
# BENCH_DELIVERY=0 skips both.
if [ "${BENCH_DELIVERY:-1}" != 0 ]; then
  API_BIN=build/api-server node --test --test-reporter=spec tests/bench/deliveries.mjs | grep 'deliveries:' || true
  API_BIN=build/api-server node --test --test-reporter=spec tests/bench/webhooks.mjs | grep 'webhooks:' || true
fi

# The queue through an SMTP outage: 10,000 e-mails queued while the sink is down for BENCH_OUTAGE_SECONDS
# (default 60), then the queue's depth over time and the time to drain once it is back
# (tests/bench/delivery-outage.mjs). BENCH_OUTAGE=0 skips it.
if [ "${BENCH_DELIVERY:-1}" != 0 ] && [ "${BENCH_OUTAGE:-1}" != 0 ]; then
  API_BIN=build/api-server node --test --test-reporter=spec tests/bench/delivery-outage.mjs | grep 'delivery-outage:' || true
fi

# Chat: a message's send to its arrival on the other member's socket, p50/p99, at BENCH_CHAT_CONVERSATIONS
# (here 1,000: 2,000 sockets) concurrent conversations and BENCH_CHAT_RATE (20) messages a second, on a
# signaling-server of its own (tests/bench/chat.mjs). BENCH_CHAT=0 skips it.
if [ "${BENCH_CHAT:-1}" != 0 ]; then
  BENCH_CHAT_CONVERSATIONS=${BENCH_CHAT_CONVERSATIONS:-1000} \
    API_URL=http://127.0.0.1:$api_port SIGNALING_BIN=${SIGNALING_BIN:-build/signaling-server} \
    node --test --test-reporter=spec tests/bench/chat.mjs | grep 'chat:' || true
fi

# Files: upload and download of a 20 MiB document, and the server's resident memory while 8 clients upload
# 20 MiB each at once (tests/bench/files.mjs, its own api-server). BENCH_FILES=0 skips it.
if [ "${BENCH_FILES:-1}" != 0 ]; then
  API_BIN=build/api-server node tests/bench/files.mjs || true
fi

# The signaling-server against a minimal Node socket.io server, on this cluster (its own data, written in
# SQL): push latency in a realistic topology (10,000 clients over 500 clinics), long-polling beside
# WebSocket, one clinic room (1,000 and 10,000 clients, fan-out), memory, and the load generator's
# ceiling: tests/bench/signaling/. BENCH_SIGNALING=0 skips it; SIGNALING_BIN picks the server binary.
if [ "${BENCH_SIGNALING:-1}" != 0 ]; then
  bash tests/bench/signaling/run.sh
fi

# The notification inbox on a cluster of its own (tests/bench/notifications.sh): database time of the inbox's
# queries for a user with 10,000 notifications, the HTTP latency of its routes and of an announcement to a
# 5,000-user clinic. BENCH_NOTIFICATIONS=0 skips it.
if [ "${BENCH_NOTIFICATIONS:-1}" != 0 ]; then
  bash tests/bench/notifications.sh
fi
