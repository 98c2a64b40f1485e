-- Detect-leak workflow (three snapshots):
--   GC, baseline snapshot; run the action; GC, target snapshot; run the action
--   again; GC, final snapshot. Objects allocated by the first action and still
--   alive at the end (and grown by the second) are the leak candidates, grouped
--   by class by the native heap engine (heap.findLeaks).
--   local detect_leak = require "memdbg.workflows.detect_leak"
--   local report, err, code = detect_leak.run(session, {
--     action = "handleRequests(1000)",   -- or function(session) ... end
--     traffic = function() end,           -- called while waiting on GC / snapshots
--   })
--   -- report = {dir=, snapshots = {a, b, c}, leaks = {{class=, count=, retainedSize=, retainerPath={...}}, ...}}
--   --   and on Chromium detached = {{name=, count=, retainedSize=}, ...} (detached DOM nodes at the end)
local common = require("memdbg.workflows.common")
local snapshot = require("memdbg.workflows.snapshot")

local detect_leak = {}

--- run(session, {action=fn|expr, traffic=fn, dir=, gcRounds=2, timeout=30,
---   onStep=fn(step, detail), onProgress=fn(done, total), analyse=true,
---   classGrowth=true (also diff the snapshots per class: report.grown)})
function detect_leak.run(session, opts)
  opts = opts or {}
  if type(opts.action) ~= "function" and type(opts.action) ~= "string" then
    error("detect_leak.run: action must be a Lua function or a JavaScript expression", 2)
  end
  if opts.traffic ~= nil and type(opts.traffic) ~= "function" then
    error("detect_leak.run: traffic must be a function", 2)
  end
  local step = opts.onStep or function() end
  local dir = opts.dir
  if dir then
    local ok, err, code = common.mkdir(dir)
    if not ok then return nil, err, code end
  else
    local err, code
    dir, err, code = common.tempdir("memdbg-leaks")
    if not dir then return nil, err, code end
  end
  local report = { dir = dir, snapshots = common.array(), leaks = common.array() }
  -- Warm up what evaluating an expression creates once (the inspector's
  -- promise plumbing), so that it is in the baseline, not a "leak".
  if type(opts.action) == "string" then session.memory:evaluate("void 0", { awaitPromise = true }) end
  local names = { "baseline", "target", "final" }
  for i, name in ipairs(names) do
    if i > 1 then
      step("action", i - 1)
      local ok, err, code = common.run_action(session, opts.action, "action")
      if ok == nil then return nil, err, code, report end
    end
    step("gc", name)
    local ok, err, code = common.collect(session, opts.gcRounds or 2, opts.traffic)
    if not ok then return nil, err, code, report end
    step("snapshot", name)
    local info
    info, err, code = snapshot.run(session, {
      path = snapshot.name(dir, string.format("%d-%s", i, name)),
      onProgress = opts.onProgress,
      onBytes = opts.onBytes,
      timeout = opts.timeout,
      traffic = opts.traffic,
    })
    if not info then return nil, err, code, report end
    report.snapshots[i] = info.path
    report.bytes = (report.bytes or 0) + info.bytes
  end
  if opts.analyse == false then return report end
  step("analyse")
  local okh, heap = pcall(require, "memdbg.heap")
  if not okh then return nil, "the native heap engine (memdbg.heap) is not available: " .. tostring(heap), "EUNSUPPORTED", report end
  local leaks, err, code = heap.findLeaks {
    baseline = report.snapshots[1], target = report.snapshots[2], final = report.snapshots[3],
    onProgress = opts.onAnalyseProgress,
  }
  if not leaks then return nil, err, code, report end
  for i, g in ipairs(leaks) do
    report.leaks[i] = {
      class = g.class,
      count = g.count,
      retainedSize = g.retainedSize,
      retainerPath = common.array(g.retainerPath or {}),
      grown = g.grown,   -- as many again allocated by the second action and alive
      nested = g.nested, -- held inside another group's objects: sizes overlap
    }
  end
  -- the engine's order: retained size, then holders before what they hold
  table.sort(report.leaks, function(a, b)
    if (a.retainedSize or 0) ~= (b.retainedSize or 0) then return (a.retainedSize or 0) > (b.retainedSize or 0) end
    if a.nested ~= b.nested then return not a.nested end
    return (a.count or 0) > (b.count or 0)
  end)
  -- Chromium: the detached DOM nodes (detachedness 2) of the final snapshot,
  -- per class, as report.detached = {{name=, count=, retainedSize=}, ...}.
  if session.runtime == "chrome" then
    local snap = heap.load(report.snapshots[3])
    if snap then
      local d = snap:detached()
      snap:close()
      if #d > 0 then
        table.sort(d, function(x, y) return x.count > y.count or (x.count == y.count and x.name < y.name) end)
        report.detached = common.array(d)
      end
    end
  end
  -- Classes that grew in both rounds. findLeaks groups leaked objects under
  -- their dominator, which names the container (a listener list's head
  -- "Object") rather than what piles up in it (LeakyListener); the per-class
  -- diffs name that. report.grown = {{class=, count=, size=, rounds={n1, n2}}, ...}
  if opts.classGrowth ~= false then
    local grown = detect_leak.class_growth(heap, report.snapshots)
    if grown and #grown > 0 then report.grown = grown end
  end
  return report
