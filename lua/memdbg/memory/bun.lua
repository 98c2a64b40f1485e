-- The Bun memory adapter: Bun speaks the WebKit inspector protocol, not CDP
-- (no HeapProfiler domain, no Runtime.getHeapUsage). The interface is
-- documented at the top of lua/memdbg/memory/init.lua; this is what each method
-- maps to:
--   getHeapUsage     Runtime.evaluate of process.memoryUsage() (by value):
--                    usedSize = heapUsed (JSC's heap size, which counts the
--                    "extra" memory of typed arrays; it moves at collections),
--                    totalSize = heapTotal + external (at least usedSize), and
--                    Bun's own fields (rss, heapUsed, heapTotal, external, arrayBuffers)
--   collectGarbage   Heap.gc
--   takeHeapSnapshot Heap.snapshot: the whole JSC snapshot arrives as one string
--                    in the reply; on the path route the C sink writes
--                    result.snapshotData straight to PATH.partial, so the text
--                    never crosses into Lua and is never copied a second time
--   startTracking    Heap.startTracking (its Heap.trackingStart event carries a
--                    whole snapshot too: sunk into a temporary file and dropped)
--   stopTracking     Heap.stopTracking; the Heap.trackingComplete event's
--                    snapshot is sunk to the file. JSC snapshots carry no
--                    allocation stacks, so there are no allocation sites.
--   startSampling/stopSampling: nil, "bun does not support the sampling heap
--                    profiler", "EUNSUPPORTED"
--   evaluate         Runtime.evaluate (WebKit reports exceptions as wasThrown);
--                    WebKit has no awaitPromise on evaluate, so the expression is
--                    run by an indirect eval wrapped in a promise that never
--                    rejects (Bun exits on an unhandled rejection), then
--                    Runtime.awaitPromise; its objects are released afterwards
--                    (object group "memdbg") so they never show up in a heap.
local json = require("memdbg.util.json")

local bun = {}
local Adapter = {}
Adapter.__index = Adapter

local SLOW = 120
local GROUP = "memdbg"

function bun.new(session, mem)
  return setmetatable({ session = session, memory = mem }, Adapter)
end

function Adapter:send(method, params, timeout)
  return self.session:sendCommand { method = method, params = params, timeout = timeout }
end

function Adapter:enableHeap()
  if self.heapEnabled then return true end
  local r, msg, code = self:send("Heap.enable")
  if not r then return nil, msg, code end
  self.heapEnabled = true
  return true
end

------------------------------------------------------------------ evaluate

-- The first line of an exception as the runtime describes it, and where.
local function describe(e)
  local text_of = require("memdbg.util.describe")
  if type(e) ~= "table" then return text_of(e) end
  local text = text_of(e.description or e.message or "an exception"):match("^[^\n]*")
  if type(e.stack) == "string" then
    -- JSC: "fn@url:line:col" lines; Bun prefixes "Error: msg" and "    at ..." lines
    for line in e.stack:gmatch("[^\n]+") do
      local top = line:match("^%s*at%s+(.-)%s*$") or line:match("^%s*(%S*@%S+)%s*$")
      if top and top ~= "" then
        text = text .. " (at " .. top .. ")"
        break
      end
    end
  end
  return text
end

