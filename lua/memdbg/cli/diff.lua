-- memdbg diff BASE FILE [--top N] [--json]: what changed per class between two
-- snapshots of one process (objects matched by node id), as DevTools' Comparison.
local args = require "memdbg.cli.args"
local out = require "memdbg.cli.output"
local snapfile = require "memdbg.cli.snapfile"

local M = {}

M.help = [[
usage: memdbg diff BASE FILE [--top N] [--raw] [--json]

Compares two heap snapshots of the same process: per class, objects only in
FILE (new), only in BASE (deleted), and the sizes allocated and freed. Node
ids only match within one profiling session of one process: when they were
renumbered (snapshots from two `memdbg snapshot` runs: shared ids name
objects of other classes), the classes are compared by count and size
instead, and the output says so ("matchedBy": "class"; "id" otherwise).
  --top N   show only the N classes with the largest size delta (default 50; 0 for all)
]] .. snapfile.RAW_HELP .. [[
  --json    one JSON document: {"matchedBy":"id"|"class","classes":[{"name","new","deleted","delta",
            "allocSize","freedSize","sizeDelta","location"}]} (location where the class is split by its
            constructor's)
Exit codes: 0 ok, 2 usage error, 3 unreadable or malformed file.
]]

function M.run(argv)
  local opts, pos = args.parse(argv, { top = { "count", 50 }, json = "flag", raw = "flag" }, M.help)
  if #pos ~= 2 then args.usage_error("expects BASE and FILE (see --help)") end
  local base, code = snapfile.load(pos[1], opts.raw)
  if not base then return code end
  local snap
  snap, code = snapfile.load(pos[2], opts.raw)
  if not snap then
    base:close()
    return code
  end
  local rows, how = snap:diff(base)
  if opts.top and opts.top > 0 and #rows > opts.top then
    for i = #rows, opts.top + 1, -1 do rows[i] = nil end
  end
  if opts.json then
    out.json { matchedBy = how.matchedBy, classes = out.array(rows) }
  else
    io.stdout:write(string.format("%s -> %s: %d -> %d nodes\n", pos[1], pos[2], base.nodeCount, snap.nodeCount))
    if how.matchedBy == "class" then
      io.stdout:write(string.format("The node ids were renumbered (%d of the %d ids the two share name objects of another "
        .. "type or name: two profiling sessions), so objects cannot be matched: classes are compared by count and "
        .. "size. Take both snapshots in one session (one Lua session, or `memdbg leaks`) to see new and deleted "
        .. "objects.\n", how.disagreeingIds, how.sharedIds))
    end
    io.stdout:write("\n")
    io.stdout:write(out.table({
      { title = "Class", key = "name", align = "left", max = 60 },
      { title = "# New", key = "new" },
      { title = "# Deleted", key = "deleted" },
      { title = "# Delta", key = "delta", format = out.signed },
      { title = "Alloc. Size", key = "allocSize", format = out.bytes },
      { title = "Freed Size", key = "freedSize", format = out.bytes },
      { title = "Size Delta", key = "sizeDelta",
        format = function(v) return (v > 0 and "+" or "") .. out.bytes(v) end },
      { title = "Location", key = "location", align = "left", max = 60, format = snapfile.where },
    }, rows))
  end
  snap:close()
  base:close()
  return 0
end

return M
