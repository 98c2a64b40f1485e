#!/usr/bin/env lua5.4
-- Watch a runtime's heap: print "Heap: U MiB / T MiB" every interval, alert near
-- the heap limit (or grows after GC, --gc-every N), save the series as CSV and an SVG plot.
--   lua5.4 scripts/monitor.lua --endpoint http://127.0.0.1:9229 --duration 60 --csv heap.csv --svg heap.svg
-- Copy this file and edit the alert below (page someone, take a snapshot...).
-- Copy it anywhere: memdbg comes from the Lua paths (README, "Install with
-- LuaRocks": eval "$(luarocks path ...)"; in a checkout: eval "$(make -s paths)").

local frame = require("memdbg.cli.frame")
local format = require("memdbg.util.format")
local monitor = require("memdbg.workflows.monitor")

os.exit(frame.script({
  help = [[
usage: lua5.4 scripts/monitor.lua [-e URL] [--interval S] [--duration S | --count N]
                                  [--threshold PCT] [--gc-every N] [--csv FILE] [--svg FILE] [--timeout S]
                                  [--force | --no-clobber]
]],
  options = { interval = { "number", 1 }, duration = "number", count = "count", threshold = { "number", 90 },
    ["gc-every"] = "count", csv = "string", svg = "string", timeout = { "number", 10 } },
  writes = true,
  run = function(session, opts)
    local result, err, code = monitor.run(session, {
      interval = opts.interval, duration = opts.duration, count = opts.count, timeout = opts.timeout,
      threshold = opts.threshold / 100, gcEvery = opts["gc-every"], csv = opts.csv, svg = opts.svg,
      keepSamples = false, noClobber = opts["no-clobber"], force = opts.force,
      onAlert = function(sample, alert)
        -- edit me: what to do when a rule fires (alert.rule is "limit" or "trend")
        io.stderr:write(string.format("ALERT (%s) at %.1f s: %s\n", alert.rule, sample.t, alert.message))
      end,
    })
    if not result then return nil, err, code end
    print(string.format("%d samples, peak %s, %d alerts, %d gaps", result.count,
      result.peak and format.bytes(result.peak.usedSize) or "-", result.alerts, result.gaps))
    return result.alerts > 0 and 1 or 0
  end,
}, arg))
