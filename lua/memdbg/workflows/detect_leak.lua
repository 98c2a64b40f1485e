-- Detect-leak workflow (three snapshots):
--   GC, baseline snapshot; run the action; GC, target snapshot; run the action
--   again; GC, final snapshot. Objects allocated by the first action and still
--   alive at the end are grouped by what holds them (the nearest object the
--   baseline already had: the Map, the listener list, the timer list) and by
--   class by the native heap engine (heap.findLeaks); groups the second action
--   did not grow are left out.
--   local detect_leak = require "memdbg.workflows.detect_leak"
--   local report, err, code = detect_leak.run(session, {
--     action = "handleRequests(1000)",   -- or function(session) ... end
--     traffic = function() end,           -- called while waiting on GC / snapshots
--     trackAllocations = true,            -- allocation stacks per group
--   })
--   -- report = {dir=, snapshots = {a, b, c}, leaks = {group, ...}, grown = {...}}
--   --   group = {class, count, growth = {first, second}, grown, retainedSize, nested,
--   --            retainerPath = {...}, signature, location = {url, line, column} | nil,
--   --            holder = {class, id, retainerPath = {...}, edges = {baseline, target, final}},
--   --            allocationStack = {frames = {{functionName, url, line, column}, ...}, share} | nil}
--   --   and on Chromium detached = {{name=, count=, retainedSize=}, ...} (detached DOM nodes at the end)
local steps = require("memdbg.workflows.steps")
local files = require("memdbg.util.files")
local format = require("memdbg.util.format")
local json = require("memdbg.util.json")
local snapshot = require("memdbg.workflows.snapshot")
local actions = require("memdbg.workflows.actions")
local noise = require("memdbg.workflows.leak_noise")

local detect_leak = {}

