-- memdbg leaks: three-snapshot leak hunt around an action.
local common = require("memdbg.workflows.common")
local workflow = require("memdbg.workflows.detect_leak")
local M = {}

M.help = [[
usage: memdbg leaks --action EXPR [--endpoint URL] [--dir DIR] [--gc-rounds N] [--top N]
                    [--timeout S] [--track-allocations] [--keep] [--json]
GC and baseline snapshot; evaluate EXPR in the target (awaiting a promise);
GC and target snapshot; EXPR again; GC and final snapshot. Objects that the
first run of EXPR left alive and the second one grew are grouped by what
holds them (the nearest object the baseline already had: a Map, a listener
list, a timer list) and by class, the program's own classes first: each
group names its class, where its constructor is (file:line:column), its
holder with the holder's edges in the three snapshots and how the holder is
reached from a GC root. --track-allocations also tracks allocations from the
baseline to the final snapshot and shows where each group's objects were
allocated. Classes each run left objects of are listed too ("grown" in
--json). Snapshots go to DIR (default a new private temp dir, kept when leaks
are found or with --keep). Exits 1 when it finds a leak.
]]

function M.run(argv)
  return common.command({
    name = "leaks", help = M.help,
    options = { action = "string", dir = "string", ["gc-rounds"] = { "number", 2 }, top = { "number", 10 },
      timeout = { "number", 30 }, keep = "flag",
      ["track-allocations"] = "flag" },
    check = function(opts)
      local args = require("memdbg.cli.args")
      if not opts.action or opts.action == "" then args.usage_error("--action EXPR is required") end
      if opts["gc-rounds"] < 1 then args.usage_error("--gc-rounds must be at least 1") end
    end,
    run = function(session, opts)
      local update, finish = function() end, function() end
      local step = 0
      local report, err, code, partial = workflow.run(session, {
        action = opts.action, dir = opts.dir, gcRounds = opts["gc-rounds"], timeout = opts.timeout,
        trackAllocations = opts["track-allocations"],
        onStep = function(what, detail)
          finish()
          if not opts.json and common.stderr_is_tty() then
            step = step + 1
            io.stderr:write(string.format("[%d] %s %s\n", step, what, detail or ""))
          end
          if what == "snapshot" then update, finish = common.progress(detail .. " snapshot", not opts.json) end
        end,
        onProgress = function(d, t) update(d, t) end,
        onBytes = function(b) update(b) end,
      })
      finish()
      if not report then
        -- a failed hunt leaves nothing behind in a temp dir of its own
        if partial and partial.dir and not opts.dir and not opts.keep then
          for _, p in ipairs(partial.snapshots or {}) do os.remove(p) end
          os.remove(partial.dir)
        end
        return nil, err, code
      end
      local found = #report.leaks > 0
      local remove = not found and not opts.keep and not opts.dir
      if opts.json then
        local json = require("memdbg.json")
        for _, g in ipairs(report.leaks) do
          if g.location == nil then g.location = json.null end
        end
        common.print_json { snapshots = report.snapshots, leaks = report.leaks, detached = report.detached,
          grown = report.grown }
      else
        io.write(workflow.format(report, opts.top))
        if remove then print("(the snapshots were removed as nothing leaked; --keep keeps them)") end
      end
      if remove then
        for _, p in ipairs(report.snapshots) do os.remove(p) end
        os.remove(report.dir)
      end
      return found and 1 or 0
    end,
  }, argv)
end

return M
