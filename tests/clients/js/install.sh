#!/usr/bin/env bash
# Installs the pinned JavaScript clients (package-lock.json: rebilly-js-sdk, graphql-http,
# @apollo/client and Apollo's persisted-query manifest tools, @urql/core,
# @urql/exchange-persisted) into tests/clients/js/node_modules for
# tests/clients/test_rebilly_js_sdk.py, tests/clients/test_graphql_http_audit.py and
# tests/clients/test_persisted_links.py.
#
#   bash tests/clients/js/install.sh
#
# Runs `npm ci` (app/npm-assets.sh install_pinned) only when node_modules is missing, lacks a
# package, or is older than package.json or the lockfile
# (`npm ci` refuses a lockfile that disagrees with package.json). Needs node >= 18 and npm.
# Upgrade one with `npm install rebilly-js-sdk@X.Y.Z --save-exact` here; commit both files.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../../../app/npm-assets.sh
source "$here/../../../app/npm-assets.sh"
install_pinned rebilly-js-sdk graphql-http @apollo/client @apollo/generate-persisted-query-manifest @apollo/persisted-query-lists @urql/core @urql/exchange-persisted
