-- Loading snapshot files for the file subcommands (summary, diff, retainers,
-- top, find-leaks): a progress bar on a terminal, and failures mapped to the
-- CLI's exit code 3 with the engine's message (which names the byte offset).
local heap = require "memdbg.heap"
local out = require "memdbg.cli.output"

local snapfile = {}

snapfile.EXIT_FILE = 3

--- load(path) -> snap | nil, exit_code (the message is already on stderr)
function snapfile.load(path)
  local bar = out.progress("loading " .. path)
  local snap, err, code = heap.load(path, { onProgress = bar.active and bar.callback or nil })
  bar.finish()
  if not snap then
    return nil, out.die(snapfile.EXIT_FILE, "%s (%s)", err, code)
  end
  return snap
end

return snapfile
