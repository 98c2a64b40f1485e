-- memdbg sample: run the sampling heap profiler.
local frame = require("memdbg.cli.frame")
local args = require("memdbg.cli.args")
local format = require("memdbg.util.format")
local json = require("memdbg.util.json")
local workflow = require("memdbg.workflows.sample_profile")
local profile = require("memdbg.analysis.profile")

return frame.command {
  name = "sample",
  help = [=[
usage: memdbg sample [-e URL] [--duration S | --action EXPR] [--sampling-interval BYTES]
                     [--prefix PREFIX [--force | --no-clobber]] [--top N] [--include-collected] [--json]
Runs the sampling heap profiler for S seconds (default 10) or around a
JavaScript expression evaluated in the target, then prints the top allocation
sites and, with --prefix, writes PREFIX.heapprofile (DevTools' Memory panel)
and PREFIX.folded (flamegraph.pl, speedscope).
  --duration S         how long to sample (default 10)
  --action EXPR        sample around this expression instead (awaiting a promise)
  --sampling-interval BYTES  mean bytes between samples (default 32768)
  --prefix PREFIX      write PREFIX.heapprofile and PREFIX.folded
  --top N              how many sites to print (default 20; 0 for all)
  --include-collected  keep samples of objects GC freed meanwhile (default: live objects only)
  --json               {"samples", "sampledBytes", "sites": [{"functionName", "url", "line",
                       "column", "selfSize", "totalSize"}], "heapprofile", "folded"} (bytes;
                       line and column 1-based, of the function's start)
]=],
  options = { duration = "number", action = "string", ["sampling-interval"] = { "count", 32768 },
    prefix = "string", top = { "count", 20 }, ["include-collected"] = "flag" },
  writes = true,
  check = function(opts)
    if opts.duration and opts.action then return "give --duration or --action, not both" end
    if opts.duration and opts.duration <= 0 then return "--duration must be positive" end
    if opts["sampling-interval"] <= 0 then return "--sampling-interval must be positive" end
    if opts.prefix then
      for _, ext in ipairs { ".heapprofile", ".folded" } do
        local ok, err = args.check_output(opts.prefix .. ext, nil, frame.clobber(opts))
        if not ok then return err end
      end
    end
  end,
  run = function(session, opts)
    local bar = format.progress("sampling")
    local r, err, code = workflow.run(session, { duration = opts.duration, action = opts.action,
      interval = opts["sampling-interval"], out = opts.prefix, top = opts.top > 0 and opts.top or nil,
      includeCollected = opts["include-collected"], noClobber = opts["no-clobber"], force = opts.force,
      onTick = function(elapsed, total) bar:update(elapsed, total) end })
    bar.finish()
    if not r then return nil, err, code end
    if opts.json then
      local sites = json.array()
      for i, s in ipairs(r.sites) do
        sites[i] = { functionName = s.functionName, url = s.url, line = s.line, column = s.column, selfSize = s.self,
          totalSize = s.total }
      end
      frame.print_json { samples = r.sampleCount, sampledBytes = r.sampledBytes, sites = sites,
        heapprofile = r.files.heapprofile, folded = r.files.folded }
    else
      print(string.format("%d samples, %s sampled", r.sampleCount, format.bytes(r.sampledBytes)))
      io.write(profile.format_sites(r.sites))
      if r.files.heapprofile then print("Wrote " .. r.files.heapprofile .. " and " .. r.files.folded) end
    end
    return 0
  end,
}
