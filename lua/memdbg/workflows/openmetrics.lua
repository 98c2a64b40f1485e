-- The monitor's samples as OpenMetrics text (and Prometheus' text format
-- 0.0.4, for scrapers that do not ask for OpenMetrics), so an existing
-- Prometheus watches a fleet of processes.
--
--   local om = require "memdbg.workflows.openmetrics"
--   local exp = om.exporter(om.labels(session))
--   exp:add(sample)                      -- each monitor sample (onSample)
--   exp:text("openmetrics"|"prometheus") -- the latest values, for a scrape
--   om.series(each, labels)              -- a whole series with timestamps
--                                        -- (promtool tsdb create-blocks-from openmetrics)
--
-- Metrics, each labelled with the target (runtime, endpoint, target = its
-- title, url):
--   memdbg_heap_used_bytes, memdbg_heap_total_bytes  gauges, the last answered sample
--   memdbg_heap_limit_bytes                          gauge, when the heap has a limit
--   memdbg_heap_used_after_gc_bytes                  gauge, the last sample after a forced GC
--   memdbg_samples_total, memdbg_sample_gaps_total   counters (gaps: samples not answered in time)
--   memdbg_alerts_total{rule="limit"|"trend"}        counter
local om = {}

local FAMILIES = {
  { "memdbg_heap_used_bytes", "gauge", "bytes", "Heap in use (the runtime's usedSize)." },
  { "memdbg_heap_total_bytes", "gauge", "bytes", "Heap reserved (the runtime's totalSize)." },
  { "memdbg_heap_limit_bytes", "gauge", "bytes", "Heap size at which the runtime runs out of memory." },
  { "memdbg_heap_used_after_gc_bytes", "gauge", "bytes", "Heap in use right after the last forced GC." },
  { "memdbg_samples", "counter", nil, "Heap usage samples taken." },
  { "memdbg_sample_gaps", "counter", nil, "Samples the runtime did not answer in time." },
  { "memdbg_alerts", "counter", nil, "Alerts fired, by rule." },
}
local RULES = { "limit", "trend" }

