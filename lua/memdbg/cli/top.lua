-- memdbg top FILE [--top N] [--json]: the objects that retain the most memory.
local frame = require("memdbg.cli.frame")
local format = require("memdbg.util.format")
local json = require("memdbg.util.json")
local snapfile = require("memdbg.cli.snapfile")

return frame.command {
  name = "top", connect = false, positional = true,
  help = [[
usage: memdbg top FILE [--top N] [--raw] [--json]
Lists the N objects with the largest retained size (memory freed if that one
object went away), excluding the root and synthetic nodes, with where each
was defined (functions) or constructed (objects: the constructor's source).
  --top N              how many (default 20)
]] .. snapfile.RAW_HELP .. [[
  --json               {"objects": [{"id", "name", "className", "type", "selfSize", "retainedSize",
                       "distance", "location": {"url", "line", "column", "scriptId"}, ...}]} (bytes)
]],
  exits = "0 ok, 2 usage error, 3 unreadable or malformed file.\n",
  options = { top = { "count", 20 }, raw = "flag" },
  check = function(_, pos)
    if #pos ~= 1 then return "expects one snapshot FILE (see --help)" end
  end,
  run = function(_, opts, pos)
    local snap, err, code = snapfile.load(pos[1], opts.raw)
    if not snap then return nil, err, code end
    local rows = snap:top { n = opts.top }
    snap:close()
    if opts.json then
      frame.print_json { objects = json.array(rows) }
      return 0
    end
    for i, r in ipairs(rows) do r.rank = i end
    io.stdout:write(format.table({
      { title = "#", key = "rank" },
      { title = "Retained", key = "retainedSize", format = format.bytes },
      { title = "Self", key = "selfSize", format = format.bytes },
      { title = "Class", key = "className", align = "left", max = 40 },
      { title = "Id", key = "id", format = function(v) return "@" .. string.format("%d", v) end, align = "left" },
      { title = "Name", key = "name", align = "left", max = 50,
        format = function(v, r) return v ~= r.className and v or "" end },
      { title = "Location", key = "location", align = "left", max = 60, format = format.where },
    }, rows))
    return 0
  end,
}
