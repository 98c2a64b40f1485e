-- memdbg monitor: sample heap usage over time, alert on a threshold.
local common = require("memdbg.workflows.common")
local workflow = require("memdbg.workflows.monitor")
local M = {}

M.help = [[
usage: memdbg monitor [--endpoint URL] [--interval S] [--duration S | --count N]
                      [--threshold PCT] [--csv FILE] [--svg FILE] [--json]
Samples heap usage every S seconds (default 1) for a duration or N samples
(default 10), prints "Heap: U MB / T MB", alerts on stderr when used/total
crosses the threshold (default 90%), and writes the series as CSV and SVG.
Exits 1 when an alert fired.
]]

function M.run(argv)
  return common.command({
    name = "monitor", help = M.help,
    options = { interval = { "number", 1 }, duration = "number", count = "number", threshold = { "number", 90 },
      csv = "string", svg = "string" },
    check = function(opts)
      local args = require("memdbg.cli.args")
      if opts.interval < 0 then args.usage_error("--interval must be >= 0") end
      if opts.duration and opts.count then args.usage_error("give --duration or --count, not both") end
      if opts.count and opts.count < 1 then args.usage_error("--count must be at least 1") end
      if opts.duration and opts.duration < 0 then args.usage_error("--duration must be >= 0") end
      if opts.threshold <= 0 or opts.threshold > 100 then args.usage_error("--threshold is a percentage in (0, 100]") end
    end,
    run = function(session, opts)
      local res, err, code = workflow.run(session, {
        interval = opts.interval, duration = opts.duration, count = opts.count,
        threshold = opts.threshold / 100, csv = opts.csv, svg = opts.svg,
        print = not opts.json and io.stdout or false,
      })
      if not res then return nil, err, code end
      if opts.json then
        local samples = common.array()
        for i, s in ipairs(res.samples) do
          samples[i] = { t = s.t, usedSize = s.usedSize, totalSize = s.totalSize, ratio = s.ratio, alert = s.alert }
        end
        common.print_json { samples = samples, alerts = res.alerts, threshold = res.threshold,
          peak = res.peak and res.peak.usedSize, csv = opts.csv, svg = opts.svg }
      else
        print(string.format("%d samples, peak %s, %d alert%s", #res.samples, common.bytes(res.peak.usedSize),
          res.alerts, res.alerts == 1 and "" or "s"))
        if opts.csv then print("CSV: " .. opts.csv) end
        if opts.svg then print("SVG: " .. opts.svg) end
      end
      return res.alerts > 0 and 1 or 0
    end,
  }, argv)
end

return M
