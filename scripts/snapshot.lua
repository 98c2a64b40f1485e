#!/usr/bin/env lua5.4
-- Heap snapshot to a timestamped file: DIR/heap-<UTC time>.heapsnapshot
--   lua5.4 scripts/snapshot.lua --endpoint http://127.0.0.1:9229 --dir snapshots --gc
-- Open it in DevTools > Memory > Load, or analyse it with `memdbg summary FILE`.
-- Copy it anywhere: memdbg comes from the Lua paths (README, "Install with
-- LuaRocks": eval "$(luarocks path ...)"; in a checkout: eval "$(make -s paths)").

local frame = require("memdbg.cli.frame")
local format = require("memdbg.util.format")
local snapshot = require("memdbg.workflows.snapshot")

os.exit(frame.script({
  help = [[
usage: lua5.4 scripts/snapshot.lua [-e URL] [--dir DIR] [--gc] [--timeout S]
  --dir DIR            where the snapshot goes (default .)
  --gc                 collect garbage first
  --timeout S          fail when nothing arrives for S seconds (default 30)
]],
  options = { dir = { "string", "." }, gc = "flag", timeout = { "number", 30 } },
  run = function(session, opts)
    local bar = format.progress("snapshot")
    local info, err, code = snapshot.run(session, { dir = opts.dir, gc = opts.gc, timeout = opts.timeout,
      onProgress = bar.callback, onBytes = function(bytes) bar:update(bytes) end })
    bar.finish()
    if not info then return nil, err, code end
    print(string.format("Wrote %s (%s in %.1f s)", info.path, format.bytes(info.bytes), info.seconds))
    return 0
  end,
}, arg))
