-- memdbg against a real headless Chromium (Debian's chromium, started by
-- spec/support/runtimes.lua on a free loopback port with
-- spec/apps/chromium/app.html): the same Lua API, workflows and `memdbg`
-- commands as on Node, through the page's own websocket and through the
-- browser endpoint (session:attach), plus what only Chromium has: DOM
-- counters, performance metrics and detached DOM nodes in the leak report.
-- Without chromium the whole file shows as pending, by name.
local runtimes = require("support.runtimes")

local KIND = "chromium"
local available, why = runtimes.available(KIND)
if not available then
  describe("Chromium", function()
    pending(KIND .. " not installed: " .. tostring(why))
  end)
  return
end

local memdbg = require("memdbg")
local heap = require("memdbg.analysis.heap")
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

local function by_title(mode)
  return function(t) return t.title == "memdbg app: " .. mode end
end

local function start(mode)
  local rt = runtimes.start(KIND, { app = mode })
  local s = assert(memdbg.connect { endpoint = rt.endpoint, target = by_title(mode) })
  local dir = assert(files.tempdir("memdbg-chromium"))
  return rt, s, dir
end

local function stop(rt, s, dir)
  if s then s:close() end
  if rt then
    runtimes.stop(rt)
    assert(not runtimes.alive(rt), "chromium (pid " .. tostring(rt.pid) .. ") is still running")
    assert.same({}, runtimes.leftovers(rt))
  end
  if dir then os.execute("rm -rf " .. q(dir)) end
end

