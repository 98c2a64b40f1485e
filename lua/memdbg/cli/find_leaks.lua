-- memdbg find-leaks BASELINE TARGET FINAL [--top N] [--json]: MemLab's
-- three-snapshot method: objects allocated between BASELINE and TARGET that
-- are still alive in FINAL, grouped by class and retainer path.
local args = require "memdbg.cli.args"
local heap = require "memdbg.heap"
local out = require "memdbg.cli.output"

local M = {}

M.help = [[
usage: memdbg find-leaks BASELINE TARGET FINAL [--top N] [--json]

BASELINE is taken before an action, TARGET after it, FINAL after repeating
(or undoing) it; all three from the same process. Reports the objects created
between BASELINE and TARGET that FINAL still holds, grouped by class and by
the shape of their retainer path, largest retained size first.
  --top N   show only the N largest groups (default 20; 0 for all)
  --json    one JSON document: {"snapshots":[a,b,c],"leaks":[{"class","count","retainedSize","retainerPath":[...]}]}
Exit codes: 0 no leak found, 1 leaks found, 2 usage error, 3 unreadable or malformed file.
]]

function M.run(argv)
  local opts, pos = args.parse(argv, { top = { "number", 20 }, json = "flag" }, M.help)
  if #pos ~= 3 then args.usage_error("expects BASELINE, TARGET and FINAL snapshot files (see --help)") end
  local bar = out.progress("finding leaks")
  local groups, err, code = heap.findLeaks { baseline = pos[1], target = pos[2], final = pos[3],
    onProgress = bar.active and bar.callback or nil }
  bar.finish()
  if not groups then return out.die(3, "%s (%s)", err, code) end
  local total = #groups
  if opts.top and opts.top > 0 then
    for i = #groups, opts.top + 1, -1 do groups[i] = nil end
  end
  if opts.json then
    local leaks = {}
    for i, g in ipairs(groups) do
      leaks[i] = { class = g.class, count = g.count, retainedSize = g.retainedSize,
        retainerPath = out.array(g.retainerPath), grown = g.grown, nested = g.nested }
    end
    out.json { snapshots = out.array { pos[1], pos[2], pos[3] }, leaks = out.array(leaks) }
  elseif total == 0 then
    io.stdout:write("no leaks: nothing allocated between the first two snapshots survives in the third\n")
  else
    io.stdout:write(string.format("%d leak group%s (objects created after %s, still alive in %s)\n", total,
      total == 1 and "" or "s", pos[1], pos[3]))
    for i, g in ipairs(groups) do
      io.stdout:write(string.format("\n#%d  %s  x%d  retained %s\n", i, g.class, g.count, out.bytes(g.retainedSize)))
      for k, step in ipairs(g.retainerPath) do
        io.stdout:write("    ", string.rep("  ", k - 1), step, "\n")
      end
    end
  end
  return total > 0 and 1 or 0
end

return M
