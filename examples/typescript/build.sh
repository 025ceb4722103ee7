#!/usr/bin/env bash
# Builds examples/typescript: GraphQL Codegen on ../../schema.graphql (typed documents and the
# persisted-documents manifest in gql/), then tsc (dist/). Everything it writes is git-ignored.
#
#   bash examples/typescript/build.sh          # build if anything changed
#   bash examples/typescript/build.sh --force  # always rebuild
#
# Needs node >= 20 and npm. Installs the pinned packages from package-lock.json (npm ci, only
# when node_modules is stale); skips all work when both outputs are newer than the schema,
# codegen.ts, tsconfig.json, the lockfile, package.json, this script and src/ (app/npm-assets.sh).
# Upgrade a dependency with `npm install PKG@X.Y.Z --save-exact` here; commit both files.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
frontend="$here"
static="$here/dist"
what="examples/typescript"
outputs=("$here/gql/persisted-documents.json" "$here/dist/src/main.js")
inputs=("$here/../../schema.graphql" "$here/codegen.ts" "$here/tsconfig.json")
# shellcheck source=../../app/npm-assets.sh
source "$here/../../app/npm-assets.sh"

start_build "$@"
npm_ci
echo "build.sh: graphql-codegen and tsc"
npx --no-install graphql-codegen --config codegen.ts --silent || die "codegen failed"
npx --no-install tsc -p . || die "tsc failed"
touch "${outputs[@]}" # codegen leaves a file it would write unchanged as it was
check_outputs
