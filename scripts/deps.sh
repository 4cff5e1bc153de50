#!/usr/bin/env bash
# Installs the Debian packages the project builds, runs and tests with, only those missing.
# Usage: scripts/deps.sh [build|test|fuzz]   (test adds the tools the test suites need, fuzz clang's libFuzzer)
set -euo pipefail

build_pkgs=(
  build-essential pkg-config openssl
  libulfius-dev liborcania-dev libyder-dev libjansson-dev libmicrohttpd-dev libgnutls28-dev
  libpq-dev libjwt-dev libwebsockets-dev libxlsxwriter-dev libargon2-dev libssl-dev
  libcurl4-openssl-dev # SMTP and HTTP client of the outbound messages (api-server/delivery_send.c)
  postgresql postgresql-contrib
  nodejs npm # the console's browser libraries (scripts/web.sh)
)
test_pkgs=(libcmocka-dev wrk docker-compose curl chromium iproute2 libreoffice-calc-nogui)
fuzz_pkgs=(clang libclang-rt-14-dev)

want=("${build_pkgs[@]}")
[ "${1:-build}" = test ] && want+=("${test_pkgs[@]}")
[ "${1:-build}" = fuzz ] && want+=("${fuzz_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
  # nodejs/npm may come from outside Debian on developer machines: a working binary is enough.
  case "$p" in
    nodejs) command -v node >/dev/null && continue ;;
    npm) command -v npm >/dev/null && continue ;;
    # Any flavour of libcurl's headers builds (Debian's -openssl-dev and -gnutls-dev exclude each other).
    libcurl4-openssl-dev) pkg-config --exists libcurl 2>/dev/null && continue ;;
  esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}"
SUDO=
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