end

--- Program classes whose object count grew from baseline to target and again
--- (by at least half as much) from target to final, largest size growth first
--- (at most two snapshots are loaded at a time). Returns an array or nil, msg, code.
function detect_leak.class_growth(heap, paths, top)
  local a, err, code = heap.load(paths[1])
  if not a then return nil, err, code end
  local b
  b, err, code = heap.load(paths[2])
  if not b then a:close() return nil, err, code end
  local first = {}
  for _, row in ipairs(b:diff(a)) do first[row.name] = row end
  a:close()
  local c
  c, err, code = heap.load(paths[3])
  if not c then b:close() return nil, err, code end
  local out = common.array()
  for _, row in ipairs(c:diff(b)) do
    local r1 = first[row.name]
    -- program classes only (not V8's "(compiled code)", "(system)", "system / ..."),
    -- growing again by at least half as much (JIT warm-up and caches fade)
    local program = not row.name:match("^%(") and not row.name:match("^system / ")
    if program and r1 and (r1.delta or 0) > 0 and (row.delta or 0) > 0 and row.delta * 2 >= r1.delta then
      out[#out + 1] = { class = row.name, count = r1.delta + row.delta,
        size = (r1.sizeDelta or 0) + (row.sizeDelta or 0), rounds = common.array { r1.delta, row.delta } }
    end
  end
  b:close()
  c:close()
  table.sort(out, function(x, y)
    if x.size ~= y.size then return x.size > y.size end
    return x.class < y.class
  end)
  top = top or 20
  for i = #out, top + 1, -1 do out[i] = nil end
  return out
end

--- A human report of the leak groups.
function detect_leak.format(report, top)
  local out = {}
  if #report.leaks == 0 then
    out[#out + 1] = "No leaks found: nothing allocated by the action stayed alive and grew.\n"
  else
    out[#out + 1] = string.format("%d leak group%s (largest first):\n", #report.leaks, #report.leaks == 1 and "" or "s")
    for i, g in ipairs(report.leaks) do
      if top and i > top then
        out[#out + 1] = string.format("  ... and %d more\n", #report.leaks - top)
        break
      end
      out[#out + 1] = string.format("%2d. %s: %d objects, %s retained%s%s\n", i, tostring(g.class), g.count or 0,
        common.bytes(g.retainedSize), g.grown and string.format(", +%d more after the second run", g.grown) or "",
        g.nested and " (held inside another group above)" or "")
      local path = g.retainerPath
      if path and #path > 0 then
        -- one step a line, from the GC root down; a long chain (a linked
        -- list of listeners) keeps its first and last steps
        out[#out + 1] = "    retainer path (GC root first):\n"
        for j, stepText in ipairs(path) do
          if #path > 12 and j == 6 then
            out[#out + 1] = string.format("      ... %d more steps ...\n", #path - 10)
          elseif #path <= 12 or j < 6 or j > #path - 5 then
            out[#out + 1] = "      " .. (j > 1 and "-> " or "") .. tostring(stepText) .. "\n"
          end
        end
      end
    end
  end
  if report.grown and #report.grown > 0 then
    out[#out + 1] = "Classes that grew after each run of the action:\n"
    for i, g in ipairs(report.grown) do
      if i > (top or 10) then break end
      out[#out + 1] = string.format("    %s: +%d objects (%d, then %d), %s%s shallow\n", tostring(g.class), g.count,
        g.rounds[1], g.rounds[2], g.size >= 0 and "+" or "", common.bytes(g.size))
    end
  end
  if report.detached and #report.detached > 0 then
    out[#out + 1] = "Detached DOM nodes in the final snapshot:\n"
    for _, d in ipairs(report.detached) do
      out[#out + 1] = string.format("    Detached %s: %d nodes, %s retained\n", tostring(d.name), d.count or 0,
        common.bytes(d.retainedSize))
    end
  end
  out[#out + 1] = "Snapshots: " .. table.concat(report.snapshots, " ") .. "\n"
  return table.concat(out)
end

return detect_leak
