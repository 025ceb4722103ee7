#!/usr/bin/env bash
# Builds the self-hosted GraphiQL assets into app/graphql/ide/static/.
#
#   bash app/graphql/ide/build.sh          # build if anything changed
#   bash app/graphql/ide/build.sh --force  # always rebuild
#
# Needs node >= 18 and npm. Installs the pinned packages from
# frontend/package-lock.json (npm ci) into frontend/node_modules, then bundles
# with esbuild (frontend/build.mjs). Skips all work when every output is newer
# than the lockfile, package.json, build.mjs and everything under frontend/src.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
frontend="$here/frontend"
static="$here/static"
outputs=(
  "$static/graphiql.js"
  "$static/graphiql.css"
  "$static/workers/editor.worker.js"
  "$static/workers/json.worker.js"
  "$static/workers/graphql.worker.js"
)

die() { echo "build.sh: error: $*" >&2; exit 1; }

force=0
case "${1:-}" in
  --force) force=1 ;;
  "") ;;
  *) die "unknown argument '$1' (usage: build.sh [--force])" ;;
esac

inputs=(
  "$frontend/package.json"
  "$frontend/package-lock.json"
  "$frontend/build.mjs"
  "$here/build.sh"
)
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
  echo "build.sh: GraphiQL assets are up to date ($static)"
  exit 0
fi

command -v node >/dev/null 2>&1 || die "node is not installed (need node >= 18)"
command -v npm >/dev/null 2>&1 || die "npm is not installed"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 18 ] || die "node >= 18 required, found $(node --version)"

cd "$frontend"
# Reinstall only when node_modules does not match the lockfile.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] \
  || [ package.json -nt node_modules/.package-lock.json ]; then
  echo "build.sh: npm ci"
  npm ci --no-audit --no-fund --loglevel=error || die "npm ci failed"
  touch node_modules/.package-lock.json
fi
[ -x node_modules/.bin/esbuild ] || die "esbuild missing from node_modules; run npm ci in $frontend"

echo "build.sh: bundling GraphiQL"
node build.mjs || die "esbuild bundling failed"

for out in "${outputs[@]}"; do
  [ -s "$out" ] || die "expected output missing or empty: $out"
done
echo "build.sh: done"
