-- Sample-profile workflow: run the sampling heap profiler for a duration or
-- around an action, then save .heapprofile and folded stacks and list the top
-- allocation sites.
--   local sample = require "memdbg.workflows.sample_profile"
--   local r = sample.run(session, { duration = 10, out = "alloc" })
--   -- r = {profile=, sites=, files = {heapprofile=, folded=}}
local steps = require("memdbg.workflows.steps")
local profile = require("memdbg.analysis.profile")

local sample = {}

--- run(session, {interval=32768, duration=, action=fn|expr, out=PREFIX, top=20 (0: all), traffic=fn,
---   includeCollected=false, noClobber=, force=})
--- PREFIX.heapprofile and PREFIX.folded replace existing files only as
--- memdbg.util.files allows (memdbg's own; any with force; none with noClobber).
--- With an action the profile covers it; otherwise `duration` seconds (default 10).
--- By default the profile holds what is still alive at the end (DevTools'
--- "allocation sampling"); includeCollected keeps what GC freed meanwhile too.
function sample.run(session, opts)
  opts = opts or {}
  local clobber = { noClobber = opts.noClobber, force = opts.force }
  if opts.out then -- checked before the runtime is asked anything
    for _, ext in ipairs { ".heapprofile", ".folded" } do
      local okd, derr, dcode = require("memdbg.util.files").checkDestination(opts.out .. ext, clobber)
      if not okd then return nil, derr, dcode end
    end
  end
  local ok, err, code = session.memory:startSamplingHeapProfiler {
    samplingInterval = opts.interval or 32768,
    includeObjectsCollectedByMajorGC = opts.includeCollected or nil,
    includeObjectsCollectedByMinorGC = opts.includeCollected or nil,
  }
  if not ok then return nil, err, code end
  if opts.action then
    ok, err, code = steps.run_action(session, opts.action, "action")
    if ok == nil then
      session.memory:stopSamplingHeapProfiler()
      return nil, err, code
    end
  else
    local duration = opts.duration or 10
    local deadline = require("memdbg._core").now() + duration
    local core = require("memdbg._core")
    while core.now() < deadline do
      local traffic = opts.traffic or session.traffic -- session.traffic: the CLI's --traffic
      if traffic then traffic() end
      if opts.onTick then opts.onTick(duration - (deadline - core.now()), duration) end
      ok, err, code = session:poll(math.min(0.25, math.max(0, deadline - core.now())))
      if not ok then return nil, err, code end
    end
  end
  local p
  p, err, code = session.memory:stopSamplingHeapProfiler()
  if not p then return nil, err, code end
  local top = opts.top or 20
  if top == 0 then top = nil end -- 0: every site
  local r = { profile = p, sites = profile.top_sites(p, top), files = {} }
  if opts.out then
    local hp, fo = opts.out .. ".heapprofile", opts.out .. ".folded"
    ok, err, code = profile.save_heapprofile(p, hp, clobber)
    if not ok then return nil, err, code end
    ok, err, code = profile.save_folded(p, fo, clobber)
    if not ok then return nil, err, code end
    r.files = { heapprofile = hp, folded = fo }
  end
  local total = 0
  for _, s in ipairs(p.samples) do total = total + (s.size or 0) end
  r.sampledBytes, r.sampleCount = total, #p.samples
  return r
end

return sample
