-- `memdbg monitor` while the runtime is busy (issue 12, item 7), and counts
-- and sizes as integers (item 9), against a real Node app with a 20 MB heap:
-- another client's snapshot holds Node's main thread for seconds, so heap
-- usage samples go unanswered meanwhile. A late sample is a gap in the
-- series (CSV row with empty values, a grey band in the plot), not the end.
local node = require("support.node")
local run = require("support.run")
local memdbg = require("memdbg")

local APP = "spec/apps/node-memory/app.js"

describe("monitor and numbers (a Node app with a 20 MB heap)", function()
  local app, dir

  setup(function()
    app = node.start { script = APP, args = { "idle", "100000" }, ready = "memdbg%-memory%-app ready" }
    dir = run.tmpdir()
  end)
  teardown(function()
    node.stop(app)
    run.rm(dir)
  end)

  it("a sample held up by another client's snapshot is a gap, and monitoring goes on to --count", function()
    local csv, svg = dir .. "/heap.csv", dir .. "/heap.svg"
    -- the other client: a snapshot that keeps Node busy for seconds
    local other = run.start { "snapshot", "--endpoint", app.endpoint, "--out", dir .. "/other.heapsnapshot" }
    run.wait_writing(other, dir, 30)
    -- enough samples to outlast the snapshot however loaded the machine is
    local code, out, err = run.memdbg { "monitor", "--endpoint", app.endpoint, "--interval", "0.05", "--count",
      "60", "--timeout", "0.25", "--threshold", "100", "--csv", csv, "--svg", svg, timeout = 60 }
    local ocode, _, oerr = run.wait(other, 60)
    assert.equal(0, ocode, oerr)
    assert.equal(0, code, err)
    local rows, gaps, good = 0, 0, 0
    for line in run.slurp(csv):gmatch("[^\n]+") do
      if line:match("^[%d.]+,%d+,,,,%d*,[01],$") then
        gaps = gaps + 1
      elseif line:match("^[%d.]+,%d+,%d+,%d+,[%d.]+,%d*,[01],$") then
        good = good + 1
      end
      rows = rows + 1
    end
    assert.equal(61, rows) -- the header and 60 samples
    assert.is_true(gaps >= 1, "no gap while the snapshot ran:\n" .. out)
    assert.is_true(good >= 1, "no sample after the snapshot:\n" .. out)
    assert.equal(60, gaps + good)
    assert.matches(string.format("60 samples, %d gaps?", gaps), out)
    assert.matches("no answer within 0.25 s", out)
    local plot = run.slurp(svg)
    assert.matches('class="gap"', plot)
    assert.matches("</svg>", plot)
    assert.equal("600", run.stat(csv, "%a"))
  end)

  it("--json carries the gaps too, one document streamed sample by sample", function()
    local other = run.start { "snapshot", "--endpoint", app.endpoint, "--out", dir .. "/other2.heapsnapshot" }
    run.wait_writing(other, dir, 30)
    local code, out, err = run.memdbg { "monitor", "--endpoint", app.endpoint, "--interval", "0.05", "--count",
      "60", "--timeout", "0.25", "--threshold", "100", "--json", timeout = 60 }
    run.wait(other, 60)
    assert.equal(0, code, err)
    local doc = require("cjson").decode(out)
    assert.equal(60, #doc.samples)
    assert.equal(60, doc.count)
    local gaps = 0
    for _, s in ipairs(doc.samples) do
      if s.gap then gaps = gaps + 1 else assert.is_true(s.usedSize > 0) end
    end
    assert.is_true(gaps >= 1)
    assert.equal(gaps, doc.gaps)
  end)

  local integer_test = math.type and it or pending
  integer_test((math.type and "" or "needs Lua 5.4 (math.type): ")
    .. "heap usage, snapshot bytes and sampling sizes reach Lua as integers, not floats like 216208064.0", function()
    local s = assert(memdbg.connect { endpoint = app.endpoint })
    finally(function() s:close() end)
    local u = assert(s.memory:getHeapUsage())
    assert.equal("integer", math.type(u.usedSize))
    assert.equal("integer", math.type(u.totalSize))
    assert.matches("^%d+$", tostring(u.usedSize))
    local info = assert(s.memory:takeHeapSnapshot { path = dir .. "/int.heapsnapshot" })
    assert.equal("integer", math.type(info.bytes))
    assert.equal("integer", math.type(info.chunks))
    assert(s.memory:startSamplingHeapProfiler { samplingInterval = 1024 })
    s.memory:evaluate("globalThis.keep = Array.from({length: 2000}, (_, i) => ({ i }))")
    local profile = assert(s.memory:stopSamplingHeapProfiler())
    assert.equal("integer", math.type(profile.head.selfSize))
    assert.is_true(#profile.samples > 0)
    assert.equal("integer", math.type(profile.samples[1].size))
  end)
end)
