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

die() { echo "build.sh: error: $*" >&2; exit 1; }

force=0
case "${1:-}" in
  --force) force=1 ;;
  "") ;;
  *) die "unknown argument '$1' (usage: build.sh [--force])" ;;
esac

inputs=("$frontend/package.json" "$frontend/package-lock.json" "$here/build.sh")
while IFS= read -r -d '' f; do inputs+=("$f"); done < <(find "$frontend/src" -type f -print0)

up_to_date() {
  local out in
  for out in "${outputs[@]}"; do
    [ -s "$out" ] || return 1
    for in in "${inputs[@]}"; do
      [ "$out" -nt "$in" ] || return 1
    done
  done
  # a manual `npm install` after the last build also invalidates it
  [ -d "$frontend/node_modules" ] && [ "$frontend/node_modules/.package-lock.json" -nt "${outputs[0]}" ] && return 1
  return 0
}

if [ "$force" -eq 0 ] && up_to_date; then
  echo "build.sh: API docs assets are up to date ($static)"
  exit 0
fi

command -v node >/dev/null 2>&1 || die "node is not installed (need node >= 18)"
command -v npm >/dev/null 2>&1 || die "npm is not installed"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 18 ] || die "node >= 18 required, found $(node --version)"

cd "$frontend"
# Reinstall only when node_modules does not match the lockfile. No install scripts: the
# bundle needs none (swagger-ui-dist's one dependency only reports installs).
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] \
  || [ package.json -nt node_modules/.package-lock.json ]; then
  echo "build.sh: npm ci"
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error || die "npm ci failed"
  touch node_modules/.package-lock.json
fi

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

for out in "${outputs[@]}"; do
  [ -s "$out" ] || die "expected output missing or empty: $out"
done
echo "build.sh: done"
