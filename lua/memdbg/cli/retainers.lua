-- memdbg retainers FILE ID [--json]: the shortest retainer path from a GC root
-- to node @ID (weak edges skipped), i.e. why the object is still alive.
local frame = require("memdbg.cli.frame")
local args = require("memdbg.cli.args")
local format = require("memdbg.util.format")
local json = require("memdbg.util.json")
local snapfile = require("memdbg.cli.snapfile")

-- One line a step, each deeper than the one before.
local function path_lines(path, indent)
  local out = {}
  for i, step in ipairs(path) do
    out[#out + 1] = string.format("%s%s%s%s\n", indent, string.rep("  ", i - 1), step.text,
      step.location and "  (" .. format.where(step.location) .. ")" or "")
  end
  return table.concat(out)
end

return frame.command {
  name = "retainers", connect = false, positional = true,
  help = [[
usage: memdbg retainers FILE ID [--raw] [--json]
Prints the shortest path of references from a GC root to the node with id ID
(as shown by DevTools or `memdbg top`), skipping weak references, with the
source location of each function and object on it.
]] .. snapfile.RAW_HELP .. [[
  --json               {"node": {...}, "reachable", "path": [{"text", "id", "name", "className", "type",
                       "edge", "edgeType", "location"}]} (bytes)
]],
  exits = "0 ok, 1 node unreachable, 2 usage error (or no such node), 3 unreadable or malformed file.\n",
  options = { raw = "flag" },
  check = function(opts, pos)
    if #pos ~= 2 then return "expects FILE and a node ID (see --help)" end
    local id, err = args.integer((pos[2]:gsub("^@", "")), "the node ID", 0, 4294967295) -- V8 and JSC ids are 32-bit
    if not id then return err end
    opts.id = id
  end,
  run = function(_, opts, pos)
    local snap, err, code = snapfile.load(pos[1], opts.raw)
    if not snap then return nil, err, code end
    local node, nerr, ncode = snap:node(opts.id)
    if not node then
      snap:close()
      return nil, nerr, ncode, frame.EXIT_USAGE
    end
    local path, perr = snap:retainerPath(opts.id)
    snap:close()
    if opts.json then
      frame.print_json { node = node, path = json.array(path or {}), reachable = path ~= nil }
      return path and 0 or 1
    end
    if not path then
      io.stdout:write(perr, "\n")
      return 1
    end
    io.stdout:write(string.format("%s @%d: self %s, retained %s, distance %s%s\n\n", node.className, node.id,
      format.bytes(node.selfSize), format.bytes(node.retainedSize), tostring(node.distance or "-"),
      node.location and ", at " .. format.where(node.location) or ""))
    io.stdout:write(path_lines(path, ""))
    return 0
  end,
}
