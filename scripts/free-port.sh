#!/usr/bin/env bash
# Prints free TCP ports on 127.0.0.1, picked at random in 20000-32000 (below the kernel's ephemeral range).
# Usage: scripts/free-port.sh [N]   (N distinct ports, one per line; default 1)
set -euo pipefail

count=${1:-1}
case "$count" in
  ''|*[!0-9]*|0) echo "free-port.sh: N must be a positive integer" >&2; exit 2 ;;
esac

LOW=20000
HIGH=32000

# in_use PORT: true when something listens on (or accepts connections at) 127.0.0.1:PORT.
in_use() {
  local port=$1
  if command -v ss >/dev/null 2>&1; then
    [ -n "$(ss -Htln "sport = :$port" 2>/dev/null)" ] && return 0
  fi
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

picked=" "
found=0
tries=0
while [ "$found" -lt "$count" ]; do
  tries=$((tries + 1))
  if [ "$tries" -gt 2000 ]; then
    echo "free-port.sh: could not find $count free port(s) in $LOW-$HIGH" >&2
    exit 1
  fi
  port=$((LOW + (RANDOM * 32768 + RANDOM) % (HIGH - LOW + 1)))
  case "$picked" in *" $port "*) continue ;; esac
  in_use "$port" && continue
  picked="$picked$port "
  echo "$port"
  found=$((found + 1))
done
