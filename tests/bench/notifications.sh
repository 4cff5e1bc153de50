#!/usr/bin/env bash
# Benchmark of the notification inbox (sql/0027_notifications.sql, api-server/h_notifications.c): a throwaway
# cluster with the demo data, 10,000 notifications for doctor1@demo.clinic (a third of them read) among 100,000
# for 1,000 other users, 200 announcements, and a clinic of 5,000 users (4,000 patients, 1,000 receptionists).
# Prints the database time of the inbox's queries (EXPLAIN (ANALYZE): the first page, a page deep in the
# inbox, the first unread page, the unread count), then the HTTP latency (median and p95 of BENCH_REQUESTS
# curl requests, default 200; GET /api/auth/me beside them for comparison) of GET /api/notifications, GET /api/notifications/unread-count and of
# POST /api/announcements to the 5,000-user clinic. Figures are printed, never asserted. BENCH_PLANS=1
# also prints the plans of the unread page and the unread count.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
N=${BENCH_REQUESTS:-200}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/clinic-bench-notif.XXXXXX")
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
export MIGRATIONS_DIR=$REPO/sql API_LISTEN=127.0.0.1:$api_port LOG_LEVEL=warning DELIVERY_WORKERS=0
export API_RATE_PER_ADDRESS=100000 API_BURST_PER_ADDRESS=100000 API_RATE_PER_USER=100000 API_BURST_PER_USER=100000
build/api-server migrate >/dev/null
build/api-server seed-demo >/dev/null 2>&1
q() { psql -X -qAt -v ON_ERROR_STOP=1 "$DATABASE_URL" "$@"; }

me=$(q -c "SELECT id FROM users WHERE email = 'doctor1@demo.clinic'")
hash=$(q -c "SELECT password_hash FROM users WHERE email = 'admin@demo.clinic'")
q <<SQL
INSERT INTO clinics (name, timezone) VALUES ('Bench notifications', 'America/Sao_Paulo');
WITH c AS (SELECT id FROM clinics WHERE name = 'Bench notifications'),
     u AS (INSERT INTO users (email, password_hash, full_name, role, clinic_id)
           SELECT 'bn-' || g || '@example.com', '$hash', 'Bench ' || g, 'PATIENT', c.id FROM c, generate_series(1, 4000) g
           RETURNING id, clinic_id)
INSERT INTO patients (clinic_id, full_name, user_id) SELECT clinic_id, 'Bench patient', id FROM u;
INSERT INTO users (email, password_hash, full_name, role, clinic_id)
SELECT 'bnr-' || g || '@example.com', '$hash', 'Bench desk ' || g, 'RECEPTIONIST', c.id
FROM (SELECT id FROM clinics WHERE name = 'Bench notifications') c, generate_series(1, 1000) g;
INSERT INTO users (email, password_hash, full_name, role, clinic_id)
SELECT 'bn-sender@example.com', '$hash', 'Bench sender', 'RECEPTIONIST', id FROM clinics WHERE name = 'Bench notifications';
-- 100 notifications for each of 1,000 others, then 10,000 for the doctor, interleaved in time as a live inbox is.
INSERT INTO notifications (user_id, kind, title, body, data, created_at, read_at)
SELECT u.id, 'appointment_booked', 'Appointment booked', 'Someone, some day', jsonb_build_object('appointment_id', g),
       now() - g * interval '1 minute', CASE WHEN g % 2 = 0 THEN now() END
FROM (SELECT id FROM users WHERE email LIKE 'bn-%' ORDER BY id LIMIT 1000) u, generate_series(1, 100) g;
INSERT INTO notifications (user_id, kind, title, body, data, created_at, read_at)
SELECT $me, 'appointment_booked', 'Appointment booked', 'Patient ' || g || ', 07/12/2026 09:00',
       jsonb_build_object('appointment_id', g, 'clinic_id', 1, 'doctor_id', 1, 'patient_id', g),
       now() - (10000 - g) * interval '1 minute', CASE WHEN g % 3 = 0 THEN now() END
