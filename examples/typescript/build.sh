#!/usr/bin/env bash
# Builds examples/typescript: `npm ci` from the committed lockfile when node_modules is stale,
# then GraphQL Codegen on ../../schema.graphql (typed documents and the persisted-documents
# manifest in src/gql/) and tsc (dist/). Everything it writes is git-ignored.
#
#   bash examples/typescript/build.sh [--force]
#
# Codegen and tsc run only when an output is older than an input (--force: always).
# Needs node >= 20 and npm. Upgrade a dependency with `npm install PKG@X.Y.Z --save-exact` here.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
die() { echo "build.sh: error: $*" >&2; exit 1; }

command -v node >/dev/null 2>&1 || die "node is not installed (need node >= 20)"
command -v npm >/dev/null 2>&1 || die "npm is not installed"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 20 ] || die "node >= 20 required, found $(node --version)"

cd "$here"
stamp=node_modules/.package-lock.json
if ! { [ -f "$stamp" ] && [ "$stamp" -nt package-lock.json ] && [ "$stamp" -nt package.json ] \
  && [ -f node_modules/@graphql-codegen/cli/package.json ]; }; then
  echo "build.sh: npm ci in $here"
  npm ci --no-audit --no-fund --loglevel=error || die "npm ci failed in $here"
  touch "$stamp"
fi
# Up to date when both outputs are newer than every input (the schema, the sources, the config).
outputs=(src/gql/persisted-documents.json dist/main.js)
inputs=(../../schema.graphql codegen.ts tsconfig.json package-lock.json build.sh src/main.ts)
fresh=1
for output in "${outputs[@]}"; do
  [ -f "$output" ] || { fresh=0; break; }
  for input in "${inputs[@]}"; do
    [ "$output" -nt "$input" ] || { fresh=0; break 2; }
  done
done
if [ "$fresh" = 1 ] && [ "${1:-}" != "--force" ]; then
  echo "build.sh: examples/typescript is up to date"
  exit 0
fi
npx --no-install graphql-codegen --config codegen.ts --silent || die "codegen failed"
npx --no-install tsc -p . || die "tsc failed"
[ -f src/gql/persisted-documents.json ] || die "codegen wrote no persisted-documents.json"
[ -f dist/main.js ] || die "tsc wrote no dist/main.js"
touch "${outputs[@]}"  # codegen leaves a file it would write unchanged as it was
echo "build.sh: built $here/dist/main.js and src/gql/persisted-documents.json"
