#!/usr/bin/env lua5.4
-- Sampling heap profile: where is memory being allocated?
--   lua5.4 scripts/sample-profile.lua --endpoint http://127.0.0.1:9229 --duration 10 --out alloc
-- writes alloc.heapprofile (open in DevTools > Memory) and alloc.folded
-- (flamegraph.pl alloc.folded > alloc.svg, or drop it on speedscope.app).
-- Runs from a checkout after `make`: the paths below are relative to this file.
local here = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/.."
package.path = here .. "/lua/?.lua;" .. here .. "/lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("MEMDBG_BUILD") or (here .. "/build/lua5.4")) .. "/?.so;" .. package.cpath

local args = require("memdbg.cli.args")
local common = require("memdbg.workflows.common")
local sample = require("memdbg.workflows.sample_profile")
local profile = require("memdbg.analysis.profile")

local HELP = [[
usage: lua5.4 scripts/sample-profile.lua [--endpoint URL] [--duration S | --action EXPR]
                                         [--interval BYTES] [--out PREFIX] [--allow-remote]
]]

common.script(function(argv)
  local opts = args.parse(argv, { endpoint = { "string", common.DEFAULT_ENDPOINT }, ["allow-remote"] = "flag",
    duration = { "number", 10 }, action = "string", interval = { "number", 32768 },
    out = { "string", "heap-" .. common.timestamp() } }, HELP)
  local session, err, exit = common.connect(opts)
  if not session then io.stderr:write(err, "\n") return exit end

  local r, serr, code = sample.run(session, { duration = opts.duration, action = opts.action,
    interval = opts.interval, out = opts.out, top = 15 })
  session:close()
  if not r then io.stderr:write(serr, "\n") return common.exit_for(code) end
  io.write(profile.format_sites(r.sites))
  print("Wrote " .. r.files.heapprofile .. " and " .. r.files.folded)
  return 0
end, arg)
