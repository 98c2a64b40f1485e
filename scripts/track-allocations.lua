#!/usr/bin/env lua5.4
-- Allocation tracking: record allocation stacks for a while (or around an
-- action), save the timeline snapshot and list the top allocation sites.
--   lua5.4 scripts/track-allocations.lua --endpoint http://127.0.0.1:9229 --duration 10
-- Copy it anywhere: memdbg comes from the Lua paths (README, "Install with
-- LuaRocks": eval "$(luarocks path ...)"; in a checkout: eval "$(make -s paths)").

local frame = require("memdbg.cli.frame")
local format = require("memdbg.util.format")
local track = require("memdbg.workflows.track_allocations")

os.exit(frame.script({
  help = [[
usage: lua5.4 scripts/track-allocations.lua [-e URL] [--duration S | --action EXPR] [--dir DIR]
  --duration S         how long to track (default 10)
  --action EXPR        track around this expression instead
  --dir DIR            where the timeline snapshot goes (default .)
]],
  options = { duration = { "number", 10 }, action = "string", dir = { "string", "." } },
  run = function(session, opts)
    local r, err, code = track.run(session, { duration = opts.duration, action = opts.action, dir = opts.dir,
      top = 15 })
    if not r then return nil, err, code end
    print(string.format("Wrote %s (%s)", r.path, format.bytes(r.bytes)))
    io.write(r.sites and track.format_sites(r.sites) or ("no allocation sites: " .. tostring(r.sitesError) .. "\n"))
    return 0
  end,
}, arg))
