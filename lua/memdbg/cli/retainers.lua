-- memdbg retainers FILE ID [--json]: the shortest retainer path from a GC root
-- to node @ID (weak edges skipped), i.e. why the object is still alive.
local args = require "memdbg.cli.args"
local out = require "memdbg.cli.output"
local snapfile = require "memdbg.cli.snapfile"

local M = {}

M.help = [[
usage: memdbg retainers FILE ID [--raw] [--json]

Prints the shortest path of references from a GC root to the node with id ID
(as shown by DevTools or `memdbg top`), skipping weak references, with the
source location of each function and object on it.
]] .. snapfile.RAW_HELP .. [[
  --json    one JSON document: {"node":{...},"path":[{"text","id","name","className","type","edge","edgeType",
            "location"}]}
Exit codes: 0 ok, 1 node unreachable, 2 usage error (or no such node), 3 unreadable or malformed file.
]]

function M.run(argv)
  local opts, pos = args.parse(argv, { json = "flag", raw = "flag" }, M.help)
  if #pos ~= 2 then args.usage_error("expects FILE and a node ID (see --help)") end
  local id = args.integer((pos[2]:gsub("^@", "")), "the node ID", 0, 4294967295) -- V8 and JSC ids are 32-bit
  local snap, code = snapfile.load(pos[1], opts.raw)
  if not snap then return code end
  local node, err = snap:node(id)
  if not node then
    snap:close()
    return out.die(2, "%s", err)
  end
  local path, perr = snap:retainerPath(id)
  snap:close()
  if opts.json then
    out.json { node = node, path = out.array(path or {}), reachable = path ~= nil }
    return path and 0 or 1
  end
  if not path then
    io.stdout:write(perr, "\n")
    return 1
  end
  io.stdout:write(string.format("%s @%d: self %s, retained %s, distance %s%s\n\n", node.className, node.id,
    out.bytes(node.selfSize), out.bytes(node.retainedSize), tostring(node.distance or "-"),
    node.location and ", at " .. snapfile.where(node.location) or ""))
  for i, step in ipairs(path) do
    io.stdout:write(string.rep("  ", i - 1), step.text, step.location and "  (" .. snapfile.where(step.location) .. ")" or "",
      "\n")
  end
  return 0
end

return M
