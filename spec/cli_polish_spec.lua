-- Loose ends of the command line found by a tester (issues 12, 14, 17), run
-- as a user runs memdbg, against one real Node app: --openmetrics on a port in
-- use fails before the runtime is touched; waits are bounded; `sample` gives
-- the column as `track` and `leaks` do; `leaks --sampling` refuses the
-- snapshot hunt's options instead of ignoring them.
local node = require("support.node")
local proc = require("support.proc")
local run = require("support.run")
local json = require("cjson")

local APP = "spec/apps/node-memory/app.js"

-- how many inspector clients attached to the app so far (Node says so on stderr)
local function attached(app)
  local n = 0
  for _ in proc.output(app):gmatch("Debugger attached%.") do n = n + 1 end
  return n
end

describe("command line loose ends (a real Node app)", function()
  local app, dir

  setup(function()
    app = node.start { script = APP, args = { "leaky" }, ready = "memdbg%-memory%-app ready" }
    dir = run.tmpdir()
  end)
  teardown(function()
    node.stop(app)
    run.rm(dir)
  end)

  it("monitor --openmetrics on a port in use: exit 2, one line naming EADDRINUSE, the runtime never touched",
    function()
      local busy = assert(require("memdbg._core").metricsServe("127.0.0.1", 0))
      finally(function() busy:close() end)
      local _, port = busy:address()
      local before = attached(app)
      local code, out, err = run.memdbg { "monitor", "--endpoint", app.endpoint, "--count", "1",
        "--openmetrics", "127.0.0.1:" .. port, timeout = 30 }
      assert.equal(2, code, err)
      assert.equal("", out)
      assert.matches("^memdbg monitor: %-%-openmetrics 127%.0%.0%.1:" .. port .. ": [^\n]*EADDRINUSE[^\n]*\n$", err)
      assert.equal(before, attached(app), proc.output(app))
      -- nothing listens at this endpoint: connecting first would say ECONNREFUSED (exit 3)
      local dead = assert(require("memdbg._core").metricsServe("127.0.0.1", 0))
      local _, dport = dead:address()
      dead:close()
      code, _, err = run.memdbg { "monitor", "--endpoint", "127.0.0.1:" .. dport, "--count", "1",
        "--openmetrics", "127.0.0.1:" .. port, timeout = 30 }
      assert.equal(2, code, err)
      assert.matches("EADDRINUSE", err)
    end)

  it("a wait of more than a day (--interval 1e308, --timeout, --duration, --action-timeout) is exit 2 in every command",
    function()
      for _, argv in ipairs {
        { "monitor", "--interval", "1e308", "--count", "1" },
        { "monitor", "--interval", "86401", "--count", "1" },
        { "monitor", "--duration", "1e300" },
        { "monitor", "--timeout", "1e308", "--count", "1" },
        { "snapshot", "--timeout", "1e20", "--dir", dir },
        { "track", "--duration", "1e308" },
        { "sample", "--duration", "1e308" },
        { "leaks", "--duration", "1e308" },
        { "leaks", "--action", "1", "--action-timeout", "1e308" },
        { "leaks", "--action", "1", "--timeout", "1e308" },
      } do
        argv[#argv + 1] = "--endpoint"
        argv[#argv + 1] = app.endpoint
        argv.timeout = 30
        local code, _, err = run.memdbg(argv)
        local what = table.concat(argv, " ") .. ": " .. err
        assert.equal(2, code, what)
        assert.matches("^memdbg %a+: %-%-[%a%-]+ takes seconds, at most 86400 %(a day%)[^\n]*\n$", err, 1, false, what)
      end
      -- a day itself is a wait someone may mean
      local code, _, err = run.memdbg { "monitor", "--endpoint", app.endpoint, "--interval", "0", "--count", "1",
        "--timeout", "86400", "--threshold", "100", timeout = 30 }
      assert.equal(0, code, err)
    end)

  it("sample: every site has the column, 1-based, in text and --json, as the profile's 0-based columnNumber + 1",
    function()
      local prefix = dir .. "/s"
      local code, out, err = run.memdbg { "sample", "--endpoint", app.endpoint, "--action", "handleRequests(50)",
        "--sampling-interval", "4096", "--prefix", prefix, "--top", "0", "--json", timeout = 60 }
      assert.equal(0, code, err)
      local doc = json.decode(out)
      -- the raw profile: the call frames as V8 gave them (0-based)
      local frames = {}
      local function walk(n)
        local cf = n.callFrame
        frames[string.format("%s:%d:%d", cf.url, cf.lineNumber + 1, cf.columnNumber + 1)] = true
        for _, k in ipairs(n.children) do walk(k) end
      end
      walk(json.decode(run.slurp(prefix .. ".heapprofile")).head)
      local leaky
      for _, s in ipairs(doc.sites) do
        if s.url ~= "" then
          assert.is_number(s.column, s.functionName)
          local where = string.format("%s:%d:%d", s.url, s.line, s.column)
          assert.is_true(frames[where], where .. " is no call frame's 0-based position + 1")
        end
        if s.functionName == "LeakyListener" then leaky = s end
      end
      assert.is_table(leaky, out)
      -- the class's constructor: its line in app.js, its column where V8 puts the function
      local n, src = 0, nil
      for line in io.lines(APP) do
        n = n + 1
        if n == leaky.line then src = line end
      end
      assert.matches("constructor", src)
      code, out, err = run.memdbg { "sample", "--endpoint", app.endpoint, "--action", "handleRequests(50)",
        "--sampling-interval", "4096", timeout = 60 }
      assert.equal(0, code, err)
      assert.matches("URL:LINE:COLUMN", out, 1, true)
      assert.matches(string.format("LeakyListener%%s+[^\n]*app%%.js:%d:%d\n", leaky.line, leaky.column), out)
    end)

  it("leaks --sampling refuses the snapshot hunt's options (exit 2, one line) instead of ignoring them", function()
    for _, extra in ipairs {
      { "--track-allocations" }, { "--dir", dir }, { "--keep" }, { "--gc-rounds", "3" }, { "--timeout", "60" },
    } do
      local argv = { "leaks", "--sampling", "--action", "handleRequests(1)", "--endpoint", app.endpoint,
        timeout = 30 }
      for _, a in ipairs(extra) do argv[#argv + 1] = a end
      local before = attached(app)
      local code, out, err = run.memdbg(argv)
      local what = table.concat(extra, " ") .. ": " .. err
      assert.equal(2, code, what)
      assert.equal("", out)
      assert.matches("^memdbg leaks: " .. extra[1]:gsub("%-", "%%-") .. " [^\n]*%-%-sampling[^\n]*\n$", err, 1, false,
        what)
      assert.equal(before, attached(app))
    end
  end)
end)
