#!/usr/bin/env bash
# The signaling benchmark (the last part of `make bench`, called by tests/bench/run.sh with the cluster
# and the api-server it started): build/signaling-server against a minimal Node socket.io 4 server
# (node-server.mjs): push latency at 1,000 and 10,000 clients, memory, fan-out; see bench.mjs.
# Needs API_URL, DATABASE_URL, JWT_PUBLIC_KEY_FILE. Installs this folder's node_modules (npm ci) when
# missing or older than package-lock.json. Raises the open-file limit to 65536 (or the hard limit,
# when lower) for the servers and the client processes, which inherit it.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
: "${API_URL:?}" "${DATABASE_URL:?}" "${JWT_PUBLIC_KEY_FILE:?}"
if [ ! -d "$HERE/node_modules" ] || [ "$HERE/package-lock.json" -nt "$HERE/node_modules/.package-lock.json" ]; then
  npm ci --prefix "$HERE" --no-audit --no-fund --loglevel=error >/dev/null
fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
mapfile -t ports < <(bash "$REPO/scripts/free-port.sh" 2)
export SIG_NOFILE=$(ulimit -n) SIG_PORT=${ports[0]} NODE_PORT=${ports[1]}
export SIGNALING_BIN=${SIGNALING_BIN:-$REPO/build/signaling-server}
exec node "$HERE/bench.mjs"
