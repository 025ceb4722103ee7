#!/usr/bin/env bash
# Installs PostGraphile 4 (pinned exactly in package.json, package-lock.json committed) into the
# git-ignored bench/postgraphile/node_modules: bench/run.py serves the PostgreSQL benchmark
# tables with it, by id, as the figure the gateway's PostgreSQL rows are printed beside.
#
#   bash bench/postgraphile/install.sh
#
# Runs `npm ci` only when node_modules is missing or older than package.json or the lockfile.
# Needs node >= 18 and npm. Upgrade with `npm install postgraphile@4.X.Y --save-exact` here.
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
  && [ -f node_modules/postgraphile/cli.js ]; then
  echo "install.sh: PostGraphile is up to date ($here/node_modules)"
  exit 0
fi
echo "install.sh: npm ci in $here"
npm ci --no-audit --no-fund --loglevel=error || die "npm ci failed in $here"
[ -f node_modules/postgraphile/cli.js ] || die "postgraphile missing after npm ci in $here"
touch "$stamp"
echo "install.sh: installed postgraphile $(node -p 'require("./node_modules/postgraphile/package.json").version')"