describe("Chromium page, leaky app", function()
  local rt, s, dir

  setup(function() rt, s, dir = start("leaky") end)
  teardown(function() stop(rt, s, dir) end)

  it("connects to the app's page, by default and by title; never a browser_ui target", function()
    assert.equal("chrome", s.runtime)
    assert.equal("page", s.target.type)
    assert.equal(rt.target.id, s.target.id)
    local list = assert(memdbg.targets(rt.endpoint))
    local ui = 0
    for _, t in ipairs(list) do if t.type ~= "page" then ui = ui + 1 end end
    assert.is_true(ui > 0, "expected Chromium's browser_ui targets in the list") -- so the default had a choice
    local d = assert(memdbg.connect { endpoint = rt.endpoint })
    assert.equal(rt.target.id, d.target.id)
    d:close()
    local none, err, code = memdbg.connect { endpoint = rt.endpoint, target = by_title("nonexistent") }
    assert.is_nil(none)
    assert.equal("ENOTARGET", code)
    assert.matches("browser_ui", err)
  end)

  it("usage: Runtime.getHeapUsage with Chromium's extra fields", function()
    local u = assert(s.memory:getHeapUsage())
    assert.is_true(u.usedSize > 0 and u.usedSize <= u.totalSize)
    assert.is_number(u.embedderHeapUsedSize)
    assert.is_number(u.backingStorageSize)
  end)

  it("gc: collectGarbage frees a 16 MB array the page dropped", function()
    assert(s.memory:evaluate("globalThis.__memdbgTmp = new Array(2e6).fill(0.5); 0"))
    local before = assert(s.memory:getHeapUsage()).usedSize
    assert(s.memory:evaluate("globalThis.__memdbgTmp = null; 0"))
    assert.is_true(s.memory:collectGarbage())
    local after = assert(s.memory:getHeapUsage()).usedSize
    assert.is_true(before - after > 12 * MB, string.format("only %d bytes freed", before - after))
  end)

  it("snapshot: streamed to a file that `memdbg summary --json` reads, LeakyListener counted exactly", function()
    local retained = assert(s.memory:evaluate("handleRequests(300)"))
    assert.is_true(retained >= 300)
    local path = dir .. "/page.heapsnapshot"
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
    assert.equal(retained, row.count)
    assert.is_true(row.retainedSize > retained * 10240)
  end)

  it("sampling: the sampling heap profiler names LeakyListener as the top allocation site", function()
    local r = assert(sample.run(s, { action = "handleRequests(100)", interval = 4096, out = dir .. "/alloc",
      includeCollected = true }))
    assert.is_true(r.sampleCount > 0)
    assert.equal("LeakyListener", r.sites[1].functionName)
    assert.matches('^{"head":{"callFrame"', read(r.files.heapprofile))
    assert.matches("LeakyListener", read(r.files.folded))
  end)

  it("tracking: a timeline snapshot whose top allocation site is LeakyListener", function()
    local r = assert(track.run(s, { action = "handleRequests(100)", dir = dir }))
    assert.matches('"trace_tree":%[%d', read(r.path))
    assert.equal("LeakyListener", r.sites[1].functionName)
    assert.is_true(r.sites[1].count >= 100)
  end)

  it("DOM counters and performance metrics follow the page's listeners", function()
    local before = assert(s.memory:getDOMCounters())
    assert.is_true(before.documents >= 1)
    assert.is_true(before.nodes > 0)
    assert(s.memory:evaluate("handleRequests(25)"))
    local after = assert(s.memory:getDOMCounters())
    assert.equal(25, after.jsEventListeners - before.jsEventListeners) -- the leaky app never removes them
    local m = assert(s.memory:getPerformanceMetrics())
    assert.equal(after.jsEventListeners, m.JSEventListeners)
    assert.equal(after.nodes, m.Nodes)
    assert.is_true(m.JSHeapUsedSize > 0 and m.JSHeapUsedSize <= m.JSHeapTotalSize)
  end)

  it("detect-leak finds LeakyListener, held by leakedListeners, and no detached DOM nodes", function()
    local report, err = detect_leak.run(s, { action = "handleRequests(100)", dir = dir .. "/leaks" })
    assert.is_table(report, err)
    local g = group(report, "LeakyListener")
    assert.is_table(g, "LeakyListener is not among the leak groups:\n" .. detect_leak.format(report))
    assert.equal(100, g.count)
    assert.is_true(g.retainedSize > 100 * 10240)
    assert.matches("leakedListeners", table.concat(g.retainerPath, " -> "))
    assert.equal(g, report.leaks[1]) -- the largest group
    assert.is_nil(report.detached)
  end)

  it("verify-cleanup: NOT RELEASED when the cleanup leaves the listeners registered", function()
    local r = assert(verify.run(s, { allocate = "handleRequests(1000)", cleanup = "leakedListeners.length" }))
    assert.is_false(r.released, verify.format(r))
    assert.is_true(r.retained > 8 * MB, verify.format(r))
    assert.matches("NOT RELEASED", verify.format(r))
  end)

  it("monitor: a few samples of the page's heap", function()
    local seen = 0
    local r = assert(monitor.run(s, { interval = 0.05, count = 3, threshold = 2, print = false,
      onSample = function() seen = seen + 1 end }))
    assert.equal(3, #r.samples)
    assert.equal(3, seen)
    assert.equal(0, r.alerts)
    assert.is_true(r.samples[3].t > r.samples[1].t)
    for _, x in ipairs(r.samples) do assert.is_true(x.usedSize > 0 and x.usedSize <= x.totalSize) end
  end)

  it("memdbg usage / leaks on the page (by --target id): runtime chrome, exit 1 with LeakyListener", function()
    local code, out, err = cli("usage", "--endpoint", rt.endpoint, "--target", rt.target.id, "--json")
    assert.equal(0, code, err)
    local u = json.decode(out)
    assert.equal("chrome", u.runtime)
    assert.is_true(u.usedSize > 0)
    code, out, err = cli("leaks", "--endpoint", rt.endpoint, "--action", "handleRequests(100)", "--json",
      "--dir", dir .. "/cli-leaks")
    assert.equal(1, code, err)
    local doc = json.decode(out)
    assert.equal(3, #doc.snapshots)
    local found
    for _, g in ipairs(doc.leaks) do if g.class == "LeakyListener" then found = g end end
    assert.is_table(found, out)
    assert.equal(100, found.count)
  end)

  it("through the browser endpoint: attach to the page, then the same memory API and detect-leak", function()
    local b = assert(memdbg.connect { endpoint = rt.browserWs })
    finally(function() b:close() end)
    assert.equal("chrome", b.runtime)
    -- the browser target holds no heap of its own
    local u, err, code = b.memory:getHeapUsage()
    assert.is_nil(u)
    assert.equal("EUNSUPPORTED", code, err)
    local none
    none, err, code = b:attach(by_title("nonexistent"))
    assert.is_nil(none)
    assert.equal("ENOTARGET", code, err)

    local p = assert(b:attach(by_title("leaky")))
    assert.equal(rt.target.id, p.target.targetId)
    local n = assert(p.memory:evaluate("leakedListeners.length"))
    assert.is_true(n > 0)
    assert.is_true(assert(p.memory:getHeapUsage()).usedSize > 0)
    assert.equal(n, assert(p.memory:getDOMCounters()).jsEventListeners)
    local path = dir .. "/attached.heapsnapshot"
    local info = assert(p.memory:takeHeapSnapshot { path = path })
    assert.equal(info.bytes, file_size(path))
    local snap = assert(heap.load(path))
    local row = class_row(snap:summary {}, "LeakyListener")
    snap:close()
    assert.equal(n, row.count)
    local report
    report, err = detect_leak.run(p, { action = "handleRequests(50)", dir = dir .. "/attached-leaks" })
    assert.is_table(report, err)
    assert.equal(50, assert(group(report, "LeakyListener")).count)
    p:close()
    assert.is_false(p:isOpen())
    assert.is_true(b:isOpen())
  end)
end)

describe("Chromium page, clean app", function()
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
    assert.is_nil(report.detached)
  end)

  it("verify-cleanup: RELEASED when the page drops what it allocated, NOT when a cache keeps it", function()
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

describe("Chromium page, detached DOM nodes", function()
  local rt, s, dir

  setup(function() rt, s, dir = start("detached") end)
  teardown(function() stop(rt, s, dir) end)

  it("detect-leak finds the detached subtrees and the report lists the detached nodes by class", function()
    local before = assert(s.memory:getDOMCounters())
    local report, err = detect_leak.run(s, { action = "handleRequests(50)", dir = dir .. "/leaks" })
    assert.is_table(report, err)
    -- Chromium 156 names DOM nodes by tag and attributes; DevTools' classes are "Detached <tag>"
    local div = group(report, "Detached <div>")
    assert.is_table(div, detect_leak.format(report))
    assert.equal(50, div.count)
    assert.matches("detachedNodes", table.concat(div.retainerPath, " -> "))
    assert.same({
      { name = "Detached <div>", count = 100 },
      { name = "Detached <span>", count = 100 },
    }, {
      { name = report.detached[1].name, count = report.detached[1].count },
      { name = report.detached[2].name, count = report.detached[2].count },
    })
    assert.equal(2, #report.detached)
    assert.is_true(report.detached[1].retainedSize > 0)
    local text = detect_leak.format(report)
    assert.matches("Detached <div>: 100 nodes", text)
    assert.matches("Detached <span>: 100 nodes", text)
    -- the renderer counts them too: div + span + text per action
    local after = assert(s.memory:getDOMCounters())
    assert.is_true(after.nodes - before.nodes >= 200, (after.nodes - before.nodes) .. " nodes more")
  end)

  it("memdbg leaks --json lists them under 'detached'", function()
    local code, out, err = cli("leaks", "--endpoint", rt.endpoint, "--action", "handleRequests(20)", "--json",
      "--dir", dir .. "/cli-leaks")
    assert.equal(1, code, err)
    local doc = json.decode(out)
    assert.is_table(doc.detached, out)
    assert.equal("Detached <div>", doc.detached[1].name)
    assert.equal(140, doc.detached[1].count) -- 100 from the test above, 2 x 20 here
  end)

  it("workflow scripts: detect-leak.lua (its own Lua action) lists the detached nodes; monitor.lua", function()
    local code, out, err = lua54("scripts/detect-leak.lua", "--endpoint", rt.endpoint, "--dir", dir .. "/script")
    assert.equal(1, code, err)
    assert.matches("Detached <div>: 100 objects", out)
    assert.matches("Detached <div>: %d+ nodes", out)
    assert.matches("%-%- snapshot final", err)
    code, out, err = lua54("scripts/monitor.lua", "--endpoint", rt.endpoint, "--interval", "0", "--count", "2",
      "--threshold", "100")
    assert.equal(0, code, err)
    assert.matches("Heap: [%d.]+ [KMG]?i?B / [%d.]+ [KMG]?i?B", out)
    assert.matches("2 samples, peak", out)
  end)
end)
