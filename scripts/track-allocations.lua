#!/usr/bin/env lua5.4
-- Allocation tracking: record allocation stacks for a while (or around an
-- action), save the timeline snapshot and list the top allocation sites.
--   lua5.4 scripts/track-allocations.lua --endpoint http://127.0.0.1:9229 --duration 10
-- Runs from a checkout after `make`: the paths below are relative to this file.
local here = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/.."
package.path = here .. "/lua/?.lua;" .. here .. "/lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("MEMDBG_BUILD") or (here .. "/build/lua5.4")) .. "/?.so;" .. package.cpath

local args = require("memdbg.cli.args")
local common = require("memdbg.workflows.common")
local track = require("memdbg.workflows.track_allocations")
local profile = require("memdbg.analysis.profile")

local HELP = [[
usage: lua5.4 scripts/track-allocations.lua [--endpoint URL] [--duration S | --action EXPR]
                                            [--dir DIR] [--allow-remote]
]]

common.script(function(argv)
  local opts = args.parse(argv, { endpoint = { "string", common.DEFAULT_ENDPOINT }, ["allow-remote"] = "flag",
    duration = { "number", 10 }, action = "string", dir = { "string", "." } }, HELP)
  local session, err, exit = common.connect(opts)
  if not session then io.stderr:write(err, "\n") return exit end

  local r, terr, code = track.run(session, { duration = opts.duration, action = opts.action, dir = opts.dir, top = 15 })
  session:close()
  if not r then io.stderr:write(terr, "\n") return common.exit_for(code) end
  print(string.format("Wrote %s (%s)", r.path, common.bytes(r.bytes)))
  io.write(r.sites and profile.format_sites(r.sites) or ("no allocation sites: " .. tostring(r.sitesError) .. "\n"))
  return 0
end, arg)
