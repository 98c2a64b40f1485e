-- Snapshot workflow: (optionally) collect garbage, then stream a heap snapshot
-- to DIR/PREFIX-<UTC timestamp>.heapsnapshot.
--   local snapshot = require "memdbg.workflows.snapshot"
--   local info, err, code = snapshot.run(session, { dir = ".", gc = true })
--   -- info = {path=, bytes=, seconds=, chunks=}
local steps = require("memdbg.workflows.steps")
local files = require("memdbg.util.files")
local core = require("memdbg._core")

local snapshot = {}

--- "20261127-044301Z" (UTC, sortable); "-2", "-3"... within the same second.
local last_stamp, seq = nil, 1
function snapshot.timestamp()
  local s = os.date("!%Y%m%d-%H%M%SZ")
  if s == last_stamp then
    seq = seq + 1
    return s .. "-" .. seq
  end
  last_stamp, seq = s, 1
  return s
end

--- A timestamped file name in dir: DIR/PREFIX-20261127-044301Z.heapsnapshot
function snapshot.name(dir, prefix, ext)
  return string.format("%s/%s-%s.%s", dir or ".", prefix or "heap", snapshot.timestamp(), ext or "heapsnapshot")
end

--- destination(opts) -> path, clobber | nil, message, code: opts.path
--- checked, or a new timestamped name in opts.dir (made 0700 if missing),
--- which must never replace anything. Runs before the runtime is asked anything.
function snapshot.destination(opts, prefix)
  if opts.path then
    local clobber = { noClobber = opts.noClobber, force = opts.force }
    local ok, err, code = files.checkDestination(opts.path, clobber)
    if not ok then return nil, err, code end
    return opts.path, clobber
  end
  local dir = opts.dir or "."
  local ok, err, code = files.checkDirectory(dir)
  if not ok then return nil, err, code end
  ok, err, code = files.mkdir(dir)
  if not ok then return nil, err, code end
  local path = snapshot.name(dir, prefix or opts.prefix)
  while core.fileKind(path) ~= false do path = snapshot.name(dir, prefix or opts.prefix) end
  return path, { noClobber = true }
end

--- run(session, {path=, dir=".", prefix="heap", noClobber=, force=, gc=false, traffic=fn,
---   onProgress=fn(done,total), onBytes=fn(bytes), timeout=30, keepPartial=})
--- The destination is checked (memdbg.util.files) before the runtime is asked anything.
function snapshot.run(session, opts)
  opts = opts or {}
  local path, clobber, dcode = snapshot.destination(opts)
  if not path then return nil, clobber, dcode end
  if opts.gc then
    local ok, err, code = steps.collect(session, opts.gcRounds or 1, opts.traffic)
    if not ok then return nil, err, code end
  end
  local info, err, code = session.memory:takeHeapSnapshot {
    path = path,
    noClobber = clobber.noClobber,
    force = clobber.force,
    onProgress = opts.onProgress,
    onBytes = opts.onBytes,
    timeout = opts.timeout,
    keepPartial = opts.keepPartial,
    whileWaiting = opts.traffic,
  }
  if info then files.noteCreated(info.path) end
  return info, err, code
end

return snapshot
