#!/usr/bin/env bash
# The signaling benchmark (the last part of `make bench`, called by tests/bench/run.sh with the cluster
# it started): the signaling-server against a minimal Node socket.io 4 server (node-server.mjs), in a
# realistic topology (10,000 clients over 500 clinics), with long-polling clients beside WebSocket ones,
# and in one clinic room (1,000 and 10,000 clients: push latency, fan-out), with the memory of each and
# the ceiling of the load generator; see bench.mjs.
# Needs DATABASE_URL (migrated), JWT_PUBLIC_KEY_FILE and JWT_PRIVATE_KEY_FILE (the bench signs its
# clients' tokens). SIGNALING_BIN chooses the server binary (default build/signaling-server); the BENCH_*
# variables of bench.mjs tune the run. Installs this folder's node_modules (npm ci) when missing or
# older than package-lock.json. Raises the open-file limit to 65536 (or the hard limit, when lower) for
# the servers and the client processes, which inherit it.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
: "${DATABASE_URL:?}" "${JWT_PUBLIC_KEY_FILE:?}" "${JWT_PRIVATE_KEY_FILE:?}"
if [ ! -d "$HERE/node_modules" ] || [ "$HERE/package-lock.json" -nt "$HERE/node_modules/.package-lock.json" ]; then
  npm ci --prefix "$HERE" --no-audit --no-fund --loglevel=error >/dev/null
fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
mapfile -t ports < <(bash "$REPO/scripts/free-port.sh" 2)
export SIG_NOFILE=$(ulimit -n) SIG_PORT=${ports[0]} NODE_PORT=${ports[1]}
export SIGNALING_BIN=${SIGNALING_BIN:-$REPO/build/signaling-server}
[ -x "$SIGNALING_BIN" ] || { echo "bench: $SIGNALING_BIN is missing (make)" >&2; exit 1; }
exec node "$HERE/bench.mjs"
