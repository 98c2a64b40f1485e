-- Every object of a class, and why each is alive: who holds it, which object frees it.
--   lua5.4 docs/examples/why-alive.lua FILE.heapsnapshot CLASS   (LUA_PATH/LUA_CPATH as for memdbg)
local heap = require "memdbg.analysis.heap"
local snap = assert(heap.load(arg[1]))
local ids, total = snap:instances(arg[2])
print(("%d %s objects"):format(total, arg[2]))
for _, id in ipairs(ids) do
  local n = snap:node(id)
  -- who holds it directly, and which object would free it
  local holders = {}
  for _, r in ipairs(snap:retainers(id)) do
    holders[#holders + 1] = ("%s (%s) from %s @%d"):format(r.name, r.type, snap:node(r.from).className, r.from)
  end
  local dom = snap:node(snap:dominator(id))
  print(("@%d  retained %d B  at %s:%d  held by: %s;  freed with %s @%d"):format(id, n.retainedSize,
    n.location.url, n.location.line, table.concat(holders, ", "), dom.className, dom.id))
end
snap:close()
