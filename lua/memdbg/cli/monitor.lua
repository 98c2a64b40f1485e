-- memdbg monitor: sample heap usage over time, alert on a threshold.
local frame = require("memdbg.cli.frame")
local format = require("memdbg.util.format")
local json = require("memdbg.util.json")
local args = require("memdbg.cli.args")
local workflow = require("memdbg.workflows.monitor")
local M = {}

M.help = [=[
usage: memdbg monitor [-e URL] [--interval S] [--duration S | --count N] [--timeout S]
                      [--threshold PCT] [--limit BYTES] [--gc-every N [--trend N] [--trend-min BYTES]]
                      [--csv FILE] [--svg FILE] [--force | --no-clobber] [--json | --openmetrics [HOST:PORT]]
Samples heap usage every S seconds (default 1) for a duration or N samples
(default 10), prints "Heap: U MiB / T MiB", alerts on stderr naming the rule that
fired, and writes the series as CSV (row by row, as it goes) and SVG (at the end).
Alert rules:
  limit   the used heap reaches --threshold percent (default 90) of the heap
          limit: the runtime's (V8's heap_size_limit: Node, Deno, Chromium) or
          --limit BYTES (workerd and Bun have none)
  trend   with --gc-every N, every Nth sample is taken right after a forced GC;
          the alert fires when those grew --trend times in a row (default 3)
          by --trend-min bytes or more in all (default 1048576)
--openmetrics HOST:PORT serves the latest sample as OpenMetrics (or Prometheus
text 0.0.4, by the scraper's Accept header) at http://HOST:PORT/metrics while
it runs, until stopped (Ctrl-C, SIGTERM) without --count or --duration
(loopback only unless --allow-remote; port 0 picks a free one, printed on
stderr), labelled with the target (runtime, endpoint, target, url);
--openmetrics alone prints the whole series with timestamps at the end instead
(promtool tsdb create-blocks-from openmetrics).
A sample the runtime does not answer within --timeout seconds (default 10; it
is busy, e.g. taking another client's snapshot) is a gap in the series, not the
end: a CSV row with empty used_bytes, total_bytes and ratio, a break in the
plot's lines with a grey band, {"gap":true} in --json.
Exits 1 when an alert fired.
]=]

-- --json: one document, its samples written as they come (none kept in memory).
local function json_stream()
  local first = true
  io.stdout:write('{"samples":[')
  return function(s)
    io.stdout:write(first and "" or ",", json.encode { t = s.t, usedSize = s.usedSize, totalSize = s.totalSize,
      ratio = s.ratio, alert = s.alert, gap = s.gap, gc = s.gc })
    io.stdout:flush()
    first = false
  end, function(res, opts)
    local rest = json.encode { alerts = res.alerts, alertsByRule = res.alertsByRule, gaps = res.gaps, count = res.count,
      threshold = res.threshold, limit = res.limit, gcEvery = res.gcEvery, peak = res.peak and res.peak.usedSize,
      csv = opts.csv, svg = opts.svg }
    io.stdout:write("],", rest:sub(2), "\n")
  end
end

-- --openmetrics PORT | HOST:PORT | [V6]:PORT -> address literal, port (0: any
-- free one); a usage error for anything else, and for a non-loopback address
-- without --allow-remote.
local function listen_address(text, allowRemote)
  local endpoint = require("memdbg.transport.endpoint")
  local host, port = "127.0.0.1", text:match("^(%d+)$")
  if not port then host, port = text:match("^%[([%x:.]+)%]:(%d+)$") end
  if not port then host, port = text:match("^([^:]+):(%d+)$") end
  port = tonumber(port)
  if not port or port > 65535 then args.usage_error("--openmetrics takes HOST:PORT (or a port), not '" .. text .. "'") end
  local addr = endpoint.literal(host)
  if not addr then
    args.usage_error("--openmetrics takes an address (127.0.0.1, [::1], localhost), not '" .. host .. "'")
  end
  if not allowRemote and not endpoint.is_loopback_address(addr) then
    args.usage_error("--openmetrics " .. text .. " is not a loopback address: add --allow-remote to serve it there")
  end
  return addr, port
end

-- The metrics endpoint, bound while the options are checked: a port in use
-- (EADDRINUSE) is refused like an output path memdbg will not write, exit 2
-- before the runtime is asked anything.
local function bind_metrics(text, addr, port)
  local server, err, code = require("memdbg._core").metricsServe(addr, port)
  if not server then return nil, string.format("--openmetrics %s: %s [%s]", text, err, tostring(code)) end
  return server
end

-- The metrics endpoint: a thread of memdbg.core serving what onSample publishes.
local function serve_metrics(session, server)
  local om = require("memdbg.workflows.openmetrics")
  local host, bound = server:address()
  io.stderr:write(string.format("OpenMetrics at http://%s/metrics\n",
    require("memdbg.transport.endpoint").authority(host, bound)))
  local exporter = om.exporter(om.labels(session))
  return server, function(s)
    exporter:add(s)
    server:publish(exporter:text("openmetrics"), exporter:text("prometheus"))
  end
end

M.def = {
  name = "monitor", help = M.help, writes = true,
  options = { interval = { "number", 1 }, duration = "number", count = "count", threshold = { "number", 90 },
    csv = "string", svg = "string", timeout = { "number", 10 }, limit = "number",
    ["gc-every"] = "count", trend = { "count", 3 }, ["trend-min"] = { "number", 1048576 }, openmetrics = "optional" },
  check = function(opts)
    if opts.limit and opts.limit <= 0 then args.usage_error("--limit must be a positive number of bytes") end
    if opts["gc-every"] and opts["gc-every"] < 1 then args.usage_error("--gc-every must be at least 1") end
    if opts.trend < 1 then args.usage_error("--trend must be at least 1") end
    if opts["trend-min"] < 0 then args.usage_error("--trend-min must be >= 0") end
    if opts.openmetrics and opts.json then args.usage_error("give --json or --openmetrics, not both") end
    if type(opts.openmetrics) == "string" then
      opts.listen = { listen_address(opts.openmetrics, opts["allow-remote"]) }
    end
    if opts.interval < 0 then args.usage_error("--interval must be >= 0") end
    if opts.duration and opts.count then args.usage_error("give --duration or --count, not both") end
    if opts.count and opts.count < 1 then args.usage_error("--count must be at least 1") end
    if opts.duration and opts.duration < 0 then args.usage_error("--duration must be >= 0") end
    if opts.timeout <= 0 then args.usage_error("--timeout must be positive") end
    if opts.threshold <= 0 or opts.threshold > 100 then args.usage_error("--threshold is a percentage in (0, 100]") end
    if opts.csv and opts.csv == opts.svg then args.usage_error("--csv and --svg name the same file") end
    for _, key in ipairs { "csv", "svg" } do
      local ok, err = args.check_output(opts[key], nil, frame.clobber(opts))
      if not ok then return err end
    end
    -- last: the port is held from here on (closed by run, or by the GC when connecting fails)
    if opts.listen then
      local server, err = bind_metrics(opts.openmetrics, opts.listen[1], opts.listen[2])
      if not server then return err end
      opts.listen = server
    end
  end,
  run = function(session, opts)
    local onSample, close, server
    if opts.json then onSample, close = json_stream() end
    if opts.listen then server, onSample = serve_metrics(session, opts.listen) end
    -- --openmetrics alone: the series goes to stdout at the end, the report to stderr
    local series = opts.openmetrics == true
    local report = series and io.stderr or io.stdout
    local res, err, code, partial = workflow.run(session, {
      -- an exporter runs until stopped unless told otherwise
      interval = opts.interval, duration = opts.duration, timeout = opts.timeout,
      count = opts.count or (opts.listen and not opts.duration and math.huge or nil),
      threshold = opts.threshold / 100, limit = opts.limit, gcEvery = opts["gc-every"], trend = opts.trend,
      trendMin = opts["trend-min"], csv = opts.csv, svg = opts.svg, noClobber = opts["no-clobber"], force = opts.force,
      print = not opts.json and report or false, keepSamples = false, onSample = onSample,
      openmetrics = series and { labels = require("memdbg.workflows.openmetrics").labels(session),
        emit = function(text) io.stdout:write(text) end } or nil,
    })
    if server then server:close() end
    if opts.json then close(res or partial or {}, opts) end
    if not res then return nil, err, code end
    if not opts.json then
      local by = {}
      for _, rule in ipairs { "limit", "trend" } do
        if res.alertsByRule[rule] then by[#by + 1] = rule .. " " .. res.alertsByRule[rule] end
      end
      if not res.limit then
        report:write("No heap limit (" .. tostring(res.limitNote) .. "): the limit rule was off; --limit BYTES gives one.\n")
      end
      report:write(string.format("%d samples, %d gap%s, peak %s, %d alert%s%s\n", res.count, res.gaps,
        res.gaps == 1 and "" or "s", res.peak and format.bytes(res.peak.usedSize) or "-",
        res.alerts, res.alerts == 1 and "" or "s", #by > 0 and " (" .. table.concat(by, ", ") .. ")" or ""))
      if opts.csv then report:write("CSV: " .. opts.csv .. "\n") end
      if opts.svg then report:write("SVG: " .. opts.svg .. "\n") end
    end
    return res.alerts > 0 and 1 or 0
  end,
}

return frame.command(M.def)
