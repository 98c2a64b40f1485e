-- memdbg against a real Deno (npm `deno`, tools/js/node_modules/.bin/deno, started by
-- spec/support/runtimes.lua with --inspect=127.0.0.1:0 and
-- spec/apps/deno/app.js): the same Lua API, workflows and `memdbg` commands
-- as on Node. The app also serves HTTP, so some actions are Lua functions
-- that send it requests. Chromium's extras answer EUNSUPPORTED here.
-- Without deno the whole file shows as pending, by name.
local runtimes = require("support.runtimes")

local KIND = "deno"
local available, why = runtimes.available(KIND)
if not available then
  describe("Deno", function()
    pending(KIND .. " not installed: " .. tostring(why))
  end)
  return
end

local memdbg = require("memdbg")
local json = require("cjson")
local detect_leak = require("memdbg.workflows.detect_leak")
local verify = require("memdbg.workflows.verify_cleanup")
local monitor = require("memdbg.workflows.monitor")
local sample = require("memdbg.workflows.sample_profile")
local track = require("memdbg.workflows.track_allocations")
local files = require("memdbg.util.files")

local q = files.quote
local MB = 1048576

local shared = require("support.cli")
local lua54, cli, file_size, read = shared.lua54, shared.memdbg, shared.file_size, shared.read
local group, class_row = shared.group, shared.class_row

-- GET /work?n=N on the app: its JSON answer
local function work(rt, n)
  local body, status = runtimes.request(rt, "/work?n=" .. n)
  assert.equal(200, status, body)
  return json.decode(body)
end

local function start(mode)
  local rt = runtimes.start(KIND, { app = mode })
  local s = assert(memdbg.connect { endpoint = rt.endpoint })
  local dir = assert(files.tempdir("memdbg-deno"))
  return rt, s, dir
end

local function stop(rt, s, dir)
  if s then s:close() end
  if rt then
    runtimes.stop(rt)
    assert(not runtimes.alive(rt), "deno (pid " .. tostring(rt.pid) .. ") is still running")
    assert.same({}, runtimes.leftovers(rt))
  end
  if dir then os.execute("rm -rf " .. q(dir)) end
end

