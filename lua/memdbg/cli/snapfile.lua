-- Loading snapshot files for the file subcommands (summary, diff, retainers,
-- top, find-leaks): a progress bar on a terminal, and failures mapped to the
-- CLI's exit code 3 with the engine's message (which names the byte offset).
local heap = require "memdbg.analysis.heap"
local out = require "memdbg.cli.output"

local snapfile = {}

snapfile.EXIT_FILE = 3

--- the --raw option's help line, shared by the file subcommands
snapfile.RAW_HELP = "  --raw     V8's own self sizes and node names, not DevTools' attributed view\n"

--- "url:line:column" of a location table, or ""
function snapfile.where(loc)
  if not loc then return "" end
  return string.format("%s:%d:%d", loc.url or ("script " .. loc.scriptId), loc.line, loc.column)
end

--- load(path[, raw]) -> snap | nil, exit_code (the message is already on stderr)
function snapfile.load(path, raw)
  local bar = out.progress("loading " .. path)
  local snap, err, code = heap.load(path, { onProgress = bar.active and bar.callback or nil, raw = raw })
  bar.finish()
  if not snap then
    return nil, out.die(snapfile.EXIT_FILE, "%s (%s)", err, code)
  end
  return snap
end

return snapfile
