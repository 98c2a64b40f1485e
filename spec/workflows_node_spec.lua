-- The workflows against real Node apps (spec/apps/node-memory/app.js).
local memdbg = require("memdbg")
local node = require("support.node")
local detect_leak = require("memdbg.workflows.detect_leak")
local verify = require("memdbg.workflows.verify_cleanup")
local monitor = require("memdbg.workflows.monitor")
local snapshot = require("memdbg.workflows.snapshot")
local sample = require("memdbg.workflows.sample_profile")
local track = require("memdbg.workflows.track_allocations")
local files = require("memdbg.util.files")

local APP = "spec/apps/node-memory/app.js"

local function start(mode)
  return node.start { script = APP, args = { mode }, ready = "memdbg%-memory%-app ready" }
end

local function stat_mode(path)
  local f = assert(io.popen("stat -c %a " .. files.quote(path)))
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

local function classes(report)
  local set = {}
  for _, g in ipairs(report.leaks) do set[g.class] = g end
  return set
end

describe("detect-leak", function()
  it("reports the listeners a leaky app never removes, by class, with a retainer path", function()
    local app = start("leaky")
    local s = assert(memdbg.connect { endpoint = app.endpoint })
    local steps = {}
    local report, err = detect_leak.run(s, { action = "handleRequests(200)",
      onStep = function(step, detail) steps[#steps + 1] = step .. ":" .. tostring(detail) end })
    s:close()
    node.stop(app)
    assert.is_table(report, err)
    finally(function() os.execute("rm -rf " .. files.quote(report.dir)) end)
    assert.equal("700", stat_mode(report.dir))
    assert.equal(3, #report.snapshots)
    for i, p in ipairs(report.snapshots) do
      assert.matches(({ "baseline", "target", "final" })[i] .. "%-%d+%-%d+Z", p)
      assert.equal("600", stat_mode(p))
    end
    assert.equal("gc:baseline,snapshot:baseline,action:1,gc:target,snapshot:target,action:2,gc:final,"
      .. "snapshot:final,analyse:nil", table.concat(steps, ","))
    assert.is_true(#report.leaks > 0, "no leak found in the leaky app")
    -- the leaked class comes first, with where its constructor is and what holds it
    local first = report.leaks[1]
    assert.equal("LeakyListener", first.class, detect_leak.format(report))
    assert.equal(200, first.count)
    assert.same({ 200, 200 }, first.growth)
    assert.matches("node%-memory/app%.js$", first.location.url)
    assert.is_string(first.holder.class)
    assert.equal(3, #first.holder.edges)
    -- the app leaked 400 LeakyListener objects of ~10 KB each
    local total = 0
    for _, g in ipairs(report.leaks) do total = total + g.retainedSize end
    assert.is_true(total > 2 * 1024 * 1024, "leak groups retain only " .. total .. " bytes")
    assert.is_true(#report.leaks[1].retainerPath > 0)
    -- the class is named: 200 LeakyListener objects stayed after each run
    local text = detect_leak.format(report)
    local grown
    for _, g in ipairs(report.grown or {}) do if g.class == "LeakyListener" then grown = g end end
    assert.is_table(grown, "LeakyListener did not grow:\n" .. text)
    assert.same({ 200, 200 }, grown.rounds)
    assert.matches("LeakyListener: 400 objects %(200, then 200%)", text)
    assert.is_table(classes(report).LeakyListener)
  end)

  it("reports a clean app as clean, with a Lua action and a traffic hook", function()
    local app = start("clean")
    local s = assert(memdbg.connect { endpoint = app.endpoint })
    local actions, traffic = 0, 0
    local report, err = detect_leak.run(s, {
      action = function(session)
        actions = actions + 1
        assert(session.memory:evaluate("handleRequests(200)"))
      end,
      traffic = function() traffic = traffic + 1 end,
    })
    s:close()
    node.stop(app)
    assert.is_table(report, err)
    os.execute("rm -rf " .. files.quote(report.dir))
    assert.equal(2, actions)
    assert.is_true(traffic >= 3) -- called while waiting on each GC
    assert.same({}, report.leaks, detect_leak.format(report))
    assert.is_nil(report.grown, detect_leak.format(report))
    assert.matches("No leaks found", detect_leak.format(report))
  end)

  it("stops with a clear error when the action throws", function()
    local app = start("clean")
    local s = assert(memdbg.connect { endpoint = app.endpoint })
    local dir = assert(files.tempdir("memdbg-spec"))
    local report, err, code, partial = detect_leak.run(s, { action = "failingAction()", dir = dir })
    s:close()
    node.stop(app)
    os.execute("rm -rf " .. files.quote(dir))
    assert.is_nil(report)
    assert.equal("EEXCEPTION", code)
    assert.matches("action failed on purpose", err)
    assert.equal(1, #partial.snapshots) -- the baseline was taken before the action ran
  end)
end)

describe("workflows on one idle app", function()
  local app, s, dir

  setup(function()
    app = start("idle")
    s = assert(memdbg.connect { endpoint = app.endpoint })
    dir = assert(files.tempdir("memdbg-spec"))
  end)

  teardown(function()
    if s then s:close() end
    node.stop(app)
    if dir then os.execute("rm -rf " .. files.quote(dir)) end
  end)

  it("verify-cleanup: released when the cleanup drops the memory", function()
    local r = assert(verify.run(s, { allocate = "allocate(16)", cleanup = "release()" }))
    assert.is_true(r.grew > 15 * 1048576)
    assert.is_true(r.released, verify.format(r))
    assert.matches("RELEASED", verify.format(r))
  end)

  it("verify-cleanup: not released when a cache keeps it", function()
    local r = assert(verify.run(s, { allocate = "allocate(16)", cleanup = "releaseBroken()" }))
    assert.is_false(r.released, verify.format(r))
    assert.is_true(r.retained > 15 * 1048576)
    assert.matches("NOT RELEASED", verify.format(r))
  end)

  it("monitor: samples, alerts when crossing the threshold, writes CSV and SVG", function()
    local alerts, printed = {}, {}
    local out = { write = function(_, ...) for _, v in ipairs { ... } do printed[#printed + 1] = v end end,
      flush = function() end }
    local csv, svg = dir .. "/heap.csv", dir .. "/heap.svg"
    local r = assert(monitor.run(s, { interval = 0.05, count = 4, threshold = 0.01, limit = 1048576, print = out,
      csv = csv, svg = svg,
      onAlert = function(s_) alerts[#alerts + 1] = s_ end }))
    assert.equal(4, #r.samples)
    assert.equal(1, #alerts) -- once per upward crossing, not every sample
    assert.equal(1, r.alerts)
    assert.matches("^Heap: [%d.]+ [KMG]?i?B / [%d.]+ [KMG]?i?B", table.concat(printed))
    assert.is_true(r.samples[4].t >= 0.15)
    local lines = {}
    for l in read(csv):gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.equal(5, #lines)
    assert.equal("seconds,unix_time,used_bytes,total_bytes,ratio,limit_bytes,after_gc,alert", lines[1])
    assert.matches("^[%d.]+,%d+,%d+,%d+,[%d.]+,1048576,0,limit$", lines[2])
    local text = read(svg)
    assert.matches("^<svg", text)
    assert.matches("</svg>", text)
    assert.matches('<path d="M', text)
    -- a threshold that is never reached raises no alert
    local quiet = assert(monitor.run(s, { interval = 0, count = 2, threshold = 1.5, print = false,
      onAlert = function() error("no alert expected") end }))
    assert.equal(0, quiet.alerts)
  end)

  it("snapshot: timestamped names in the directory, after a GC", function()
    local a = assert(snapshot.run(s, { dir = dir, gc = true }))
    local b = assert(snapshot.run(s, { dir = dir }))
    assert.matches("^" .. dir:gsub("%p", "%%%0") .. "/heap%-%d%d%d%d%d%d%d%d%-%d%d%d%d%d%dZ", a.path)
    assert.are_not.equal(a.path, b.path)
    assert.equal("600", stat_mode(a.path))
    assert.is_true(a.bytes > 100000)
  end)

  it("sample-profile: saves .heapprofile and .folded and finds the allocating function", function()
    local r = assert(sample.run(s, { action = "handleRequests(100)", interval = 4096, out = dir .. "/alloc",
      includeCollected = true }))
    assert.is_true(r.sampleCount > 0)
    assert.equal(dir .. "/alloc.heapprofile", r.files.heapprofile)
    assert.matches('^{"head":{"callFrame"', read(r.files.heapprofile))
    assert.matches("LeakyListener app%.js:%d+ %d+\n", read(r.files.folded))
    assert.equal("LeakyListener", r.sites[1].functionName)
  end)

  it("track-allocations: a timeline snapshot and its allocation sites", function()
    local r = assert(track.run(s, { action = "handleRequests(100)", dir = dir }))
    assert.matches("/track%-%d+%-%d+Z", r.path)
    assert.matches('"trace_tree":%[%d', read(r.path))
    assert.equal("LeakyListener", r.sites[1].functionName)
    assert.is_true(r.sites[1].count >= 100)
  end)
end)
