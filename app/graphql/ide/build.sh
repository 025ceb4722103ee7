#!/usr/bin/env bash
# Builds the self-hosted GraphiQL assets into app/graphql/ide/static/.
#
#   bash app/graphql/ide/build.sh          # build if anything changed
#   bash app/graphql/ide/build.sh --force  # always rebuild
#
# Needs node >= 18 and npm. Installs the pinned packages from
# frontend/package-lock.json (npm ci) into frontend/node_modules, then bundles
# with esbuild (frontend/build.mjs). Skips all work when every output is newer
# than the lockfile, package.json, build.mjs and everything under frontend/src and examples/
# (the example operations the bundle includes).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
frontend="$here/frontend"
static="$here/static"
what="GraphiQL"
outputs=(
  "$static/graphiql.js"
  "$static/graphiql.css"
  "$static/workers/editor.worker.js"
  "$static/workers/json.worker.js"
  "$static/workers/graphql.worker.js"
)
inputs=("$frontend/build.mjs")
while IFS= read -r -d '' f; do inputs+=("$f"); done < <(find "$here/examples" -type f -print0)
# shellcheck source=../../npm-assets.sh
source "$here/../../npm-assets.sh"

start_build "$@"
npm_ci
[ -x node_modules/.bin/esbuild ] || die "esbuild missing from node_modules; run npm ci in $frontend"

echo "build.sh: bundling GraphiQL"
node build.mjs || die "esbuild bundling failed"
check_outputs
