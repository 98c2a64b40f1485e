-- memdbg's side of bench/conformance: loads FILE, then answers for every
-- node id listed in IDS (one per line) with snap:node(id), and appends
-- snap:top{n=TOP} and snap:summary{}. Output, one record per line:
--   N id retainedSize dominatorId selfSize distance|-    (or "N id -" when memdbg has no such node)
--   T id retainedSize                                    (snap:top, largest first)
--   C retainedSize count shallowSize className           (snap:summary, every class)
--   lua5.4 bench/conformance-memdbg.lua FILE IDS TOP
local root = (arg[0]:match("^(.*)/bench/[^/]*$") or ".")
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("MEMDBG_BUILD") or (root .. "/build/lua5.4")) .. "/?.so;" .. package.cpath
local heap = require "memdbg.analysis.heap"

local file, ids, top = arg[1], arg[2], tonumber(arg[3] or "100")
local snap, err = heap.load(file, { raw = true }) -- MemLab moves no self sizes and names nodes as V8 does
if not snap then
  io.stderr:write(err, "\n")
  os.exit(1)
end
local out = io.stdout
out:setvbuf("full")
for line in io.lines(ids) do
  local id = math.tointeger(tonumber(line))
  local n = snap:node(id)
  if n then
    out:write("N ", id, " ", n.retainedSize, " ", n.dominatorId or -1, " ", n.selfSize, " ", n.distance or "-", "\n")
  else
    out:write("N ", id, " -\n")
  end
end
for _, n in ipairs(snap:top { n = top }) do out:write("T ", n.id, " ", n.retainedSize, "\n") end
for _, r in ipairs(snap:summary {}) do
  out:write("C ", r.retainedSize, " ", r.count, " ", r.shallowSize, " ", r.name, "\n")
end
snap:close()
