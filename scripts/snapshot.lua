#!/usr/bin/env lua5.4
-- Heap snapshot to a timestamped file: DIR/heap-<UTC time>.heapsnapshot
--   lua5.4 scripts/snapshot.lua --endpoint http://127.0.0.1:9229 --dir snapshots --gc
-- Open it in DevTools > Memory > Load, or analyse it with `memdbg summary FILE`.
-- Runs from a checkout after `make`: the paths below are relative to this file.
local here = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/.."
package.path = here .. "/lua/?.lua;" .. here .. "/lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("MEMDBG_BUILD") or (here .. "/build/lua5.4")) .. "/?.so;" .. package.cpath

local args = require("memdbg.cli.args")
local common = require("memdbg.workflows.common")
local snapshot = require("memdbg.workflows.snapshot")

local HELP = [[
usage: lua5.4 scripts/snapshot.lua [--endpoint URL] [--dir DIR] [--gc] [--timeout S] [--allow-remote]
]]

common.script(function(argv)
  local opts = args.parse(argv, { endpoint = { "string", common.DEFAULT_ENDPOINT }, ["allow-remote"] = "flag",
    dir = { "string", "." }, gc = "flag", timeout = { "number", 30 } }, HELP)
  local session, err, exit = common.connect(opts)
  if not session then io.stderr:write(err, "\n") return exit end

  local update, finish = common.progress("snapshot")
  local info, serr, code = snapshot.run(session, { dir = opts.dir, gc = opts.gc, timeout = opts.timeout,
    onProgress = update, onBytes = function(bytes) update(bytes) end })
  finish()
  session:close()
  if not info then io.stderr:write(serr, "\n") return common.exit_for(code) end
  print(string.format("Wrote %s (%s in %.1f s)", info.path, common.bytes(info.bytes), info.seconds))
  return 0
end, arg)
