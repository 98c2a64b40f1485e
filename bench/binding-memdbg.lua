-- The heap binding's calls, timed one by one (not a test): what moving the
-- analyses into the engine and the text into heap.lua may cost (issue 14).
--   lua5.4 bench/binding-memdbg.lua TRACKING.heapsnapshot PAGE.heapsnapshot SNAPSHOT CLASS [N]
-- TRACKING: a snapshot taken with allocation tracking (node --track-heap-objects
-- bench/gen-snapshot.js OUT 60); PAGE: a Chromium page with detached nodes
-- (bench/programs/big-dom.html); SNAPSHOT and CLASS: retainer paths of N (20000)
-- instances of CLASS (bench/gen-leak-snapshots.js's c.heapsnapshot, Child).
-- Best of 7 each. Run it from two checkouts (eval "$(make -s paths)" in each),
-- alternating, to compare them.
local heap = require "memdbg.analysis.heap"
local core = require "memdbg._core"

local tracking, page, file, class = arg[1], arg[2], arg[3], arg[4]
if not (tracking and page and file and class) then
  io.stderr:write("usage: lua5.4 bench/binding-memdbg.lua TRACKING PAGE SNAPSHOT CLASS [N]\n")
  os.exit(2)
end
local function best(f)
  local b = math.huge
  for _ = 1, 7 do
    local t = core.now()
    f()
    b = math.min(b, core.now() - t)
  end
  return b
end

local snap = assert(heap.load(tracking))
print(string.format("%-28s %9.2f ms  (%d sites)", "snap:allocationSites()",
  best(function() snap:allocationSites() end) * 1e3, #snap:allocationSites()))
print(string.format("%-28s %9.2f ms  (%d functions)", "snap:allocationFunctions()",
  best(function() snap:allocationFunctions() end) * 1e3, #snap:allocationFunctions()))
snap:close()
print(string.format("%-28s %9.2f ms  (load included)", "heap.trackingSites(path)",
  best(function() assert(heap.trackingSites(tracking)) end) * 1e3))

snap = assert(heap.load(page))
print(string.format("%-28s %9.2f ms  (%d nodes, %d classes)", "snap:detached()",
  best(function() snap:detached() end) * 1e3, snap.nodeCount, #snap:detached()))
snap:close()

snap = assert(heap.load(file))
local ids = snap:instances(class, { limit = tonumber(arg[5]) or 20000 })
local steps = 0
for _, id in ipairs(ids) do steps = steps + #(snap:retainerPath(id) or {}) end
local s = best(function() for _, id in ipairs(ids) do snap:retainerPath(id) end end)
print(string.format("%-28s %9.2f ms  (%d paths, %d steps: %.2f us a step)", "snap:retainerPath(id)", s * 1e3,
  #ids, steps, s / steps * 1e6))
snap:close()
