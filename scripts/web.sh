#!/usr/bin/env bash
# Installs the console's browser libraries (web/package.json, pinned by web/package-lock.json) with npm when
# web/node_modules is missing or older than the lock file, then copies the files the pages load into web/vendor/
# (not committed): socket.io-client's ES module bundle, Redoc's standalone bundle, and openapi.yaml for /docs.
# No bundler, nothing fetched by the browser from the internet. `make web`, `make run` and `make test` run it.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO/web"

command -v npm >/dev/null || { echo "web.sh: npm is not installed (scripts/deps.sh build installs it)" >&2; exit 1; }
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] ||
   [ package.json -nt node_modules/.package-lock.json ]; then
  # --ignore-scripts: only prebuilt files are taken from these packages; none needs its install scripts.
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
fi

mkdir -p vendor
# copy SRC DEST: only when the bytes differ (the server's ETag follows the bytes anyway).
copy() { cmp -s "$1" "$2" 2>/dev/null || install -m 644 "$1" "$2"; }
copy node_modules/socket.io-client/dist/socket.io.esm.min.js vendor/socket.io.esm.min.js
copy node_modules/socket.io-client/dist/socket.io.esm.min.js.map vendor/socket.io.esm.min.js.map
# Redoc's sidebar shows its maker's logo from their CDN. Nothing may be fetched from elsewhere, so the copy served
# here has that image replaced by an empty inline one; the "API docs by Redocly" attribution stays.
redoc=$(mktemp)
trap 'rm -f "$redoc"' EXIT
sed "s#https://cdn.redoc.ly/redoc/logo-mini.svg#data:image/svg+xml,%3Csvg xmlns=%27http://www.w3.org/2000/svg%27/%3E#" \
  node_modules/redoc/bundles/redoc.standalone.js >"$redoc"
if grep -q 'https://cdn\.redoc\.ly' "$redoc"; then
  echo "web.sh: this Redoc bundle loads something else from cdn.redoc.ly: check web/package.json's redoc version" >&2
  exit 1
fi
copy "$redoc" vendor/redoc.standalone.js
copy node_modules/redoc/bundles/redoc.standalone.js.map vendor/redoc.standalone.js.map
copy node_modules/redoc/bundles/redoc.standalone.js.LICENSE.txt vendor/redoc.standalone.js.LICENSE.txt
copy "$REPO/openapi.yaml" vendor/openapi.yaml