--- run(session, {action=fn|expr | actionCommand="sh cmd" | actionHttp={url, requests=100,
---   concurrency=8, method=, body=} | duration=s, allowRemote=, actionTimeout=300
---   (workflows/actions.lua), sampling=true (no snapshots: workflows/sampling_leak.lua),
---   traffic=fn, dir=, gcRounds=2, timeout=30,
---   onStep=fn(step, detail), onProgress=fn(done, total), analyse=true,
---   trackAllocations=false (track allocations from the baseline to the final
---   snapshot: each group gets its allocation stack)})
function detect_leak.run(session, opts)
  opts = opts or {}
  if opts.sampling then return require("memdbg.workflows.sampling_leak").run(session, opts) end
  -- the action: an expression, a Lua function, a command, HTTP requests (workflows/actions.lua)
  local act, aerr = actions.from(opts)
  if not act then error("detect_leak.run: " .. aerr, 2) end
  if opts.traffic ~= nil and type(opts.traffic) ~= "function" then
    error("detect_leak.run: traffic must be a function", 2)
  end
  local step = opts.onStep or function() end
  local dir = opts.dir
  if dir then
    local ok, err, code = files.checkDirectory(dir) -- EPATH: "", a device, a file
    if ok then ok, err, code = files.mkdir(dir) end
    if not ok then return nil, err, code end
  else
    local err, code
    dir, err, code = files.tempdir("memdbg-leaks")
    if not dir then return nil, err, code end
  end
  local report = { dir = dir, snapshots = json.array(), leaks = json.array(), actions = json.array() }
  -- Warm up what evaluating an expression creates once (the inspector's
  -- promise plumbing), so that it is in the baseline, not a "leak".
  if act.kind == "expression" then session.memory:evaluate("void 0", { awaitPromise = true }) end
  local names = { "baseline", "target", "final" }
  local tracking = false
  local function stop_tracking()
    if tracking then
      tracking = false
      pcall(session.sendCommand, session, { method = "HeapProfiler.stopTrackingHeapObjects",
        params = { reportProgress = false } })
    end
  end
  for i, name in ipairs(names) do
    if i > 1 then
      step("action", i - 1)
      local done, err, code = actions.run(session, act, { timeout = opts.actionTimeout, traffic = opts.traffic })
      if not done then stop_tracking() return nil, err, code, report end
      report.actions[i - 1] = done
    end
    step("gc", name)
    local ok, err, code = steps.collect(session, opts.gcRounds or 2, opts.traffic)
    if not ok then stop_tracking() return nil, err, code, report end
    step("snapshot", name)
    local info
    local o = {
      path = snapshot.name(dir, string.format("%d-%s", i, name)),
      onProgress = opts.onProgress,
      onBytes = opts.onBytes,
      timeout = opts.timeout,
      traffic = opts.traffic,
      whileWaiting = opts.traffic,
    }
    if tracking and i == #names then
      -- the final snapshot is the one that ends tracking: it carries the allocation traces
      tracking = false
      o.sites = false -- the groups' allocationStack comes from the analysis, not these
      info, err, code = session.memory:stopTrackingAllocations(o)
    else
      info, err, code = snapshot.run(session, o)
    end
    if not info then stop_tracking() return nil, err, code, report end
    if i == 1 and opts.trackAllocations then
      ok, err, code = session.memory:startTrackingAllocations { trackAllocations = true }
      if not ok then return nil, err, code, report end
      tracking = true
    end
    report.snapshots[i] = info.path
    report.bytes = (report.bytes or 0) + info.bytes
  end
  if opts.analyse == false then return report end
  step("analyse")
  local okh, heap = pcall(require, "memdbg.analysis.heap")
  if not okh then
    return nil, "the native heap engine (memdbg.analysis.heap) is not available: " .. tostring(heap), "EUNSUPPORTED",
      report
  end
  local leaks, info, code = heap.findLeaks {
    baseline = report.snapshots[1], target = report.snapshots[2], final = report.snapshots[3],
    onProgress = opts.onAnalyseProgress,
  }
  if not leaks then return nil, info, code, report end
  for i, g in ipairs(leaks) do report.leaks[i] = detect_leak.group(g) end
  -- runtime-internal growth (resource-timing buffers, code caches, the
  -- inspector's own) never tops the report: workflows/leak_noise.lua
  noise.demote(report.leaks)
  local grown = detect_leak.grown(info.classes)
  if #grown > 0 then
    noise.demote(grown)
    report.grown = grown
  end
  -- Chromium: the detached DOM nodes (detachedness 2) of the final snapshot,
  -- per class, as report.detached = {{name=, count=, retainedSize=}, ...}.
  if session.runtime == "chrome" then
    local snap = heap.load(report.snapshots[3])
    if snap then
      local d = snap:detached()
      snap:close()
      if #d > 0 then
        table.sort(d, function(x, y) return x.count > y.count or (x.count == y.count and x.name < y.name) end)
        report.detached = json.array(d)
      end
    end
  end
  return report
end

--- One group of heap.findLeaks as the report carries it (arrays marked for JSON).
function detect_leak.group(g)
  local h = g.holder
  local stack = g.allocationStack
  if stack then stack = { frames = json.array(stack.frames), share = stack.share } end
  return {
    class = g.class,
    count = g.count,
    growth = json.array { g.growth[1], g.growth[2] },
    grown = g.grown, -- as many again allocated by the second action and alive
    retainedSize = g.retainedSize,
    exampleId = g.exampleId, -- the member with the largest retained size (ids of the final snapshot)
    retainerPath = json.array(g.retainerPath or {}),
    nested = g.nested, -- held inside another group's objects: sizes overlap
    signature = g.signature,
    location = g.location, -- nil: null in JSON
    holder = { class = h.class, id = h.id, retainerPath = json.array(h.retainerPath),
      edges = json.array { h.edges[1], h.edges[2], h.edges[3] }, growing = h.growing },
    allocationStack = stack,
  }
end

--- The program's classes both actions left objects of (V8's own "(...)" and
--- "system / ..." classes left out), largest size first, at most `top`:
--- {{class=, count=, size=, rounds={first, second}}, ...}
function detect_leak.grown(classes, top)
  local out = json.array()
  for _, c in ipairs(classes or {}) do
    if not c.class:match("^%(") and not c.class:match("^system / ") then
      out[#out + 1] = { class = c.class, count = c.first + c.second, size = c.size,
        rounds = json.array { c.first, c.second } }
      if #out >= (top or 20) then break end
    end
  end
  return out
end

local function where(loc)
  if not loc then return nil end
  return format.where(loc)
end

