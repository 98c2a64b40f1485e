-- memdbg summary FILE [--top N] [--json]: objects per class (count, shallow
-- and retained size), largest retained size first, as DevTools' Summary.
local frame = require("memdbg.cli.frame")
local format = require("memdbg.util.format")
local json = require("memdbg.util.json")
local snapfile = require("memdbg.cli.snapfile")

return frame.command {
  name = "summary", connect = false, positional = true,
  help = [[
usage: memdbg summary FILE [--top N] [--raw] [--json]
Summarises a heap snapshot (V8 .heapsnapshot or JSC/Bun) by class: number of
objects, shallow size and retained size, largest retained size first, with
Chrome DevTools' numbers and class names (objects whose constructors share a
name are split by the constructor's source location, shown beside them).
  --top N              show only the N largest classes (default 50; 0 for all)
]] .. snapfile.RAW_HELP .. [[
  --json               {"nodeCount", "edgeCount", "classes": [{"name", "count", "shallowSize",
                       "retainedSize", "distance", "location": {"url", "line", "column", "scriptId"}}]}
                       (bytes; distance and location only where there is one)
]],
  exits = "0 ok, 2 usage error, 3 unreadable or malformed file.\n",
  options = { top = { "count", 50 }, raw = "flag" },
  check = function(_, pos)
    if #pos ~= 1 then return "expects one snapshot FILE (see --help)" end
  end,
  run = function(_, opts, pos)
    local snap, err, code = snapfile.load(pos[1], opts.raw)
    if not snap then return nil, err, code end
    local rows = snap:summary { top = opts.top }
    if opts.json then
      local classes = json.array()
      for i, r in ipairs(rows) do
        classes[i] = { name = r.name, count = r.count, shallowSize = r.shallowSize, retainedSize = r.retainedSize,
          distance = r.distance, location = r.location }
      end
      frame.print_json { nodeCount = snap.nodeCount, edgeCount = snap.edgeCount, classes = classes }
    else
      io.stdout:write(string.format("%s: %d nodes, %d edges, %s total (%s)\n\n", pos[1], snap.nodeCount,
        snap.edgeCount, format.bytes(snap.totalSize), snap.format))
      io.stdout:write(format.table({
        { title = "Class", key = "name", align = "left", max = 60 },
        { title = "Count", key = "count" },
        { title = "Shallow", key = "shallowSize", format = format.bytes },
        { title = "Retained", key = "retainedSize", format = format.bytes },
        { title = "Location", key = "location", align = "left", max = 60, format = format.where },
      }, rows))
    end
    snap:close()
    return 0
  end,
}