-- Wraps EXPR so that its value (or a promise's) comes back as {v=} and any
-- exception, thrown or rejected, as {e={description=, stack=}}.
local function wrap(expr)
  local err = "function(e){return{e:{description:String(e),stack:e&&typeof e.stack==='string'?e.stack:undefined}}}"
  return "(function(){var E=" .. err .. ";try{return Promise.resolve((0,eval)(" .. json.encode(expr)
    .. ")).then(function(v){return{v:v}},E)}catch(e){return Promise.resolve(E(e))}})()"
end

function Adapter:evaluate(expr, opts)
  local s = self.session
  local timeout = opts.timeout or SLOW
  local await = opts.awaitPromise
  if await == nil then await = true end
  local byValue = opts.returnByValue ~= false
  local function threw(what)
    return nil, string.format("the expression %q threw: %s", expr, describe(what)), "EEXCEPTION"
  end
  local function release()
    s:sendCommand { method = "Runtime.releaseObjectGroup", params = { objectGroup = GROUP }, timeout = 5 }
  end
  if not await then
    local r, msg, code = s:sendCommand { method = "Runtime.evaluate", timeout = timeout, params = {
      expression = expr, returnByValue = byValue, contextId = opts.contextId, objectGroup = GROUP } }
    if not r then return nil, msg, code end
    local res = type(r.result) == "table" and r.result or {}
    if r.wasThrown then
      release() -- the exception is held as a remote object even by value
      return threw(res)
    end
    if res.value ~= nil then return res.value, res end
    return res.description or res.type or true, res
  end
  local r, msg, code = s:sendCommand { method = "Runtime.evaluate", timeout = timeout, params = {
    expression = wrap(expr), returnByValue = false, contextId = opts.contextId, objectGroup = GROUP } }
  if not r then return nil, msg, code end
  local p = type(r.result) == "table" and r.result or {}
  if r.wasThrown or not p.objectId then
    release()
    return threw(p)
  end
  r, msg, code = s:sendCommand { method = "Runtime.awaitPromise", timeout = timeout,
    params = { promiseObjectId = p.objectId, returnByValue = true } }
  release()
  if not r then return nil, msg, code end
  local res = type(r.result) == "table" and r.result or {}
  local box = type(res.value) == "table" and res.value or {}
  if r.wasThrown then return threw(res) end
  if box.e ~= nil then return threw(box.e) end
  local v = box.v
  if v == nil then return true, { type = "undefined" } end
  return v, { type = type(v), value = v }
end

------------------------------------------------------------------ usage, GC

function Adapter:getHeapUsage(opts)
  local v, msg, code = self:evaluate("process.memoryUsage()", { awaitPromise = false,
    timeout = opts and opts.timeout or 30 })
  if v == nil then return nil, msg, code end
  if type(v) ~= "table" or type(v.heapUsed) ~= "number" or type(v.heapTotal) ~= "number" then
    return nil, "process.memoryUsage() in Bun answered without heapUsed/heapTotal", "EPROTO"
  end
  local total = v.heapTotal + (tonumber(v.external) or 0)
  if total < v.heapUsed then total = v.heapUsed end
  return {
    usedSize = v.heapUsed, totalSize = total,
    heapUsed = v.heapUsed, heapTotal = v.heapTotal, external = v.external,
    arrayBuffers = v.arrayBuffers, rss = v.rss, source = "process.memoryUsage()",
  }
end

-- Sends `method` and waits for its reply, calling whileWaiting about every
-- 0.25 s. Returns the result or nil, msg, code.
local function wait_reply(self, method, params, timeout, whileWaiting)
  local s, reply = self.session, nil
  local id, serr, scode = s:sendCommand { method = method, params = params, timeout = timeout,
    callback = function(r, err, code) reply = { r, err, code } end }
  if not id and not reply then return nil, serr, scode end
  while not reply do
    if whileWaiting then whileWaiting() end
    local ok, perr, pcode = s:poll(0.25)
    if not ok and not reply then return nil, perr, pcode end
  end
  return reply[1], reply[2], reply[3]
end

function Adapter:collectGarbage(opts)
  local r, msg, code = wait_reply(self, "Heap.gc", nil, opts.timeout or SLOW, opts.whileWaiting)
  if not r then return nil, msg, code end
  return true
end

------------------------------------------------------------------ snapshots

local function failed(o, msg, code, bytes, kept)
  local where = ""
  if o.partial then
    where = kept and ("; the partial file is kept at " .. kept) or ("; nothing was written to " .. o.path)
  end
  return nil, string.format("heap snapshot failed: %s (%d bytes had arrived%s)", tostring(msg), bytes or 0, where), code
end

-- Waits on the stream until done(); a snapshot arrives whole, in one
-- message: o.timeout bounds the whole wait.
local function wait(st, o, done)
  return st:wait { done = done, deadline = o.timeout, whileWaiting = o.whileWaiting, keepPartial = o.keepPartial,
    stalled = string.format("Bun sent no snapshot within %g s", o.timeout) }
end

-- The stream's failure: the partial file dropped (or kept), the message.
local function give_up(st, o, msg, code)
  local bytes = st:status()
  return failed(o, msg, code, bytes, st:abandon(o.keepPartial))
end

function Adapter:takeHeapSnapshot(o)
  local ok, msg, code = self:enableHeap()
  if not ok then return nil, msg, code end
  local s = self.session
  local reply
  local id, serr, scode = s:sendCommand { method = "Heap.snapshot", timeout = 1e9,
    callback = function(r, err, ecode) reply = { r, err, ecode } end }
  if not id then return failed(o, serr or "sending Heap.snapshot failed", scode or "ECLOSED") end
  -- The command is only queued: its reply cannot arrive before the next
  -- wait, so the sink is in place in time.
  local st, sinkErr, sinkCode = s:stream(o.partial and { path = o.partial, replyId = id, field = "snapshotData",
    noClobber = o.noClobber, force = o.force, command = id } or { command = id })
  if not st then return nil, sinkErr, sinkCode end
  ok, msg, code = wait(st, o, function()
    if not reply then return nil end
    if not reply[1] then return false, reply[2], reply[3] end
    return true
  end)
  if not ok then return give_up(st, o, msg, code) end
  local r = reply[1]
  if o.partial then
    if r.ok ~= true or type(r.memdbgSinkBytes) ~= "number" then
      return give_up(st, o, "the reply to Heap.snapshot held no snapshotData string", "EPROTO")
    end
    local bytes, ferr, fcode = st:finish(o.path)
    if not bytes then return failed(o, ferr, fcode, r.memdbgSinkBytes) end
    if o.onBytes then o.onBytes(bytes, 1) end
    return { bytes = bytes, chunks = 1, timestamp = r.timestamp }
  end
  st:finish()
  if type(r.snapshotData) ~= "string" then
    return failed(o, "the reply to Heap.snapshot held no snapshotData string", "EPROTO")
  end
  local data = r.snapshotData
  r.snapshotData = nil
  o.onChunk(data)
  if o.onBytes then o.onBytes(#data, 1) end
  return { bytes = #data, chunks = 1, timestamp = r.timestamp }
end

------------------------------------------------------------------ tracking

function Adapter:startTracking()
  local ok, msg, code = self:enableHeap()
  if not ok then return nil, msg, code end
  local s = self.session
  -- Heap.trackingStart carries a whole snapshot that nobody asked for: sink
  -- it into a private temporary file and drop it, so it never reaches Lua.
  local tmp = os.tmpname()
  local st = s:stream { path = tmp, method = "Heap.trackingStart", field = "snapshotData" }
  local r
  r, msg, code = self:send("Heap.startTracking", nil, SLOW)
  if st then
    -- the event comes before the reply: give a late one a moment anyway
    if r then st:wait { done = function() return st:status() > 0 or nil end, deadline = 1 } end
    st:abandon()
  end
  os.remove(tmp)
  if not r then return nil, msg, code end
  self.tracking = true
  return true
end

function Adapter:stopTracking(o)
  local s = self.session
  local reply, data, sub
  local st, sinkErr, sinkCode = s:stream(o.partial and { path = o.partial, method = "Heap.trackingComplete",
    field = "snapshotData", noClobber = o.noClobber, force = o.force } or {})
  if not st then return nil, sinkErr, sinkCode end
  if not o.partial then
    sub = s:subscribe("Heap.trackingComplete", function(p)
      if type(p.snapshotData) == "string" then data = p.snapshotData end
    end)
  end
  local id, serr, scode = s:sendCommand { method = "Heap.stopTracking", timeout = 1e9,
    callback = function(r, err, ecode) reply = { r, err, ecode } end }
  self.tracking = false
  local ok, msg, code
  if not id then
    ok, msg, code = nil, serr or "sending Heap.stopTracking failed", scode or "ECLOSED"
  else
    st:command(id)
    -- the snapshot comes in an event, before or after the reply
    ok, msg, code = wait(st, o, function()
      if reply and not reply[1] then return false, reply[2], reply[3] end
      if not reply then return nil end
      if o.partial then return st:status() > 0 or nil end
      return data ~= nil or nil
    end)
  end
  if sub then sub:cancel() end
  if not ok then return give_up(st, o, msg, code) end
  if o.partial then
    local bytes, ferr, fcode = st:finish(o.path)
    if not bytes then return failed(o, ferr, fcode) end
    if o.onBytes then o.onBytes(bytes, 1) end
    return { bytes = bytes, chunks = 1 }
  end
  st:finish()
  o.onChunk(data)
  if o.onBytes then o.onBytes(#data, 1) end
  return { bytes = #data, chunks = 1 }
end

------------------------------------------------------------------ the rest

local NO_SAMPLING = "bun does not support the sampling heap profiler"

function Adapter.startSampling()
  return nil, NO_SAMPLING, "EUNSUPPORTED"
end

function Adapter.stopSampling()
  return nil, NO_SAMPLING, "EUNSUPPORTED"
end

function Adapter:close()
  -- best effort: leave Bun as we found it, without waiting long
  local s = self.session
  if not s:isOpen() then return end
  if self.tracking then s:sendCommand { method = "Heap.stopTracking", timeout = 2 } end
end

return bun
