#!/usr/bin/env bash
# Builds the self-hosted Swagger UI assets served at GET /docs into app/rest/docs/static/.
#
#   bash app/rest/docs/build.sh          # build if anything changed
#   bash app/rest/docs/build.sh --force  # always rebuild
#
# Needs node >= 18 and npm. Installs the pinned packages from frontend/package-lock.json
# (npm ci, install scripts off) into frontend/node_modules, then copies swagger-ui-dist's
# prebuilt, self-contained bundle and the page's own files from frontend/src. Skips all work
# when every output is newer than the lockfile, package.json, this script and frontend/src.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
frontend="$here/frontend"
static="$here/static"
what="API docs"
dist="$frontend/node_modules/swagger-ui-dist"
# name in static/ = where it comes from
copies=(
  "swagger-ui-bundle.js=$dist/swagger-ui-bundle.js"
  "swagger-ui.css=$dist/swagger-ui.css"
  "favicon-32x32.png=$dist/favicon-32x32.png"
  "docs.js=$frontend/src/docs.js"
  "docs.css=$frontend/src/docs.css"
)
outputs=()
for pair in "${copies[@]}"; do outputs+=("$static/${pair%%=*}"); done
inputs=()
# shellcheck source=../../npm-assets.sh
source "$here/../../npm-assets.sh"

start_build "$@"
# No install scripts: the bundle needs none (swagger-ui-dist's one dependency only reports
# installs).
npm_ci --ignore-scripts

echo "build.sh: copying Swagger UI"
tmp="$(mktemp -d "$here/.static.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
for pair in "${copies[@]}"; do
  name="${pair%%=*}" source="${pair#*=}"
  [ -s "$source" ] || die "missing or empty: $source (run npm ci in $frontend)"
  cp "$source" "$tmp/$name"
done
# The bundle names a source map the browser would fetch only with its developer tools open.
sed -i '/^\/\/# sourceMappingURL=/d' "$tmp/swagger-ui-bundle.js" "$tmp/swagger-ui.css"
rm -rf "$static"
mv "$tmp" "$static"
chmod 755 "$static"
trap - EXIT
check_outputs
