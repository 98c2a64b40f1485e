-- Bun, for real: session.memory over the WebKit inspector protocol (memory/bun.lua),
-- the workflows and the memdbg CLI against spec/apps/bun/app.js started by
-- spec/support/runtimes.lua. One leaky Bun serves most tests; a clean one the
-- negative leak test; a third is started with BUN_INSPECT.
local runtimes = require("support.runtimes")
local proc = require("support.proc")
local memdbg = require("memdbg")
local core = require("memdbg._core")
local json = require("memdbg.util.json")
local files = require("memdbg.util.files")
local detect_leak = require("memdbg.workflows.detect_leak")
local verify = require("memdbg.workflows.verify_cleanup")
local monitor = require("memdbg.workflows.monitor")
local snapshot = require("memdbg.workflows.snapshot")
local track = require("memdbg.workflows.track_allocations")

local q = proc.quote

-- `memdbg ARGS...` as a user runs it (always the Lua 5.4 build): code, stdout, stderr.
local function cli(...)
  local argv = { "lua5.4", "scripts/memdbg", ... }
  for i, a in ipairs(argv) do argv[i] = q(a) end
  local errf = os.tmpname()
  -- the exit status is echoed: LuaJIT's popen close does not report it
  local p = assert(io.popen("env -u MEMDBG_BUILD -u LD_PRELOAD -u ASAN_OPTIONS " .. table.concat(argv, " ")
    .. " 2>" .. errf .. "; echo \"memdbg-exit=$?\""))
  local out = p:read("*a")
  p:close()
  local code
  out = out:gsub("memdbg%-exit=(%d+)\n$", function(c) code = tonumber(c) return "" end)
  local f = io.open(errf)
  local err = f:read("*a")
  f:close()
  os.remove(errf)
  return code, out, err
end

-- memdbg summary FILE --json -> decoded document; asserts exit 0.
local function summary(path)
  local code, out, err = cli("summary", path, "--json", "--top", "0")
  assert.equal(0, code, err)
  local doc = assert(json.decode(out), out)
  local by = {}
  for _, c in ipairs(doc.classes) do by[c.name] = c end
  return doc, by
end

local function stat_mode(path)
  local f = assert(io.popen("stat -c %a " .. q(path)))
  local m = f:read("*l")
  f:close()
  return m
end

