-- memdbg top FILE [--n N] [--json]: the objects that retain the most memory.
local args = require "memdbg.cli.args"
local out = require "memdbg.cli.output"
local snapfile = require "memdbg.cli.snapfile"

local M = {}

M.help = [[
usage: memdbg top FILE [--n N] [--raw] [--json]

Lists the N objects with the largest retained size (memory freed if that one
object went away), excluding the root and synthetic nodes, with where each
was defined (functions) or constructed (objects: the constructor's source).
  --n N     how many (default 20)
]] .. snapfile.RAW_HELP .. [[
  --json    one JSON document: {"objects":[{"id","name","className","type","selfSize","retainedSize","distance",
            "location":{"url","line","column","scriptId"},...}]}
Exit codes: 0 ok, 2 usage error, 3 unreadable or malformed file.
]]

function M.run(argv)
  local opts, pos = args.parse(argv, { n = { "count", 20 }, json = "flag", raw = "flag" }, M.help)
  if #pos ~= 1 then args.usage_error("expects one snapshot FILE (see --help)") end
  if opts.n < 0 or opts.n ~= math.floor(opts.n) then args.usage_error("--n must be a non-negative integer") end
  local snap, code = snapfile.load(pos[1], opts.raw)
  if not snap then return code end
  local rows = snap:top { n = math.floor(opts.n) }
  snap:close()
  if opts.json then
    out.json { objects = out.array(rows) }
    return 0
  end
  for i, r in ipairs(rows) do r.rank = i end
  io.stdout:write(out.table({
    { title = "#", key = "rank" },
    { title = "Retained", key = "retainedSize", format = out.bytes },
    { title = "Self", key = "selfSize", format = out.bytes },
    { title = "Class", key = "className", align = "left", max = 40 },
    { title = "Id", key = "id", format = function(v) return "@" .. string.format("%d", v) end, align = "left" },
    { title = "Name", key = "name", align = "left", max = 50,
      format = function(v, r) return v ~= r.className and v or "" end },
    { title = "Location", key = "location", align = "left", max = 60, format = snapfile.where },
  }, rows))
  return 0
end

return M
