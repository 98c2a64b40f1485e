-- The memdbg subcommands (targets usage gc snapshot monitor sample track leaks
-- verify) run as a user runs them, against real Node apps: exit codes and JSON.
local json = require("cjson")
local node = require("support.node")
local proc = require("support.proc")

local APP = "spec/apps/node-memory/app.js"
local q = proc.quote

-- Runs `memdbg ARGS...`; returns exit code, stdout, stderr.
-- memdbg_env("K=V", ARGS...) adds to the environment.
local function memdbg_env(extra, ...)
  local lua = require("support.run").interpreter()
  local argv = { lua, "scripts/memdbg", ... }
  for i, a in ipairs(argv) do argv[i] = q(a) end
  local errf = os.tmpname()
  local env = "MEMDBG_BUILD=" .. q(os.getenv("MEMDBG_BUILD") or "build/lua5.4") .. " " .. (extra and (extra .. " ") or "")
  -- the exit status comes back through the shell: LuaJIT's popen close() has none
  local p = io.popen(env .. table.concat(argv, " ") .. " 2>" .. errf .. "; echo \"memdbg-exit=$?\"")
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

local function memdbg(...)
  return memdbg_env(nil, ...)
end

local function tmpdir()
  local p = os.tmpname()
  os.remove(p)
  assert(os.execute("mkdir -m 0700 " .. p))
  return p
end

