-- memdbg instances FILE CLASS [--limit N] [--raw] [--json]: every object of a
-- class, largest retained size first, each with where it was constructed and
-- why it is alive (its shortest retainer path from a GC root).
local args = require "memdbg.cli.args"
local out = require "memdbg.cli.output"
local snapfile = require "memdbg.cli.snapfile"

local M = {}

M.help = [[
usage: memdbg instances FILE CLASS [--limit N] [--raw] [--json]

Lists the objects of class CLASS (as `memdbg summary` names them: a
constructor name, "Function", "{a, b}", "<div>", "Detached <div>", ...),
largest retained size first, each with its retained and self size, the
source location of its constructor (functions: their own), and its shortest
retainer path from a GC root, weak references skipped.
  --limit N  show only the N largest (default 20; 0 for all)
]] .. snapfile.RAW_HELP .. [[
  --json     one JSON document: {"class","count","instances":[{"id","name","className","type","selfSize",
             "retainedSize","distance","location","retainerPath":[...],"reachable"}]} (count: all of them)
Exit codes: 0 ok, 1 no object of that class, 2 usage error, 3 unreadable or malformed file.
]]

function M.run(argv)
  local opts, pos = args.parse(argv, { limit = { "number", 20 }, json = "flag", raw = "flag" }, M.help)
  if #pos ~= 2 then args.usage_error("expects FILE and a CLASS name (see --help)") end
  if opts.limit < 0 or opts.limit ~= math.floor(opts.limit) then
    args.usage_error("--limit must be a non-negative integer")
  end
  local snap, code = snapfile.load(pos[1], opts.raw)
  if not snap then return code end
  local ids, total = snap:instances(pos[2], { limit = opts.limit })
  local rows = {}
  for i, id in ipairs(ids) do
    local node = snap:node(id)
    local path = snap:retainerPath(id)
    node.reachable = path ~= nil
    node.retainerPath = out.array(path or {})
    rows[i] = node
  end
  snap:close()
  if opts.json then
    out.json { class = pos[2], count = total, instances = out.array(rows) }
    return total > 0 and 0 or 1
  end
  if total == 0 then
    io.stdout:write(string.format("no object of class %s in %s (memdbg summary lists the classes)\n", pos[2], pos[1]))
    return 1
  end
  io.stdout:write(string.format("%d object%s of class %s%s\n", total, total == 1 and "" or "s", pos[2],
    #rows < total and string.format(", the %d largest:", #rows) or ""))
  for i, r in ipairs(rows) do
    io.stdout:write(string.format("\n#%d  @%d  retained %s, self %s, distance %s%s\n", i, r.id, out.bytes(r.retainedSize),
      out.bytes(r.selfSize), tostring(r.distance or "-"), r.location and ", at " .. snapfile.where(r.location) or ""))
    if not r.reachable then io.stdout:write("    not reachable from a GC root without weak references\n") end
    for k, step in ipairs(r.retainerPath) do
      io.stdout:write("    ", string.rep("  ", k - 1), step.text,
        step.location and "  (" .. snapfile.where(step.location) .. ")" or "", "\n")
    end
  end
  return 0
end

return M
