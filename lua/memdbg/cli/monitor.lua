-- memdbg monitor: sample heap usage over time, alert on a threshold.
local common = require("memdbg.workflows.common")
local workflow = require("memdbg.workflows.monitor")
local M = {}

M.help = [[
usage: memdbg monitor [--endpoint URL] [--interval S] [--duration S | --count N] [--timeout S]
                      [--threshold PCT] [--csv FILE] [--svg FILE] [--no-clobber] [--json]
Samples heap usage every S seconds (default 1) for a duration or N samples
(default 10), prints "Heap: U MB / T MB", alerts on stderr when used/total
crosses the threshold (default 90%), and writes the series as CSV (row by row,
as it goes) and SVG (at the end).
A sample the runtime does not answer within --timeout seconds (default 10; it
is busy, e.g. taking another client's snapshot) is a gap in the series, not the
end: a CSV row with empty used_bytes, total_bytes and ratio, a break in the
plot's lines with a grey band, {"gap":true} in --json.
Exits 1 when an alert fired.
]]

-- --json: one document, its samples written as they come (none kept in memory).
local function json_stream()
  local first = true
  io.stdout:write('{"samples":[')
  return function(s)
    io.stdout:write(first and "" or ",", common.json { t = s.t, usedSize = s.usedSize, totalSize = s.totalSize,
      ratio = s.ratio, alert = s.alert, gap = s.gap })
    io.stdout:flush()
    first = false
  end, function(res, opts)
    local rest = common.json { alerts = res.alerts, gaps = res.gaps, count = res.count, threshold = res.threshold,
      peak = res.peak and res.peak.usedSize, csv = opts.csv, svg = opts.svg }
    io.stdout:write("],", rest:sub(2), "\n")
  end
end

function M.run(argv)
  return common.command({
    name = "monitor", help = M.help,
    options = { interval = { "number", 1 }, duration = "number", count = "count", threshold = { "number", 90 },
      csv = "string", svg = "string", timeout = { "number", 10 }, ["no-clobber"] = "flag" },
    check = function(opts)
      local args = require("memdbg.cli.args")
      if opts.interval < 0 then args.usage_error("--interval must be >= 0") end
      if opts.duration and opts.count then args.usage_error("give --duration or --count, not both") end
      if opts.count and opts.count < 1 then args.usage_error("--count must be at least 1") end
      if opts.duration and opts.duration < 0 then args.usage_error("--duration must be >= 0") end
      if opts.timeout <= 0 then args.usage_error("--timeout must be positive") end
      if opts.threshold <= 0 or opts.threshold > 100 then args.usage_error("--threshold is a percentage in (0, 100]") end
      if opts.csv and opts.csv == opts.svg then args.usage_error("--csv and --svg name the same file") end
      args.check_output(opts.csv, nil, opts["no-clobber"])
      args.check_output(opts.svg, nil, opts["no-clobber"])
    end,
    run = function(session, opts)
      local onSample, close
      if opts.json then onSample, close = json_stream() end
      local res, err, code, partial = workflow.run(session, {
        interval = opts.interval, duration = opts.duration, count = opts.count, timeout = opts.timeout,
        threshold = opts.threshold / 100, csv = opts.csv, svg = opts.svg, noClobber = opts["no-clobber"],
        print = not opts.json and io.stdout or false, keepSamples = false, onSample = onSample,
      })
      if opts.json then close(res or partial or {}, opts) end
      if not res then return nil, err, code end
      if not opts.json then
        print(string.format("%d samples, %d gap%s, peak %s, %d alert%s", res.count, res.gaps,
          res.gaps == 1 and "" or "s", res.peak and common.bytes(res.peak.usedSize) or "-",
          res.alerts, res.alerts == 1 and "" or "s"))
        if opts.csv then print("CSV: " .. opts.csv) end
        if opts.svg then print("SVG: " .. opts.svg) end
      end
      return res.alerts > 0 and 1 or 0
    end,
  }, argv)
end

return M
