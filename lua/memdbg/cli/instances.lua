-- memdbg instances FILE CLASS [--top N] [--raw] [--json]: every object of a
-- class, largest retained size first, each with where it was constructed and
-- why it is alive (its shortest retainer path from a GC root).
local frame = require("memdbg.cli.frame")
local format = require("memdbg.util.format")
local json = require("memdbg.util.json")
local snapfile = require("memdbg.cli.snapfile")

return frame.command {
  name = "instances", connect = false, positional = true,
  help = [[
usage: memdbg instances FILE CLASS [--top N] [--raw] [--json]
Lists the objects of class CLASS (as `memdbg summary` names them: a
constructor name, "Function", "{a, b}", "<div>", "Detached <div>", ...),
largest retained size first, each with its retained and self size, the
source location of its constructor (functions: their own), and its shortest
retainer path from a GC root, weak references skipped.
  --top N              show only the N largest (default 20; 0 for all)
]] .. snapfile.RAW_HELP .. [[
  --json               {"class", "count", "instances": [{"id", "name", "className", "type", "selfSize",
                       "retainedSize", "distance", "location", "retainerPath": [...], "reachable"}]}
                       (bytes; count: all of them)
]],
  exits = "0 ok, 1 no object of that class, 2 usage error, 3 unreadable or malformed file.\n",
  options = { top = { "count", 20 }, raw = "flag" },
  check = function(_, pos)
    if #pos ~= 2 then return "expects FILE and a CLASS name (see --help)" end
  end,
  run = function(_, opts, pos)
    local snap, err, code = snapfile.load(pos[1], opts.raw)
    if not snap then return nil, err, code end
    local ids, total = snap:instances(pos[2], { limit = opts.top })
    local rows = json.array()
    for i, id in ipairs(ids) do
      local node = snap:node(id)
      local path = snap:retainerPath(id)
      node.reachable = path ~= nil
      node.retainerPath = json.array(path or {})
      rows[i] = node
    end
    snap:close()
    if opts.json then
      frame.print_json { class = pos[2], count = total, instances = rows }
      return total > 0 and 0 or 1
    end
    if total == 0 then
      io.stdout:write(string.format("no object of class %s in %s (memdbg summary lists the classes)\n", pos[2], pos[1]))
      return 1
    end
    io.stdout:write(string.format("%s of class %s%s\n", format.count(total, "object"), pos[2],
      #rows < total and string.format(", the %d largest:", #rows) or ""))
    for i, r in ipairs(rows) do
      io.stdout:write(string.format("\n#%d  @%d  retained %s, self %s, distance %s%s\n", i, r.id,
        format.bytes(r.retainedSize), format.bytes(r.selfSize), tostring(r.distance or "-"),
        r.location and ", at " .. format.where(r.location) or ""))
      if not r.reachable then io.stdout:write("    not reachable from a GC root without weak references\n") end
      for k, step in ipairs(r.retainerPath) do
        io.stdout:write("    ", string.rep("  ", k - 1), step.text,
          step.location and "  (" .. format.where(step.location) .. ")" or "", "\n")
      end
    end
    return 0
  end,
}
