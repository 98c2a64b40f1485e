-- session.memory: the memory domain of a connected runtime.
--
--   local usage = session.memory:getHeapUsage()        -- {usedSize=, totalSize=, ...}
--   assert(session.memory:collectGarbage())
--   local info = session.memory:takeHeapSnapshot{ path = "heap.heapsnapshot",
--     onProgress = function(done, total) end }         -- {path=, bytes=, seconds=, chunks=}
--   session.memory:startSamplingHeapProfiler{ samplingInterval = 32768 }
--   local profile = session.memory:stopSamplingHeapProfiler() -- {head=, samples=}
--   session.memory:startTrackingAllocations{ trackAllocations = true }
--   local tl = session.memory:stopTrackingAllocations{ path = "track.heapsnapshot" }
--   local value = session.memory:evaluate("handleRequests(10)")  -- for workflows' actions
--
-- Errors come back as nil, message, code; argument mistakes raise. An
-- operation the runtime lacks gives nil, "<runtime> does not support ...",
-- "EUNSUPPORTED".
--
-- Snapshot options (takeHeapSnapshot and stopTrackingAllocations):
--   path = FILE      chunks are written by the C sink straight to a new
--                    private file (mode 0600, unnamed, in FILE's directory)
--                    and never cross into Lua; it is fsynced and linked in as
--                    FILE when the runtime's reply arrives, replacing an
--                    existing regular FILE atomically. FILE is checked before
--                    the runtime is asked anything: a directory, a symbolic
--                    link, a FIFO, a socket, a device or a missing directory
--                    fail at once with "EPATH". On failure there is no new
--                    FILE and nothing else is left, unless keepPartial = true
--                    (then the data is kept as FILE.partial, or
--                    FILE.partial-XXXXXX when that name is taken).
--   noClobber = true fail with "EEXIST" when FILE exists (checked first, and
--                    again, atomically, when the file is linked in)
--   onChunk = fn(text)   instead of path: every chunk is handed to Lua.
--   onProgress = fn(done, total)  from HeapProfiler.reportHeapSnapshotProgress
--   onBytes = fn(bytes, chunks)   as data arrives (the path route polls the sink)
--   timeout = 30     idle timeout: fail when neither a chunk nor a progress
--                    report arrived for this many seconds (no total deadline)
--   keepPartial = false
--   whileWaiting = fn()  called about every 0.25 s while the snapshot runs
--                    (default: the session's traffic option, memdbg.connect{traffic = fn})
--
-- THE ADAPTER SEAM. Everything runtime-specific lives in
-- lua/memdbg/memory/<name>.lua; memory.adapters maps session.runtime to
-- the adapter's name (add Bun with `bun = "bun"` and memory/bun.lua). An
-- adapter module exports new(session, memory) -> adapter, an object that may
-- implement any of the methods below (a missing one means EUNSUPPORTED). Each
-- returns its result or nil, message, code. Arguments arrive validated.
--   adapter:getHeapUsage{timeout=}       -> {usedSize=, totalSize=, ...}
--   adapter:getHeapLimit{timeout=}       -> bytes (nil, msg, "EUNSUPPORTED" where none)
--   adapter:collectGarbage{whileWaiting=, timeout=} -> true
--   adapter:takeHeapSnapshot(o)          -> {bytes=, chunks=}; o is the snapshot
--       options above with o.partial (PATH.partial) set when o.path is; the
--       adapter streams through the C sink (conn:sinkStart{path = o.partial,
--       noClobber = o.noClobber, ...}: a new private file, o.partial being only
--       the name a kept partial gets) or to o.onChunk, calls o.onProgress and
--       o.onBytes, honours o.timeout as an idle timeout, and on success
--       links the file in as o.path (conn:sinkFinish(o.path)) only once the
--       runtime's reply arrived; on failure conn:sinkFinish(nil, o.keepPartial)
--       drops it (or keeps it, returning where).
--       memory.stream(session, o, start) below does this for runtimes that
--       send chunks as events, given a start(callback) that sends the command.
--       A runtime that sends the whole snapshot in one reply (Bun's
--       Heap.snapshot -> result.snapshotData) uses the C sink's reply form
--       instead: conn:sinkStart{path = o.partial, replyId = session._nextId,
--       field = "snapshotData"} right before sending, then the reply is
--       {memdbgSinkBytes = N, ok = true} and conn:sinkFinish(o.path) renames.
--   adapter:startSampling{samplingInterval=, includeObjectsCollectedByMajorGC=,
--       includeObjectsCollectedByMinorGC=} -> true
--   adapter:getSamplingProfile{whileWaiting=, timeout=} -> profile so far (running on)
--   adapter:stopSampling()               -> profile {head=, samples=} (CDP's
--       SamplingHeapProfile: nodes {callFrame={functionName,url,lineNumber,
--       columnNumber,scriptId}, selfSize, id, children})
--   adapter:startTracking{trackAllocations=} -> true
--   adapter:stopTracking(o)              -> like takeHeapSnapshot
--   adapter:evaluate(expr, {awaitPromise=, timeout=}) -> value (by value),
--       or nil, msg, "EEXCEPTION" when the expression threw
--   adapter:close()                      -> called by session:close()
local core = require("memdbg._core")
local files = require("memdbg.util.files")

local memory = {}

memory.adapters = {
  node = "cdp",
  chrome = "chrome", -- cdp plus getDOMCounters / getPerformanceMetrics
  deno = "deno", -- cdp with evaluate safe from "Promise was collected"
  workerd = "cdp",
  bun = "bun",
  unknown = "cdp",
}

local Memory = {}
Memory.__index = Memory

function memory.new(session)
  local name = memory.adapters[session.runtime or "unknown"] or memory.adapters.unknown
  local mod = require("memdbg.memory." .. name)
  local self = setmetatable({ session = session, runtime = session.runtime or "unknown" }, Memory)
  self.adapter = mod.new(session, self)
  return self
end

local function unsupported(self, what)
  return nil, string.format("%s does not support %s", self.runtime, what), "EUNSUPPORTED"
end

local function call(self, method, what, ...)
  local a = self.adapter
  if type(a[method]) ~= "function" then return unsupported(self, what) end
  return a[method](a, ...)
end

local function check_opts(opts, name)
  if opts == nil then return {} end
  if type(opts) ~= "table" then error(name .. " takes a table of options", 3) end
  return opts
end

local function check_fn(opts, key, name)
  if opts[key] ~= nil and type(opts[key]) ~= "function" then
    error(name .. ": " .. key .. " must be a function", 3)
  end
end

-- whileWaiting defaults to the session's traffic option (memdbg.connect{traffic = fn}):
-- workerd collects garbage and answers some commands only while it handles requests.
local function with_traffic(self, opts)
  local traffic = self.session.traffic
  if opts.whileWaiting ~= nil or traffic == nil then return opts end
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  o.whileWaiting = traffic
  return o
end

-- Counts and sizes as integers: JSON numbers decode as floats under Lua 5.4
-- (216208064.0); whole values become integers, the rest stay as they are.
local tointeger = math.tointeger or function(v) return v end
local function integers(t, keys)
  if type(t) ~= "table" then return t end
  for k, v in pairs(t) do
    if type(v) == "number" and (keys == nil or keys[k]) and v == math.floor(v) then t[k] = tointeger(v) or v end
  end
  return t
end
memory.integers = integers

local function with_integers(t, ...)
  return integers(t), ...
end

--- getHeapUsage([{timeout = s}]): timeout bounds the wait for the reply
--- (ETIMEDOUT; default: the session's command timeout).
function Memory:getHeapUsage(opts)
  opts = check_opts(opts, "getHeapUsage")
  if opts.timeout ~= nil and (type(opts.timeout) ~= "number" or opts.timeout <= 0) then
    error("getHeapUsage: timeout must be a positive number of seconds", 2)
  end
  return with_integers(call(self, "getHeapUsage", "reading heap usage", opts))
end

--- getHeapLimit([{timeout = s}]) -> bytes: the size the heap may grow to before
--- the runtime fails with out of memory (V8's heap_size_limit: Node, Deno;
--- Chromium's performance.memory.jsHeapSizeLimit). EUNSUPPORTED where there is
--- none (workerd; Bun's JavaScriptCore has no such limit).
function Memory:getHeapLimit(opts)
  opts = check_opts(opts, "getHeapLimit")
  local v, msg, code = call(self, "getHeapLimit", "reading the heap limit", opts)
  if type(v) == "number" and v == math.floor(v) then v = tointeger(v) or v end
  return v, msg, code
end

--- collectGarbage([{whileWaiting = fn, timeout = s}]): whileWaiting is
--- called about every 0.25 s until the runtime answers (workerd collects only
--- while it handles requests: send it traffic from there).
function Memory:collectGarbage(opts)
  opts = check_opts(opts, "collectGarbage")
  check_fn(opts, "whileWaiting", "collectGarbage")
  return call(self, "collectGarbage", "garbage collection", with_traffic(self, opts))
end

function Memory:evaluate(expr, opts)
  if type(expr) ~= "string" then error("evaluate: expression must be a string", 2) end
  opts = check_opts(opts, "evaluate")
  return call(self, "evaluate", "evaluating expressions", expr, opts)
end

-- Validates snapshot options and runs `method` of the adapter around them.
local function snapshot(self, method, what, opts, name)
  opts = check_opts(opts, name)
  if opts.path ~= nil and type(opts.path) ~= "string" then error(name .. ": path must be a string", 3) end
  check_fn(opts, "onChunk", name)
  check_fn(opts, "onProgress", name)
  check_fn(opts, "onBytes", name)
  check_fn(opts, "whileWaiting", name)
  if opts.path and opts.onChunk then error(name .. ": give path or onChunk, not both", 3) end
  if not opts.path and not opts.onChunk then error(name .. ": needs path = FILE or onChunk = function", 3) end
  if opts.timeout ~= nil and (type(opts.timeout) ~= "number" or opts.timeout <= 0) then
    error(name .. ": timeout must be a positive number of seconds", 3)
  end
  if type(self.adapter[method]) ~= "function" then return unsupported(self, what) end
  if opts.path then
    local ok, err, code = files.checkDestination(opts.path, { noClobber = opts.noClobber })
    if not ok then return nil, err, code end
  end
  local o = {}
  for k, v in pairs(with_traffic(self, opts)) do o[k] = v end
  o.timeout = opts.timeout or 30
  if o.path then o.partial = o.path .. ".partial" end
  local t0 = core.now()
  local res, err, code = self.adapter[method](self.adapter, o)
  if not res then return nil, err, code end
  res.seconds = core.now() - t0
  res.path = o.path
  return res
end

function Memory:takeHeapSnapshot(opts)
  return snapshot(self, "takeHeapSnapshot", "heap snapshots", opts, "takeHeapSnapshot")
end

function Memory:startSamplingHeapProfiler(opts)
  opts = check_opts(opts, "startSamplingHeapProfiler")
  local si = opts.samplingInterval
  if si ~= nil and (type(si) ~= "number" or si <= 0) then
    error("startSamplingHeapProfiler: samplingInterval must be a positive number of bytes", 2)
  end
  return call(self, "startSampling", "the sampling heap profiler", {
    samplingInterval = si or 32768,
    includeObjectsCollectedByMajorGC = opts.includeObjectsCollectedByMajorGC,
    includeObjectsCollectedByMinorGC = opts.includeObjectsCollectedByMinorGC,
  })
end

local PROFILE_NODE = { id = true, selfSize = true }
local PROFILE_SAMPLE = { size = true, nodeId = true, ordinal = true }

-- A sampling profile's sizes and ids as integers (see integers above).
local function profile_integers(profile, ...)
  if type(profile) ~= "table" then return profile, ... end
  local function walk(n)
    integers(n, PROFILE_NODE)
    for _, c in ipairs(type(n.children) == "table" and n.children or {}) do walk(c) end
  end
  if type(profile.head) == "table" then walk(profile.head) end
  for _, smp in ipairs(type(profile.samples) == "table" and profile.samples or {}) do integers(smp, PROFILE_SAMPLE) end
  return profile
end

--- getSamplingProfile{whileWaiting = fn, timeout = s} -> profile {head=, samples=}
--- of what is sampled and still alive now; the profiler keeps running.
function Memory:getSamplingProfile(opts)
  opts = check_opts(opts, "getSamplingProfile")
  check_fn(opts, "whileWaiting", "getSamplingProfile")
  return profile_integers(call(self, "getSamplingProfile", "the sampling heap profiler", with_traffic(self, opts)))
end

function Memory:stopSamplingHeapProfiler()
  return profile_integers(call(self, "stopSampling", "the sampling heap profiler"))
end

function Memory:startTrackingAllocations(opts)
  opts = check_opts(opts, "startTrackingAllocations")
  local ta = opts.trackAllocations
  if ta == nil then ta = true end
  return call(self, "startTracking", "allocation tracking", { trackAllocations = ta and true or false })
end

--- stopTrackingAllocations{path=|onChunk=, sites=true, ...} -> {path=, bytes=, seconds=,
--- sites = top allocation sites from trace_tree (path route)}
--- sites = false skips reading them back (a blocking parse: ~1 s for 100 MB).
function Memory:stopTrackingAllocations(opts)
  local res, err, code = snapshot(self, "stopTracking", "allocation tracking", opts, "stopTrackingAllocations")
  if not res then return nil, err, code end
  if res.path and not (type(opts) == "table" and opts.sites == false) then
    local ok, sites, serr = pcall(require("memdbg.analysis.profile").tracking_sites, res.path, opts.top or 20)
    if ok and sites then
      res.sites, res.traceNodes, res.traceFunctions = sites.sites, sites.nodes, sites.functions
    else
      res.sitesError = ok and serr or tostring(sites)
    end
  end
  return res
end

--- Chromium only (memory/chrome.lua); EUNSUPPORTED elsewhere:
--- getDOMCounters() -> {documents=, nodes=, jsEventListeners=} (Memory.getDOMCounters)
function Memory:getDOMCounters()
  return with_integers(call(self, "getDOMCounters", "DOM counters (Memory.getDOMCounters)"))
end

--- getPerformanceMetrics() -> {JSHeapUsedSize=, Nodes=, JSEventListeners=, ...} (Performance.getMetrics)
function Memory:getPerformanceMetrics()
  return with_integers(call(self, "getPerformanceMetrics", "performance metrics (Performance.getMetrics)"))
end

function Memory:close()
  local a = self.adapter
  if a and a.close then pcall(a.close, a) end
end

--- memory.stream(session, o, start): the event-streamed snapshot loop shared
--- by adapters whose runtime sends chunks as events (CDP).
---   o.chunkMethod, o.progressMethod: event names; o.path + o.partial or o.onChunk
---   start(callback): sends the command with that callback, returns id or nil, msg, code
--- Returns {bytes=, chunks=} or nil, msg, code; on failure o.partial is
--- closed (removed unless o.keepPartial).
function memory.stream(session, o, start)
  local conn = session._conn
  local bytes, chunks = 0, 0
  local last = core.now()
  local reply -- {result} or {nil, err, code}
  local subs = {}
  local sinking = false

  local function cleanup()
    for _, s in ipairs(subs) do s:cancel() end
  end

  if o.partial then
    local ok, err, code = conn:sinkStart { path = o.partial, method = o.chunkMethod, field = "chunk",
      noClobber = o.noClobber }
    if not ok then return nil, err, code end
    sinking = true
  else
    subs[#subs + 1] = session:subscribe(o.chunkMethod, function(params)
      local text = params.chunk
      if type(text) ~= "string" then return end
      bytes, chunks = bytes + #text, chunks + 1
      last = core.now()
      o.onChunk(text)
      if o.onBytes then o.onBytes(bytes, chunks) end
    end)
  end
  if o.progressMethod then
    subs[#subs + 1] = session:subscribe(o.progressMethod, function(params)
      last = core.now()
      if o.onProgress and type(params.done) == "number" then o.onProgress(params.done, params.total) end
    end)
  end

  local function fail(msg, code)
    cleanup()
    local kept
    if sinking then
      local b, c = conn:sinkStatus()
      bytes, chunks = b, c
      local okf, _, k = pcall(conn.sinkFinish, conn, nil, o.keepPartial)
      if okf then kept = k end
    end
    local where = ""
    if o.partial then
      where = kept and ("; the partial file is kept at " .. kept) or ("; nothing was written to " .. o.path)
    end
    return nil, string.format("heap snapshot failed: %s (%d bytes in %d chunks had arrived%s)",
      msg, bytes, chunks, where), code
  end

  local id, serr, scode = start(function(result, err, code, detail)
    reply = { result, err, code, detail }
  end)
  if not id and not reply then return fail(serr or "sending the command failed", scode or "ECLOSED") end

  -- The wait runs under pcall: an error raised meanwhile (Ctrl-C becomes
  -- "interrupted!" in the lua interpreter) must not leave a partial file.
  local function wait()
    local nextHook = core.now()
    while not reply do
      if o.whileWaiting and core.now() >= nextHook then
        nextHook = core.now() + 0.25
        o.whileWaiting()
      end
      session:_pump(0.1)
      if sinking then
        local b, c, emsg, ecode = conn:sinkStatus()
        if b ~= bytes or c ~= chunks then
          bytes, chunks, last = b, c, core.now()
          if o.onBytes then o.onBytes(bytes, chunks) end
        end
        if emsg then
          session._pending[id] = nil
          return fail(emsg, ecode or "EPROTO")
        end
      end
      if not reply then
        if not session:isOpen() then
          local c = session._closed or {}
          return fail(c[1] or "the connection was lost", c[2] or "ECLOSED")
        end
        if core.now() - last > o.timeout then
          session._pending[id] = nil
          return fail(string.format("the snapshot stalled: nothing arrived for %g s", o.timeout), "ETIMEDOUT")
        end
      end
    end
  end
  local okw, r1, r2, r3 = pcall(wait)
  if not okw then
    cleanup()
    if sinking then pcall(conn.sinkFinish, conn, nil, o.keepPartial) end
    session._pending[id] = nil
    error(r1, 0)
  end
  if r1 == nil and r2 ~= nil then return r1, r2, r3 end
  if not reply[1] then
    return fail(reply[2], reply[3])
  end
  cleanup()
  if sinking then
    local b, c = conn:sinkStatus()
    local fb, ferr, fcode = conn:sinkFinish(o.path, o.keepPartial)
    if not fb then
      return nil, string.format("heap snapshot failed: %s (%d bytes in %d chunks had arrived)", ferr, b, c), fcode
    end
    bytes, chunks = fb, c
    if o.onBytes then o.onBytes(bytes, chunks) end
  end
  return { bytes = bytes, chunks = chunks, result = reply[1] }
end

return memory
