-- memdbg summary FILE [--top N] [--json]: objects per class (count, shallow
-- and retained size), largest retained size first, as DevTools' Summary.
local args = require "memdbg.cli.args"
local out = require "memdbg.cli.output"
local snapfile = require "memdbg.cli.snapfile"

local M = {}

M.help = [[
usage: memdbg summary FILE [--top N] [--raw] [--json]

Summarises a heap snapshot (V8 .heapsnapshot or JSC/Bun) by class: number of
objects, shallow size and retained size, largest retained size first, with
Chrome DevTools' numbers and class names (objects whose constructors share a
name are split by the constructor's source location, shown beside them).
  --top N   show only the N largest classes (default 50; 0 for all)
]] .. snapfile.RAW_HELP .. [[
  --json    one JSON document: {"nodeCount","edgeCount","classes":[{"name","count","shallowSize",
            "retainedSize","distance","location":{"url","line","column","scriptId"}}]}
            (distance and location only where there is one)
Exit codes: 0 ok, 2 usage error, 3 unreadable or malformed file.
]]

function M.run(argv)
  local opts, pos = args.parse(argv, { top = { "count", 50 }, json = "flag", raw = "flag" }, M.help)
  if #pos ~= 1 then args.usage_error("expects one snapshot FILE (see --help)") end
  local snap, code = snapfile.load(pos[1], opts.raw)
  if not snap then return code end
  local rows = snap:summary { top = opts.top }
  if opts.json then
    local classes = {}
    for i, r in ipairs(rows) do
      classes[i] = { name = r.name, count = r.count, shallowSize = r.shallowSize, retainedSize = r.retainedSize,
        distance = r.distance, location = r.location }
    end
    out.json { nodeCount = snap.nodeCount, edgeCount = snap.edgeCount, classes = out.array(classes) }
  else
    io.stdout:write(string.format("%s: %d nodes, %d edges, %s total (%s)\n\n", pos[1], snap.nodeCount,
      snap.edgeCount, out.bytes(snap.totalSize), snap.format))
    io.stdout:write(out.table({
      { title = "Class", key = "name", align = "left", max = 60 },
      { title = "Count", key = "count" },
      { title = "Shallow", key = "shallowSize", format = out.bytes },
      { title = "Retained", key = "retainedSize", format = out.bytes },
      { title = "Location", key = "location", align = "left", max = 60, format = snapfile.where },
    }, rows))
  end
  snap:close()
  return 0
end

return M
