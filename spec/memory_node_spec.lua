-- session.memory against real Node apps (spec/apps/node-memory/app.js).
local memdbg = require("memdbg")
local json = require("cjson")
local node = require("support.node")
local profile = require("memdbg.analysis.profile")

local APP = "spec/apps/node-memory/app.js"

local function start(mode, objects)
  return node.start { script = APP, args = { mode, objects and tostring(objects) or nil },
    ready = "memdbg%-memory%-app ready" }
end

local function tmpdir()
  local p = os.tmpname()
  os.remove(p)
  assert(os.execute("mkdir -m 0700 " .. p))
  return p
end

local function exists(path)
  local f = io.open(path, "r")
  if f then f:close() return true end
  return false
end

local function mode_of(path)
  local f = assert(io.popen("stat -c %a " .. path))
  local m = f:read("l")
  f:close()
  return m
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

describe("session.memory on Node", function()
  local app, session, dir

  setup(function()
    app = start("idle")
    session = assert(memdbg.connect { endpoint = app.endpoint })
    dir = tmpdir()
  end)

  teardown(function()
    if session then session:close() end
    node.stop(app)
    if dir then os.execute("rm -rf " .. dir) end
  end)

  it("reads heap usage that agrees with v8.getHeapStatistics() within 10%", function()
    assert.is_true(session.memory:collectGarbage())
    local usage = assert(session.memory:getHeapUsage())
    local own = assert(session.memory:evaluate("usedHeap()"))
    assert.is_number(usage.usedSize)
    assert.is_true(usage.usedSize <= usage.totalSize)
    assert.is_true(math.abs(usage.usedSize - own) / own < 0.10,
      string.format("usedSize %d vs the app's used_heap_size %d", usage.usedSize, own))
  end)

  it("collects garbage: released memory disappears from usedSize", function()
    assert(session.memory:evaluate("allocate(20)"))
    local before = assert(session.memory:getHeapUsage()).usedSize
    assert(session.memory:evaluate("release()"))
    assert.is_true(session.memory:collectGarbage())
    local after = assert(session.memory:getHeapUsage()).usedSize
    assert.is_true(before - after > 15 * 1048576, string.format("before %d after %d", before, after))
  end)

  it("streams a snapshot to a 0600 file that parses and matches its meta", function()
    local path = dir .. "/a.heapsnapshot"
    local progress, last = 0, nil
    local info, err, code = session.memory:takeHeapSnapshot {
      path = path,
      onProgress = function(done, total) progress = progress + 1 last = { done, total } end,
    }
    assert.is_table(info, tostring(err) .. " " .. tostring(code))
    assert.equal(path, info.path)
    assert.is_number(info.seconds)
    assert.is_true(progress > 0)
    assert.equal(last[1], last[2])
    assert.equal("600", mode_of(path))
    assert.is_false(exists(path .. ".partial"))
    local text = read(path)
    assert.equal(#text, info.bytes)
    local snap = json.decode(text)
    local meta = snap.snapshot.meta
    assert.equal(snap.snapshot.node_count, #snap.nodes / #meta.node_fields)
    assert.equal(snap.snapshot.edge_count, #snap.edges / #meta.edge_fields)
    assert.is_true(snap.snapshot.node_count > 1000)
  end)

  it("hands chunks to onChunk instead of writing a file", function()
    local parts = {}
    local info = assert(session.memory:takeHeapSnapshot { onChunk = function(t) parts[#parts + 1] = t end })
    assert.is_nil(info.path)
    local text = table.concat(parts)
    assert.equal(#text, info.bytes)
    assert.equal(#parts, info.chunks)
    local snap = json.decode(text)
    assert.equal(snap.snapshot.node_count, #snap.nodes / #snap.snapshot.meta.node_fields)
  end)

  it("fails with EPATH and no file when the directory does not exist (checked first)", function()
    local info, err, code = session.memory:takeHeapSnapshot { path = dir .. "/missing/x.heapsnapshot" }
    assert.is_nil(info)
    assert.equal("EPATH", code)
    assert.matches("cannot create", err)
  end)

  it("raises on argument mistakes", function()
    assert.has_error(function() session.memory:takeHeapSnapshot {} end)
    assert.has_error(function() session.memory:takeHeapSnapshot { path = "x", onChunk = print } end)
    assert.has_error(function() session.memory:takeHeapSnapshot { path = "x", timeout = -1 } end)
    assert.has_error(function() session.memory:startSamplingHeapProfiler { samplingInterval = "big" } end)
    assert.has_error(function() session.memory:evaluate(42) end)
  end)

  it("runs the sampling heap profiler and saves .heapprofile and folded stacks", function()
    -- the idle app lets its listeners go again: count what GC collected too, or
    -- the site shows only while a collection has not happened yet
    assert.is_true(session.memory:startSamplingHeapProfiler { samplingInterval = 4096,
      includeObjectsCollectedByMajorGC = true, includeObjectsCollectedByMinorGC = true })
    -- enough allocations that the sampler (one sample per ~4 KiB) surely lands in them
    assert(session.memory:evaluate("handleRequests(1000)"))
    assert.is_true(session.memory:collectGarbage()) -- the listeners are gone; their samples stay
    local p = assert(session.memory:stopSamplingHeapProfiler())
    assert.equal("(root)", p.head.callFrame.functionName)
    assert.is_true(#p.samples > 0)
    local sites = profile.top_sites(p, 1000) -- every site: the eval's own may outweigh the app's
    local found
    for _, s in ipairs(sites) do
      if s.functionName == "LeakyListener" or s.functionName == "handleRequests" then found = s end
    end
    assert.is_table(found, "no LeakyListener/handleRequests site in " .. profile.format_sites(sites))
    assert.matches("node%-memory/app%.js$", found.url)
    assert.is_true(found.total >= found.self)

    local hp = dir .. "/p.heapprofile"
    assert(profile.save_heapprofile(p, hp))
    local back = json.decode(read(hp))
    assert.equal(#p.samples, #back.samples)
    assert.is_table(back.head.children)
    assert.matches('"children":%[%]', read(hp)) -- leaves keep an array, as DevTools expects

    local folded = profile.to_folded(p)
    local total = 0
    for line in folded:gmatch("[^\n]+") do
      local bytes = assert(tonumber(line:match(" (%d+)$")), line)
      total = total + bytes
    end
    local selfsum = 0
    local function walk(n) selfsum = selfsum + n.selfSize for _, c in ipairs(n.children) do walk(c) end end
    walk(p.head)
    assert.equal(selfsum, total)
    assert.matches("handleRequests app%.js:%d+", folded)
  end)

  it("tracks allocations into a snapshot with a trace_tree and names the sites", function()
    assert.is_true(session.memory:startTrackingAllocations { trackAllocations = true })
    assert(session.memory:evaluate("handleRequests(300)"))
    local path = dir .. "/track.heapsnapshot"
    local tl = assert(session.memory:stopTrackingAllocations { path = path })
    assert.equal("600", mode_of(path))
    local snap = json.decode(read(path))
    assert.is_true(#snap.trace_tree > 0)
    assert.is_true(#snap.trace_function_infos > 0)
    assert.is_table(tl.sites, tl.sitesError)
    local names = {}
    for _, s in ipairs(tl.sites) do names[s.functionName] = s end
    local site = names.LeakyListener or names.handleRequests
    assert.is_table(site, profile.format_sites(tl.sites))
    assert.is_true(site.count > 0 and site.self > 0)
  end)

  it("reports an exception thrown by an evaluated expression", function()
    local v, err, code = session.memory:evaluate("failingAction()")
    assert.is_nil(v)
    assert.equal("EEXCEPTION", code)
    assert.matches("action failed on purpose", err)
    assert.equal(250, session.memory:evaluate("slowAction(250)")) -- awaits promises
  end)
end)

describe("a runtime killed mid-snapshot", function()
  it("returns nil, a message naming the bytes received, and leaves no file", function()
    local app = start("idle", 600000)
    local session = assert(memdbg.connect { endpoint = app.endpoint })
    local dir = tmpdir()
    local path = dir .. "/killed.heapsnapshot"
    local killed_at
    local info, err, code = session.memory:takeHeapSnapshot {
      path = path,
      onBytes = function(bytes)
        if not killed_at and bytes > 0 then
          killed_at = bytes
          os.execute("/bin/kill -KILL -- -" .. app.pid) -- the group: node runs under sh; dash kill lacks --
        end
      end,
    }
    session:close()
    node.stop(app)
    local left = io.popen("ls -A " .. dir):read("a")
    os.execute("rm -rf " .. dir)
    assert.is_nil(info)
    assert.is_number(killed_at)
    assert.equal("ECLOSED", code)
    local n = tonumber(err:match("(%d+) bytes"))
    assert.is_true(n ~= nil and n >= killed_at, err)
    assert.equal("", left) -- neither PATH nor PATH.partial
  end)
end)
