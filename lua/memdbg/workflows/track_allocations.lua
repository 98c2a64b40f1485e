-- Track-allocations workflow: track heap objects with allocation stacks for a
-- duration or around an action, then stream the timeline snapshot (with
-- trace_tree) to a file and summarise its allocation sites.
--   local track = require "memdbg.workflows.track_allocations"
--   local r = track.run(session, { action = "handleRequests(100)", dir = "." })
--   -- r = {path=, bytes=, seconds=, sites = {{functionName, url, line, column, count, self, total,
--   --       liveCount, liveSize}, ...}}
--   io.write(track.format_sites(r.sites))
--
-- A site is a function: what was allocated while it was the top frame
-- (count objects, self bytes; total: while it was anywhere on the stack) and,
-- of that, what is still alive in the timeline snapshot (liveCount objects,
-- liveSize bytes). Lines and columns are 1-based, absent when V8 has none.
local steps = require("memdbg.workflows.steps")
local snapshot = require("memdbg.workflows.snapshot")
local core = require("memdbg._core")
local format = require("memdbg.util.format")

local track = {}

--- run(session, {action=fn|expr, duration=10, path=, dir=".", top=20, traffic=fn,
---   onProgress=, onBytes=, timeout=, sites=true (false: leave the sites to the caller)})
function track.run(session, opts)
  opts = opts or {}
  -- the destination is checked (and a --dir made) before tracking starts
  local path, clobber, dcode = snapshot.destination({ path = opts.path, dir = opts.dir,
    noClobber = opts.noClobber, force = opts.force }, "track")
  if not path then return nil, clobber, dcode end
  local ok, err, code = session.memory:startTrackingAllocations { trackAllocations = true }
  if not ok then return nil, err, code end
  if opts.action then
    ok, err, code = steps.run_action(session, opts.action, "action")
  else
    local duration = opts.duration or 10
    local deadline = core.now() + duration
    ok = true
    while core.now() < deadline do
      local traffic = opts.traffic or session.traffic -- session.traffic: the CLI's --traffic
      if traffic then traffic() end
      if opts.onTick then opts.onTick(duration - (deadline - core.now()), duration) end
      ok, err, code = session:poll(math.min(0.25, math.max(0, deadline - core.now())))
      if not ok then break end
    end
  end
  local aerr, acode = err, code
  local r
  r, err, code = session.memory:stopTrackingAllocations {
    path = path, noClobber = clobber.noClobber, force = clobber.force,
    top = opts.top or 20, sites = opts.sites, onProgress = opts.onProgress,
    onBytes = opts.onBytes,
    timeout = opts.timeout, whileWaiting = opts.traffic,
  }
  if ok == nil then
    if r then os.remove(r.path) end
    return nil, aerr, acode
  end
  if not r then return nil, err, code end
  return r
end

--- format_sites(sites) -> a text table, one row a site.
function track.format_sites(sites)
  return format.table({
    { title = "ALLOCATED", key = "self", align = "right", format = format.bytes },
    { title = "OBJECTS", key = "count", align = "right" },
    { title = "WITH CALLEES", key = "total", align = "right", format = format.bytes },
    { title = "LIVE", key = "liveSize", align = "right", format = format.bytes },
    { title = "LIVE OBJECTS", key = "liveCount", align = "right" },
    { title = "FUNCTION", key = "functionName", align = "left", max = 40 },
    { title = "WHERE", align = "left",
      get = function(s) return (s.url or "") == "" and "(native)" or format.where(s) end },
  }, sites)
end

return track
