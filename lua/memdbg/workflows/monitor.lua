-- Monitor workflow: sample heap usage every `interval` seconds for a
-- `duration` or a `count`, print "Heap: U MiB / T MiB", alert by the rules of
-- workflows/monitor_rules.lua, and write the series as CSV and SVG.
--   local monitor = require "memdbg.workflows.monitor"
--   local res = monitor.run(session, { interval = 1, duration = 60, threshold = 0.9, timeout = 10,
--     gcEvery = 10, csv = "heap.csv", svg = "heap.svg",
--     onAlert = function(sample, alert) print(alert.rule, alert.message) end })
--   -- res = {samples = {{t=, usedSize=, totalSize=, gc=, alert=}, ...}, count=, gaps=, alerts = N,
--   --        alertsByRule = {limit = N, trend = N}, peak = sample, limit = bytes | nil, limitNote = why not}
--
-- Rules: "limit" fires when the used heap reaches `threshold` of the heap
-- limit (the runtime's, session.memory:getHeapLimit(), or opts.limit); with
-- gcEvery = N every Nth sample is taken right after a forced GC (sample.gc)
-- and "trend" fires when those grew `trend` (3) times in a row by `trendMin`
-- (1 MiB) or more. sample.alert names the rules that fired on it ("limit",
-- "trend", "limit,trend").
--
-- A sample the runtime does not answer within `timeout` seconds (it is busy:
-- another client's snapshot, a long GC) is a gap in the series, not the end:
-- {t=, time=, gap = true} in the samples, a row with empty used, total and
-- ratio in the CSV, a break in the plot's lines with a grey band. Only a lost
-- connection ends the run early (its series is saved all the same).
--
-- The CSV is written as the samples come (created new, 0600, in place from the
-- first row: `tail -f` works; see docs/files.md). keepSamples = false keeps
-- none of them in memory (the CLI does so): res.samples is then absent, and the
-- SVG is drawn at the end from a private temporary file of the rows.
local core = require("memdbg._core")
local files = require("memdbg.util.files")
local rules = require("memdbg.workflows.monitor_rules")
local format = require("memdbg.util.format")

local monitor = {}

local MiB = 1048576

function monitor.line(sample)
  if sample.gap then
    return string.format("Heap: no answer within %g s (a gap in the series)", sample.timeout or 0)
  end
  local text = string.format("Heap: %s / %s (%.0f%%)", format.bytes(sample.usedSize), format.bytes(sample.totalSize),
    100 * sample.ratio)
  if sample.limit then text = text .. string.format(", %.1f%% of the limit", 100 * sample.usedSize / sample.limit) end
  if sample.gc then text = text .. " after GC" end
  return text
end

--- The default alert: a line on stderr naming the rule.
function monitor.default_alert(_, alert)
  io.stderr:write(string.format("ALERT (%s): %s\n", alert.rule, alert.message))
end

--- seconds,unix_time,used_bytes,total_bytes,ratio,limit_bytes,after_gc,alert: ratio is
--- used/total; limit_bytes is empty when there is no limit, after_gc 1 for a
--- sample taken right after a forced GC, alert the rules that fired. A gap has
--- used, total and ratio empty.
monitor.CSV_HEADER = "seconds,unix_time,used_bytes,total_bytes,ratio,limit_bytes,after_gc,alert\n"

function monitor.csv_row(s)
  local rest = string.format("%s,%d,%s\n", s.limit and string.format("%d", s.limit) or "", s.gc and 1 or 0,
    s.alert or "")
  if s.gap then return string.format("%.3f,%d,,,,", s.t, s.time) .. rest end
  return string.format("%.3f,%d,%d,%d,%.4f,", s.t, s.time, s.usedSize, s.totalSize, s.ratio) .. rest
end

--- Reads CSV rows back as samples: for each row, fn(sample).
function monitor.read_csv(f, fn)
  f:seek("set", 0)
  for line in f:lines() do
    local t, time, used, total, ratio, limit, gc, alert =
      line:match("^([%d.]+),(%d+),(%d*),(%d*),([%d.]*),(%d*),([01]),([%a,]*)$")
    if t then
      local s = { t = tonumber(t), time = tonumber(time), limit = tonumber(limit), gc = gc == "1" or nil,
        alert = alert ~= "" and alert or nil }
      if used == "" then
        s.gap = true
      else
        s.usedSize, s.totalSize, s.ratio = tonumber(used), tonumber(total), tonumber(ratio)
      end
      fn(s)
    end
  end
end

-- Where the series goes while it runs: the CSV (a new file, in place at once)
-- and, for the SVG drawn at the end, a private temporary file (unnamed).
local function open_series(opts)
  local series = {}
  if opts.csv then
    local f, err, code = files.create(opts.csv)
    if not f then return nil, err, code end
    local ok
    ok, err, code = f:write(monitor.CSV_HEADER)
    if ok then ok, err, code = f:publish(opts.csv, opts) end
    if not ok then f:close() return nil, err, code end
    series.csv = f
  end
  if opts.svg or opts.openmetrics then series.tmp = io.tmpfile() end
  function series.add(s)
    local row = monitor.csv_row(s)
    if series.csv then
      local ok, err = series.csv:write(row)
      if not ok then return nil, err, "EIO" end
    end
    if series.tmp then series.tmp:write(row) end
    return true
  end
  -- each(fn): the samples written so far, read back from disk
  function series.each(fn)
    if not series.tmp then return end
    series.tmp:flush()
    monitor.read_csv(series.tmp, fn)
  end
  function series.close()
    if series.csv then series.csv:close() series.csv = nil end
    if series.tmp then series.tmp:close() series.tmp = nil end
  end
  return series
end

-- The heap limit the limit rule uses: opts.limit, else the runtime's; nil and
-- why when there is none.
local function heap_limit(session, opts, timeout)
  if opts.limit then return opts.limit end
  local limit, err = session.memory:getHeapLimit { timeout = timeout }
  if limit then return limit end
  return nil, err
end

local function make_rules(opts, limit, threshold)
  local list = {}
  if limit then list[#list + 1] = rules.limit(limit, threshold) end
  if opts.gcEvery then list[#list + 1] = rules.trend(opts.trend or 3, opts.trendMin or MiB) end
  return list
end

-- One sample: usage, after a forced GC when `gc`; nil, err, code when the
-- connection is gone (a late answer is a gap).
local function take_sample(session, t0, timeout, gc)
  local u, err, code = true, nil, nil
  if gc then
    u, err, code = session.memory:collectGarbage { timeout = timeout, whileWaiting = session.traffic }
  end
  if u then u, err, code = session.memory:getHeapUsage { timeout = timeout } end
  if u then
    return { t = core.now() - t0, time = os.time(), usedSize = u.usedSize, totalSize = u.totalSize,
      ratio = u.totalSize > 0 and u.usedSize / u.totalSize or 0, gc = gc or nil }
  elseif code == "ETIMEDOUT" and session:isOpen() then
    return { t = core.now() - t0, time = os.time(), gap = true, timeout = timeout, gc = gc or nil }
  end
  return nil, err, code
end

--- run(session, {interval=1, duration=, count=, threshold=0.9, limit=bytes, gcEvery=N, trend=3,
---   trendMin=1 MiB, timeout=10, onSample=fn(sample), onAlert=fn(sample, {rule=, message=}),
---   print=io.stdout|false, csv=path, svg=path, noClobber=, force=, keepSamples=true,
---   openmetrics = {labels=, emit=fn(text)}: the series as OpenMetrics text at the end})
--- A rule fires when its condition starts to hold (once per crossing).
--- The CSV and SVG destinations are checked before the runtime is asked anything.
function monitor.run(session, opts)
  opts = opts or {}
  local interval = opts.interval or 1
  if type(interval) ~= "number" or interval < 0 then error("monitor: interval must be >= 0 seconds", 2) end
  local threshold = opts.threshold or 0.9
  if type(threshold) ~= "number" or threshold <= 0 then error("monitor: threshold must be a positive ratio", 2) end
  local timeout = opts.timeout or 10
  if type(timeout) ~= "number" or timeout <= 0 then error("monitor: timeout must be a positive number of seconds", 2) end
  if opts.limit ~= nil and (type(opts.limit) ~= "number" or opts.limit <= 0) then
    error("monitor: limit must be a positive number of bytes", 2)
  end
  if opts.gcEvery ~= nil and (type(opts.gcEvery) ~= "number" or opts.gcEvery < 1) then
    error("monitor: gcEvery must be a number of samples >= 1", 2)
  end
  local count, duration = opts.count, opts.duration
  if not count and not duration then count = 10 end
  local onAlert = opts.onAlert or monitor.default_alert
  local out = opts.print
  if out == nil then out = io.stdout end
  for _, key in ipairs { "csv", "svg" } do
    if opts[key] then
      local ok, err, code = files.checkDestination(opts[key], opts)
      if not ok then return nil, err, code end
    end
  end

  local limit, limitNote = heap_limit(session, opts, timeout)
  local checks = make_rules(opts, limit, threshold)
  local series, serr, scode = open_series(opts)
  if not series then return nil, serr, scode end
  local keep = opts.keepSamples ~= false
  local samples = keep and require("memdbg.util.json").array() or nil
  local n, gaps, alerts, byRule, peak = 0, 0, 0, {}, nil
  local t0 = core.now()
  local nextAt = t0
  local function finish(err, code)
    local ok, ferr, fcode = true, nil, nil
    if opts.svg then
      ok, ferr, fcode = monitor.write_svg_series(series, opts.svg,
        { threshold = threshold, title = opts.title, noClobber = opts.noClobber, force = opts.force })
    end
    if opts.openmetrics then
      require("memdbg.workflows.openmetrics").series(series.each, opts.openmetrics.labels, opts.openmetrics.emit)
    end
    series.close()
    local res = { samples = samples, count = n, gaps = gaps, alerts = alerts, alertsByRule = byRule, peak = peak,
      threshold = threshold, limit = limit, limitNote = limitNote, gcEvery = opts.gcEvery }
    if err then return nil, err, code, res end
    if not ok then return nil, ferr, fcode, res end
    return res
  end
  while true do
    local s, err, code = take_sample(session, t0, timeout, opts.gcEvery and n % opts.gcEvery == 0)
    if not s then return finish(err, code) end
    if s.gap then gaps = gaps + 1 end
    s.limit = limit
    n = n + 1
    local fired = {}
    for _, rule in ipairs(checks) do
      local message = rule:check(s)
      if message then fired[#fired + 1] = { rule = rule.name, message = message } end
    end
    if #fired > 0 then
      local names = {}
      for i, a in ipairs(fired) do names[i] = a.rule end
      s.alert = table.concat(names, ",")
    end
    if keep then samples[#samples + 1] = s end
    local ok, werr, wcode = series.add(s)
    if not ok then return finish(werr, wcode) end
    if not s.gap and (not peak or s.usedSize > peak.usedSize) then peak = s end
    if out then out:write(monitor.line(s), "\n") out:flush() end
    for _, a in ipairs(fired) do
      alerts = alerts + 1
      byRule[a.rule] = (byRule[a.rule] or 0) + 1
      onAlert(s, a)
    end
    if opts.onSample then opts.onSample(s) end
    if count and n >= count then break end
    nextAt = nextAt + interval
    -- a late sample took the slots it overran: carry on from now
    if nextAt < core.now() then nextAt = core.now() end
    if duration and nextAt - t0 > duration + 1e-9 then break end
    local wait = nextAt - core.now()
    -- keep the connection serviced while waiting (pings, events)
    local pok, perr, pcode = session:poll(wait > 0 and wait or 0)
    if not pok then return finish(perr, pcode) end
  end
  return finish()
end

--- save(samples, opts): writes a series held in memory as CSV and SVG at once.
function monitor.save(samples, opts)
  if opts.csv then
    local rows = { monitor.CSV_HEADER }
    for _, s in ipairs(samples) do rows[#rows + 1] = monitor.csv_row(s) end
    local ok, err, code = files.write(opts.csv, table.concat(rows), opts)
    if not ok then return nil, err, code end
  end
  if opts.svg then
    local ok, err, code = files.write(opts.svg, monitor.svg(samples, opts), opts)
    if not ok then return nil, err, code end
  end
  return true
end

--- An SVG line plot: used (solid) and total (dashed) heap in MiB over
--- seconds; lines break at gaps, each marked by a grey band; a red dot where
--- an alert fired (its rules as the dot's title), a small dark one for a
--- sample taken after a forced GC.
--- svg(samples | each, opts[, emit]): samples is an array, or each(fn) calls
--- fn(sample) for every sample (it is called once per pass, so the series
--- need not be in memory); with emit(text) the SVG goes there piece by piece,
--- else it is returned as a string.
function monitor.svg(source, opts, emit)
  opts = opts or {}
  local each = source
  if type(source) == "table" then
    each = function(fn) for _, s in ipairs(source) do fn(s) end end
  end
  local pieces
  if not emit then
    pieces = {}
    emit = function(text) pieces[#pieces + 1] = text end
  end
  local W, H, L, R, T, B = 720, 360, 64, 16, 28, 40
  local maxT, maxY, n = 0, 0, 0
  each(function(s)
    n = n + 1
    if s.t > maxT then maxT = s.t end
    if not s.gap and s.totalSize > maxY then maxY = s.totalSize end
  end)
  if maxT <= 0 then maxT = 1 end
  if maxY <= 0 then maxY = MiB end
  maxY = maxY * 1.1
  local function x(t) return L + (W - L - R) * t / maxT end
  local function y(v) return H - B - (H - T - B) * v / maxY end
  local function path(field, attrs)
    emit('<path d="')
    local move = true
    each(function(s)
      if s.gap then move = true return end
      emit(string.format("%s%.1f,%.1f ", move and "M" or "L", x(s.t), y(s[field])))
      move = false
    end)
    emit('" fill="none" ' .. attrs .. '/>\n')
  end
  emit(string.format('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
    .. 'font-family="sans-serif" font-size="11">\n', W, H, W, H))
  emit(string.format('<rect width="%d" height="%d" fill="white"/>\n', W, H))
  emit(string.format('<text x="%d" y="18" font-size="13">%s</text>\n', L,
    (opts.title or "Heap usage over time"):gsub("[<&>]", { ["<"] = "&lt;", ["&"] = "&amp;", [">"] = "&gt;" })))
  for i = 0, 4 do
    local v = maxY * i / 4
    emit(string.format('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>\n', L, W - R, y(v), y(v)))
    emit(string.format('<text x="%d" y="%.1f" text-anchor="end">%.1f MiB</text>\n', L - 4, y(v) + 4, v / MiB))
  end
  for i = 0, 4 do
    local t = maxT * i / 4
    emit(string.format('<text x="%.1f" y="%d" text-anchor="middle">%.1fs</text>\n', x(t), H - B + 16, t))
  end
  local gaps = 0
  each(function(s)
    if not s.gap then return end
    gaps = gaps + 1
    emit(string.format('<rect class="gap" x="%.1f" y="%d" width="6" height="%d" fill="#bbb" opacity="0.6">'
      .. '<title>no answer at %.1fs</title></rect>\n', x(s.t) - 3, T, H - B - T, s.t))
  end)
  emit(string.format('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="black"/>\n', L, W - R, H - B, H - B))
  emit(string.format('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="black"/>\n', L, L, T, H - B))
  if n > 0 then
    path("totalSize", 'stroke="#888" stroke-dasharray="4 3"')
    path("usedSize", 'stroke="#c33" stroke-width="2"')
    each(function(s)
      if s.alert and not s.gap then
        emit(string.format('<circle cx="%.1f" cy="%.1f" r="4" fill="#c33"><title>%s</title></circle>\n', x(s.t),
          y(s.usedSize), s.alert))
      elseif s.gc and not s.gap then
        emit(string.format('<circle class="gc" cx="%.1f" cy="%.1f" r="2" fill="#333"/>\n', x(s.t), y(s.usedSize)))
      end
    end)
  end
  emit(string.format('<text x="%d" y="%d" fill="#c33">used</text><text x="%d" y="%d" fill="#888">total</text>',
    W - R - 90, T + 4, W - R - 45, T + 4))
  if gaps > 0 then
    emit(string.format('<text x="%d" y="%d" fill="#888">%d gap%s (grey)</text>', W - R - 200, T + 4, gaps,
      gaps == 1 and "" or "s"))
  end
  emit("\n</svg>\n")
  if pieces then return table.concat(pieces) end
end

--- write_svg(samples, path, opts): the plot of an in-memory series.
function monitor.write_svg(samples, path, opts)
  return files.write(path, monitor.svg(samples, opts), opts)
end

-- The plot of the series written so far, drawn from disk into a new file.
function monitor.write_svg_series(series, path, opts)
  local f, err, code = files.create(path)
  if not f then return nil, err, code end
  local werr
  monitor.svg(series.each, opts, function(text)
    if werr then return end
    local ok, e = f:write(text)
    if not ok then werr = e end
  end)
  local ok, perr, pcode
  if werr then
    ok, perr, pcode = nil, werr, "EIO"
  else
    ok, perr, pcode = f:publish(path, opts)
  end
  f:close()
  if not ok then return nil, perr, pcode end
  return path
end

return monitor
