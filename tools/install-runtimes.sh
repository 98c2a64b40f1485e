#!/bin/sh
# Installs the JavaScript runtimes memdbg's specs run against, from the repo's
# own files: Debian's chromium (apt, needs root) and, with `npm ci` from each
# folder's package-lock.json:
#   tools/js/         deno, bun, wrangler + workerd, and the benchmark tools
#                     (chrome-remote-interface, memlab, chrome-devtools-frontend,
#                     esbuild) into tools/js/node_modules;
#   spec/apps/leaks/  the leak demo apps' own dependency (effect) into
#                     spec/apps/leaks/node_modules, where Node and Deno find it.
# Node itself is expected on the machine. memdbg itself needs no npm package.
#
# Safe to run again: does nothing when everything is already in place.
# Quiet on success. Names whatever could not be installed; exits non-zero only
# when an install that was attempted failed (apt-get or npm ci), not when
# chromium is skipped because we are not root.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
NM="$ROOT/tools/js/node_modules"
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
failed=0       # a real failure: exit 1
missing=""     # what is not usable afterwards, by name

say() { printf 'install-runtimes: %s\n' "$*" >&2; }
showlog() { sed 's/^/    /' "$LOG" | tail -n 30 >&2; }

# --- Chromium from Debian --------------------------------------------------
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then
    if DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$LOG" 2>&1 &&
       DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >>"$LOG" 2>&1 &&
       command -v chromium >/dev/null 2>&1; then
      :
    else
      say "chromium: could not be installed (apt-get failed):"; showlog
      failed=1; missing="$missing chromium"
    fi
  else
    say "chromium: not installed and not root: run 'apt-get install chromium' as root (its specs will be pending)"
    missing="$missing chromium"
  fi
fi

# --- npm packages, per folder, from its package-lock.json --------------------
if ! command -v npm >/dev/null 2>&1; then
  say "npm: not found: deno, bun, wrangler, workerd, chrome-remote-interface, memlab, effect cannot be installed"
  exit 1
fi
# npm_ci DIR WHAT: `npm ci` in DIR unless DIR/node_modules/.memdbg-install-stamp
# holds the hash of DIR's package.json + package-lock.json (written after a
# successful npm ci, removed when something in DIR does not run).
npm_ci() {
  dir=$ROOT/$1
  stamp=$dir/node_modules/.memdbg-install-stamp
  hash=$(cat "$dir/package.json" "$dir/package-lock.json" | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ]; then
    return 0   # node_modules matches the lockfile already
  fi
  rm -f "$stamp"
  if (cd "$dir" && PUPPETEER_SKIP_DOWNLOAD=1 PUPPETEER_SKIP_CHROMIUM_DOWNLOAD=1 \
      npm ci --no-audit --no-fund --loglevel=error) >"$LOG" 2>&1; then
    echo "$hash" >"$stamp"
  else
    say "npm ci in $1 failed: $2 not installed:"; showlog
    exit 1
  fi
}
npm_ci tools/js "deno, bun, wrangler, workerd, chrome-remote-interface, memlab"
npm_ci spec/apps/leaks "effect (the leak apps' fibers pattern)"

# --- check the binaries really run (offline) --------------------------------
check() { # name, command...
  name=$1; shift
  if ! "$@" >"$LOG" 2>&1; then
    say "$name: installed but does not run: $*"; showlog
    missing="$missing $name"; failed=1
  fi
}
# Bun's postinstall hard-links the binary behind tools/js/node_modules/.bin/bun; when
# install scripts are ignored it stays in the platform package.
if [ -x "$NM/.bin/bun" ] && "$NM/.bin/bun" --version >/dev/null 2>&1; then :
elif [ -x "$NM/@oven/bun-linux-x64/bin/bun" ]; then check bun "$NM/@oven/bun-linux-x64/bin/bun" --version
else say "bun: binary not found (tools/js/node_modules/.bin/bun, tools/js/node_modules/@oven/bun-linux-x64/bin/bun)"; missing="$missing bun"; failed=1
fi
check deno env DENO_NO_UPDATE_CHECK=1 \
  "$NM/.bin/deno" eval --quiet "if (1 + 1 !== 2) Deno.exit(1)"
check workerd "$NM/.bin/workerd" --version
check wrangler node "$NM/wrangler/bin/wrangler.js" --version
check chrome-remote-interface node -e "require('$NM/chrome-remote-interface')"
# as the fibers app imports it: resolved from spec/apps/leaks/
check effect sh -c 'cd "$1" && node --input-type=module -e "await import(\"effect\")"' sh "$ROOT/spec/apps/leaks"
if ! [ -f "$NM/memlab/package.json" ]; then say "memlab: not installed"; missing="$missing memlab"; fi
[ -n "$missing" ] && say "not usable:$missing"
[ "$failed" -eq 0 ] || rm -f "$NM/.memdbg-install-stamp" "$ROOT/spec/apps/leaks/node_modules/.memdbg-install-stamp"
exit "$failed"
