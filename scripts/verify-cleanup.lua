#!/usr/bin/env lua5.4
-- Does cleanup give memory back? Measure, allocate, clean up, GC a few
-- times, measure again.
--   lua5.4 scripts/verify-cleanup.lua --endpoint http://127.0.0.1:9229 --allocate 'allocate(20)' --cleanup 'release()'
-- Runs from a checkout after `make`: the paths below are relative to this file.
local here = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/.."
package.path = here .. "/lua/?.lua;" .. here .. "/lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("MEMDBG_BUILD") or (here .. "/build/lua5.4")) .. "/?.so;" .. package.cpath

local args = require("memdbg.cli.args")
local common = require("memdbg.workflows.common")
local verify = require("memdbg.workflows.verify_cleanup")

local HELP = [[
usage: lua5.4 scripts/verify-cleanup.lua [--endpoint URL] --allocate EXPR --cleanup EXPR [--allow-remote]
EXPR is JavaScript evaluated in the target; edit this script to use Lua functions instead.
]]

common.script(function(argv)
  local opts = args.parse(argv, { endpoint = { "string", common.DEFAULT_ENDPOINT }, ["allow-remote"] = "flag",
    allocate = "string", cleanup = "string" }, HELP)
  if not opts.allocate or not opts.cleanup then args.usage_error("--allocate and --cleanup are required") end
  local session, err, exit = common.connect(opts)
  if not session then io.stderr:write(err, "\n") return exit end

  local r, verr, code = verify.run(session, { allocate = opts.allocate, cleanup = opts.cleanup, gcRounds = 3 })
  session:close()
  if not r then io.stderr:write(verr, "\n") return common.exit_for(code) end
  io.write(verify.format(r))
  return r.released and 0 or 1
end, arg)