local function file_size(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local n = f:seek("end")
  f:close()
  return n
end

local function exists(path) return file_size(path) ~= nil end

local function classes(report)
  local set = {}
  for _, g in ipairs(report.leaks) do set[g.class] = g end
  return set
end

-- Records the size of every message that reaches Lua (the snapshot text must not).
local function spy(s)
  local real = s._conn
  local seen = { largest = 0, count = 0 }
  s._conn = setmetatable({}, { __index = function(_, k)
    local v = real[k]
    if type(v) ~= "function" then return v end
    if k == "recv" then
      return function(_, ...)
        local t = real:recv(...)
        if t then
          seen.count = seen.count + 1
          if #t > seen.largest then seen.largest = #t end
        end
        return t
      end
    end
    return function(_, ...) return v(real, ...) end
  end })
  return seen, function() s._conn = real end
end

local available, why = runtimes.available("bun")

describe("bun (WebKit inspector protocol)", function()
  if not available then
    pending("bun not installed: " .. tostring(why))
    return
  end

  local rt, s, dir

  setup(function()
    rt = runtimes.start("bun", { app = "leaky" })
    s = assert(memdbg.connect { endpoint = rt.ws })
    dir = assert(files.tempdir("memdbg-bun-spec"))
    -- 100 actions before anything else: the snapshots below count them
    assert.equal(100, s.memory:evaluate("handleRequests(100)"))
  end)

  teardown(function()
    if s then s:close() end
    if rt then runtimes.stop(rt) end
    if dir then os.execute("rm -rf " .. q(dir)) end
  end)

  it("has no target list: memdbg says to connect by the ws:// URL; that URL connects as runtime bun", function()
    local base = "http://127.0.0.1:" .. rt.port
    local list, err, code = memdbg.targets(base)
    assert.is_nil(list)
    assert.equal("ENOTARGET", code)
    assert.matches("ws://", err)
    local s2, err2, code2 = memdbg.connect { endpoint = base }
    assert.is_nil(s2)
    assert.equal("ENOTARGET", code2)
    assert.matches("WebKit inspector protocol", err2)
    assert.equal("bun", s.runtime)
    assert.equal("Bun", s.version.Browser)
    assert.matches("^ws://127%.0%.0%.1:%d+/memdbg$", s.url)
  end)

  it("usage: process.memoryUsage() through Runtime.evaluate", function()
    local u = assert(s.memory:getHeapUsage())
    assert.is_number(u.usedSize)
    assert.is_true(u.usedSize > 0)
    assert.is_true(u.totalSize >= u.usedSize)
    assert.is_true(u.rss > u.heapTotal)
    assert.equal("process.memoryUsage()", u.source)
  end)

  it("gc: Heap.gc really collects (32 MB held, dropped, collected)", function()
    assert.is_true(s.memory:collectGarbage())
    assert(s.memory:evaluate("globalThis.__memdbgBig = new Float64Array(4e6); 1"))
    assert.is_true(s.memory:collectGarbage())
    local held = assert(s.memory:getHeapUsage()).usedSize
    assert(s.memory:evaluate("globalThis.__memdbgBig = null; 1"))
    local hooks = 0
    assert.is_true(s.memory:collectGarbage { whileWaiting = function() hooks = hooks + 1 end })
    local after = assert(s.memory:getHeapUsage()).usedSize
    assert.is_true(held - after > 30e6, string.format("held %d, after GC %d", held, after))
    assert.is_true(hooks >= 1)
  end)

  it("snapshot: Heap.snapshot's one string goes by the C sink to a 0600 file that memdbg summary reads", function()
    local path = dir .. "/one.heapsnapshot"
    local seen, unspy = spy(s)
    local bytes = {}
    local info, err = s.memory:takeHeapSnapshot { path = path, onBytes = function(b) bytes[#bytes + 1] = b end }
    unspy()
    assert.is_table(info, err)
    assert.equal(path, info.path)
    assert.equal(file_size(path), info.bytes)
    assert.is_true(info.bytes > 100000)
    assert.same({ info.bytes }, bytes)
    assert.equal("600", stat_mode(path))
    assert.is_false(exists(path .. ".partial"))
    -- the snapshot never crossed into Lua: only the short sink reply did
    assert.is_true(seen.largest < 4096, "a message of " .. seen.largest .. " bytes reached Lua")
    local doc, by = summary(path)
    assert.is_true(doc.nodeCount > 1000)
    assert.equal(100, by.LeakyListener and by.LeakyListener.count)
    assert.is_true(by.Float64Array.count >= 100)
  end)

  it("snapshot: a 30 MB JSC snapshot (200k objects) leaves the Lua heap flat", function()
    assert(s.memory:evaluate("globalThis.__memdbgMany = Array.from({length: 200000}, (_, i) => ({i, s: 'x' + i})); 1"))
    local path = dir .. "/big.heapsnapshot"
    collectgarbage()
    local before = collectgarbage("count")
    local info, err = s.memory:takeHeapSnapshot { path = path, timeout = 60 }
    local grew = collectgarbage("count") - before
    assert(s.memory:evaluate("globalThis.__memdbgMany = null; 1"))
    assert.is_table(info, err)
    assert.is_true(info.bytes > 20e6, "only " .. info.bytes .. " bytes")
    assert.equal(file_size(path), info.bytes)
    assert.is_true(grew < 1024, string.format("the Lua heap grew by %.0f KB", grew))
    local doc, by = summary(path)
    assert.is_true(by.Object.count >= 200000)
    assert.is_true(doc.nodeCount > 400000)
    os.remove(path)
  end)

  it("snapshot: the onChunk route hands the JSC text to Lua in one piece", function()
    local parts = {}
    local info = assert(s.memory:takeHeapSnapshot { onChunk = function(t) parts[#parts + 1] = t end })
    assert.equal(1, #parts)
    assert.equal(#parts[1], info.bytes)
    assert.matches('^{"version":%d+,"type":"Inspector"', parts[1])
  end)

  it("snapshot: a file that cannot be created fails cleanly and the session goes on", function()
    local r, err, code = s.memory:takeHeapSnapshot { path = dir .. "/no/such/dir/x.heapsnapshot" }
    assert.is_nil(r)
    assert.equal("EPATH", code)
    assert.matches("cannot create", err)
    assert.is_true(s:isOpen())
    assert.is_table(s.memory:getHeapUsage())
  end)

  it("sampling: EUNSUPPORTED with a clear message", function()
    local ok, err, code = s.memory:startSamplingHeapProfiler { samplingInterval = 4096 }
    assert.is_nil(ok)
    assert.equal("bun does not support the sampling heap profiler", err)
    assert.equal("EUNSUPPORTED", code)
    local p, err2, code2 = s.memory:stopSamplingHeapProfiler()
    assert.is_nil(p)
    assert.equal("bun does not support the sampling heap profiler", err2)
    assert.equal("EUNSUPPORTED", code2)
    local c, out, e = cli("sample", "--endpoint", rt.ws, "--duration", "1", "--json")
    assert.equal(3, c, out .. e)
    assert.matches("bun does not support the sampling heap profiler", e)
  end)

  it("tracking: Heap.startTracking/stopTracking, both event snapshots kept out of Lua", function()
    local path = dir .. "/track.heapsnapshot"
    local seen, unspy = spy(s)
    assert.is_true(s.memory:startTrackingAllocations())
    assert.equal(150, s.memory:evaluate("handleRequests(50)"))
    local r, err = s.memory:stopTrackingAllocations { path = path }
    unspy()
    assert.is_table(r, err)
    assert.equal(file_size(path), r.bytes)
    assert.is_true(seen.largest < 4096, "a message of " .. seen.largest .. " bytes reached Lua")
    local _, by = summary(path)
    assert.equal(150, by.LeakyListener.count)
    -- memdbg diff reads two JSC snapshots of one process: the 50 new listeners
    local code, out, e = cli("diff", dir .. "/one.heapsnapshot", path, "--json", "--top", "0")
    assert.equal(0, code, e)
    local delta
    for _, c in ipairs(json.decode(out).classes) do
      if c.name == "LeakyListener" then delta = c.delta end
    end
    assert.equal(50, delta, out)
  end)

  it("evaluate: values, awaited promises, and exceptions (thrown or rejected) as EEXCEPTION", function()
    assert.equal(6, s.memory:evaluate("var q = 3; q * 2"))
    assert.equal(7, s.memory:evaluate("new Promise(r => setTimeout(() => r(7), 50))"))
    local v, err, code = s.memory:evaluate("Promise.reject(new Error('nope'))")
    assert.is_nil(v)
    assert.equal("EEXCEPTION", code)
    assert.matches("Error: nope", err)
    v, err, code = s.memory:evaluate("undefinedFunction()")
    assert.is_nil(v)
    assert.equal("EEXCEPTION", code)
    assert.matches("ReferenceError", err)
    -- a rejection must not have killed Bun (it exits on unhandled rejections)
    assert.is_true(runtimes.alive(rt))
    assert.equal("leaky", s.memory:evaluate("appStats().mode", { awaitPromise = false }))
  end)

  it("detect-leak finds LeakyListener in the leaky app", function()
    local report, err = detect_leak.run(s, { action = "handleRequests(200)", dir = dir .. "/leaky" })
    assert.is_table(report, err)
    assert.equal(3, #report.snapshots)
    local g = classes(report).LeakyListener
    assert.is_table(g, "no LeakyListener group:\n" .. detect_leak.format(report))
    assert.equal(200, g.count)
    assert.is_true(#g.retainerPath > 0)
  end)

  it("detect-leak finds nothing of LeakyListener in the clean app", function()
    local clean = runtimes.start("bun", { app = "clean" })
    local sc = assert(memdbg.connect { endpoint = clean.ws })
    local report, err = detect_leak.run(sc, { action = "handleRequests(200)", dir = dir .. "/clean" })
    sc:close()
    runtimes.stop(clean)
    assert.is_table(report, err)
    assert.equal(3, #report.snapshots)
    assert.is_nil(classes(report).LeakyListener, detect_leak.format(report))
  end)

  it("verify-cleanup: released when the cleanup drops the memory, not released when it keeps it", function()
    local alloc = "globalThis.__memdbgHold = Array.from({length: 40}, () => new Float64Array(65536)); 1"
    local r = assert(verify.run(s, { allocate = alloc, cleanup = "globalThis.__memdbgHold = null; 1" }))
    assert.is_true(r.grew > 15e6, verify.format(r))
    assert.is_true(r.released, verify.format(r))
    local r2 = assert(verify.run(s, { allocate = alloc, cleanup = "globalThis.__memdbgKeep = globalThis.__memdbgHold; 1" }))
    assert.is_false(r2.released, verify.format(r2))
    assert.is_true(r2.retained > 15e6, verify.format(r2))
    assert(s.memory:evaluate("globalThis.__memdbgHold = globalThis.__memdbgKeep = null; 1"))
  end)

  it("monitor: a few samples of heap usage", function()
    local alerts = 0
    local r = assert(monitor.run(s, { interval = 0.05, count = 3, print = false, csv = dir .. "/heap.csv",
      threshold = 0.01, limit = 1048576, onAlert = function() alerts = alerts + 1 end })) -- Bun has no heap limit
    assert.equal(1, alerts)
    assert.equal(3, #r.samples)
    for _, x in ipairs(r.samples) do assert.is_true(x.usedSize > 0 and x.totalSize >= x.usedSize) end
    assert.is_true(exists(dir .. "/heap.csv"))
  end)

  it("the snapshot and track workflows write files the heap engine reads", function()
    local a = assert(snapshot.run(s, { dir = dir, gc = true }))
    assert.matches("/heap%-%d+%-%d+Z", a.path)
    local doc = summary(a.path)
    assert.is_true(doc.nodeCount > 1000)
    local t = assert(track.run(s, { action = "handleRequests(10)", dir = dir }))
    assert.matches("/track%-", t.path)
    assert.is_true(exists(t.path))
    assert.is_nil(t.sites) -- JSC snapshots carry no allocation stacks
  end)

  it("memdbg usage, gc, snapshot and leaks by ws:// URL", function()
    local code, out, err = cli("usage", "--endpoint", rt.ws, "--json")
    assert.equal(0, code, err)
    local u = json.decode(out)
    assert.equal("bun", u.runtime)
    assert.is_true(u.usedSize > 0)
    code, out, err = cli("gc", "--endpoint", rt.ws, "--json")
    assert.equal(0, code, err)
    assert.is_true(json.decode(out).collected)
    code, out, err = cli("snapshot", "--endpoint", rt.ws, "--dir", dir .. "/cli", "--json")
    assert.equal(0, code, err)
    local snap = json.decode(out)
    assert.is_true(exists(snap.path), out)
    code, out, err = cli("leaks", "--endpoint", rt.ws, "--action", "handleRequests(100)", "--dir", dir .. "/cli-leaks",
      "--json")
    assert.equal(1, code, err)
    local found = false
    for _, g in ipairs(json.decode(out).leaks) do found = found or g.class == "LeakyListener" end
    assert.is_true(found, out)
  end)

  it("connects to a Bun started with BUN_INSPECT=ws://... (no banner, no --inspect)", function()
    local port = runtimes.free_ports(1)
    local url = "ws://127.0.0.1:" .. port .. "/memdbg-env"
    local h = proc.spawn { argv = { runtimes.binary("bun"), runtimes.apps .. "/bun/app.js", "leaky" },
      env = { BUN_INSPECT = url } }
    local ok, err = pcall(function()
      local deadline = core.now() + 15
      while not proc.output(h):find("memdbg%-app ready") do
        assert(proc.alive(h) and core.now() < deadline, "bun did not start:\n" .. proc.output(h))
        proc.sleep(0.05)
      end
      local se = assert(memdbg.connect { endpoint = url })
      assert.equal("bun", se.runtime)
      assert.equal(5, se.memory:evaluate("handleRequests(5)"))
      local path = dir .. "/env.heapsnapshot"
      assert(se.memory:takeHeapSnapshot { path = path })
      se:close()
      local _, by = summary(path)
      assert.equal(5, by.LeakyListener.count)
    end)
    proc.stop(h)
    assert.is_false(proc.alive(h))
    assert(ok, err)
  end)

  it("snapshot: Bun killed during the snapshot: ECLOSED, no file, no partial", function()
    local other = runtimes.start("bun", { app = "idle" })
    local so = assert(memdbg.connect { endpoint = other.ws })
    assert(so.memory:evaluate("globalThis.__memdbgMany = Array.from({length: 200000}, (_, i) => ({i})); 1"))
    local path = dir .. "/killed.heapsnapshot"
    -- killed at the first wait, right after Heap.snapshot went out: a fixed
    -- delay raced the snapshot itself on a quiet machine
    local killed = false
    local info, err, code = so.memory:takeHeapSnapshot { path = path, whileWaiting = function()
      if not killed then
        killed = true
        proc.kill(other.handle, "KILL")
      end
    end }
    so:close()
    runtimes.stop(other)
    assert.is_true(killed)
    assert.is_nil(info)
    assert.equal("ECLOSED", code, err)
    assert.matches("nothing was written to " .. path:gsub("%p", "%%%0"), err)
    assert.is_false(exists(path))
    assert.is_false(exists(path .. ".partial"))
  end)

  it("stops by PID and leaves nothing behind", function()
    s:close()
    s = nil
    runtimes.stop(rt)
    assert.is_false(runtimes.alive(rt))
    assert.same({}, runtimes.leftovers(rt))
    local s2, err, code = memdbg.connect { endpoint = rt.ws, timeout = 2 }
    assert.is_nil(s2)
    assert.equal("ECONNREFUSED", code, err)
  end)
end)
