#!/usr/bin/env lua5.4
-- Sampling heap profile: where is memory being allocated?
--   lua5.4 scripts/sample-profile.lua --endpoint http://127.0.0.1:9229 --duration 10 --prefix alloc
-- writes alloc.heapprofile (open in DevTools > Memory) and alloc.folded
-- (flamegraph.pl alloc.folded > alloc.svg, or drop it on speedscope.app).
-- Copy it anywhere: memdbg comes from the Lua paths (README, "Install with
-- LuaRocks": eval "$(luarocks path ...)"; in a checkout: eval "$(make -s paths)").

local frame = require("memdbg.cli.frame")
local sample = require("memdbg.workflows.sample_profile")
local snapshot = require("memdbg.workflows.snapshot")
local profile = require("memdbg.analysis.profile")

os.exit(frame.script({
  help = [[
usage: lua5.4 scripts/sample-profile.lua [-e URL] [--duration S | --action EXPR]
                                         [--sampling-interval BYTES] [--prefix PREFIX] [--force | --no-clobber]
  --duration S         how long to sample (default 10)
  --action EXPR        sample around this expression instead
  --sampling-interval BYTES  mean bytes between samples (default 32768)
  --prefix PREFIX      writes PREFIX.heapprofile and PREFIX.folded (default heap-<UTC time>)
]],
  options = { duration = { "number", 10 }, action = "string", ["sampling-interval"] = { "count", 32768 },
    prefix = "string" },
  writes = true,
  run = function(session, opts)
    local prefix = opts.prefix or ("heap-" .. snapshot.timestamp())
    local r, err, code = sample.run(session, { duration = opts.duration, action = opts.action,
      interval = opts["sampling-interval"], out = prefix, top = 15,
      noClobber = opts["no-clobber"], force = opts.force })
    if not r then return nil, err, code end
    io.write(profile.format_sites(r.sites))
    print("Wrote " .. r.files.heapprofile .. " and " .. r.files.folded)
    return 0
  end,
}, arg))
