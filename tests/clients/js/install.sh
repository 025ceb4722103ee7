#!/usr/bin/env bash
# Installs the pinned JavaScript clients (package-lock.json: rebilly-js-sdk, graphql-http,
# @apollo/client and Apollo's persisted-query manifest tools, @urql/core,
# @urql/exchange-persisted) into tests/clients/js/node_modules for
# tests/clients/test_rebilly_js_sdk.py, tests/clients/test_graphql_http_audit.py and
# tests/clients/test_persisted_links.py.
#
#   bash tests/clients/js/install.sh
#
# Runs `npm ci` only when node_modules is missing or older than package.json or the lockfile
# (`npm ci` refuses a lockfile that disagrees with package.json). Needs node >= 18 and npm.
# Upgrade one with `npm install rebilly-js-sdk@X.Y.Z --save-exact` here; commit both files.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
die() { echo "install.sh: error: $*" >&2; exit 1; }

command -v node >/dev/null 2>&1 || die "node is not installed (need node >= 18)"
command -v npm >/dev/null 2>&1 || die "npm is not installed"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 18 ] || die "node >= 18 required, found $(node --version)"

cd "$here"
stamp=node_modules/.package-lock.json
if [ -f "$stamp" ] && [ "$stamp" -nt package-lock.json ] && [ "$stamp" -nt package.json ] \
  && [ -f node_modules/rebilly-js-sdk/package.json ] && [ -f node_modules/graphql-http/package.json ] \
  && [ -f node_modules/@apollo/client/package.json ] && [ -f node_modules/@urql/exchange-persisted/package.json ] \
  && [ -f node_modules/@apollo/persisted-query-lists/package.json ]; then
  echo "install.sh: JavaScript clients are up to date ($here/node_modules)"
  exit 0
fi
echo "install.sh: npm ci in $here"
npm ci --no-audit --no-fund --loglevel=error || die "npm ci failed in $here"
[ -f node_modules/rebilly-js-sdk/package.json ] || die "rebilly-js-sdk missing after npm ci in $here"
[ -f node_modules/graphql-http/package.json ] || die "graphql-http missing after npm ci in $here"
for package in @apollo/client @apollo/generate-persisted-query-manifest @apollo/persisted-query-lists \
  @urql/core @urql/exchange-persisted; do
  [ -f "node_modules/$package/package.json" ] || die "$package missing after npm ci in $here"
done
touch "$stamp"
echo "install.sh: installed rebilly-js-sdk $(node -p 'require("./node_modules/rebilly-js-sdk/package.json").version')," \
  "graphql-http $(node -p 'require("./node_modules/graphql-http/package.json").version')"
