-- memdbg find-leaks BASELINE TARGET FINAL [--top N] [--json]: MemLab's
-- three-snapshot method: objects allocated between BASELINE and TARGET that
-- are still alive in FINAL, grouped by class and retainer path.
local frame = require("memdbg.cli.frame")
local format = require("memdbg.util.format")
local json = require("memdbg.util.json")
local heap = require("memdbg.analysis.heap")
local detect_leak = require("memdbg.workflows.detect_leak")

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
  --top N              show only the N first groups (default 20; 0 for all)
  --raw                V8's own self sizes and node names, not DevTools' attributed view
  --json               {"snapshots": [a, b, c], "leaks": [{"class", "count", "growth": [first, second],
                       "retainedSize", "retainerPath": [...], "grown", "nested", "signature",
                       "location": {"url", "line", "column"} | null, "holder": {"class", "id",
                       "retainerPath": [...], "edges": [baseline, target, final]}, "allocationStack":
                       {"frames": [{"functionName", "url", "line", "column"}], "share"} (tracked only)}]}
                       (bytes)
]]

M.def = {
  name = "find-leaks", connect = false, positional = true, help = M.help,
  exits = "0 no leak found, 1 leaks found, 2 usage error, 3 unreadable, malformed or\nmismatched (EIDS) files.\n",
  options = { top = { "count", 20 }, raw = "flag" },
  check = function(_, pos)
    if #pos ~= 3 then return "expects BASELINE, TARGET and FINAL snapshot files (see --help)" end
  end,
  run = function(_, opts, pos)
    local bar = format.progress("finding leaks")
    local groups, err, code = heap.findLeaks { baseline = pos[1], target = pos[2], final = pos[3],
      onProgress = bar.active and bar.callback or nil, raw = opts.raw }
    bar.finish()
    if not groups then
      if code == "EIDS" then
        err = err .. "\n  take the three snapshots in one session: `memdbg leaks --action EXPR`, or "
          .. "detect_leak.run in one Lua session"
      end
      return nil, err, code
    end
    local total = #groups
    local leaks = json.array()
    for i, g in ipairs(groups) do leaks[i] = detect_leak.group(g) end
    if opts.json then
      if opts.top > 0 then
        for i = #leaks, opts.top + 1, -1 do leaks[i] = nil end
      end
      for _, g in ipairs(leaks) do
        if g.location == nil then g.location = json.null end
      end
      frame.print_json { snapshots = json.array { pos[1], pos[2], pos[3] }, leaks = leaks }
    else
      io.stdout:write(string.format("Objects created after %s and still alive in %s:\n", pos[1], pos[3]))
      io.stdout:write(detect_leak.format_groups(leaks, opts.top))
    end
    return total > 0 and 1 or 0
  end,
}

return frame.command(M.def)
