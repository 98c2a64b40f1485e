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
end)
