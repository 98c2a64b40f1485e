-- memdbg's full load of one snapshot, the side of bench/analyze that
-- MemLab's getFullHeapFromFile is timed against: parse, graph, dominators,
-- retained sizes, distances (heap.load does all of it), then the per-class
-- summary. Prints one JSON line {nodes, edges, classes}; bench/analyze
-- times the whole process with /usr/bin/time, as it does MemLab's.
--   lua5.4 bench/analyze-memdbg.lua FILE
local root = (arg[0]:match("^(.*)/bench/[^/]*$") or ".")
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("MEMDBG_BUILD") or (root .. "/build/lua5.4")) .. "/?.so;" .. package.cpath
local heap = require "memdbg.analysis.heap"

local file = arg[1]
if not file then
  io.stderr:write("usage: lua5.4 bench/analyze-memdbg.lua FILE\n")
  os.exit(2)
end
local snap, err = heap.load(file)
if not snap then
  io.stderr:write(err, "\n")
  os.exit(1)
end
local rows = snap:summary {}
io.write(string.format('{"nodes":%d,"edges":%d,"classes":%d}\n', snap.nodeCount, snap.edgeCount, #rows))
snap:close()
