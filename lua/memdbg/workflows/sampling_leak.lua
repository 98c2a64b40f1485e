-- The production-safe leak hunt: no heap snapshot, only V8's sampling heap
-- profiler, which keeps the samples of objects still alive with the stack
-- that allocated each. Start sampling; GC, profile (baseline); action; GC,
-- profile; action; GC, profile; stop. An allocation site whose live sampled
-- bytes grew after both actions is a leak site.
--   local sampling_leak = require "memdbg.workflows.sampling_leak"
--   local r = assert(sampling_leak.run(session, { actionHttp = { url = "http://127.0.0.1:8080/" },
--     samplingInterval = 32768 }))   -- or through detect_leak.run(session, { sampling = true, ... })
--   -- r = {mode = "sampling", samplingInterval =, sites = {{functionName, url, line, column,
--   --   growth = {bytes1, bytes2}, liveBytes, stack = {{functionName, url, line, column}, ...},
--   --   samples = {n0, n1, n2}, confidence = "high"|"low", note =}, ...}, actions = {...}}
-- Lines and columns are 1-based. V8 records which functions were on the stack
-- (each frame's own start position), not the statement inside the innermost
-- one: a site's line is where its allocating function (a constructor, a
-- closure) begins, as DevTools' allocation sampling shows it.
-- Guard rails: never a snapshot; at most one forced GC per step (noGC: none);
-- the profiler is stopped on every way out (errors, Ctrl-C); a dropped
-- connection ends the runtime's side of the profiler with the session.
local actions = require("memdbg.workflows.actions")
local format = require("memdbg.util.format")
local json = require("memdbg.util.json")

local sampling_leak = {}

sampling_leak.DEFAULT_INTERVAL = 32768
-- A round's growth resting on fewer new samples than this is within
-- sampling noise: said, not hidden.
sampling_leak.MIN_SAMPLES = 4

local function frame_of(cf)
  cf = type(cf) == "table" and cf or {}
  local name = type(cf.functionName) == "string" and cf.functionName or ""
  local line, col = tonumber(cf.lineNumber) or -1, tonumber(cf.columnNumber) or -1
  return {
    functionName = name ~= "" and name or "(anonymous)",
    url = type(cf.url) == "string" and cf.url or "",
    line = line >= 0 and math.floor(line + 1) or json.null,
    column = col >= 0 and math.floor(col + 1) or json.null,
  }
end

local function frame_key(f)
  return string.format("%s %s:%s:%s", f.functionName, f.url, tostring(f.line), tostring(f.column))
end

