-- session.memory's fault handling against the mock inspector, and the adapter seam.
local memdbg = require("memdbg")
local mock = require("support.mock")
local memory = require("memdbg.memory")

local function tmpdir()
  local p = os.tmpname()
  os.remove(p)
  assert(os.execute("mkdir -m 0700 " .. p))
  return p
end

local function listing(dir)
  local f = io.popen("ls -A " .. dir)
  local s = f:read("a")
  f:close()
  return s
end

describe("snapshot faults (mock inspector)", function()
  local m, dir

  setup(function()
    m = mock.start { runtime = "node", snapshotBytes = 2 * 1024 * 1024 }
    dir = tmpdir()
  end)

  teardown(function()
    mock.stop(m)
    os.execute("rm -rf " .. dir)
  end)

  local function faulty(fault, opts)
    local s = assert(memdbg.connect { endpoint = m.endpoint })
    assert(s:sendCommand { method = "Mock.setSnapshotFault", params = { fault = fault, afterChunks = 5 } })
    local o = { path = dir .. "/" .. fault .. ".heapsnapshot", timeout = 1 }
    for k, v in pairs(opts or {}) do o[k] = v end
    local t0 = os.time()
    local info, err, code = s.memory:takeHeapSnapshot(o)
    if os.getenv("MEMDBG_SPEC_VERBOSE") then print(fault, err) end
    s:close()
    return info, err, code, o.path, os.time() - t0
  end

  it("streams a whole snapshot when nothing goes wrong", function()
    local s = assert(memdbg.connect { endpoint = m.endpoint })
    local path = dir .. "/ok.heapsnapshot"
    local info = assert(s.memory:takeHeapSnapshot { path = path })
    s:close()
    local f = assert(io.open(path, "rb"))
    local size = f:seek("end")
    f:close()
    assert.equal(size, info.bytes)
    assert.is_true(info.bytes >= 2 * 1024 * 1024 * 0.9)
    assert.equal(32, info.chunks) -- 2 MB in the mock's 64 KB chunks
    os.remove(path)
  end)

  it("reports a dropped connection with the bytes received and leaves no file", function()
    local info, err, code, path = faulty("drop")
    assert.is_nil(info)
    assert.equal("ECLOSED", code)
    assert.matches("327680 bytes in 5 chunks", err) -- 5 chunks of 64 KB
    assert.equal("", listing(dir))
    assert.is_nil(io.open(path))
  end)

  it("detects a stall with the idle timeout", function()
    local info, err, code, _, took = faulty("stall")
    assert.is_nil(info)
    assert.equal("ETIMEDOUT", code)
    assert.matches("stalled", err)
    assert.matches("327680 bytes", err)
    assert.is_true(took <= 4)
    assert.equal("", listing(dir))
  end)

  it("rejects a malformed chunk", function()
    local info, err, code = faulty("malformed")
    assert.is_nil(info)
    assert.equal("EPROTO", code)
    assert.matches("malformed", err)
    assert.matches("%d+ bytes", err)
    assert.equal("", listing(dir))
  end)

  it("passes on the runtime's error reply", function()
    local info, err, code = faulty("error")
    assert.is_nil(info)
    assert.equal("ECOMMAND", code)
    assert.matches("Mock snapshot failure", err)
    assert.matches("327680 bytes", err)
    assert.equal("", listing(dir))
  end)

  it("keeps the partial file when asked to", function()
    local info, err, _, path = faulty("drop", { keepPartial = true })
    assert.is_nil(info)
    assert.matches("kept at", err)
    assert.is_nil(io.open(path))
    local f = assert(io.open(path .. ".partial", "rb"))
    assert.equal(327680, f:seek("end"))
    f:close()
    os.remove(path .. ".partial")
  end)

  it("keeps the client's memory flat while a 48 MB snapshot streams to disk", function()
    local big = mock.start { runtime = "node", snapshotBytes = 48 * 1024 * 1024 }
    local function rss()
      local f = io.open("/proc/self/status")
      local kb = tonumber(f:read("a"):match("VmRSS:%s*(%d+)"))
      f:close()
      return kb * 1024
    end
    collectgarbage()
    local s = assert(memdbg.connect { endpoint = big.endpoint })
    local before, peak = rss(), 0
    local path = dir .. "/big.heapsnapshot"
    local info = s.memory:takeHeapSnapshot { path = path, onBytes = function() peak = math.max(peak, rss()) end }
    s:close()
    mock.stop(big)
    assert.is_table(info)
    assert.is_true(info.bytes > 45 * 1024 * 1024)
    os.remove(path)
    assert.is_true(peak - before < 16 * 1024 * 1024, string.format("RSS grew by %d bytes", peak - before))
  end)

  it("reads heap usage and profiles from the mock", function()
    local s = assert(memdbg.connect { endpoint = m.endpoint })
    local u = assert(s.memory:getHeapUsage())
    assert.equal(1048576, u.usedSize)
    assert(s.memory:startSamplingHeapProfiler())
    local p = assert(s.memory:stopSamplingHeapProfiler())
    local sites = require("memdbg.analysis.profile").top_sites(p)
    assert.equal("allocate", sites[1].functionName)
    assert.equal(65536, sites[1].self)
    assert.equal(65536 + 32768, sites[1].total)
    assert.equal(11, sites[1].line) -- 0-based lineNumber 10
    assert.equal("(V8 API) 1024\nallocate app.js:11 65536\nallocate app.js:11;makeItem app.js:4 32768\n",
      require("memdbg.analysis.profile").to_folded(p))
    s:close()
  end)
end)

describe("the adapter seam", function()
  after_each(function()
    memory.adapters.fake = nil
    package.loaded["memdbg.memory.fake"] = nil
    package.preload["memdbg.memory.fake"] = nil
  end)

  it("picks the adapter by session.runtime and reports missing operations as EUNSUPPORTED", function()
    package.preload["memdbg.memory.fake"] = function()
      return { new = function(session) return {
        getHeapUsage = function() return { usedSize = 1, totalSize = 2, from = session.runtime } end,
      } end }
    end
    memory.adapters.fake = "fake"
    local mem = memory.new({ runtime = "fake" })
    assert.equal("fake", mem:getHeapUsage().from)
    local ok, err, code = mem:collectGarbage()
    assert.is_nil(ok)
    assert.equal("EUNSUPPORTED", code)
    assert.equal("fake does not support garbage collection", err)
    ok, err, code = mem:takeHeapSnapshot { path = "/nonexistent/x" }
    assert.is_nil(ok)
    assert.equal("EUNSUPPORTED", code)
    assert.matches("^fake does not support heap snapshots", err)
  end)

  it("serves every V8 runtime with the CDP adapter", function()
    for _, rt in ipairs { "node", "workerd", "unknown" } do
      assert.equal("cdp", memory.adapters[rt])
    end
    -- Chromium's adapter extends the CDP one (DOM counters, performance
    -- metrics), Deno's replaces evaluate ("Promise was collected")
    assert.equal("chrome", memory.adapters.chrome)
    local base = getmetatable(require("memdbg.memory.chrome").new({}, {}))
    assert.is_function(base.getDOMCounters)
    assert.is_function(base.takeHeapSnapshot)
    assert.equal("deno", memory.adapters.deno)
    local d = require("memdbg.memory.deno").new({}, {})
    assert.is_function(d.evaluate)
    assert.is_function(d.takeHeapSnapshot)
    assert.is_nil(d.getDOMCounters)
  end)
end)
