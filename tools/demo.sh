#!/bin/sh
# The main job end to end: build memdbg, start a demo Node app that leaks (a
# page cache in a Map that never evicts: spec/apps/leaks/map.mjs), and hunt
# the leak with three snapshots. Run as `make demo`.
set -eu
cd "$(dirname "$0")/.."
sh tools/install-deps.sh
make -s all
log=$(mktemp)
node --inspect=127.0.0.1:0 spec/apps/leaks/app.mjs map leaky >"$log" 2>&1 &
app=$!
trap 'kill $app 2>/dev/null; rm -f "$log"' EXIT INT TERM
port=""
for _ in $(seq 1 100); do
  port=$(sed -n 's|^Debugger listening on ws://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$log")
  [ -n "$port" ] && grep -q '^memdbg-leak-app ready' "$log" && break
  sleep 0.1
done
[ -n "$port" ] || { echo "demo: node did not start its inspector:"; cat "$log"; exit 1; }
echo "demo: a Node app that caches every page by its full URL in a Map and never evicts runs with its inspector on port $port"
echo "demo: memdbg leaks --endpoint http://127.0.0.1:$port --action 'handleRequests(2000)'"
echo
set +e
lua5.4 scripts/memdbg leaks --endpoint "http://127.0.0.1:$port" --action 'handleRequests(2000)'
rc=$?
set -e
echo
case $rc in
  1) echo "demo: memdbg found the leak: CachedPage objects piling up in the Map (exit code 1 means: leaks found)"; exit 0 ;;
  0) echo "demo: memdbg found no leak in an app built to leak: that is a bug"; exit 1 ;;
  *) echo "demo: memdbg failed (exit code $rc)"; exit "$rc" ;;
esac
