-- The Neovim driver (lua/memdbg/nvim.lua) and user commands (plugin/memdbg.lua)
-- inside a real headless Neovim, against real Node apps. Each case runs
--   nvim --headless -u NONE -i NONE -n -c "luafile spec/nvim/<script>.lua"
-- with its arguments in the environment (Neovim 0.7 from Debian has no -l),
-- and reads the JSON the script leaves in $MEMDBG_OUT. Neovim loads the LuaJIT
-- build (build/luajit, `make LUA=luajit`); missing Neovim or Node pend by name.
local node = require("support.node")
local proc = require("support.proc")
local json = require("memdbg.json")

local APP = "spec/apps/node-memory/app.js"
local ROOT = os.getenv("PWD") or "."
-- about 190 bytes of snapshot per filler object: ~105 MB
-- MEMDBG_NVIM: the nvim to run (a missing one shows the pending case)
local NVIM = os.getenv("MEMDBG_NVIM") or "nvim"
local BIG_OBJECTS = tonumber(os.getenv("MEMDBG_NVIM_OBJECTS") or "") or 550000

local function sh(cmd)
  local f = assert(io.popen(cmd .. " 2>&1; echo \"exit=$?\""))
  local out = f:read("*a")
  f:close()
  local status = tonumber(out:match("exit=(%d+)%s*$"))
  return status, (out:gsub("exit=%d+%s*$", ""))
end

local function have(cmd) return sh("command -v " .. proc.quote(cmd) .. " >/dev/null") == 0 end

local function luajit_build()
  local core = ROOT .. "/build/luajit/memdbg/core.so"
  local heap = ROOT .. "/build/luajit/memdbg/_heap.so"
  local function ok()
    local a, b = io.open(core, "r"), io.open(heap, "r")
    if a then a:close() end
    if b then b:close() end
    return a ~= nil and b ~= nil
  end
  if ok() then return true end
  local status, out = sh("make -C " .. proc.quote(ROOT) .. " LUA=luajit modules")
  if status == 0 and ok() then return true end
  return false, out
end

