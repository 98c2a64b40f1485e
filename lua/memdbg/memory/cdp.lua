-- The Chrome DevTools Protocol memory adapter: Node, Chromium pages, Deno,
-- workerd and anything unknown that speaks CDP. The interface is documented
-- at the top of lua/memdbg/memory/init.lua.
local memory = require("memdbg.memory")

local cdp = {}
local Adapter = {}
Adapter.__index = Adapter

-- Commands that make the runtime do real work (GC, profiles) get this long.
local SLOW = 120

function cdp.new(session, mem)
  return setmetatable({ session = session, memory = mem }, Adapter)
end

-- "'HeapProfiler' domain was not found" / "wasn't found" -> EUNSUPPORTED
local function unsupported_reply(self, msg, code, what)
  if code == "ECOMMAND" and msg and (msg:find("not found") or msg:find("wasn't found")) then
    return nil, string.format("%s does not support %s (%s)", self.session.runtime or "unknown", what, msg),
      "EUNSUPPORTED"
  end
  return nil, msg, code
end

function Adapter:send(method, params, timeout, what)
  local r, msg, code = self.session:sendCommand { method = method, params = params, timeout = timeout }
  if not r then return unsupported_reply(self, msg, code, what or method) end
  return r
end

function Adapter:enableHeapProfiler()
  if self.heapProfilerEnabled then return true end
  local ok, msg, code = self:send("HeapProfiler.enable", nil, nil, "the HeapProfiler domain")
  if not ok then return nil, msg, code end
  self.heapProfilerEnabled = true
  return true
end

-- V8's heap_size_limit through node:v8 (Node, Deno), else Chromium's
-- performance.memory; null where the runtime exposes neither (workerd).
local HEAP_LIMIT = "(() => { const p = globalThis.process; let v8 = null;"
  .. " try { v8 = p && typeof p.getBuiltinModule === 'function' ? p.getBuiltinModule('v8')"
  .. " : (typeof require === 'function' ? require('v8') : null); } catch (e) {}"
  .. " if (v8 && typeof v8.getHeapStatistics === 'function') return v8.getHeapStatistics().heap_size_limit;"
  .. " const m = globalThis.performance && globalThis.performance.memory;"
  .. " return m && m.jsHeapSizeLimit > 0 ? m.jsHeapSizeLimit : null; })()"

function Adapter:getHeapLimit(opts)
  local v, msg, code = self:evaluate(HEAP_LIMIT, { awaitPromise = false, timeout = opts.timeout })
  if v == nil then return nil, msg, code end
  if type(v) ~= "number" or v <= 0 then
    return nil, string.format("%s exposes no heap limit", self.session.runtime or "the runtime"), "EUNSUPPORTED"
  end
  return v
end

function Adapter:getHeapUsage(opts)
  local r, msg, code = self:send("Runtime.getHeapUsage", nil, opts and opts.timeout, "reading heap usage")
  if not r then return nil, msg, code end
  if type(r.usedSize) ~= "number" or type(r.totalSize) ~= "number" then
    return nil, "Runtime.getHeapUsage answered without usedSize/totalSize", "EPROTO"
  end
  return r
end

function Adapter:collectGarbage(opts)
  local ok, msg, code = self:enableHeapProfiler()
  if not ok then return nil, msg, code end
  local timeout = opts.timeout or SLOW
  if not opts.whileWaiting then
    local r
    r, msg, code = self:send("HeapProfiler.collectGarbage", nil, timeout, "garbage collection")
    if not r then return nil, msg, code end
    return true
  end
  local reply
  local s = self.session
  local id, serr, scode = s:sendCommand { method = "HeapProfiler.collectGarbage", timeout = timeout,
    callback = function(r, err, ecode) reply = { r, err, ecode } end }
  if not id and not reply then return nil, serr, scode end
  while not reply do
    opts.whileWaiting()
    local okp, perr, pcode = s:poll(0.25)
    if not okp and not reply then return nil, perr, pcode end
  end
  if not reply[1] then return unsupported_reply(self, reply[2], reply[3], "garbage collection") end
  return true
end

local function stream(self, o, method, params)
  local ok, msg, code = self:enableHeapProfiler()
  if not ok then return nil, msg, code end
  o.chunkMethod = "HeapProfiler.addHeapSnapshotChunk"
  o.progressMethod = "HeapProfiler.reportHeapSnapshotProgress"
  return memory.stream(self.session, o, function(cb)
    -- the idle timeout in memory.stream is the real limit: no total deadline
    return self.session:sendCommand { method = method, params = params, timeout = 1e9, callback = cb }
  end)
end

function Adapter:takeHeapSnapshot(o)
  return stream(self, o, "HeapProfiler.takeHeapSnapshot", { reportProgress = true })
end

function Adapter:startSampling(p)
  local ok, msg, code = self:enableHeapProfiler()
  if not ok then return nil, msg, code end
  local r
  r, msg, code = self:send("HeapProfiler.startSampling", p, nil, "the sampling heap profiler")
  if not r then return nil, msg, code end
  self.sampling = true
  return true
end

