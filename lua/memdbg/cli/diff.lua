-- memdbg diff BASE FILE [--top N] [--json]: what changed per class between two
-- snapshots of one process (objects matched by node id), as DevTools' Comparison.
local frame = require("memdbg.cli.frame")
local format = require("memdbg.util.format")
local json = require("memdbg.util.json")
local snapfile = require("memdbg.cli.snapfile")

return frame.command {
  name = "diff", connect = false, positional = true,
  help = [[
usage: memdbg diff BASE FILE [--top N] [--raw] [--json]
Compares two heap snapshots of the same process: per class, objects only in
FILE (new), only in BASE (deleted), and the sizes allocated and freed. Node
ids only match within one profiling session of one process: when they were
renumbered (snapshots from two `memdbg snapshot` runs: shared ids name
objects of other classes), the classes are compared by count and size
instead, and the output says so ("matchedBy": "class"; "id" otherwise).
  --top N              show only the N classes with the largest size delta (default 50; 0 for all)
]] .. snapfile.RAW_HELP .. [[
  --json               {"matchedBy": "id"|"class", "classes": [{"name", "new", "deleted", "delta",
                       "allocSize", "freedSize", "sizeDelta", "location"}]} (bytes; location where the
                       class is split by its constructor's)
]],
  exits = "0 ok, 2 usage error, 3 unreadable or malformed file.\n",
  options = { top = { "count", 50 }, raw = "flag" },
  check = function(_, pos)
    if #pos ~= 2 then return "expects BASE and FILE (see --help)" end
  end,
  run = function(_, opts, pos)
    local base, err, code = snapfile.load(pos[1], opts.raw)
    if not base then return nil, err, code end
    local snap
    snap, err, code = snapfile.load(pos[2], opts.raw)
    if not snap then
      base:close()
      return nil, err, code
    end
    local rows, how = snap:diff(base)
    if opts.top > 0 and #rows > opts.top then
      for i = #rows, opts.top + 1, -1 do rows[i] = nil end
    end
    if opts.json then
      frame.print_json { matchedBy = how.matchedBy, classes = json.array(rows) }
    else
      local arrow = " " .. format.ARROW .. " "
      io.stdout:write(string.format("%s%s%s: %d%s%d nodes\n", pos[1], arrow, pos[2], base.nodeCount, arrow,
        snap.nodeCount))
      if how.matchedBy == "class" then
        io.stdout:write(string.format("The node ids were renumbered (%d of the %d ids the two share name objects of "
          .. "another type or name: two profiling sessions), so objects cannot be matched: classes are compared by "
          .. "count and size. Take both snapshots in one session (one Lua session, or `memdbg leaks`) to see new "
          .. "and deleted objects.\n", how.disagreeingIds, how.sharedIds))
      end
      io.stdout:write("\n")
      io.stdout:write(format.table({
        { title = "Class", key = "name", align = "left", max = 60 },
        { title = "# New", key = "new" },
        { title = "# Deleted", key = "deleted" },
        { title = "# Delta", key = "delta", format = format.signed },
        { title = "Alloc. Size", key = "allocSize", format = format.bytes },
        { title = "Freed Size", key = "freedSize", format = format.bytes },
        { title = "Size Delta", key = "sizeDelta", format = format.signed_bytes },
        { title = "Location", key = "location", align = "left", max = 60, format = format.where },
      }, rows))
    end
    snap:close()
    base:close()
    return 0
  end,
}
