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
--   An existing regular FILE is replaced (atomically) only when memdbg made it
--   (it carries memdbg's mark, the xattr user.memdbg); else "EEXIST", checked
--   first and again when the file is put in place (docs/files.md).
--   force = true     replace any existing regular FILE
--   noClobber = true fail with "EEXIST" when FILE exists, even memdbg's own
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
--       adapter streams through the C sink (session:stream{path = o.partial,
--       noClobber = o.noClobber, force = o.force, ...}: a new private file, o.partial being only
--       the name a kept partial gets) or to o.onChunk, calls o.onProgress and
--       o.onBytes, honours o.timeout as an idle timeout, and on success
--       links the file in as o.path (stream:finish(o.path)) only once the
--       runtime's reply arrived; on failure stream:abandon(o.keepPartial)
--       drops it (or keeps it, returning where).
--       memory.stream(session, o, start) below does this for runtimes that
--       send chunks as events, given a start(callback) that sends the command.
--       A runtime that sends the whole snapshot in one reply (Bun's
--       Heap.snapshot -> result.snapshotData) uses the stream's reply form
--       instead: session:stream{path = o.partial, replyId = id, field =
--       "snapshotData"} right after queueing the command (its reply cannot
--       arrive before the next wait), then the reply is {memdbgSinkBytes = N,
--       ok = true} and stream:finish(o.path) links the file in.
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
    local ok, err, code = files.checkDestination(opts.path, { noClobber = opts.noClobber, force = opts.force })
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

--- stopTrackingAllocations{path=|onChunk=, sites=true, top=20, ...} -> {path=, bytes=, seconds=,
--- sites = the allocation sites, largest live size first (path route; heap.trackingSites)}
--- sites = false skips reading them back (a blocking parse: ~0.3 s for 100 MB);
--- when they cannot be read, sitesError says why.
function Memory:stopTrackingAllocations(opts)
  local res, err, code = snapshot(self, "stopTracking", "allocation tracking", opts, "stopTrackingAllocations")
  if not res then return nil, err, code end
  if res.path and not (type(opts) == "table" and opts.sites == false) then
    local ok, sites, serr = pcall(require("memdbg.analysis.heap").trackingSites, res.path, { top = opts.top or 20 })
    if ok and sites then
      res.sites = sites
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

--- memory.stream(session, o, start): the event-streamed snapshot shared
--- by adapters whose runtime sends chunks as events (CDP), on session:stream.
---   o.chunkMethod, o.progressMethod: event names; o.path + o.partial or o.onChunk
---   start(callback): sends the command with that callback, returns id or nil, msg, code
--- Returns {bytes=, chunks=, result=} or nil, msg, code; on failure (an
--- error raised meanwhile too) the partial file goes, unless o.keepPartial.
function memory.stream(session, o, start)
  local st, serr, scode = session:stream(o.partial and { path = o.partial, method = o.chunkMethod, field = "chunk",
    noClobber = o.noClobber, force = o.force } or {})
  if not st then return nil, serr, scode end
  local bytes, chunks = 0, 0 -- the onChunk route's counts (the sink keeps its own)
  local reply -- {result} or {nil, err, code}
  local subs = {}
  local function cleanup()
    for _, s in ipairs(subs) do s:cancel() end
  end
  if not o.partial then
    subs[#subs + 1] = session:subscribe(o.chunkMethod, function(params)
      local text = params.chunk
      if type(text) ~= "string" then return end
      bytes, chunks = bytes + #text, chunks + 1
      st:touch()
      o.onChunk(text)
      if o.onBytes then o.onBytes(bytes, chunks) end
    end)
  end
  if o.progressMethod then
    subs[#subs + 1] = session:subscribe(o.progressMethod, function(params)
      st:touch()
      if o.onProgress and type(params.done) == "number" then o.onProgress(params.done, params.total) end
    end)
  end

  local function counts()
    if o.partial then return st:status() end
    return bytes, chunks
  end
  local function fail(msg, code)
    cleanup()
    local b, c = counts()
    local kept = st:abandon(o.keepPartial)
    local where = ""
    if o.partial then
      where = kept and ("; the partial file is kept at " .. kept) or ("; nothing was written to " .. o.path)
    end
    return nil, string.format("heap snapshot failed: %s (%d bytes in %d chunks had arrived%s)", msg, b, c, where), code
  end

  local id, err, code = start(function(result, rerr, rcode, detail)
    reply = { result, rerr, rcode, detail }
  end)
  if not id and not reply then return fail(err or "sending the command failed", code or "ECLOSED") end
  st:command(id)
  -- an error raised while waiting (Ctrl-C: "interrupted!") drops the partial file (the stream does) and
  -- the subscriptions, then goes on up
  local okw, ok
  okw, ok, err, code = pcall(st.wait, st, {
    done = function() return reply ~= nil or nil end,
    idle = o.timeout, stalled = string.format("the snapshot stalled: nothing arrived for %g s", o.timeout),
    whileWaiting = o.whileWaiting, onBytes = o.partial and o.onBytes or nil, keepPartial = o.keepPartial,
  })
  if not okw then
    cleanup()
    error(ok, 0)
  end
  if not ok then return fail(err, code) end
  if not reply[1] then return fail(reply[2], reply[3]) end
  cleanup()
  local b, c = counts()
  local fb, ferr, fcode
  if o.partial then
    fb, ferr, fcode = st:finish(o.path)
  else
    fb = st:finish() and b
  end
  if not fb then
    return nil, string.format("heap snapshot failed: %s (%d bytes in %d chunks had arrived)", ferr, b, c), fcode
  end
  if o.partial and o.onBytes then o.onBytes(fb, c) end
  return { bytes = fb, chunks = c, result = reply[1] }
end

return memory
