-- memdbg verify: check that memory is released after cleanup.
local frame = require("memdbg.cli.frame")
local workflow = require("memdbg.workflows.verify_cleanup")

return frame.command {
  name = "verify",
  help = [[
usage: memdbg verify --allocate EXPR --cleanup EXPR [-e URL] [--gc-rounds N]
                     [--tolerance PCT] [--json]
Measures the heap, evaluates the allocate expression, measures, evaluates the
cleanup expression, collects garbage N times (default 3) and measures again.
Memory counts as released when what stays is at most PCT% (default 10) of what
the allocate step added (and at least 256 KiB of slack). Exits 1 when it was not released.
  --allocate EXPR      JavaScript that allocates (awaiting a promise)
  --cleanup EXPR       JavaScript that should release it
  --gc-rounds N        collections before each measurement (default 3)
  --tolerance PCT      what may stay, in percent of what was allocated (default 10)
  --json               {"released", "before", "afterAllocate", "afterCleanup", "allocated",
                       "retained", "tolerance"} (bytes)
]],
  options = { allocate = "string", cleanup = "string", ["gc-rounds"] = { "count", 3 }, tolerance = { "number", 10 } },
  check = function(opts)
    if not opts.allocate then return "--allocate EXPR is required" end
    if not opts.cleanup then return "--cleanup EXPR is required" end
    if opts.tolerance < 0 then return "--tolerance must be >= 0" end
    if opts["gc-rounds"] < 1 then return "--gc-rounds must be at least 1" end
  end,
  run = function(session, opts)
    local r, err, code = workflow.run(session, { allocate = opts.allocate, cleanup = opts.cleanup,
      gcRounds = opts["gc-rounds"], tolerance = opts.tolerance / 100 })
    if not r then return nil, err, code end
    if opts.json then
      frame.print_json { released = r.released, before = r.before, afterAllocate = r.allocated,
        afterCleanup = r.after, allocated = r.grew, retained = r.retained, tolerance = r.tolerance }
    else
      io.write(workflow.format(r))
    end
    return r.released and 0 or 1
  end,
}