describe("memdbg CLI", function()
  local leaky, clean, dir

  setup(function()
    leaky = node.start { script = APP, args = { "leaky" }, ready = "memdbg%-memory%-app ready" }
    clean = node.start { script = APP, args = { "clean" }, ready = "memdbg%-memory%-app ready" }
    dir = tmpdir()
  end)

  teardown(function()
    node.stop(leaky)
    node.stop(clean)
    if dir then os.execute("rm -rf " .. dir) end
  end)

  it("leaks --json: exit 1 and the documented shape for a leaky app", function()
    local code, out, err = memdbg("leaks", "--endpoint", leaky.endpoint, "--action", "handleRequests(200)", "--json",
      "--dir", dir .. "/leaky")
    assert.equal(1, code, err)
    local doc = json.decode(out)
    assert.equal(3, #doc.snapshots)
    for _, p in ipairs(doc.snapshots) do assert.is_string(p) assert.is_truthy(io.open(p)) end
    assert.is_true(#doc.leaks > 0)
    local keys = {}
    for k in pairs(doc) do keys[#keys + 1] = k end
    table.sort(keys)
    -- grown: classes that grew after both runs; actions: what each run did; newLeaks: groups that count
    assert.same({ "actions", "grown", "leaks", "newLeaks", "snapshots" }, keys)
    assert.equal(2, #doc.actions)
    assert.equal("expression", doc.actions[1].kind)
    local names = {}
    for _, g in ipairs(doc.grown) do names[g.class] = g.count end
    assert.equal(400, names.LeakyListener)
    for _, g in ipairs(doc.leaks) do
      assert.is_string(g.class)
      assert.is_number(g.count)
      assert.is_number(g.retainedSize)
      assert.is_table(g.retainerPath)
      assert.is_true(#g.retainerPath > 0)
      for _, step in ipairs(g.retainerPath) do assert.is_string(step) end
      assert.is_string(g.signature)
      assert.same(2, #g.growth)
      assert.is_table(g.holder)
      assert.is_true(g.location == json.null or type(g.location) == "table")
    end
    assert.equal("LeakyListener", doc.leaks[1].class) -- the leaked class first
    local line = 0 -- its constructor's line in the app
    for l in io.lines(APP) do
      line = line + 1
      if l:match("^  constructor%(id%)") then break end
    end
    assert.equal(line, doc.leaks[1].location.line)
  end)

  it("leaks --json: exit 0 and an empty array for a clean app; the temp dir is removed", function()
    local code, out, err = memdbg("leaks", "--endpoint", clean.endpoint, "--action", "handleRequests(200)", "--json")
    assert.equal(0, code, err .. out)
    assert.matches('"leaks":%[%]', out)
    local doc = json.decode(out)
    assert.equal(3, #doc.snapshots)
    assert.is_nil(io.open(doc.snapshots[1]))
  end)

  it("leaks: exit 2 when the action throws, with the exception in the message", function()
    local tmp = tmpdir()
    local code, _, err = memdbg_env("TMPDIR=" .. tmp, "leaks", "--endpoint", clean.endpoint, "--action",
      "failingAction()")
    local left = io.popen("ls -A " .. tmp):read("*a")
    os.execute("rm -rf " .. tmp)
    assert.equal(2, code)
    assert.matches("action failed on purpose", err)
    assert.equal("", left) -- the baseline snapshot and its temp dir are removed
  end)

  it("verify: exit 0 when memory is released, 1 when it is not", function()
    local code, out, err = memdbg("verify", "--endpoint", clean.endpoint, "--allocate", "allocate(8)",
      "--cleanup", "release()", "--json")
    assert.equal(0, code, err)
    local doc = json.decode(out)
    assert.is_true(doc.released)
    assert.is_true(doc.allocated > 7 * 1048576)
    code, out = memdbg("verify", "--endpoint", clean.endpoint, "--allocate", "allocate(8)", "--cleanup",
      "releaseBroken()")
    assert.equal(1, code)
    assert.matches("NOT RELEASED", out)
  end)

  it("usage, gc, targets, snapshot, sample, track: exit 0 with JSON", function()
    local code, out, err = memdbg("usage", "--endpoint", clean.endpoint, "--json")
    assert.equal(0, code, err)
    local u = json.decode(out)
    assert.is_true(u.usedSize > 0 and u.usedSize <= u.totalSize)
    assert.equal("node", u.runtime)

    code, out = memdbg("usage", "--endpoint", clean.endpoint)
    assert.equal(0, code)
    assert.matches("^Heap: [%d.]+ [KMG]?i?B / [%d.]+ [KMG]?i?B", out)

    code, out = memdbg("gc", "--endpoint", clean.endpoint, "--json")
    assert.equal(0, code)
    assert.is_true(json.decode(out).collected)

    code, out = memdbg("targets", "--endpoint", clean.endpoint, "--json")
    assert.equal(0, code)
    local t = json.decode(out).targets
    assert.equal("node", t[1].type)
    assert.matches("^ws://127%.0%.0%.1:", t[1].webSocketDebuggerUrl)

    local path = dir .. "/cli.heapsnapshot"
    code, out, err = memdbg("snapshot", "--endpoint", clean.endpoint, "--out", path, "--json")
    assert.equal(0, code, err)
    local info = json.decode(out)
    assert.equal(path, info.path)
    local f = assert(io.open(path, "rb"))
    assert.equal(info.bytes, f:seek("end"))
    f:close()

    code, out, err = memdbg("sample", "--endpoint", leaky.endpoint, "--action", "handleRequests(50)",
      "--sampling-interval", "4096", "--prefix", dir .. "/p", "--json")
    assert.equal(0, code, err)
    local sdoc = json.decode(out)
    assert.equal("LeakyListener", sdoc.sites[1].functionName)
    assert.is_truthy(io.open(dir .. "/p.heapprofile"))

    code, out, err = memdbg("track", "--endpoint", clean.endpoint, "--action", "handleRequests(50)", "--dir", dir,
      "--json")
    assert.equal(0, code, err)
    local tdoc = json.decode(out)
    assert.matches("track%-", tdoc.path)
    assert.equal("LeakyListener", tdoc.sites[1].functionName)
  end)

  it("monitor: exit 1 when the threshold is crossed, 0 when not; CSV written", function()
    local csv = dir .. "/m.csv"
    local code, out = memdbg("monitor", "--endpoint", clean.endpoint, "--interval", "0.05", "--count", "3",
      "--threshold", "1", "--limit", "1048576", "--csv", csv)
    assert.equal(1, code)
    assert.matches("Heap: ", out)
    assert.is_truthy(io.open(csv))
    code, out = memdbg("monitor", "--endpoint", clean.endpoint, "--interval", "0", "--count", "2",
      "--threshold", "100", "--json")
    assert.equal(0, code)
    assert.equal(2, #json.decode(out).samples)
  end)

  it("exit 2 on usage errors", function()
    assert.equal(2, (memdbg("leaks", "--endpoint", clean.endpoint)))           -- no --action
    assert.equal(2, (memdbg("usage", "--bogus")))
    assert.equal(2, (memdbg("monitor", "--threshold", "0")))
    assert.equal(2, (memdbg("gc", "--rounds", "many")))
    assert.equal(2, (memdbg("verify", "--allocate", "x()")))                 -- no --cleanup
    assert.equal(2, (memdbg("snapshot", "stray-argument")))
  end)

  it("a bad argument exits 2 with one line on stderr, before the runtime is asked anything", function()
    local bad = {
      { "leaks", "--action", "1", "--timeout", "0" },
      { "leaks", "--action", "1", "--timeout", "-1" },
      { "leaks", "--action", "1", "--dir", "" },
      { "leaks", "--action", "1", "--dir", "/dev/null" },
      { "leaks", "--action-http", "http://127.0.0.1:9/", "--method", "" },
      { "leaks", "--action-http", "http://127.0.0.1:9/", "--method", "GET X" },
      { "track", "--timeout", "0" },
      { "track", "--duration", "-1" },
      { "track", "--action", "" },
      { "sample", "--action", "" },
      { "sample", "--prefix", "" },
      { "verify", "--allocate", "", "--cleanup", "1" },
      { "verify", "--allocate", "1", "--cleanup", "1", "--gc-rounds", "0" },
      { "usage", "--target", "" },
    }
    for _, argv in ipairs(bad) do
      argv[#argv + 1] = "--endpoint"
      argv[#argv + 1] = clean.endpoint
      local code, _, err = memdbg((table.unpack or _G.unpack)(argv))
      local what = table.concat(argv, " ") .. ": " .. err
      assert.equal(2, code, what)
      assert.matches("^memdbg " .. argv[1] .. ": [^\n]+\n$", err, 1, false, what)
    end
    -- the workflow scripts, run as the README says (memdbg on the Lua paths)
    local cli = require("support.cli")
    for _, argv in ipairs {
      { "scripts/snapshot.lua", "--timeout", "-1" },
      { "scripts/monitor.lua", "--timeout", "0" },
      { "scripts/monitor.lua", "--interval", "-1" },
      { "scripts/detect-leak.lua", "--dir", "/dev/null" },
      { "scripts/track-allocations.lua", "--duration", "-1" },
    } do
      argv[#argv + 1] = "--endpoint"
      argv[#argv + 1] = clean.endpoint
      local code, _, err = cli.lua54((table.unpack or _G.unpack)(argv))
      local what = table.concat(argv, " ") .. ": " .. err
      assert.equal(2, code, what)
      assert.not_matches("traceback", err, 1, true)
    end
  end)

  it("Ctrl-C and SIGTERM stop a command at once while the runtime does not answer", function()
    local core = require("memdbg._core")
    local function alive(pid)
      local f = io.open("/proc/" .. pid .. "/stat")
      local st = f and f:read("*a"):match("^%d+ %b() (%a)")
      if f then f:close() end
      return st ~= nil and st ~= "Z"
    end
    -- a frozen runtime (SIGSTOP): memdbg waits in discovery, or on a command
    local function stop_after(signal, argv, freeze_after)
      if not freeze_after then os.execute("kill -STOP -" .. clean.pid) end
      -- started by a shell of ours, not proc.spawn: a sanitizer build keeps its LD_PRELOAD
      for i, a in ipairs(argv) do argv[i] = q(a) end
      local log = os.tmpname()
      local f = assert(io.popen(("MEMDBG_BUILD=%s %s >%s 2>&1 </dev/null & echo $!"):format(
        q(os.getenv("MEMDBG_BUILD") or "build/lua5.4"), table.concat(argv, " "), log)))
      local pid = assert(tonumber(f:read("*l")))
      f:close()
      local h = { pid = pid, log = log, cmd = argv[3] }
      if freeze_after then
        proc.wait_for(h, freeze_after, 10)
        os.execute("kill -STOP -" .. clean.pid)
      end
      proc.sleep(1)
      local sent = core.now()
      os.execute("kill -" .. signal .. " " .. pid)
      while alive(pid) and core.now() - sent < 5 do proc.sleep(0.05) end
      local took = core.now() - sent
      os.execute("kill -CONT -" .. clean.pid)
      proc.sleep(0.2)
      local out = proc.output(h)
      os.execute("kill -KILL " .. pid .. " 2>/dev/null")
      os.remove(log)
      return took, out
    end
    local lua = require("support.run").interpreter()
    local took, out = stop_after("INT", { lua, "scripts/memdbg", "usage", "--endpoint", clean.endpoint })
    -- at once, not after the 10 s connect timeout; 2 s allows a loaded machine
    assert.is_true(took < 2, ("SIGINT during discovery: %.1f s\n%s"):format(took, out))
    assert.matches("memdbg usage: interrupted", out)
    for _, sig in ipairs { "INT", "TERM" } do
      took, out = stop_after(sig, { lua, "scripts/memdbg", "monitor", "--interval", "0.2", "--endpoint",
        clean.endpoint }, "Heap:")
      assert.is_true(took < 2, ("SIG%s while a command waits: %.1f s\n%s"):format(sig, took, out))
      assert.matches(sig == "INT" and "memdbg monitor: interrupted" or "memdbg monitor: stopped by SIGTERM", out)
    end
  end)

  it("--connect-timeout S: the caller's bound on connecting and each command (a frozen runtime)", function()
    local core = require("memdbg._core")
    assert.equal(2, (memdbg("usage", "--connect-timeout", "0", "--endpoint", clean.endpoint)))
    os.execute("kill -STOP -" .. clean.pid)
    local t0 = core.now()
    local code, _, err = memdbg("usage", "--connect-timeout", "1.5", "--endpoint", clean.endpoint)
    local took = core.now() - t0
    os.execute("kill -CONT -" .. clean.pid)
    assert.equal(3, code, err)
    assert.matches("%[ETIMEDOUT%]", err)
    assert.is_true(took > 1.4 and took < 4, ("took %.1f s"):format(took))
  end)

  it("a broken install (lua-cjson not on the paths) exits 70 with one line, never 1 (a leak found)", function()
    local code, out, err = memdbg_env("LUA_CPATH='/nonexistent/?.so' LUA_CPATH_5_4='/nonexistent/?.so'", "leaks",
      "--endpoint", clean.endpoint, "--action", "1")
    assert.equal(70, code, err)
    assert.equal("", out)
    assert.matches("^memdbg: [^\n]*lua%-cjson[^\n]*\n$", err)
  end)

  it("exit 3 when the runtime cannot be reached", function()
    for _, cmd in ipairs { "targets", "usage", "gc", "snapshot", "monitor", "sample", "track", "verify" } do
      local extra = cmd == "verify" and { "--allocate", "1", "--cleanup", "1" } or {}
      local code, _, err = memdbg(cmd, "--endpoint", "http://127.0.0.1:9", (table.unpack or _G.unpack)(extra))
      assert.equal(3, code, cmd .. ": " .. err)
    end
    local code, out = memdbg("leaks", "--endpoint", "http://127.0.0.1:9", "--action", "1", "--json")
    assert.equal(3, code)
    assert.is_string(json.decode(out).error)
    -- a remote endpoint is refused without --allow-remote
    code = memdbg("usage", "--endpoint", "http://192.0.2.1:9229")
    assert.equal(3, code)
  end)

  it("prints --help and exits 0", function()
    for _, cmd in ipairs { "targets", "usage", "gc", "snapshot", "monitor", "sample", "track", "leaks", "verify" } do
      local code, out = memdbg(cmd, "--help")
      assert.equal(0, code)
      assert.matches("usage: memdbg " .. cmd, out)
      assert.matches("%-%-endpoint", out)
    end
  end)
end)
