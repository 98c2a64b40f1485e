-- Snapshot workflow: (optionally) collect garbage, then stream a heap snapshot
-- to DIR/PREFIX-<UTC timestamp>.heapsnapshot.
--   local snapshot = require "memdbg.workflows.snapshot"
--   local info, err, code = snapshot.run(session, { dir = ".", gc = true })
--   -- info = {path=, bytes=, seconds=, chunks=}
local common = require("memdbg.workflows.common")

local snapshot = {}

--- A timestamped file name in dir: DIR/PREFIX-20261127-044301-123.heapsnapshot
function snapshot.name(dir, prefix, ext)
  return string.format("%s/%s-%s.%s", dir or ".", prefix or "heap", common.timestamp(), ext or "heapsnapshot")
end

--- run(session, {path=, dir=".", prefix="heap", gc=false, traffic=fn,
---   onProgress=fn(done,total), onBytes=fn(bytes), timeout=30, keepPartial=})
function snapshot.run(session, opts)
  opts = opts or {}
  if opts.gc then
    local ok, err, code = common.collect(session, opts.gcRounds or 1, opts.traffic)
    if not ok then return nil, err, code end
  end
  local path = opts.path
  if not path then
    local dir = opts.dir or "."
    local ok, err, code = common.mkdir(dir)
    if not ok then return nil, err, code end
    path = snapshot.name(dir, opts.prefix)
  end
  return session.memory:takeHeapSnapshot {
    path = path,
    onProgress = opts.onProgress,
    onBytes = opts.onBytes,
    timeout = opts.timeout,
    keepPartial = opts.keepPartial,
    whileWaiting = opts.traffic,
  }
end

return snapshot
