#!/usr/bin/env bash
# Creates the ES256 (P-256) key pair that signs access tokens, unless it already exists.
# Usage: scripts/keys.sh DIR   -> DIR/jwt-private.pem (PKCS#8 PEM, mode 600) and DIR/jwt-public.pem (mode 644)
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
dir=$1
priv="$dir/jwt-private.pem"
pub="$dir/jwt-public.pem"

mkdir -p -- "$dir"

if [ ! -f "$priv" ]; then
  tmp=$(mktemp "$dir/.jwt-private.XXXXXX")
  trap 'rm -f -- "$tmp"' EXIT
  (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp" 2>/dev/null)
  chmod 600 -- "$tmp"
  mv -f -- "$tmp" "$priv"
  trap - EXIT
  rm -f -- "$pub"
  echo "keys.sh: created ES256 key pair in $dir"
fi

if [ ! -f "$pub" ]; then
  openssl pkey -in "$priv" -pubout -out "$pub.tmp" 2>/dev/null
  chmod 644 -- "$pub.tmp"
  mv -f -- "$pub.tmp" "$pub"
fi
