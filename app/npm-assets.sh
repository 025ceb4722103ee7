# Shared by the scripts that build front-end assets from npm (app/graphql/ide/build.sh,
# app/rest/docs/build.sh, examples/typescript/build.sh): source it after setting
#   here      the script's folder        frontend  its npm project (package.json + lockfile)
#   what      what is built, for messages outputs   the files a build leaves (array)
# and extra inputs in `inputs` (array); then call `start_build "$@"` and `npm_ci [flags]`.
# The scripts that only install pinned packages (tests/clients/js/install.sh,
# bench/postgraphile/install.sh) set `here` and call `install_pinned PACKAGE...` instead.

die() { echo "$(basename "$0"): error: $*" >&2; exit 1; }

# node >= 18 and npm on the PATH.
need_node() {
  command -v node >/dev/null 2>&1 || die "node is not installed (need node >= 18)"
  command -v npm >/dev/null 2>&1 || die "npm is not installed"
  local major
  major="$(node -p 'process.versions.node.split(".")[0]')"
  [ "$major" -ge 18 ] || die "node >= 18 required, found $(node --version)"
}

# In $here: `npm ci` when node_modules is missing, older than package.json or the lockfile, or
# lacks one of the PACKAGEs; then each PACKAGE must be installed.
install_pinned() {
  local package stamp=node_modules/.package-lock.json missing=0
  cd "$here"
  for package in "$@"; do
    [ -f "node_modules/$package/package.json" ] || missing=1
  done
  if [ "$missing" -eq 0 ] && [ -f "$stamp" ] && [ "$stamp" -nt package-lock.json ] \
    && [ "$stamp" -nt package.json ]; then
    echo "$(basename "$0"): up to date ($here/node_modules)"
    return 0
  fi
  need_node
  echo "$(basename "$0"): npm ci in $here"
  npm ci --no-audit --no-fund --loglevel=error || die "npm ci failed in $here"
  for package in "$@"; do
    [ -f "node_modules/$package/package.json" ] || die "$package missing after npm ci in $here"
    echo "$(basename "$0"): $package $(node -p "require('./node_modules/$package/package.json').version")"
  done
  touch "$stamp"
}

# Every output present and newer than every input, and no `npm install` since the last build.
up_to_date() {
  local out in
  for out in "${outputs[@]}"; do
    [ -s "$out" ] || return 1
    for in in "${inputs[@]}"; do
      [ "$out" -nt "$in" ] || return 1
    done
  done
  [ -d "$frontend/node_modules" ] && [ "$frontend/node_modules/.package-lock.json" -nt "${outputs[0]}" ] && return 1
  return 0
}

# `--force` always rebuilds; otherwise exit 0 when up to date. Then check node and npm.
start_build() {
  local force=0
  case "${1:-}" in
    --force) force=1 ;;
    "") ;;
    *) die "unknown argument '$1' (usage: build.sh [--force])" ;;
  esac
  inputs+=("$frontend/package.json" "$frontend/package-lock.json" "$here/build.sh")
  while IFS= read -r -d '' f; do inputs+=("$f"); done < <(find "$frontend/src" -type f -print0)
  if [ "$force" -eq 0 ] && up_to_date; then
    echo "build.sh: $what assets are up to date ($static)"
    exit 0
  fi
  need_node
}

# In $frontend: `npm ci [flags]` only when node_modules does not match the lockfile.
npm_ci() {
  cd "$frontend"
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] \
    || [ package.json -nt node_modules/.package-lock.json ]; then
    echo "build.sh: npm ci"
    npm ci "$@" --no-audit --no-fund --loglevel=error || die "npm ci failed"
    touch node_modules/.package-lock.json
  fi
}

# Every output present and not empty.
check_outputs() {
  local out
  for out in "${outputs[@]}"; do
    [ -s "$out" ] || die "expected output missing or empty: $out"
  done
  echo "build.sh: done"
}
