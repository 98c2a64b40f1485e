-- memdbg sample: run the sampling heap profiler.
local common = require("memdbg.workflows.common")
local workflow = require("memdbg.workflows.sample_profile")
local profile = require("memdbg.analysis.profile")
local M = {}

M.help = [[
usage: memdbg sample [--endpoint URL] [--duration S | --action EXPR] [--interval BYTES]
                     [--out PREFIX] [--top N] [--json]
Runs the sampling heap profiler for S seconds (default 10) or around a
JavaScript expression evaluated in the target, then prints the top allocation
sites and, with --out, writes PREFIX.heapprofile (DevTools' Memory panel) and
PREFIX.folded (flamegraph.pl, speedscope).
  --interval BYTES   mean bytes between samples (default 32768)
  --include-collected  keep samples of objects GC freed meanwhile (default: live objects only)
]]

function M.run(argv)
  return common.command({
    name = "sample", help = M.help,
    options = { duration = "number", action = "string", interval = { "count", 32768 }, out = "string",
      top = { "count", 20 }, ["include-collected"] = "flag" },
    check = function(opts)
      local args = require("memdbg.cli.args")
      if opts.duration and opts.action then args.usage_error("give --duration or --action, not both") end
      if opts.interval <= 0 then args.usage_error("--interval must be positive") end
      if opts.out then
        args.check_output(opts.out .. ".heapprofile")
        args.check_output(opts.out .. ".folded")
      end
    end,
    run = function(session, opts)
      local update, finish = common.progress("sampling", not opts.json)
      local r, err, code = workflow.run(session, { duration = opts.duration, action = opts.action,
        interval = opts.interval, out = opts.out, top = opts.top, includeCollected = opts["include-collected"],
        onTick = function(elapsed, total) update(elapsed, total) end })
      finish()
      if not r then return nil, err, code end
      if opts.json then
        local sites = common.array()
        for i, s in ipairs(r.sites) do
          sites[i] = { functionName = s.functionName, url = s.url, line = s.line, selfSize = s.self, totalSize = s.total }
        end
        common.print_json { samples = r.sampleCount, sampledBytes = r.sampledBytes, sites = sites,
          heapprofile = r.files.heapprofile, folded = r.files.folded }
      else
        print(string.format("%d samples, %s sampled", r.sampleCount, common.bytes(r.sampledBytes)))
        io.write(profile.format_sites(r.sites))
        if r.files.heapprofile then print("Wrote " .. r.files.heapprofile .. " and " .. r.files.folded) end
      end
      return 0
    end,
  }, argv)
end

return M