--- getSamplingProfile{whileWaiting=, timeout=}: the live sampled allocations
--- so far, the profiler kept running. workerd answers only while it handles
--- requests: whileWaiting sends them.
function Adapter:getSamplingProfile(opts)
  local s, reply = self.session, nil
  local id, serr, scode = s:sendCommand { method = "HeapProfiler.getSamplingProfile", timeout = opts.timeout or SLOW,
    callback = function(r, err, ecode) reply = { r, err, ecode } end }
  if not id and not reply then return nil, serr, scode end
  while not reply do
    if opts.whileWaiting then opts.whileWaiting() end
    local okp, perr, pcode = s:poll(0.25)
    if not okp and not reply then return nil, perr, pcode end
  end
  if not reply[1] then return unsupported_reply(self, reply[2], reply[3], "the sampling heap profiler") end
  local p = reply[1].profile
  if type(p) ~= "table" or type(p.head) ~= "table" then
    return nil, "HeapProfiler.getSamplingProfile answered without a profile", "EPROTO"
  end
  if type(p.samples) ~= "table" then p.samples = {} end
  return p
end

function Adapter:stopSampling()
  local r, msg, code = self:send("HeapProfiler.stopSampling", nil, SLOW, "the sampling heap profiler")
  if not r then return nil, msg, code end
  self.sampling = false
  if type(r.profile) ~= "table" or type(r.profile.head) ~= "table" then
    return nil, "HeapProfiler.stopSampling answered without a profile", "EPROTO"
  end
  local p = r.profile
  if type(p.samples) ~= "table" then p.samples = {} end
  return p
end

function Adapter:startTracking(p)
  local ok, msg, code = self:enableHeapProfiler()
  if not ok then return nil, msg, code end
  local r
  r, msg, code = self:send("HeapProfiler.startTrackingHeapObjects", p, SLOW, "allocation tracking")
  if not r then return nil, msg, code end
  self.tracking = true
  return true
end

function Adapter:stopTracking(o)
  local r, msg, code = stream(self, o, "HeapProfiler.stopTrackingHeapObjects", { reportProgress = true })
  self.tracking = false
  return r, msg, code
end

-- One line for a CDP exceptionDetails (Deno's adapter uses it too).
local function describe_exception(d)
  local ex = type(d.exception) == "table" and d.exception or {}
  local text = ex.description or ex.value or d.text or "an exception"
  if type(text) ~= "string" then text = require("memdbg.util.describe")(text) end
  text = text:match("^[^\n]*") or text
  local st = type(d.stackTrace) == "table" and d.stackTrace.callFrames
  local top = type(st) == "table" and st[1]
  if type(top) == "table" and type(top.url) == "string" and top.url ~= "" then
    text = text .. string.format(" (at %s %s:%d)", top.functionName ~= "" and top.functionName or "(anonymous)",
      top.url, (top.lineNumber or 0) + 1)
  end
  return text
end
cdp.describe_exception = describe_exception

-- workerd (and wrangler) has no default execution context: Runtime.evaluate
-- needs a contextId, which Runtime.disable + Runtime.enable announces in a
-- Runtime.executionContextCreated event.
function Adapter:workerContext(fresh)
  if self.contextId and not fresh then return self.contextId end
  local s, id = self.session, nil
  local sub = s:subscribe("Runtime.executionContextCreated", function(p)
    if type(p.context) == "table" and p.context.id then id = id or p.context.id end
  end)
  s:sendCommand { method = "Runtime.disable" }
  local r, msg, code = s:sendCommand { method = "Runtime.enable" }
  sub:cancel()
  if not r then return nil, msg, code end
  if not id then return nil, "workerd announced no execution context to evaluate in", "EPROTO" end
  self.contextId = id
  return id
end

function Adapter:evaluate(expr, opts)
  local await = opts.awaitPromise
  if await == nil then await = true end
  local params = {
    expression = expr,
    awaitPromise = await,
    returnByValue = opts.returnByValue ~= false,
    contextId = opts.contextId,
  }
  local worker = self.session.runtime == "workerd" and not opts.contextId
  if worker then
    local id, cmsg, ccode = self:workerContext()
    if not id then return nil, cmsg, ccode end
    params.contextId = id
  end
  local r, msg, code = self.session:sendCommand {
    method = "Runtime.evaluate", params = params, timeout = opts.timeout or SLOW }
  if not r and worker and code == "ECOMMAND" and tostring(msg):find("context") then
    -- the worker was reloaded (wrangler): its context id changed
    params.contextId = self:workerContext(true)
    r, msg, code = self.session:sendCommand {
      method = "Runtime.evaluate", params = params, timeout = opts.timeout or SLOW }
  end
  if not r then return nil, msg, code end
  if type(r.exceptionDetails) == "table" then
    return nil, string.format("the expression %q threw: %s", expr, describe_exception(r.exceptionDetails)),
      "EEXCEPTION"
  end
  local res = type(r.result) == "table" and r.result or {}
  if res.value ~= nil then return res.value, res end
  return res.description or res.type or true, res
end

function Adapter:close()
  -- best effort: leave the runtime as we found it, without waiting long
  local s = self.session
  if not s:isOpen() then return end
  if self.sampling then s:sendCommand { method = "HeapProfiler.stopSampling", timeout = 2 } end
end

return cdp