describe("Deno, leaky app", function()
  local rt, s, dir

  setup(function() rt, s, dir = start("leaky") end)
  teardown(function() stop(rt, s, dir) end)

  it("connects to the main isolate by default; runtime deno", function()
    assert.equal("deno", s.runtime)
    assert.equal("node", s.target.type)
    assert.matches("^deno %- main %[pid: %d+%]$", s.target.title)
    assert.equal(rt.ws, s.url)
    assert.matches("^Deno/%d", s.version.Browser)
  end)

  it("usage: Runtime.getHeapUsage", function()
    local u = assert(s.memory:getHeapUsage())
    assert.is_true(u.usedSize > 0 and u.usedSize <= u.totalSize)
    assert.is_number(u.embedderHeapUsedSize)
  end)

  it("gc: collectGarbage frees a 16 MB array the app dropped", function()
    assert(s.memory:evaluate("globalThis.__memdbgTmp = new Array(2e6).fill(0.5); 0"))
    local before = assert(s.memory:getHeapUsage()).usedSize
    assert(s.memory:evaluate("globalThis.__memdbgTmp = null; 0"))
    assert.is_true(s.memory:collectGarbage())
    local after = assert(s.memory:getHeapUsage()).usedSize
    assert.is_true(before - after > 12 * MB, string.format("only %d bytes freed", before - after))
  end)

  it("snapshot: streamed to a file that `memdbg summary --json` reads, LeakyListener counted exactly", function()
    local stats = work(rt, 300)
    assert.equal("leaky", stats.mode)
    assert.is_true(stats.retained >= 300)
    local path = dir .. "/deno.heapsnapshot"
    local last
    local info = assert(s.memory:takeHeapSnapshot { path = path, onProgress = function(d, t) last = { d, t } end })
    assert.equal(path, info.path)
    assert.equal(info.bytes, file_size(path))
    assert.is_true(info.bytes > 1 * MB)
    assert.is_true(info.chunks >= 1)
    assert.is_nil(file_size(path .. ".partial"))
    assert.is_table(last)
    assert.equal(last[2], last[1])
    local code, out, err = cli("summary", path, "--json", "--top", "0")
    assert.equal(0, code, err)
    local doc = json.decode(out)
    assert.is_true(doc.nodeCount > 10000)
    local row = class_row(doc.classes, "LeakyListener")
    assert.is_table(row, "no LeakyListener in the summary")
    assert.equal(stats.retained, row.count)
    assert.is_true(row.retainedSize > stats.retained * 10240)
  end)

  it("sampling: the sampling heap profiler names LeakyListener as the top allocation site", function()
    local r = assert(sample.run(s, { action = "handleRequests(100)", interval = 4096, out = dir .. "/alloc",
      includeCollected = true }))
    assert.is_true(r.sampleCount > 0)
    assert.equal("LeakyListener", r.sites[1].functionName)
    assert.matches('^{"head":{"callFrame"', read(r.files.heapprofile))
    assert.matches("LeakyListener app%.js:%d+ %d+\n", read(r.files.folded))
  end)

  it("tracking: a timeline snapshot whose top allocation site is LeakyListener, driven over HTTP", function()
    local r = assert(track.run(s, { action = function() work(rt, 100) end, dir = dir }))
    assert.matches('"trace_tree":%[%d', read(r.path))
    assert.equal("LeakyListener", r.sites[1].functionName)
    assert.is_true(r.sites[1].count >= 100)
  end)

  it("evaluate: heavy allocations never fail with Deno's 'Promise was collected'; promises awaited", function()
    -- Deno 2.9 fails Runtime.evaluate {awaitPromise} this way about every
    -- other time when the expression starts a GC; memory/deno.lua avoids it
    for i = 1, 6 do
      local v, err = s.memory:evaluate("globalThis.__memdbgTmp = new Array(2e6).fill(0.5); " .. i)
      assert.equal(i, v, err)
      assert(s.memory:collectGarbage())
    end
    assert(s.memory:evaluate("globalThis.__memdbgTmp = null; 0"))
    assert.equal(42, s.memory:evaluate("new Promise((r) => setTimeout(() => r(42), 20))"))
    assert.same({ a = 1 }, s.memory:evaluate("Promise.resolve({ a: 1 })"))
    -- a rejection is the caller's error, and Deno (which exits on an
    -- unhandled rejection) keeps running
    local v, err, code = s.memory:evaluate("Promise.reject(new Error('no way'))")
    assert.is_nil(v)
    assert.equal("EEXCEPTION", code)
    assert.matches("no way", err)
    assert.equal(7, s.memory:evaluate("3 + 4"))
    assert.is_true(runtimes.alive(rt))
  end)

  it("Chromium's extras: EUNSUPPORTED, by name", function()
    local v, err, code = s.memory:getDOMCounters()
    assert.is_nil(v)
    assert.equal("EUNSUPPORTED", code)
    assert.matches("^deno does not support DOM counters", err)
    v, err, code = s.memory:getPerformanceMetrics()
    assert.is_nil(v)
    assert.equal("EUNSUPPORTED", code)
    assert.matches("^deno does not support performance metrics", err)
  end)

  it("detect-leak finds LeakyListener, held by leakedListeners (the action: HTTP requests)", function()
    local requests = 0
    local report, err = detect_leak.run(s, { dir = dir .. "/leaks", action = function()
      requests = requests + 1
      work(rt, 100)
    end })
    assert.is_table(report, err)
    assert.equal(2, requests)
    local g = group(report, "LeakyListener")
    assert.is_table(g, "LeakyListener is not among the leak groups:\n" .. detect_leak.format(report))
    assert.equal(100, g.count)
    assert.is_true(g.retainedSize > 100 * 10240)
    assert.matches("leakedListeners", table.concat(g.retainerPath, " -> "))
    assert.equal(g, report.leaks[1])
    assert.is_nil(report.detached)
  end)

  it("verify-cleanup: NOT RELEASED when the cleanup leaves the listeners registered", function()
    local r = assert(verify.run(s, { allocate = "handleRequests(1000)", cleanup = "leakedListeners.length" }))
    assert.is_false(r.released, verify.format(r))
    assert.is_true(r.retained > 8 * MB, verify.format(r))
    assert.matches("NOT RELEASED", verify.format(r))
  end)

  it("monitor: a few samples while the app serves requests", function()
    local seen = 0
    local r = assert(monitor.run(s, { interval = 0.05, count = 3, threshold = 2, print = false,
      onSample = function() seen = seen + 1 work(rt, 10) end }))
    assert.equal(3, #r.samples)
    assert.equal(3, seen)
    assert.equal(0, r.alerts)
    assert.is_true(r.samples[3].t > r.samples[1].t)
    for _, x in ipairs(r.samples) do assert.is_true(x.usedSize > 0 and x.usedSize <= x.totalSize) end
  end)

  it("memdbg usage / gc / leaks: runtime deno, exit 1 with LeakyListener", function()
    local code, out, err = cli("usage", "--endpoint", rt.endpoint, "--json")
    assert.equal(0, code, err)
    local u = json.decode(out)
    assert.equal("deno", u.runtime)
    assert.is_true(u.usedSize > 0)
    code, out, err = cli("gc", "--endpoint", rt.endpoint, "--json")
    assert.equal(0, code, err)
    assert.is_true(json.decode(out).collected)
    code, out, err = cli("leaks", "--endpoint", rt.endpoint, "--action", "handleRequests(100)", "--json",
      "--dir", dir .. "/cli-leaks")
    assert.equal(1, code, err)
    local doc = json.decode(out)
    assert.equal(3, #doc.snapshots)
    assert.is_nil(doc.detached)
    local found
    for _, g in ipairs(doc.leaks) do if g.class == "LeakyListener" then found = g end end
    assert.is_table(found, out)
    assert.equal(100, found.count)
  end)

  it("workflow scripts: detect-leak.lua (its own Lua action) finds LeakyListener; monitor.lua", function()
    local code, out, err = lua54("scripts/detect-leak.lua", "--endpoint", rt.endpoint, "--dir", dir .. "/script")
    assert.equal(1, code, err)
    assert.matches("1%. LeakyListener: 100 objects", out)
    assert.matches("%-%- snapshot final", err)
    code, out, err = lua54("scripts/monitor.lua", "--endpoint", rt.endpoint, "--interval", "0", "--count", "2",
      "--threshold", "100")
    assert.equal(0, code, err)
    assert.matches("Heap: [%d.]+ [KMG]?i?B / [%d.]+ [KMG]?i?B", out)
    assert.matches("2 samples, peak", out)
  end)
end)

describe("Deno, clean app", function()
  local rt, s, dir

  setup(function() rt, s, dir = start("clean") end)
  teardown(function() stop(rt, s, dir) end)

  it("detect-leak: no LeakyListener; only one-time runtime internals of a few KB remain", function()
    local report, err = detect_leak.run(s, { action = "handleRequests(200)", dir = dir .. "/leaks" })
    assert.is_table(report, err)
    assert.is_nil(group(report, "LeakyListener"), detect_leak.format(report))
    local total = 0
    for _, g in ipairs(report.leaks) do
      total = total + g.retainedSize
      assert.is_true(g.count < 200, "a group of " .. g.count .. " " .. g.class)
    end
    assert.is_true(total < 64 * 1024, detect_leak.format(report))
    assert.equal(400, work(rt, 0).handled) -- the actions did run
  end)

  it("verify-cleanup: RELEASED when the app drops what it allocated, NOT when a cache keeps it", function()
    local alloc = "globalThis.__memdbgHeld = new Array(2e6).fill(0.5); 0"
    local r = assert(verify.run(s, { allocate = alloc, cleanup = "globalThis.__memdbgHeld = null; 0" }))
    assert.is_true(r.grew > 15 * MB, verify.format(r))
    assert.is_true(r.released, verify.format(r))
    r = assert(verify.run(s, { allocate = alloc,
      cleanup = "globalThis.__memdbgCache = [globalThis.__memdbgHeld]; globalThis.__memdbgHeld = null; 0" }))
    assert.is_false(r.released, verify.format(r))
    assert.is_true(r.retained > 15 * MB, verify.format(r))
  end)
end)