-- A long path keeps its first and last steps.
local function path_lines(out, label, path)
  if not path or #path == 0 then return end
  out[#out + 1] = string.format("    %-9s %s\n", label, path[1])
  for j = 2, #path do
    if #path > 12 and j == 4 then
      out[#out + 1] = string.format("              ... %d more steps ...\n", #path - 10)
    elseif #path <= 12 or j < 4 or j > #path - 7 then
      out[#out + 1] = "              " .. format.ARROW .. " " .. tostring(path[j]) .. "\n"
    end
  end
end

-- What the CI gate and the noise rules said of a group, for its line.
function detect_leak.mark(g)
  if g.runtimeInternal then return " [runtime-internal: " .. tostring(g.runtimeInternal) .. "]" end
  if g.ignored then return " [known: in the ignore file]" end
  if g.belowMaxGrowth then return " [below --max-growth]" end
  return ""
end

--- The leak groups as text: what leaked, where it was made, what holds it and
--- how the holder is reached. Used by `memdbg leaks` and `memdbg find-leaks`.
function detect_leak.format_groups(groups, top)
  local out = {}
  if #groups == 0 then
    return "No leaks found: nothing allocated by the action stayed alive and grew.\n"
  end
  out[#out + 1] = string.format("%d leak group%s (the program's own classes first, then by retained size):\n",
    #groups, #groups == 1 and "" or "s")
  for i, g in ipairs(groups) do
    if top and top > 0 and i > top then
      out[#out + 1] = string.format("  ... and %d more (--top 0 shows all)\n", #groups - top)
      break
    end
    local growth = g.growth or { g.count, g.grown }
    out[#out + 1] = string.format("\n%2d. %s: %d objects, %s retained (+%d after the first action, +%d after the second)%s%s\n",
      i, tostring(g.class), g.count or 0, format.bytes(g.retainedSize), growth[1] or 0, growth[2] or 0,
      g.nested and ", held inside another group's objects" or "", detect_leak.mark(g))
    out[#out + 1] = string.format("    %-9s %s\n", "made at", where(g.location) or "(no source location in the snapshot)")
    local h = g.holder
    if h then
      local e = h.edges or {}
      local arrow = " " .. format.ARROW .. " "
      local edges = (e[1] and e[2] and e[3]) and string.format(", edges %d%s%d%s%d%s", e[1], arrow, e[2], arrow, e[3],
        h.growing and " (grew after each action)" or "") or ""
      out[#out + 1] = string.format("    %-9s %s @%s%s\n", "held by", tostring(h.class), tostring(h.id), edges)
      path_lines(out, "holder", h.retainerPath)
    end
    -- the path from the holder on (its way from a GC root is just above)
    local path, hp = g.retainerPath, h and h.retainerPath or {}
    local shared = 0
    while shared < #hp and path[shared + 1] == hp[shared + 1] do shared = shared + 1 end
    if shared > 0 and shared == #hp then
      local rest = { "(the holder) " .. tostring(h.class) .. " @" .. tostring(h.id) }
      for j = shared + 1, #path do rest[#rest + 1] = path[j] end
      path = rest
    end
    path_lines(out, "path", path)
    local st = g.allocationStack
    if st and st.frames and #st.frames > 0 then
      out[#out + 1] = string.format("    %-9s %d%% of them at:\n", "allocated", math.floor((st.share or 0) * 100 + 0.5))
      for j, f in ipairs(st.frames) do
        if j > 8 then break end
        out[#out + 1] = string.format("              %s (%s)\n", f.functionName ~= "" and f.functionName or "(anonymous)",
          format.where(f))
      end
    end
    if g.signature then out[#out + 1] = string.format("    %-9s %s\n", "signature", g.signature) end
  end
  return table.concat(out)
end

--- A human report of the leak hunt: the groups, the classes that grew, detached DOM nodes.
function detect_leak.format(report, top)
  local out = { detect_leak.format_groups(report.leaks, top) }
  if report.grown and #report.grown > 0 then
    out[#out + 1] = "\nClasses each run of the action left objects of, alive at the end:\n"
    for i, g in ipairs(report.grown) do
      if i > (top or 10) then break end
      out[#out + 1] = string.format("    %s: %d objects (%d, then %d), %s shallow\n", tostring(g.class), g.count,
        g.rounds[1], g.rounds[2], format.bytes(g.size))
    end
  end
  if report.detached and #report.detached > 0 then
    out[#out + 1] = "\nDetached DOM nodes in the final snapshot:\n"
    for _, d in ipairs(report.detached) do
      -- DevTools' class names already say "Detached <div>" (raw ones do not)
      local name = tostring(d.name)
      if name:sub(1, 9) ~= "Detached " then name = "Detached " .. name end
      out[#out + 1] = string.format("    %s: %d nodes, %s retained\n", name, d.count or 0,
        format.bytes(d.retainedSize))
    end
  end
  out[#out + 1] = "\nSnapshots: " .. table.concat(report.snapshots, " ") .. "\n"
  return table.concat(out)
end

return detect_leak
