-- memdbg verify: check that memory is released after cleanup.
local common = require("memdbg.workflows.common")
local workflow = require("memdbg.workflows.verify_cleanup")
local M = {}

M.help = [[
usage: memdbg verify --allocate EXPR --cleanup EXPR [--endpoint URL] [--gc-rounds N]
                     [--tolerance PCT] [--json]
Measures the heap, evaluates the allocate expression, measures, evaluates the
cleanup expression, collects garbage N times (default 3) and measures again.
Memory counts as released when what stays is at most PCT% (default 10) of what
the allocate step added (and at least 256 KB of slack). Exits 1 when it was not released.
]]

function M.run(argv)
  return common.command({
    name = "verify", help = M.help,
    options = { allocate = "string", cleanup = "string", ["gc-rounds"] = { "count", 3 }, tolerance = { "number", 10 } },
    check = function(opts)
      local args = require("memdbg.cli.args")
      if not opts.allocate then args.usage_error("--allocate EXPR is required") end
      if not opts.cleanup then args.usage_error("--cleanup EXPR is required") end
      if opts.tolerance < 0 then args.usage_error("--tolerance must be >= 0") end
    end,
    run = function(session, opts)
      local r, err, code = workflow.run(session, { allocate = opts.allocate, cleanup = opts.cleanup,
        gcRounds = opts["gc-rounds"], tolerance = opts.tolerance / 100 })
      if not r then return nil, err, code end
      if opts.json then
        common.print_json { released = r.released, before = r.before, afterAllocate = r.allocated,
          afterCleanup = r.after, allocated = r.grew, retained = r.retained, tolerance = r.tolerance }
      else
        io.write(workflow.format(r))
      end
      return r.released and 0 or 1
    end,
  }, argv)
end

return M
