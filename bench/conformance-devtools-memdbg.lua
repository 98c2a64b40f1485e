-- memdbg's side of bench/conformance-devtools.mjs: loads FILE and writes
-- its per-node columns (id, self, retained, distance, dominator, class: one
-- native-endian value per node, u32 or f64) to OUT.<column>, and the
-- classes (one "name\tscript,line,column|-" per line) to OUT.classes, and
-- the summary's retained size per class key to OUT.summary.
--   lua5.4 bench/conformance-devtools-memdbg.lua FILE OUT
local root = (arg[0]:match("^(.*)/bench/[^/]*$") or ".")
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("MEMDBG_BUILD") or (root .. "/build/lua5.4")) .. "/?.so;" .. package.cpath
local heap = require "memdbg.analysis.heap"

local file, out = arg[1], arg[2]
local snap, err = heap.load(file)
if not snap then
  io.stderr:write(err, "\n")
  os.exit(1)
end
local cols, names, locs = snap._ud:_columns()
for k, v in pairs(cols) do
  local f = assert(io.open(out .. "." .. k, "wb"))
  f:write(v)
  f:close()
end
local f = assert(io.open(out .. ".classes", "wb"))
for i, name in ipairs(names) do
  f:write((name:gsub("[\t\n]", " ")), "\t", locs[i] and table.concat(locs[i], ",") or "-", "\n")
end
f:close()
-- the summary's retained sizes by DevTools' class key ("script,line,column,name", 0-based, or ",name")
f = assert(io.open(out .. ".summary", "wb"))
for _, r in ipairs(snap:summary { top = 0 }) do
  local l = r.location
  local key = (l and string.format("%d,%d,%d,", l.scriptId, l.line - 1, l.column - 1) or ",") .. r.name
  f:write((key:gsub("[\t\n]", " ")), "\t", string.format("%d", r.retainedSize), "\n")
end
f:close()
snap:close()
