#!/usr/bin/env lua5.4
-- Three-snapshot leak hunt: GC + baseline snapshot, action, GC + target,
-- action again, GC + final; the native heap engine groups what leaked.
--   lua5.4 scripts/detect-leak.lua --endpoint http://127.0.0.1:9229 --action 'handleRequests(1000)'
-- Without --action it runs the Lua function `action` below: edit it to drive
-- your app (HTTP requests, a test scenario...). `traffic` runs while waiting
-- on GC and snapshots (workers that only collect while they serve requests).
-- Copy it anywhere: memdbg comes from the Lua paths (README, "Install with
-- LuaRocks": eval "$(luarocks path ...)"; in a checkout: eval "$(make -s paths)").

local frame = require("memdbg.cli.frame")
local detect_leak = require("memdbg.workflows.detect_leak")

-- edit me: the scenario that might leak, when no --action is given
local function action(session)
  assert(session.memory:evaluate("typeof handleRequests === 'function' ? handleRequests(100) : 0"))
end

-- edit me: e.g. os.execute("curl -s http://127.0.0.1:8787/ >/dev/null")
local traffic = nil

os.exit(frame.script({
  help = [[
usage: lua5.4 scripts/detect-leak.lua [-e URL] [--action EXPR] [--dir DIR]
  --action EXPR        JavaScript to repeat (default: the Lua function `action` in this script)
  --dir DIR            where the three snapshots go (default a new private temp dir)
]],
  options = { action = "string", dir = "string" },
  run = function(session, opts)
    local report, err, code = detect_leak.run(session, {
      action = opts.action or action,
      traffic = traffic,
      dir = opts.dir,
      onStep = function(step, detail) io.stderr:write("-- ", step, " ", tostring(detail or ""), "\n") end,
    })
    if not report then return nil, err, code end
    io.write(detect_leak.format(report, 10))
    return #report.leaks > 0 and 1 or 0
  end,
}, arg))
