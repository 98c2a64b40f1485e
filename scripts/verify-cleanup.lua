#!/usr/bin/env lua5.4
-- Does cleanup give memory back? Measure, allocate, clean up, GC a few
-- times, measure again.
--   lua5.4 scripts/verify-cleanup.lua --endpoint http://127.0.0.1:9229 --allocate 'allocate(20)' --cleanup 'release()'
-- Copy it anywhere: memdbg comes from the Lua paths (README, "Install with
-- LuaRocks": eval "$(luarocks path ...)"; in a checkout: eval "$(make -s paths)").

local frame = require("memdbg.cli.frame")
local verify = require("memdbg.workflows.verify_cleanup")

os.exit(frame.script({
  help = [[
usage: lua5.4 scripts/verify-cleanup.lua [-e URL] --allocate EXPR --cleanup EXPR
EXPR is JavaScript evaluated in the target; edit this script to use Lua functions instead.
]],
  options = { allocate = "string", cleanup = "string" },
  check = function(opts)
    if not opts.allocate or not opts.cleanup then return "--allocate and --cleanup are required" end
  end,
  run = function(session, opts)
    local r, err, code = verify.run(session, { allocate = opts.allocate, cleanup = opts.cleanup, gcRounds = 3 })
    if not r then return nil, err, code end
    io.write(verify.format(r))
    return r.released and 0 or 1
  end,
}, arg))
