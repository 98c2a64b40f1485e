-- memdbg find-leaks BASELINE TARGET FINAL [--top N] [--json]: MemLab's
-- three-snapshot method: objects allocated between BASELINE and TARGET that
-- are still alive in FINAL, grouped by class and retainer path.
local args = require "memdbg.cli.args"
local heap = require "memdbg.analysis.heap"
local out = require "memdbg.cli.output"
local detect_leak = require "memdbg.workflows.detect_leak"
local cjson = require "cjson"

local M = {}

M.help = [[
usage: memdbg find-leaks BASELINE TARGET FINAL [--top N] [--raw] [--json]

BASELINE is taken before an action, TARGET after it, FINAL after repeating
(or undoing) it; all three from the same profiling session of one process
(`memdbg leaks` takes them so). Reports the objects created between
BASELINE and TARGET that FINAL still holds, grouped by what holds them (the
nearest object BASELINE already had) and by class, the program's own
classes first, then by retained size; groups the second action did not grow
are left out. Snapshots from separate sessions are refused (EIDS): V8
renumbers objects in each session.
  --top N   show only the N first groups (default 20; 0 for all)
  --raw     V8's own self sizes and node names, not DevTools' attributed view
  --json    one JSON document: {"snapshots":[a,b,c],"leaks":[{"class","count","growth":[first,second],
            "retainedSize","retainerPath":[...],"grown","nested","signature","location":{"url","line",
            "column"}|null,"holder":{"class","id","retainerPath":[...],"edges":[baseline,target,final]},
            "allocationStack":{"frames":[{"functionName","url","line","column"}],"share"} (tracked only)}]}
Exit codes: 0 no leak found, 1 leaks found, 2 usage error, 3 unreadable, malformed or
mismatched (EIDS) files.
]]

function M.run(argv)
  local opts, pos = args.parse(argv, { top = { "count", 20 }, json = "flag", raw = "flag" }, M.help)
  if #pos ~= 3 then args.usage_error("expects BASELINE, TARGET and FINAL snapshot files (see --help)") end
  local bar = out.progress("finding leaks")
  local groups, err, code = heap.findLeaks { baseline = pos[1], target = pos[2], final = pos[3],
    onProgress = bar.active and bar.callback or nil, raw = opts.raw }
  bar.finish()
  if not groups then
    if code == "EIDS" then
      return out.die(3, "%s (%s)\n  take the three snapshots in one session: `memdbg leaks --action EXPR`, or "
        .. "detect_leak.run in one Lua session", err, code)
    end
    return out.die(3, "%s (%s)", err, code)
  end
  local total = #groups
  local leaks = {}
  for i, g in ipairs(groups) do leaks[i] = detect_leak.group(g) end
  if opts.json then
    if opts.top and opts.top > 0 then
      for i = #leaks, opts.top + 1, -1 do leaks[i] = nil end
    end
    for _, g in ipairs(leaks) do
      if g.location == nil then g.location = cjson.null end
    end
    out.json { snapshots = out.array { pos[1], pos[2], pos[3] }, leaks = out.array(leaks) }
  else
    io.stdout:write(string.format("Objects created after %s and still alive in %s:\n", pos[1], pos[3]))
    io.stdout:write(detect_leak.format_groups(leaks, opts.top))
  end
  return total > 0 and 1 or 0
end

return M
