-- Loading snapshot files for the file subcommands (summary, diff, retainers,
-- top, instances): a progress bar on a terminal; a failure is the engine's
-- message (which names the byte offset) and code, exit 3.
local heap = require("memdbg.analysis.heap")
local format = require("memdbg.util.format")

local snapfile = {}

--- the --raw option's help line, shared by the file subcommands
snapfile.RAW_HELP = "  --raw                V8's own self sizes and node names, not DevTools' attributed view\n"

--- load(path[, raw]) -> snap | nil, message, code
function snapfile.load(path, raw)
  local bar = format.progress("loading " .. path)
  local snap, err, code = heap.load(path, { onProgress = bar.active and bar.callback or nil, raw = raw })
  bar.finish()
  return snap, err, code
end

return snapfile
