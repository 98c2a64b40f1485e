-- Chromium pages: the CDP adapter (memory/cdp.lua) plus what only a
-- browser renderer answers. memory.lua exposes them as
--   session.memory:getDOMCounters()        -> {documents=, nodes=, jsEventListeners=}
--   session.memory:getPerformanceMetrics() -> {JSHeapUsedSize=, JSHeapTotalSize=, Nodes=,
--                                              JSEventListeners=, Documents=, ...}
-- and every other runtime gives nil, "<runtime> does not support ...", "EUNSUPPORTED".
-- Chromium's browser-level websocket answers none of these (nor the heap
-- commands): attach to a page first (session:attach).
--
-- Not exposed: Memory.prepareForLeakDetection / getDOMCountersForLeakDetection
-- crash the renderer unless Chromium runs with --js-flags=--expose-gc.
local cdp = require("memdbg.memory.cdp")

local chrome = {}

local Chrome = {}
Chrome.__index = Chrome

-- Integers stay integers in Lua 5.4 (the JSON decoder gives 31.0).
local toint = math.tointeger or function(x) return x end
local function int(x)
  if type(x) == "number" and x == math.floor(x) then return toint(x) or x end
  return x
end

function chrome.new(session, mem)
  local a = cdp.new(session, mem)
  if getmetatable(Chrome) == nil then setmetatable(Chrome, { __index = getmetatable(a) }) end
  return setmetatable(a, Chrome)
end

--- Memory.getDOMCounters: live documents, DOM nodes (detached ones too, until
--- collected) and JS event listeners of the page's renderer.
function Chrome:getDOMCounters()
  local r, msg, code = self:send("Memory.getDOMCounters", nil, nil, "DOM counters (Memory.getDOMCounters)")
  if not r then return nil, msg, code end
  if type(r.nodes) ~= "number" or type(r.documents) ~= "number" then
    return nil, "Memory.getDOMCounters answered without nodes/documents", "EPROTO"
  end
  return { documents = int(r.documents), nodes = int(r.nodes), jsEventListeners = int(r.jsEventListeners) }
end

--- Performance.getMetrics (Performance.enable is sent once first): the
--- metrics as a table name -> value.
function Chrome:getPerformanceMetrics()
  local what = "performance metrics (Performance.getMetrics)"
  if not self.performanceEnabled then
    local ok, msg, code = self:send("Performance.enable", nil, nil, what)
    if not ok then return nil, msg, code end
    self.performanceEnabled = true
  end
  local r, msg, code = self:send("Performance.getMetrics", nil, nil, what)
  if not r then return nil, msg, code end
  if type(r.metrics) ~= "table" then return nil, "Performance.getMetrics answered without metrics", "EPROTO" end
  local out = {}
  for _, m in ipairs(r.metrics) do
    if type(m) == "table" and type(m.name) == "string" then out[m.name] = int(m.value) end
  end
  return out
end

function Chrome:close()
  local s = self.session
  if self.performanceEnabled and s:isOpen() then
    s:sendCommand { method = "Performance.disable", timeout = 2 }
    self.performanceEnabled = false
  end
  return getmetatable(Chrome).__index.close(self)
end

return chrome
