-- Monitor workflow: sample heap usage every `interval` seconds for a
-- `duration` or a `count`, print "Heap: U MB / T MB", call an alert when
-- used/total crosses `threshold`, and write the series as CSV and SVG.
--   local monitor = require "memdbg.workflows.monitor"
--   local res = monitor.run(session, { interval = 1, duration = 60, threshold = 0.9,
--     csv = "heap.csv", svg = "heap.svg", onAlert = function(sample) ... end })
--   -- res = {samples = {{t=, usedSize=, totalSize=}, ...}, alerts = N, peak = sample}
local core = require("memdbg.core")
local common = require("memdbg.workflows.common")

local monitor = {}

local MB = 1048576

function monitor.line(sample)
  return string.format("Heap: %.1f MB / %.1f MB (%.0f%%)", sample.usedSize / MB, sample.totalSize / MB,
    100 * sample.ratio)
end

--- The default alert: a line on stderr.
function monitor.default_alert(sample, threshold)
  io.stderr:write(string.format("ALERT: heap at %.0f%% of its total (threshold %.0f%%): %s\n",
    100 * sample.ratio, 100 * threshold, monitor.line(sample)))
end

--- run(session, {interval=1, duration=, count=, threshold=0.9, onSample=fn(sample),
---   onAlert=fn(sample, threshold), print=io.stdout|false, csv=path, svg=path})
--- The alert fires when the ratio crosses the threshold upwards (once per crossing).
function monitor.run(session, opts)
  opts = opts or {}
  local interval = opts.interval or 1
  if type(interval) ~= "number" or interval < 0 then error("monitor: interval must be >= 0 seconds", 2) end
  local threshold = opts.threshold or 0.9
  if type(threshold) ~= "number" or threshold <= 0 then error("monitor: threshold must be a positive ratio", 2) end
  local count, duration = opts.count, opts.duration
  if not count and not duration then count = 10 end
  local onAlert = opts.onAlert or monitor.default_alert
  local out = opts.print
  if out == nil then out = io.stdout end

  local samples = common.array()
  local alerts, above, peak = 0, false, nil
  local t0 = core.now()
  local nextAt = t0
  while true do
    local u, err, code = session.memory:getHeapUsage()
    if not u then
      if #samples > 0 then monitor.save(samples, opts) end
      return nil, err, code, { samples = samples, alerts = alerts }
    end
    local s = { t = core.now() - t0, time = os.time(), usedSize = u.usedSize, totalSize = u.totalSize }
    s.ratio = u.totalSize > 0 and u.usedSize / u.totalSize or 0
    samples[#samples + 1] = s
    if not peak or s.usedSize > peak.usedSize then peak = s end
    if out then out:write(monitor.line(s), "\n") out:flush() end
    if opts.onSample then opts.onSample(s) end
    if s.ratio >= threshold then
      if not above then
        alerts = alerts + 1
        s.alert = true
        onAlert(s, threshold)
      end
      above = true
    else
      above = false
    end
    if count and #samples >= count then break end
    nextAt = nextAt + interval
    if duration and nextAt - t0 > duration + 1e-9 then break end
    local wait = nextAt - core.now()
    -- keep the connection serviced while waiting (pings, events)
    local ok, perr, pcode = session:poll(wait > 0 and wait or 0)
    if not ok then
      monitor.save(samples, opts)
      return nil, perr, pcode, { samples = samples, alerts = alerts }
    end
  end
  local ok, err, code = monitor.save(samples, opts)
  if not ok then return nil, err, code end
  return { samples = samples, alerts = alerts, peak = peak, threshold = threshold }
end

function monitor.save(samples, opts)
  if opts.csv then
    local ok, err = monitor.write_csv(samples, opts.csv)
    if not ok then return nil, err, "EIO" end
  end
  if opts.svg then
    local ok, err = monitor.write_svg(samples, opts.svg, opts)
    if not ok then return nil, err, "EIO" end
  end
  return true
end

local function write(path, text)
  local f, err = io.open(path, "w")
  if not f then return nil, "cannot write " .. tostring(err) end
  f:write(text)
  f:close()
  return path
end

--- seconds,unix_time,used_bytes,total_bytes,ratio
function monitor.write_csv(samples, path)
  local out = { "seconds,unix_time,used_bytes,total_bytes,ratio\n" }
  for _, s in ipairs(samples) do
    out[#out + 1] = string.format("%.3f,%d,%d,%d,%.4f\n", s.t, s.time, s.usedSize, s.totalSize, s.ratio)
  end
  return write(path, table.concat(out))
end

--- An SVG line plot: used (solid) and total (dashed) heap in MB over seconds.
function monitor.svg(samples, opts)
  opts = opts or {}
  local W, H, L, R, T, B = 720, 360, 64, 16, 28, 40
  local maxT, maxY = 0, 0
  for _, s in ipairs(samples) do
    if s.t > maxT then maxT = s.t end
    if s.totalSize > maxY then maxY = s.totalSize end
  end
  if maxT <= 0 then maxT = 1 end
  if maxY <= 0 then maxY = MB end
  maxY = maxY * 1.1
  local function x(t) return L + (W - L - R) * t / maxT end
  local function y(v) return H - B - (H - T - B) * v / maxY end
  local function path(field)
    local pts = {}
    for i, s in ipairs(samples) do
      pts[#pts + 1] = string.format("%s%.1f,%.1f", i == 1 and "M" or "L", x(s.t), y(s[field]))
    end
    return table.concat(pts, " ")
  end
  local o = {}
  o[#o + 1] = string.format('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
    .. 'font-family="sans-serif" font-size="11">', W, H, W, H)
  o[#o + 1] = string.format('<rect width="%d" height="%d" fill="white"/>', W, H)
  o[#o + 1] = string.format('<text x="%d" y="18" font-size="13">%s</text>', L,
    (opts.title or "Heap usage over time"):gsub("[<&>]", { ["<"] = "&lt;", ["&"] = "&amp;", [">"] = "&gt;" }))
  for i = 0, 4 do
    local v = maxY * i / 4
    o[#o + 1] = string.format('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>', L, W - R, y(v), y(v))
    o[#o + 1] = string.format('<text x="%d" y="%.1f" text-anchor="end">%.1f MB</text>', L - 4, y(v) + 4, v / MB)
  end
  for i = 0, 4 do
    local t = maxT * i / 4
    o[#o + 1] = string.format('<text x="%.1f" y="%d" text-anchor="middle">%.1fs</text>', x(t), H - B + 16, t)
  end
  o[#o + 1] = string.format('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="black"/>', L, W - R, H - B, H - B)
  o[#o + 1] = string.format('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="black"/>', L, L, T, H - B)
  if #samples > 0 then
    o[#o + 1] = string.format('<path d="%s" fill="none" stroke="#888" stroke-dasharray="4 3"/>', path("totalSize"))
    o[#o + 1] = string.format('<path d="%s" fill="none" stroke="#c33" stroke-width="2"/>', path("usedSize"))
    for _, s in ipairs(samples) do
      if s.alert then
        o[#o + 1] = string.format('<circle cx="%.1f" cy="%.1f" r="4" fill="#c33"/>', x(s.t), y(s.usedSize))
      end
    end
  end
  o[#o + 1] = string.format('<text x="%d" y="%d" fill="#c33">used</text><text x="%d" y="%d" fill="#888">total</text>',
    W - R - 90, T + 4, W - R - 45, T + 4)
  o[#o + 1] = "</svg>\n"
  return table.concat(o, "\n")
end

function monitor.write_svg(samples, path, opts)
  return write(path, monitor.svg(samples, opts))
end

return monitor