FROM generate_series(1, 10000) g;
INSERT INTO announcements (clinic_id, role, title, body)
SELECT CASE WHEN g % 2 = 0 THEN 1 END, CASE WHEN g % 5 = 0 THEN 'DOCTOR' END, 'Announcement ' || g, 'Body'
FROM generate_series(1, 200) g;
VACUUM ANALYZE notifications;
VACUUM ANALYZE announcements;
VACUUM ANALYZE announcement_reads;
SQL
mid=$(q -c "SELECT id FROM notifications WHERE user_id = $me ORDER BY id DESC OFFSET 5000 LIMIT 1")
echo "inbox of user $me: $(q -c "SELECT count(*) FROM notifications WHERE user_id = $me") notifications," \
  "$(q -c "SELECT inbox_unread_count($me)") unread items; $(q -c "SELECT count(*) FROM notifications") notifications in all"

explain() { # label, query: the database's planning and execution time, best of 5 runs in one warm session
  local best
  best=$(for _ in 1 2 3 4 5 6; do echo "EXPLAIN (ANALYZE) $2;"; done | q |
    awk '/Planning Time/ {p=$3} /Execution Time/ && ++n > 1 {printf "%.3f %.3f\n", p + $3, $3}' | sort -n | head -1)
  printf '  %-44s planning+execution %s ms (execution %s ms)\n' "$1" ${best% *} ${best#* }
}
echo "database time (EXPLAIN ANALYZE in one session, best of 5 after a first run):"
explain "first page (50)" "SELECT * FROM inbox_page($me, NULL, false, 51)"
explain "page 5,000 items deep" "SELECT * FROM inbox_page($me, $mid, false, 51)"
explain "first unread page" "SELECT * FROM inbox_page($me, NULL, true, 51)"
explain "unread count" "SELECT inbox_unread_count($me)"
if [ -n "${BENCH_PLANS:-}" ]; then for s in "inbox_page($me, NULL, true, 51)" "inbox_unread_count($me)"; do q -c "EXPLAIN (ANALYZE) SELECT * FROM $s"; done; fi

build/api-server serve > "$tmp/api.log" 2>&1 &
server_pid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$api_port/healthz" >/dev/null && break; sleep 0.1; done
login() {
  curl -sf -H 'Content-Type: application/json' -d "{\"email\":\"$1\",\"password\":\"${2:-demo-password}\"}" \
    "http://127.0.0.1:$api_port/api/auth/login" | sed -E 's/.*"access_token":"([^"]+)".*/\1/'
}
doctor=$(login doctor1@demo.clinic)
q -c "UPDATE users SET password_hash = (SELECT password_hash FROM users WHERE email = 'reception1@demo.clinic') WHERE email = 'bn-sender@example.com'"
sender=$(login bn-sender@example.com)

timed() { # label, then curl arguments: median and p95 of N requests, in ms
  local label=$1
  shift
  for _ in $(seq "$N"); do curl -s -o /dev/null -w '%{time_total}\n' "$@"; done | sort -n |
    awk -v label="$label" '{t[NR]=$1} END {printf "  %-44s median %.2f ms  p95 %.2f ms  (%d requests)\n", label, t[int(NR/2)+1]*1000, t[int(NR*0.95)]*1000, NR}'
}
echo "HTTP (curl, one at a time):"
timed "GET /api/auth/me (for comparison)" -H "Authorization: Bearer $doctor" "http://127.0.0.1:$api_port/api/auth/me"
timed "GET /api/notifications" -H "Authorization: Bearer $doctor" "http://127.0.0.1:$api_port/api/notifications"
timed "GET /api/notifications?unread=true" -H "Authorization: Bearer $doctor" "http://127.0.0.1:$api_port/api/notifications?unread=true"
timed "GET /api/notifications/unread-count" -H "Authorization: Bearer $doctor" "http://127.0.0.1:$api_port/api/notifications/unread-count"
N=$(( N < 50 ? N : 50 )) timed "POST /api/announcements (5,000-user clinic)" -H "Authorization: Bearer $sender" \
  -H 'Content-Type: application/json' -d '{"title":"Flu shots","body":"Ask at the desk","role":"PATIENT"}' \
  "http://127.0.0.1:$api_port/api/announcements"