-- Runs a driver script in headless Neovim; returns the decoded result, the
-- exit status and nvim's own output.
local function nvim(script, env, timeout)
  local out = os.tmpname()
  local parts = { "env -u LD_PRELOAD -u ASAN_OPTIONS -u UBSAN_OPTIONS -u MEMDBG_BUILD",
    "MEMDBG_ROOT=" .. proc.quote(ROOT), "MEMDBG_OUT=" .. proc.quote(out),
    "MEMDBG_DEADLINE=" .. tostring(timeout or 120) }
  for k, v in pairs(env or {}) do parts[#parts + 1] = k .. "=" .. proc.quote(v) end
  parts[#parts + 1] = string.format("timeout %d %s --headless -u NONE -i NONE -n -c %s </dev/null",
    (timeout or 120) + 30, proc.quote(NVIM), proc.quote("luafile spec/nvim/" .. script .. ".lua"))
  local status, log = sh("cd " .. proc.quote(ROOT) .. " && " .. table.concat(parts, " "))
  local f = io.open(out, "r")
  local text = f and f:read("*a") or ""
  if f then f:close() end
  os.remove(out)
  local doc = json.decode(text)
  assert(type(doc) == "table", string.format("%s.lua left no result (exit %s): %s", script, tostring(status), log))
  return doc, status, log
end

local function filesize(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local n = f:seek("end")
  f:close()
  return n
end

local function exists(path) return filesize(path) ~= nil end

-- The script exited 0 without an error; otherwise say whether the runtime is
-- still there (Node has been seen to segfault when a client vanished mid-snapshot).
local function ok_run(app, r, status, log)
  if status == 0 and r.error == nil then return end
  error(string.format("exit %s, error %s\nnvim: %s\nnode (%s): %s", tostring(status), tostring(r.error), log,
    proc.alive(app) and "alive" or "GONE", proc.output(app):sub(-600)), 2)
end

local function start_app(mode, objects)
  return node.start { script = APP, args = { mode, objects and tostring(objects) or nil },
    ready = "memdbg%-memory%-app ready" }
end

describe("the Neovim driver", function()
  if not have(NVIM) then
    pending("neovim not installed (" .. NVIM .. "): apt-get install neovim")
    return
  end
  if not have("node") then
    pending("node not installed: the Neovim driver specs need a Node app")
    return
  end
  local built, why = luajit_build()
  if not built then
    pending("no LuaJIT build (make LUA=luajit modules failed): " .. tostring(why))
    return
  end

  describe("against a leaky Node app", function()
    local app
    setup(function() app = start_app("leaky") end)
    teardown(function() node.stop(app) end)

    it("usage returns a handle at once and delivers the heap usage to the callback", function()
      local r, status, log = nvim("usage", { MEMDBG_ENDPOINT = app.endpoint })
      ok_run(app, r, status, log)
      assert.is_true(r.usage.usedSize > 0 and r.usage.totalSize >= r.usage.usedSize)
      assert.truthy(r.jit:match("^LuaJIT"))
      assert.truthy(r.json == "cjson" or r.json == "vim.json", r.json) -- cjson when lua-cjson for 5.1 is installed
      assert.is_true(r.returnedAt < 0.01, "usage() took " .. r.returnedAt .. " s to return")
      -- without an endpoint: g:memdbg_endpoint
      r, status, log = nvim("usage", { MEMDBG_ENDPOINT = app.endpoint, MEMDBG_VIA_G = "1" })
      ok_run(app, r, status, log)
      assert.is_true(r.usage.usedSize > 0)
    end)

    it("runs on Neovim's vim.json when lua-cjson is not there", function()
      local r, status, log = nvim("usage", { MEMDBG_ENDPOINT = app.endpoint, MEMDBG_NO_CJSON = "1" })
      ok_run(app, r, status, log)
      assert.equal("vim.json", r.json)
      assert.is_true(r.usage.usedSize > 0)
      -- GC, evaluate and snapshots too (vim.json encodes empty params as [], which Node accepts)
      r, status, log = nvim("leaks", { MEMDBG_ENDPOINT = app.endpoint, MEMDBG_NO_CJSON = "1",
        MEMDBG_ACTION = "handleRequests(10)" })
      ok_run(app, r, status, log)
      assert.equal(3, #r.report.snapshots)
      os.execute("rm -rf " .. proc.quote(r.report.dir))
    end)

    it("runs a leak hunt: three snapshots, analysis in a child process, leak groups with retainer paths", function()
      local r, status, log = nvim("leaks", { MEMDBG_ENDPOINT = app.endpoint, MEMDBG_ACTION = "handleRequests(50)" })
      ok_run(app, r, status, log)
      assert.same({ "gc:baseline", "snapshot:baseline", "action:1", "gc:target", "snapshot:target", "action:2",
        "gc:final", "snapshot:final", "analyse" }, r.steps)
      assert.is_true(r.progress > 0, "no onProgress calls")
      assert.equal("100/100", r.analysed[#r.analysed]) -- the analysis's progress, from the child
      assert.equal(3, #r.report.snapshots)
      for _, p in ipairs(r.report.snapshots) do assert.is_true(exists(p), p) end
      assert.is_true(#r.report.leaks >= 1, "no leak group")
      -- 2 x 50 listeners of ~10 KB each stay reachable from the EventTarget
      local retained = 0
      for _, g in ipairs(r.report.leaks) do retained = retained + g.retainedSize end
      assert.is_true(retained > 500000, "retained only " .. retained)
      local path = table.concat(r.report.leaks[1].retainerPath, " ")
      assert.truthy(path:match("EventTarget"), path)
      local text = table.concat(r.lines, "\n")
      assert.truthy(text:match("Retainer paths"), text)
      os.execute("rm -rf " .. proc.quote(r.report.dir))
    end)

    it("cancels a leak hunt during the analysis: the job stops and the snapshots go", function()
      local r, status, log = nvim("leaks", { MEMDBG_ENDPOINT = app.endpoint, MEMDBG_CANCEL_STEP = "analyse",
        MEMDBG_SLOW_ANALYSER = "1" })
      ok_run(app, r, status, log)
      assert.is_true(r.cancelled)
      assert.equal("cancelled", r.status)
      assert.is_true(r.dirGone, r.dir)
      assert.is_number(r.job)
      assert.is_not.equal(-1, r.jobWait) -- -1: the job still ran 3 s after the cancel
    end)

    it("runs operations side by side, each on its own session; a refused endpoint fails alone", function()
      local path = os.tmpname() .. ".heapsnapshot"
      finally(function() os.remove(path) end)
      local r, status, log = nvim("concurrent", { MEMDBG_ENDPOINT = app.endpoint, MEMDBG_PATH = path })
      ok_run(app, r, status, log)
      assert.equal(4, r.started)
      assert.equal(0, r.running)
      assert.is_true(r.usage1.ok and r.usage2.ok and r.snapshot.ok)
      assert.equal(r.snapshot.bytes, filesize(path))
      assert.is_false(r.refused.ok)
      assert.truthy(r.refused.err:match("127%.0%.0%.1:1"), r.refused.err)
    end)

    it("user commands :MemdbgUsage, :MemdbgSnapshot, :MemdbgLeaks fill scratch buffers", function()
      local path = os.tmpname() .. ".heapsnapshot"
      finally(function() os.remove(path) end)
      local r, status, log = nvim("commands", { MEMDBG_ENDPOINT = app.endpoint, MEMDBG_PATH = path,
        MEMDBG_ACTION = "handleRequests(20)" })
      ok_run(app, r, status, log)
      assert.is_true(r.commands)
      for _, k in ipairs({ "usage", "snapshot", "leaks" }) do
        assert.equal("done", r[k].status, table.concat(r[k].lines, "\n"))
        assert.is_true(r[k].visible)
      end
      assert.truthy(table.concat(r.usage.lines, "\n"):match("usedSize"))
      assert.truthy(table.concat(r.snapshot.lines, "\n"):match("Heap snapshot written"))
      assert.is_true(filesize(path) > 1000000)
      local leaks = table.concat(r.leaks.lines, "\n")
      assert.truthy(leaks:match("class") and leaks:match("Retainer paths"), leaks)
      local dir = leaks:match("\n  (/[^\n]*)/1%-baseline")
      if dir then os.execute("rm -rf " .. proc.quote(dir)) end
    end)
  end)

  describe("against a Node app with a ~100 MB heap snapshot", function()
    local app
    setup(function() app = start_app("idle", BIG_OBJECTS) end)
    teardown(function() node.stop(app) end)

    it("streams the snapshot with progress while a 10 ms timer keeps firing", function()
      local path = os.tmpname() .. ".heapsnapshot"
      finally(function() os.remove(path) end)
      local r, status, log = nvim("snapshot", { MEMDBG_ENDPOINT = app.endpoint, MEMDBG_PATH = path })
      ok_run(app, r, status, log)
      assert.is_nil(r.err)
      assert.is_true(r.info.bytes > 90 * 1048576, "only " .. r.info.bytes .. " bytes")
      assert.equal(r.info.bytes, filesize(path))
      assert.is_false(r.partialExists)
      assert.is_true(r.progress.calls > 1)
      assert.equal(r.progress.last[2], r.progress.last[1]) -- done == total
      assert.equal(r.info.bytes, r.progress.lastBytes)
      assert.is_true(r.progress.returnedMs < 10, "snapshot() took " .. r.progress.returnedMs .. " ms to return")
      -- ticks every 10 ms all through the snapshot
      assert.is_true(r.ticks.uv > r.seconds * 100 * 0.3, r.ticks.uv .. " ticks in " .. r.seconds .. " s")
      io.stderr:write(string.format("\n[nvim] %.1f MB snapshot in %.2f s, %d progress calls; largest gap between "
        .. "10 ms ticks: libuv timer %.0f ms, Vim timer %.0f ms (less run-queue wait: %.0f / %.0f ms); "
        .. "driver: %d slices, longest %.1f ms (wall time, run-queue wait included); close handshake %.1f ms\n",
        r.info.bytes / 1048576, r.seconds, r.progress.calls,
        r.maxGapMs.uv, r.maxGapMs.vim, r.maxOwnGapMs.uv, r.maxOwnGapMs.vim, r.driver.resumes,
        r.driver.maxSlice * 1000, (r.driver.close or 0) * 1000))
      -- The editor's own share of each gap (the gap less the time the thread
      -- sat runnable but unscheduled on a loaded machine) stays small.
      assert.is_true(r.maxOwnGapMs.uv < 100, "libuv timer gap " .. r.maxOwnGapMs.uv .. " ms")
      assert.is_true(r.maxOwnGapMs.vim < 100, "Vim timer gap " .. r.maxOwnGapMs.vim .. " ms")
    end)

    it("cancels a snapshot mid-stream: no file, no .partial, the runtime still answers", function()
      local path = os.tmpname() .. ".heapsnapshot"
      finally(function() os.remove(path) end)
      local r, status, log = nvim("snapshot", { MEMDBG_ENDPOINT = app.endpoint, MEMDBG_PATH = path,
        MEMDBG_CANCEL_AFTER = "10000000" })
      ok_run(app, r, status, log)
      assert.equal("ECANCELLED", r.code)
      assert.is_true(r.progress.cancelResult)
      -- told at once, while the runtime's snapshot drained in the background
      assert.is_true(r.drainingAtCallback)
      assert.is_number(r.drainSeconds)
      assert.is_false(r.cancelAgain)
      assert.is_false(r.fileExists)
      assert.is_false(r.partialExists)
      assert.is_true(r.progress.lastBytes < 90 * 1048576)
      assert.is_nil(r.usageAfterErr, tostring(r.usageAfterErr) .. "\nnode: " .. proc.output(app):sub(-2000)
        .. "\nalive: " .. tostring(proc.alive(app)))
      assert.is_true(r.usageAfter.usedSize > 0)
      -- a dropped connection mid-snapshot made Node 20 segfault now and then;
      -- the driver closes with the handshake, which Node survives
      proc.sleep(1)
      assert.is_true(proc.alive(app), "node died after the cancel: " .. proc.output(app):sub(-500))
    end)

    it("quitting Neovim mid-:MemdbgSnapshot waits for the drain: no file, no .partial, node alive", function()
      local path = os.tmpname() .. ".heapsnapshot"
      finally(function() os.remove(path) os.remove(path .. ".partial") end)
      local r, status, log = nvim("quit", { MEMDBG_ENDPOINT = app.endpoint, MEMDBG_PATH = path })
      ok_run(app, r, status, log)
      assert.equal(1, r.running)
      assert.is_false(exists(path))
      assert.is_false(exists(path .. ".partial"))
      proc.sleep(1)
      assert.is_true(proc.alive(app), "node died after the quit: " .. proc.output(app):sub(-500))
    end)

    it("cancels a leak hunt mid-snapshot: drains it, runs no further action, removes the snapshots", function()
      local r, status, log = nvim("leaks", { MEMDBG_ENDPOINT = app.endpoint, MEMDBG_ACTION = "1",
        MEMDBG_CANCEL_STEP = "snapshot" })
      ok_run(app, r, status, log)
      assert.is_true(r.cancelled)
      assert.is_true(r.draining)
      assert.same({ "gc:baseline", "snapshot:baseline" }, r.steps)
      assert.is_true(r.dirGone, r.dir)
      proc.sleep(1)
      assert.is_true(proc.alive(app), "node died after the cancel: " .. proc.output(app):sub(-500))
    end)
  end)
end)
