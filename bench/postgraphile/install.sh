#!/usr/bin/env bash
# Installs PostGraphile 4 (pinned exactly in package.json, package-lock.json committed) into the
# git-ignored bench/postgraphile/node_modules: bench/run.py serves the PostgreSQL benchmark
# tables with it, by id, as the figure the gateway's PostgreSQL rows are printed beside.
#
#   bash bench/postgraphile/install.sh
#
# Runs `npm ci` (app/npm-assets.sh install_pinned) only when node_modules is missing, lacks a
# package, or is older than package.json or the lockfile.
# Needs node >= 18 and npm. Upgrade with `npm install postgraphile@4.X.Y --save-exact` here.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../../app/npm-assets.sh
source "$here/../../app/npm-assets.sh"
install_pinned postgraphile