--- sites(profile) -> {key = {stack = {innermost first...}, bytes =, samples =}}
--- per distinct allocating stack (self bytes of live samples).
function sampling_leak.sites(p)
  local counts = {}
  for _, s in ipairs(p.samples or {}) do
    local id = tonumber(s.nodeId)
    if id then counts[id] = (counts[id] or 0) + 1 end
  end
  local out = {}
  local stack, keys = {}, {}
  local function walk(node, depth)
    if depth > 0 then
      stack[depth] = frame_of(node.callFrame)
      keys[depth] = frame_key(stack[depth])
    end
    local self = tonumber(node.selfSize) or 0
    if depth > 0 and self > 0 then
      local frames, kparts = {}, {}
      for i = depth, 1, -1 do
        frames[#frames + 1] = stack[i]
        kparts[#kparts + 1] = keys[i]
      end
      local key = table.concat(kparts, "\n")
      local site = out[key]
      if not site then
        site = { stack = frames, bytes = 0, samples = 0 }
        out[key] = site
      end
      site.bytes = site.bytes + self
      site.samples = site.samples + (counts[tonumber(node.id)] or 0)
    end
    for _, c in ipairs(type(node.children) == "table" and node.children or {}) do walk(c, depth + 1) end
    stack[depth + 1], keys[depth + 1] = nil, nil
  end
  walk(p.head, 0)
  return out
end

-- V8's pseudo-frames for allocations outside JavaScript ("(BYTECODE_COMPILER)",
-- "(V8 API)", "(PARSER)", "(GC)") and the inspector's own evaluation: runtime
-- work, never the program's leak site.
-- A frame of the runtime's own library: Node's and Deno's built-in modules.
local function runtime_frame(f)
  return f.url == "" or f.url:match("^node:") ~= nil or f.url:match("^ext:") ~= nil
end

local function runtime_internal(site)
  local f = site.stack[1]
  if f.url == "" and f.functionName:match("^%(.*%)$") and f.functionName ~= "(anonymous)" then
    return "allocations by the runtime itself (" .. f.functionName .. ")"
  end
  -- Node's write requests and their buffers live until the socket drains, so
  -- two profiles see whatever traffic was in flight; a leaked socket or stream
  -- is allocated elsewhere (a correct twin had one grow 74 KiB, then 40 KiB)
  if f.url == "node:internal/stream_base_commons" then
    return "writes in flight (node:internal/stream_base_commons), alive until the socket drains"
  end
  for _, frame in ipairs(site.stack) do
    if not runtime_frame(frame) then return nil end
  end
  return "the runtime's own work: no frame of the program in its stack (its HTTP server, its streams)"
end

-- Live samples of a site are a Poisson count: a bounded set of live objects
-- (an LRU cache) shows counts that wander around a mean, and two rises in a
-- row happen by chance (a correct twin: 0, 5, 9 samples). A rise counts when
-- it is beyond two standard deviations of the difference of the two counts.
local function beyond_noise(before, after)
  return after - before > 2 * math.sqrt(before + after)
end

--- grown(p0, p1, p2) -> sites that grew in both rounds, largest growth first
function sampling_leak.grown(profiles, interval)
  local s0, s1, s2 = sampling_leak.sites(profiles[1]), sampling_leak.sites(profiles[2]),
    sampling_leak.sites(profiles[3])
  local out = json.array()
  for key, c in pairs(s2) do
    local a, b = s0[key] or { bytes = 0, samples = 0 }, s1[key] or { bytes = 0, samples = 0 }
    local g1, g2 = b.bytes - a.bytes, c.bytes - b.bytes
    if g1 > 0 and g2 > 0 then
      local top = c.stack[1]
      local dn1, dn2 = b.samples - a.samples, c.samples - b.samples
      local site = {
        functionName = top.functionName, url = top.url, line = top.line, column = top.column,
        growth = json.array { g1, g2 }, liveBytes = c.bytes, stack = json.array(c.stack),
        samples = json.array { a.samples, b.samples, c.samples },
        confidence = "high",
      }
      if math.min(dn1, dn2) < sampling_leak.MIN_SAMPLES or not beyond_noise(a.samples, b.samples)
        or not beyond_noise(b.samples, c.samples) then
        site.confidence = "low"
        site.note = string.format("within sampling noise: the growth rests on %d and %d new samples (one per "
          .. "~%s allocated); run more requests per action or a smaller --sampling-interval to tell", dn1, dn2,
          format.bytes(interval))
      end
      site.runtimeInternal = runtime_internal(c)
      out[#out + 1] = site
    end
  end
  table.sort(out, function(x, y)
    if (x.runtimeInternal ~= nil) ~= (y.runtimeInternal ~= nil) then return y.runtimeInternal ~= nil end
    if (x.confidence == "high") ~= (y.confidence == "high") then return x.confidence == "high" end
    local gx, gy = x.growth[1] + x.growth[2], y.growth[1] + y.growth[2]
    if gx ~= gy then return gx > gy end
    return x.liveBytes > y.liveBytes
  end)
  return out
end

local function unsupported(msg, code)
  if code == "EUNSUPPORTED" then
    return nil, tostring(msg) .. "; hunt with heap snapshots instead: `memdbg leaks` without --sampling "
      .. "(detect_leak.run without sampling = true)", code
  end
  return nil, msg, code
end

--- run(session, {action= | actionCommand= | actionHttp= | duration=, samplingInterval=32768,
---   noGC=false, actionTimeout=300, allowRemote=, traffic=fn, onStep=fn(step, detail), top=})
--- -> report | nil, message, code
function sampling_leak.run(session, opts)
  opts = opts or {}
  local act, aerr = actions.from(opts)
  if not act then error("sampling_leak.run: " .. aerr, 2) end
  local interval = opts.samplingInterval or sampling_leak.DEFAULT_INTERVAL
  if type(interval) ~= "number" or interval < 1 or interval ~= math.floor(interval) then
    error("sampling_leak.run: samplingInterval must be a whole number of bytes", 2)
  end
  local step = opts.onStep or function() end
  local mem = session.memory
  local traffic = opts.traffic or session.traffic
  local report = { mode = "sampling", samplingInterval = interval, sites = json.array(),
    actions = json.array(), gc = not opts.noGC }

  local ok, err, code = mem:startSamplingHeapProfiler { samplingInterval = interval }
  if not ok then return unsupported(err, code) end
  local started = true

  local function stop()
    if not started then return true end
    started = false
    if not session:isOpen() then return true end
    return mem:stopSamplingHeapProfiler()
  end

  local function hunt()
    local profiles = {}
    for i, name in ipairs { "baseline", "target", "final" } do
      if i > 1 then
        step("action", i - 1)
        local done, e, c = actions.run(session, act, { timeout = opts.actionTimeout, traffic = traffic })
        if not done then return nil, e, c end
        report.actions[i - 1] = done
      end
      if not opts.noGC then
        step("gc", name)
        local g, e, c = mem:collectGarbage { whileWaiting = traffic }
        if not g then return nil, e, c end
      end
      step("profile", name)
      local p, e, c = mem:getSamplingProfile { whileWaiting = traffic }
      if not p then return unsupported(e, c) end
      profiles[i] = p
    end
    return profiles
  end

  local okh, profiles, herr, hcode = pcall(hunt)
  if not okh then
    pcall(stop) -- Ctrl-C ("interrupted!") or an error: the profiler does not stay on
    error(profiles, 0)
  end
  local sok, serr, scode = stop()
  if not profiles then return nil, herr, hcode, report end
  if not sok then return nil, serr, scode, report end
  step("analyse")
  report.sites = sampling_leak.grown(profiles, interval)
  return report
end

--- The JSON document of `memdbg leaks --sampling --json`.
function sampling_leak.to_json(report, top)
  local sites = json.array()
  for i, s in ipairs(report.sites) do
    if top and i > top then break end
    sites[i] = s
  end
  return { mode = "sampling", samplingInterval = report.samplingInterval, sites = sites, actions = report.actions }
end

local function where(f)
  local url = f.url ~= "" and f.url or "(no script)"
  if type(f.line) ~= "number" then return url end -- json.null: V8 gave no position
  return string.format("%s:%d:%d", url, f.line, type(f.column) == "number" and f.column or 0)
end

--- A human report.
function sampling_leak.format(report, top)
  local out = {}
  local sites = report.sites
  local confident = 0
  for _, s in ipairs(sites) do
    if s.confidence == "high" and not s.runtimeInternal then confident = confident + 1 end
  end
  if #sites == 0 then
    out[#out + 1] = "No allocation site's live memory grew after both actions (no snapshot was taken).\n"
  else
    out[#out + 1] = string.format("Allocation sites whose live memory grew after each action (sampled every %s; "
      .. "no snapshot was taken):\n", format.bytes(report.samplingInterval))
    for i, s in ipairs(sites) do
      if top and i > top then
        out[#out + 1] = string.format("  ... and %d more\n", #sites - top)
        break
      end
      out[#out + 1] = string.format("%2d. %s  %s\n    +%s, then +%s; %s live%s\n", i, s.functionName, where(s),
        format.bytes(s.growth[1]), format.bytes(s.growth[2]), format.bytes(s.liveBytes),
        s.runtimeInternal and ("  [runtime-internal: " .. s.runtimeInternal .. "]") or "")
      if s.note then out[#out + 1] = "    note: " .. s.note .. "\n" end
      for j, f in ipairs(s.stack) do
        if j > 8 then
          out[#out + 1] = string.format("      ... %d more frames\n", #s.stack - 8)
          break
        end
        out[#out + 1] = string.format("      at %s (%s)\n", f.functionName, where(f))
      end
    end
    if confident == 0 then
      out[#out + 1] = "None of them grew beyond sampling noise.\n"
    end
  end
  out[#out + 1] = "Lines are where each function begins: V8's sampling profiler records functions, not statements.\n"
  return table.concat(out)
end

--- Leak sites that count for the exit status: confident and not the runtime's own.
function sampling_leak.found(report)
  local n = 0
  for _, s in ipairs(report.sites) do
    if s.confidence == "high" and not s.runtimeInternal then n = n + 1 end
  end
  return n
end

return sampling_leak