local function escape(v)
  return (tostring(v):gsub("[\\\"\n]", { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n" }))
end

--- labels(session) -> {{name, value}, ...}: what names the target.
function om.labels(session)
  local target = session.isolate or session.target or {}
  local list = {}
  -- the inspector's address as connected to (the ws URL's), not as typed
  local where = type(session.url) == "string" and session.url:match("^wss?://([^/]+)") or session.endpoint
  for _, kv in ipairs { { "runtime", session.runtime }, { "endpoint", where },
    { "target", target.title }, { "url", target.url } } do
    if kv[2] ~= nil and kv[2] ~= "" then list[#list + 1] = kv end
  end
  return list
end

local function label_text(labels, extra)
  local parts = {}
  for _, kv in ipairs(labels) do parts[#parts + 1] = kv[1] .. '="' .. escape(kv[2]) .. '"' end
  if extra then parts[#parts + 1] = extra end
  return #parts > 0 and "{" .. table.concat(parts, ",") .. "}" or ""
end

local function number(v)
  if v == math.floor(v) and math.abs(v) < 2 ^ 53 then return string.format("%d", v) end
  return string.format("%.17g", v)
end

-- The header lines of a family in either format.
local function header(out, fam, format)
  local name, kind, unit, help = fam[1], fam[2], fam[3], fam[4]
  if format == "openmetrics" then
    out[#out + 1] = "# TYPE " .. name .. " " .. kind
    if unit then out[#out + 1] = "# UNIT " .. name .. " " .. unit end
    out[#out + 1] = "# HELP " .. name .. " " .. help
  else
    local full = kind == "counter" and name .. "_total" or name
    out[#out + 1] = "# HELP " .. full .. " " .. help
    out[#out + 1] = "# TYPE " .. full .. " " .. kind
  end
end

-- The values of a family for one state: {{suffix-free extra label or nil, value}, ...}
local function values(state, name)
  if name == "memdbg_heap_used_bytes" then return state.last and { { nil, state.last.usedSize } } end
  if name == "memdbg_heap_total_bytes" then return state.last and { { nil, state.last.totalSize } } end
  if name == "memdbg_heap_limit_bytes" then return state.limit and { { nil, state.limit } } end
  if name == "memdbg_heap_used_after_gc_bytes" then return state.lastGc and { { nil, state.lastGc.usedSize } } end
  if name == "memdbg_samples" then return { { nil, state.count } } end
  if name == "memdbg_sample_gaps" then return { { nil, state.gaps } } end
  if name == "memdbg_alerts" then
    local list = {}
    for _, rule in ipairs(RULES) do list[#list + 1] = { 'rule="' .. rule .. '"', state.alerts[rule] or 0 } end
    return list
  end
end

local function new_state()
  return { count = 0, gaps = 0, alerts = {} }
end

local function add(state, s)
  state.count = state.count + 1
  state.limit = s.limit or state.limit
  if s.gap then
    state.gaps = state.gaps + 1
  else
    state.last = s
    if s.gc then state.lastGc = s end
  end
  for rule in (s.alert or ""):gmatch("[^,]+") do state.alerts[rule] = (state.alerts[rule] or 0) + 1 end
end

local Exporter = {}
Exporter.__index = Exporter

--- exporter(labels) -> an object that keeps the latest values of a series.
function om.exporter(labels)
  return setmetatable({ labels = labels, state = new_state() }, Exporter)
end

function Exporter:add(sample)
  add(self.state, sample)
end

--- text(format): "openmetrics" (ends with # EOF) or "prometheus" (0.0.4).
function Exporter:text(format)
  local out = {}
  for _, fam in ipairs(FAMILIES) do
    local vals = values(self.state, fam[1])
    if vals then
      header(out, fam, format)
      local name = fam[2] == "counter" and fam[1] .. "_total" or fam[1]
      for _, v in ipairs(vals) do out[#out + 1] = name .. label_text(self.labels, v[1]) .. " " .. number(v[2]) end
    end
  end
  if format == "openmetrics" then out[#out + 1] = "# EOF" end
  return table.concat(out, "\n") .. "\n"
end

--- series(each, labels, emit): the whole series as one OpenMetrics document,
--- each value with its timestamp (seconds), one family after another as the
--- format requires; each(fn) calls fn(sample) for every sample in order (it is
--- called once per family and rule, so the series need not be in memory).
--- emit(text) receives the text piece by piece.
function om.series(each, labels, emit)
  local base
  each(function(s) base = base or (s.time - s.t) end)
  for _, fam in ipairs(FAMILIES) do
    local name = fam[2] == "counter" and fam[1] .. "_total" or fam[1]
    local headed = false
    -- the alerts family holds one series per rule, each in time order
    for _, rule in ipairs(fam[1] == "memdbg_alerts" and RULES or { false }) do
      local state, lastLimit = new_state(), nil
      each(function(s)
        add(state, s)
        local fresh = true
        if fam[1] == "memdbg_heap_used_bytes" or fam[1] == "memdbg_heap_total_bytes" then fresh = not s.gap end
        if fam[1] == "memdbg_heap_used_after_gc_bytes" then fresh = s.gc and not s.gap end
        if fam[1] == "memdbg_heap_limit_bytes" then
          fresh = state.limit ~= nil and state.limit ~= lastLimit
          lastLimit = state.limit
        end
        local vals = fresh and values(state, fam[1])
        for _, v in ipairs(vals or {}) do
          if not rule or v[1] == 'rule="' .. rule .. '"' then
            if not headed then
              local head = {}
              header(head, fam, "openmetrics")
              emit(table.concat(head, "\n") .. "\n")
              headed = true
            end
            emit(string.format("%s%s %s %.3f\n", name, label_text(labels, v[1]), number(v[2]), (base or 0) + s.t))
          end
        end
      end)
    end
  end
  emit("# EOF\n")
end

return om
