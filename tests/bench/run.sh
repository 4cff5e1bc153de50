#!/usr/bin/env bash
# Benchmark of the API (what `make bench` runs): a throwaway cluster with the demo data plus 10,000
# patients in clinic 1, the server as built, then wrk at 64 connections against
# GET /api/patients?q= and GET /api/auth/me, and the resident memory of the idle server.
# Figures are printed, never asserted. Env: BENCH_SECONDS (default 15), BENCH_CONNECTIONS (64).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
command -v wrk >/dev/null || { echo "bench: wrk is missing (bash scripts/deps.sh test)" >&2; exit 1; }
SECONDS_RUN=${BENCH_SECONDS:-15}
CONNS=${BENCH_CONNECTIONS:-64}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/clinic-bench.XXXXXX")
chmod 755 "$tmp"
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  bash scripts/pg.sh stop "$tmp/pg" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

mapfile -t ports < <(bash scripts/free-port.sh 2)
pg_port=${ports[0]} api_port=${ports[1]}
bash scripts/pg.sh init "$tmp/pg" --fast >/dev/null
bash scripts/pg.sh start "$tmp/pg" "$pg_port" >/dev/null
bash scripts/keys.sh "$tmp/keys" >/dev/null
export DATABASE_URL=$(bash scripts/pg.sh url "$tmp/pg" "$pg_port")
export JWT_PRIVATE_KEY_FILE=$tmp/keys/jwt-private.pem JWT_PUBLIC_KEY_FILE=$tmp/keys/jwt-public.pem
export MIGRATIONS_DIR=$REPO/sql API_LISTEN=127.0.0.1:$api_port LOG_LEVEL=warning DB_POOL_SIZE=${DB_POOL_SIZE:-16}
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

build/api-server serve 2>"$tmp/server.log" &
server_pid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$api_port/healthz" >/dev/null && break; sleep 0.1; done
sleep 1
rss_idle=$(awk '/VmRSS/ {print $2}' "/proc/$server_pid/status")

token=$(curl -sf -H 'Content-Type: application/json' -d '{"email":"reception1@demo.clinic","password":"demo-password"}' \
  "http://127.0.0.1:$api_port/api/auth/login" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
cat > "$tmp/auth.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $token"
LUA

run() {
  local name=$1 path=$2 out
  out=$(wrk -t2 -c"$CONNS" -d"${SECONDS_RUN}s" --latency -s "$tmp/auth.lua" "http://127.0.0.1:$api_port$path")
  local rps p50 p99 non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  printf '%-34s %10s req/s   p50 %8s   p99 %8s   non-2xx %s\n' "$name" "$rps" "$p50" "$p99" "${non2xx:-0}"
}

echo "bench: ${CONNS} connections, 2 threads, ${SECONDS_RUN}s each, 10,006 patients in clinic 1"
run "GET /api/patients?q=silva" "/api/patients?q=silva"
run "GET /api/patients?q=9000012" "/api/patients?q=9000012"
run "GET /api/auth/me" "/api/auth/me"
rss_after=$(awk '/VmRSS/ {print $2}' "/proc/$server_pid/status")
echo "api-server RSS: idle ${rss_idle} KiB, after the runs ${rss_after} KiB"
