-- The Neovim driver (lua/memdbg/nvim.lua) and user commands (plugin/memdbg.lua)
-- inside a real headless Neovim, against real Node apps. Each case runs
--   nvim --clean --headless -n --cmd "set rtp+=<checkout>" -c "luafile spec/nvim/<script>.lua"
-- that is, the documented setup (the checkout on runtimepath after
-- `make LUA=luajit`, nothing else set by hand) with the arguments in the
-- environment (Neovim 0.7 from Debian has no -l), and reads the JSON the
-- script leaves in $MEMDBG_OUT. Missing Neovim or Node pend by name.
local node = require("support.node")
local proc = require("support.proc")
local json = require("memdbg.util.json")
local screen = dofile("spec/nvim/screen.lua")

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

-- Commands the spec runs outside Neovim (make, helptags) without the
-- sanitizer runtimes that a SANITIZE=1 busted carries in its environment.
local CLEAN_ENV = "env -u LD_PRELOAD -u ASAN_OPTIONS -u UBSAN_OPTIONS -u MEMDBG_SANITIZED "

local function have(cmd) return sh("command -v " .. proc.quote(cmd) .. " >/dev/null") == 0 end

local function luajit_build()
  local core = ROOT .. "/build/luajit/memdbg/_core.so"
  local heap = ROOT .. "/build/luajit/memdbg/_heap.so"
  local function ok()
    local a, b = io.open(core, "r"), io.open(heap, "r")
    if a then a:close() end
    if b then b:close() end
    return a ~= nil and b ~= nil
  end
  if ok() then return true end
  local status, out = sh(CLEAN_ENV .. "make -C " .. proc.quote(ROOT) .. " LUA=luajit")
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
  parts[#parts + 1] = string.format("timeout %d %s --clean --headless -n --cmd %s -c %s </dev/null",
    (timeout or 120) + 30, proc.quote(NVIM), proc.quote("set rtp+=" .. ROOT),
    proc.quote("luafile spec/nvim/" .. script .. ".lua"))
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

local function vim_list_has(list, x)
  for _, v in ipairs(list or {}) do if v == x then return true end end
  return false
end

-- The script exited 0 without an error; otherwise say whether the runtime is
-- still there (Node has been seen to segfault when a client vanished mid-snapshot).
local function ok_run(app, r, status, log)
  if status == 0 and r.error == nil then return end
  error(string.format("exit %s, error %s\nnvim: %s\nnode (%s): %s", tostring(status), tostring(r.error), log,
    proc.alive(app) and "alive" or "GONE", proc.output(app):sub(-600)), 2)
end

local function tmpdir()
  local d = os.tmpname()
  os.remove(d)
  assert(os.execute("mkdir -p " .. proc.quote(d)))
  return d
end

-- Neovim as a user runs it in a terminal, set up as documented, editing FILE.
local function screen_nvim(dir, file)
  local s = screen.start { cwd = dir, width = 120, height = 36,
    cmd = string.format("env -u LD_PRELOAD -u ASAN_OPTIONS -u UBSAN_OPTIONS -u MEMDBG_BUILD %s --clean -n --cmd %s %s",
      proc.quote(NVIM), proc.quote("set rtp+=" .. ROOT), proc.quote(file)) }
  s:wait(file:gsub("%p", "%%%0"), 10)
  return s
end

local function read_file(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local t = f:read("*a")
  f:close()
  return t
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
    pending("no LuaJIT build (make LUA=luajit failed): " .. tostring(why))
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
      -- the callback ran after usage() returned (returnedAt is set only then), and the call
      -- itself did no network wait; the bound allows a loaded machine's scheduling
      assert.is_number(r.returnedAt, "the callback ran before usage() returned")
      assert.is_true(r.returnedAt < 0.25, "usage() took " .. r.returnedAt .. " s to return")
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
      assert.truthy(text:match("retainer path %(GC root first%)"), text)
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

    it("analyses snapshot files with Neovim itself when neither luajit nor lua5.4 is installed", function()
      local dir = tmpdir()
      finally(function() os.execute("rm -rf " .. proc.quote(dir)) end)
      local r, status, log = nvim("commands", { MEMDBG_ENDPOINT = app.endpoint, MEMDBG_PATH = dir .. "/app.heapsnapshot",
        MEMDBG_DIR = dir, MEMDBG_STEPS = "snapshot,top", MEMDBG_PATH_ONLY = dir .. "/empty" })
      ok_run(app, r, status, log)
      local text = table.concat(r.steps.top.lines, "\n")
      assert.equal("done", r.steps.top.status, text)
      assert.truthy(text:match("@%d+"), text)
    end)

    it("connecting to a hung endpoint keeps the editor turning, then fails with ETIMEDOUT", function()
      local r, status, log = nvim("hung", {})
      assert.equal(0, status, log)
      assert.is_false(r.ok)
      assert.equal("ETIMEDOUT", r.code, r.err)
      assert.is_true(r.seconds >= 0.9 and r.seconds < 5, "failed after " .. r.seconds .. " s")
      -- a blocking connect would return after the 1 s timeout; 250 ms allows a loaded machine
      assert.is_true(r.returnedMs < 250, "usage() took " .. r.returnedMs .. " ms to return")
      -- a blocking connect held the loop for the whole second
      assert.is_true(r.maxGapMs < 250, "the loop stalled " .. r.maxGapMs .. " ms while connecting")
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

    it("every user command fills its results buffer and the quickfix list, the cursor never leaves the user's window",
      function()
        local dir = os.tmpname()
        os.remove(dir)
        assert(os.execute("mkdir -p " .. proc.quote(dir)))
        local path = dir .. "/app.heapsnapshot"
        finally(function() os.execute("rm -rf " .. proc.quote(dir)) end)
        local r, status, log = nvim("commands", { MEMDBG_ENDPOINT = app.endpoint, MEMDBG_PATH = path, MEMDBG_DIR = dir,
          MEMDBG_ACTION = "handleRequests(20)", MEMDBG_STEPS = "usage,snapshot,snapshotforce,leaks,leaksr,leaksignore,leaksgrowth,"
            .. "badargs,leakscmd,leaksfail,sampletime,sample,track,verify,summary,diff,top,retainers,close,monitor,target" },
          150)
        ok_run(app, r, status, log)
        for name, defined in pairs(r.defined) do assert.is_true(defined, name) end
        local st = r.steps
        local function text(name) return table.concat(st[name].lines, "\n") end
        for _, k in ipairs({ "usage", "snapshot", "leaks", "leakscmd", "sample", "track", "verify", "summary", "diff",
          "top", "retainers" }) do
          assert.equal("done", st[k].status, k .. ": " .. text(k))
          assert.is_true(st[k].visible, k .. " results shown")
          assert.is_true(st[k].focusKept, k .. ": the cursor left the user's window")
        end
        assert.is_true(r.focus.win and r.focus.buf)
        -- no global state beyond g:memdbg_*: no Lua globals, only g:memdbg_* variables
        assert.same({}, r.newGlobals)
        for _, k in ipairs(r.newGVars) do assert.truthy(k:match("^memdbg_"), "g:" .. k) end
        -- progress shows in the float while an operation runs
        assert.is_true(st.snapshot.floatWhileRunning)
        assert.equal("", r.idleStatus)
        assert.truthy(text("usage"):match("usedSize"))
        assert.truthy(text("snapshot"):match("Heap snapshot written"))
        assert.is_true(filesize(path) > 1000000)
        -- FILE! replaced a file memdbg did not create (--force); its hard link kept the old data
        assert.equal("done", st.snapshotforce.status, text("snapshotforce"))
        assert.is_true(st.snapshotforce.replaced and st.snapshotforce.linkKept)
        -- leak groups in folds, one quickfix entry per group after a title entry
        assert.truthy(text("leaks"):match("\n1%. %S+  x%d+  retained"), text("leaks"))
        assert.truthy(text("leaks"):match("retainer path"), text("leaks"))
        assert.truthy(st.leaks.qf.title:match("leak hunt"), st.leaks.qf.title)
        assert.is_true(st.leaks.qf.count >= 2)
        assert.truthy(st.leaks.qf.first:match("retained"), st.leaks.qf.first)
        assert.equal("memdbg://leaks", st.leaks.qf.report) -- :cfirst goes to the report
        -- r on the first group: why its example object is alive, from the final snapshot
        assert.equal("done", st.leaksr.status, table.concat(st.leaksr.lines, "\n"))
        assert.truthy(table.concat(st.leaksr.lines, "\n"):match("3%-final[^\n]*\n.*→ .*@%d+"),
          table.concat(st.leaksr.lines, "\n"))
        -- --ignore FILE (the signatures of the `leaks` step's groups): a group whose signature is
        -- in it stays in the results, marked, and leaves the quickfix list. (Whether a group keeps
        -- its signature from one hunt to the next is the engine's: the node-memory app's groups
        -- can be reached through either of two globals sharing a context, and the signature
        -- follows the path.)
        local ignore = st.leaksignore
        local itext = table.concat(ignore.lines, "\n")
        assert.equal("done", ignore.status, itext)
        assert.is_true(#ignore.known >= 1 and #ignore.groups >= 1, itext)
        local in_file, known, counted = {}, 0, 0
        for _, sig in ipairs(ignore.known) do in_file[sig] = true end
        for _, g in ipairs(ignore.groups) do
          assert.equal(in_file[g.signature] == true, g.known, tostring(g.signature) .. "\n" .. itext)
          if g.known then known = known + 1 elseif not g.internal then counted = counted + 1 end
        end
        local line = itext:match("\n(New leaks: [^\n]*)")
        assert.truthy(line, itext)
        assert.equal(counted, tonumber(line:match("^New leaks: (%d+)")), line)
        if known > 0 then assert.truthy(line:match("not counted: " .. known .. " known %(in [^)]*known%.txt%)"), line) end
        assert.equal(1 + counted, ignore.qf.count) -- the report, then the groups that count
        -- --max-growth N: groups that grew by fewer than N per action do not count either
        local growth = st.leaksgrowth
        local gtext = table.concat(growth.lines, "\n")
        assert.equal("done", growth.status, gtext)
        local new = tonumber(gtext:match("\nNew leaks: (%d+) %(not counted: [^\n]*%d+ grew by fewer than 21 objects per action"))
        assert.truthy(new, gtext)
        assert.truthy(gtext:match("%(below max growth%)"), gtext)
        assert.equal(1 + new, growth.qf.count)
        if new == 0 then assert.truthy(gtext:match("removed, as nothing new leaked"), gtext) end
        -- bad arguments: one message each, never a traceback; nothing started, no file replaced
        for _, m in ipairs(st.badargs.messages) do
          assert.equal(1, #m.said, m.command .. ": " .. table.concat(m.said, " | "))
          assert.truthy(m.said[1]:match("^memdbg"), m.command .. ": " .. m.said[1])
          assert.is_nil(m.said[1]:match("traceback") or m.said[1]:match("%.lua:%d+"), m.command .. ": " .. m.said[1])
        end
        assert.equal(19, #st.badargs.messages)
        assert.equal(0, st.badargs.started)
        assert.is_true(st.badargs.untouched)
        assert.truthy(st.badargs.messages[2].said[1]:match("fifo, not a regular file"), st.badargs.messages[2].said[1])
        assert.truthy(st.badargs.messages[11].said[1]:match("exists %(add ! to replace it%)"), st.badargs.messages[11].said[1])
        -- the action as a shell command: it ran; a failing one fails the hunt with its status and stderr
        assert.is_true(st.leakscmd.ran)
        -- nothing leaked: its temporary directory is gone, as the CLI does
        assert.truthy(text("leakscmd"):match("removed, as nothing n?e?w? ?leaked"), text("leakscmd"))
        assert.equal("failed", st.leaksfail.status)
        assert.truthy(text("leaksfail"):match("status 3") and text("leaksfail"):match("oops%-from%-the%-command"),
          text("leaksfail"))
        -- sampling for a duration, then around the action: its allocation sites at their lines
        assert.truthy(st.sampletime.status == "done" and text("sampletime"):match("Sampling heap profile"))
        assert.truthy(text("sample"):match("LeakyListener%s+[^\n]*app%.js:%d+"), text("sample"))
        assert.is_true(st.sample.qf.valid >= 1)
        assert.truthy(st.sample.qf.title:match("sampling"), st.sample.qf.title)
        -- tracking: allocation sites with file:line in the quickfix list; <CR> jumps to the source
        assert.truthy(text("track"):match("LeakyListener%s+[^\n]*app%.js:%d+"), text("track"))
        assert.is_true(st.track.qf.valid >= 1)
        assert.equal("app.js", st.track.jumped.file)
        assert.is_true(st.track.jumped.line > 1)
        assert.truthy(text("verify"):match("RELEASED"), text("verify"))
        assert.truthy(text("summary"):match("\nFunction +%d+ +[%d.]+ [KMG]?i?B"), text("summary"))
        assert.truthy(text("diff"):match("CLASS"), text("diff"))
        assert.truthy(text("top"):match("@%d+"), text("top"))
        -- r on an object of the top list: its retainer path, every step with its id
        assert.truthy(text("retainers"):match("Retainer path of .* @%d+"), text("retainers"))
        assert.truthy(text("retainers"):match("→ .*@%d+"), text("retainers"))
        assert.is_true(st.close.topClosed)
        -- the live monitor, its statusline component, and stopping it
        assert.truthy(st.monitor.statusline:match("^memdbg heap %d"), st.monitor.statusline)
        assert.equal("cancelled", st.monitor.after)
        assert.is_true(#st.monitor.lines >= 6)
        -- the target picker: vim.ui.select over the endpoint's targets
        assert.is_true(st.target.items >= 1)
        assert.equal(app.endpoint, st.target.endpoint)
        assert.is_string(st.target.target)
        -- completion
        assert.same({ "--action", "--action-cmd", "--action-http", "--action-timeout" }, r.complete.options)
        assert.truthy(vim_list_has(r.complete.endpoint, "http://127.0.0.1:9229"))
        assert.same({ "5", "10", "30", "60" }, r.complete.seconds)
        assert.same({ "stop" }, r.complete.monitor)
        io.stderr:write(string.format("\n[nvim] commands: %s\n", (function()
          local parts = {}
          for _, k in ipairs({ "usage", "snapshot", "leaks", "sample", "track", "verify", "summary", "top" }) do
            parts[#parts + 1] = string.format("%s %.1f s", k, st[k].seconds)
          end
          return table.concat(parts, ", ")
        end)()))
      end)
  end)

  describe("against the array leak-pattern app (spec/apps/leaks)", function()
    local app, http
    setup(function()
      app = node.start { script = "spec/apps/leaks/app.mjs", args = { "array", "leaky" },
        ready = "memdbg%-leak%-app ready" }
      http = proc.output(app):match("http=(http://[%d.:]+)")
    end)
    teardown(function() node.stop(app) end)

    it("on screen (tmux): after :MemdbgLeaks, :cnext lands on the leaking constructor's line", function()
      if not screen.available() then
        pending("tmux not installed: tools/install-deps.sh installs it")
        return
      end
      local dir = tmpdir()
      local s = screen_nvim(dir, "user.txt")
      finally(function()
        s:stop()
        os.execute("rm -rf " .. proc.quote(dir))
      end)
      s:keys(":MemdbgLeaks --endpoint " .. app.endpoint .. " --dir " .. dir .. "/snaps handleRequests(200)", "<Enter>")
      local shown = s:wait("leak groups?, largest", 90)
      assert.truthy(shown:match("1%. Order "), shown)
      assert.truthy(shown:match("\n1%. Order [^\n]*array%.mjs:%d+"), shown) -- the group's source location
      -- the results split opened when the hunt was done; the cursor is still in the user's window
      s:keys("Aafter the hunt", "<Escape>", ":w", "<Enter>")
      local deadline = os.time() + 10
      while read_file(dir .. "/user.txt") ~= "after the hunt\n" and os.time() < deadline do proc.sleep(0.1) end
      assert.equal("after the hunt\n", read_file(dir .. "/user.txt"), s:capture())
      s:keys(":cnext", "<Enter>", ":echo 'AT ' . expand('%:t') . ':' . line('.')", "<Enter>")
      local at = s:wait("AT [%w._-]+:%d+", 10)
      local file, line = at:match("AT ([%w._-]+):(%d+)")
      assert.equal("array.mjs", file, at)
      -- the class line or its constructor's
      local src = read_file(ROOT .. "/spec/apps/leaks/array.mjs")
      local n, class_line = 0, nil
      for l in src:gmatch("([^\n]*)\n") do
        n = n + 1
        if l:match("^class Order") then class_line = n end
      end
      assert.is_true(tonumber(line) == class_line or tonumber(line) == class_line + 1,
        "line " .. line .. ", class Order at " .. tostring(class_line))
    end)

    it("finds the leak with the action as a shell command (curl), as HTTP requests, and by sampling", function()
      assert.truthy(http, proc.output(app))
      local dir = tmpdir()
      finally(function() os.execute("rm -rf " .. proc.quote(dir)) end)
      local r, status, log = nvim("commands", { MEMDBG_ENDPOINT = app.endpoint, MEMDBG_PATH = dir .. "/x.heapsnapshot",
        MEMDBG_DIR = dir, MEMDBG_CURL = "curl -s " .. http .. "/work?n=200", MEMDBG_HTTP = http .. "/work?n=100",
        MEMDBG_ACTION = "handleRequests(300)", MEMDBG_STEPS = "leakscurl,leakshttp,leakssampling" })
      ok_run(app, r, status, log)
      for _, k in ipairs({ "leakscurl", "leakshttp" }) do
        local st = r.steps[k]
        local text = table.concat(st.lines, "\n")
        assert.equal("done", st.status, text)
        assert.truthy(text:match("1%. Order "), text)
        assert.truthy(st.qf.first:match("^Order x%d+"), st.qf.first)
        assert.truthy(st.qf.firstValid.file:match("array%.mjs$"), st.qf.firstValid.file)
      end
      -- no snapshot: the growing allocation site, its line in the quickfix list
      local st = r.steps.leakssampling
      local text = table.concat(st.lines, "\n")
      assert.equal("done", st.status, text)
      assert.truthy(text:match("sampling every 4%.00 KiB"), text)
      assert.truthy(text:match("\n1%. Order [^\n]*array%.mjs:%d+"), text)
      assert.truthy(st.qf.firstValid.file:match("array%.mjs$"), st.qf.firstValid.file)
    end)
  end)

  describe("set up as docs/neovim.md says, in a fresh $HOME", function()
    local app
    setup(function() app = start_app("idle") end)
    teardown(function() node.stop(app) end)

    -- The Lua block that follows <!-- nvim_spec: MARKER --> in docs/neovim.md.
    local function doc_block(marker)
      local f = assert(io.open(ROOT .. "/docs/neovim.md"))
      local text = f:read("*a")
      f:close()
      return assert(text:match("<!%-%- nvim_spec: " .. marker .. " %-%->%s*```lua\n(.-)```"),
        "docs/neovim.md has no block " .. marker)
    end

    local homes = {}
    teardown(function() for _, h in ipairs(homes) do os.execute("rm -rf " .. proc.quote(h)) end end)
    local function fresh_home(init)
      local home = os.tmpname()
      os.remove(home)
      homes[#homes + 1] = home
      assert(os.execute("mkdir -p " .. proc.quote(home .. "/.config/nvim")))
      local f = assert(io.open(home .. "/.config/nvim/init.lua", "w"))
      f:write(init)
      f:close()
      return home
    end

    -- Neovim as the user starts it (their init.lua, no -u, no --clean), then spec/nvim/setup.lua.
    local function user_nvim(home, env)
      local out = home .. "/result.json"
      local parts = { "cd " .. proc.quote(home) .. " && env -u LD_PRELOAD -u ASAN_OPTIONS -u UBSAN_OPTIONS",
        "-u MEMDBG_BUILD -u XDG_CONFIG_HOME -u XDG_DATA_HOME -u XDG_STATE_HOME -u XDG_CACHE_HOME -u VIMINIT",
        "HOME=" .. proc.quote(home), "MEMDBG_OUT=" .. proc.quote(out), "MEMDBG_ENDPOINT=" .. proc.quote(app.endpoint),
        "MEMDBG_ROOT=" .. proc.quote(ROOT) }
      for k, v in pairs(env or {}) do parts[#parts + 1] = k .. "=" .. proc.quote(v) end
      parts[#parts + 1] = string.format("timeout 60 %s --headless -n -c %s </dev/null", proc.quote(NVIM),
        proc.quote("luafile " .. ROOT .. "/spec/nvim/setup.lua"))
      local status, log = sh(table.concat(parts, " "))
      local f = io.open(out, "r")
      local r = f and json.decode(f:read("*a"))
      if f then f:close() end
      assert(type(r) == "table", "setup.lua left no result (exit " .. tostring(status) .. "): " .. log)
      return r, log
    end

    local function works_as_documented(r, log)
      assert.is_nil(r.error, log)
      assert.is_true(r.loaded and r.commands, "plugin/memdbg.lua was not loaded")
      assert.is_false(r.cpathTouched or r.cpathAfter or r.pathTouched, "package.path/cpath changed")
      assert.is_nil(r.first.err, r.first.err)
      assert.is_true(r.first.used > 0)
      assert.equal("done", r.command.status, table.concat(r.command.lines, "\n"))
      assert.equal("memdbg.txt", r.help)
      local health = table.concat(r.health, "\n")
      assert.truthy(health:match("OK: memdbg%._core loads"), health)
      assert.truthy(health:match("OK: [^\n]*scripts/memdbg"), health)
      assert.truthy(health:match("OK: [^\n]* answers: 1 target"), health)
      assert.is_nil(health:match("ERROR"), health)
    end

    it("from a checkout: runtimepath and `make LUA=luajit`, nothing set by hand", function()
      local home = fresh_home(doc_block("checkout"))
      assert(os.execute("mkdir -p " .. proc.quote(home .. "/src") .. " && ln -s " .. proc.quote(ROOT) .. " "
        .. proc.quote(home .. "/src/memdbg")))
      local status, out = sh(CLEAN_ENV .. "make -C " .. proc.quote(home .. "/src/memdbg") .. " LUA=luajit")
      assert.equal(0, status, out)
      local r, log = user_nvim(home)
      works_as_documented(r, log)
      assert.equal("http://127.0.0.1:9229", r.endpoint) -- the block's setup{} ran
    end)

    it("as a plugin manager installs it: a clone in pack/*/start built with `make LUA=luajit`", function()
      local home = fresh_home(doc_block("pack"))
      local dir = home .. "/.local/share/nvim/site/pack/memdbg/start"
      -- the clone: this checkout, linked
      assert(os.execute("mkdir -p " .. proc.quote(dir) .. " && ln -s " .. proc.quote(ROOT) .. " "
        .. proc.quote(dir .. "/memdbg")))
      local status, out = sh(CLEAN_ENV .. "make -C " .. proc.quote(dir .. "/memdbg") .. " LUA=luajit")
      assert.equal(0, status, out)
      works_as_documented(user_nvim(home))
    end)

    it("before `make LUA=luajit`: says to run it, and works once it has run, without restarting", function()
      local home = fresh_home(doc_block("checkout"))
      local co = home .. "/src/memdbg"
      assert(os.execute("mkdir -p " .. proc.quote(co) .. " && cp -r " .. table.concat({ "lua", "plugin", "scripts", "doc" },
        " ") .. " " .. proc.quote(co)))
      local r, log = user_nvim(home, { MEMDBG_BEFORE_MAKE = co })
      assert.is_nil(r.error, log)
      assert.equal("ENOMODULE", r.first.code)
      assert.truthy(r.first.err:match("run `make LUA=luajit` in " .. co:gsub("%p", "%%%0")), r.first.err)
      -- not "loop or previous error loading module"
      assert.is_nil(r.second.err, r.second.err)
      assert.is_true(r.second.used > 0)
    end)

    it("doc/tags is current and the plugin uses no API that current Neovim deprecates", function()
      local tmp = os.tmpname()
      os.remove(tmp)
      finally(function() os.execute("rm -rf " .. proc.quote(tmp)) end)
      assert(os.execute("mkdir -p " .. proc.quote(tmp) .. " && cp " .. proc.quote(ROOT .. "/doc/memdbg.txt") .. " "
        .. proc.quote(tmp)))
      local status, out = sh(CLEAN_ENV .. proc.quote(NVIM) .. " --clean --headless -c " .. proc.quote("helptags " .. tmp) .. " -c q")
      assert.equal(0, status, out)
      local function read(p)
        local f = assert(io.open(p))
        local t = f:read("*a")
        f:close()
        return t
      end
      assert.equal(read(tmp .. "/tags"), read(ROOT .. "/doc/tags"), "doc/tags is stale: run nvim --clean --headless "
        .. "-c 'helptags doc' -c q")
      -- removed or deprecated in 0.10/0.11; a fallback after `or` for 0.7 is fine
      local deprecated = { "nvim_buf_set_option", "nvim_buf_get_option", "nvim_win_set_option", "nvim_win_get_option",
        "nvim_set_option%(", "nvim_get_option%(", "nvim_exec%(", "nvim_buf_add_highlight", "tbl_islist", "tbl_flatten",
        "vim%.loop%f[^%w_]", "report_start", "report_ok", "report_warn", "report_error", "report_info",
        "nvim_err_writeln", "vim%.lsp%.util" }
      local _, files = sh("cd " .. proc.quote(ROOT) .. " && ls lua/memdbg/nvim.lua lua/memdbg/nvim/*.lua "
        .. "lua/memdbg/health.lua plugin/*.lua")
      for file in files:gmatch("[^\n]+") do
        local n = 0
        for line in read(ROOT .. "/" .. file):gmatch("([^\n]*)\n") do
          n = n + 1
          local code = line:gsub("%-%-.*$", ""):gsub('"[^"]*"', '""')
          for _, pat in ipairs(deprecated) do
            if code:match(pat) and not code:match(" or [%w_.]*" .. pat) then
              error(string.format("%s:%d uses %s: %s", file, n, pat, line))
            end
          end
        end
      end
    end)
  end)

  describe("against a Node app with a ~100 MB heap snapshot", function()
    local app
    setup(function() app = start_app("idle", BIG_OBJECTS) end)
    teardown(function() node.stop(app) end)

    it("streams the snapshot with progress while a 10 ms timer keeps firing, a FIFO at FILE.partial untouched",
      function()
      local path = os.tmpname() .. ".heapsnapshot"
      -- the sink writes an unnamed file: nothing may open FILE.partial (a FIFO
      -- there would block whoever opens it, and a libuv thread blocked in
      -- open() keeps Neovim from exiting)
      assert.equal(0, (sh("mkfifo " .. proc.quote(path .. ".partial"))))
      finally(function()
        os.remove(path)
        os.remove(path .. ".partial")
      end)
      local r, status, log = nvim("snapshot", { MEMDBG_ENDPOINT = app.endpoint, MEMDBG_PATH = path })
      ok_run(app, r, status, log) -- exit 0: Neovim quit
      assert.is_nil(r.err)
      assert.is_true(r.info.bytes > 90 * 1048576, "only " .. r.info.bytes .. " bytes")
      assert.equal(r.info.bytes, filesize(path))
      assert.equal(0, (sh("test -p " .. proc.quote(path .. ".partial"))), "the FIFO was replaced or removed")
      local _, others = sh("ls -d " .. proc.quote(path) .. ".partial?* 2>/dev/null | wc -l")
      assert.equal(0, tonumber(others), "another partial file was left") -- MEMDBG_NO_O_TMPFILE names one so
      assert.is_true(r.progress.calls > 1)
      assert.equal(r.progress.last[2], r.progress.last[1]) -- done == total
      assert.equal(r.info.bytes, r.progress.lastBytes)
      assert.is_true(r.progress.returnedMs < 250, "snapshot() took " .. r.progress.returnedMs .. " ms to return")
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

    it("on screen (tmux): typing goes on in the user's window during a snapshot; :qall! then waits for the drain, "
      .. "leaving no file, no .partial, and Node alive", function()
      if not screen.available() then
        pending("tmux not installed: tools/install-deps.sh installs it")
        return
      end
      local dir = tmpdir()
      local path = dir .. "/big.heapsnapshot"
      local s = screen_nvim(dir, "user.txt")
      finally(function()
        s:stop()
        os.execute("rm -rf " .. proc.quote(dir))
      end)
      s:keys(":MemdbgSnapshot --endpoint " .. app.endpoint .. " " .. path, "<Enter>")
      s:wait("snapshot: [%a ]+%d", 30) -- the progress float, once the runtime reports progress
      s:keys("ihello from the user", "<Escape>")
      local during = s:wait(function(text) -- typed, and back in normal mode
        return text:match("hello from the user") and not text:match("%-%- INSERT %-%-")
      end, 10)
      -- the snapshot is still streaming, its progress in the float, no results window
      assert.truthy(during:match("snapshot: [%a ]+%d"), during)
      assert.is_nil(during:match("Heap snapshot written"), during)
      assert.is_nil(during:match("memdbg://"), during)
      s:keys(":w", "<Enter>")
      local deadline = os.time() + 10
      while read_file(dir .. "/user.txt") ~= "hello from the user\n" and os.time() < deadline do proc.sleep(0.1) end
      assert.equal("hello from the user\n", read_file(dir .. "/user.txt"), s:capture())
      -- quitting mid-snapshot: VimLeavePre cancels and lets the runtime finish sending
      assert.truthy(exists(path .. ".partial") or not exists(path), "the snapshot finished too early")
      -- a loaded machine takes more than the default 10 s to send 100 MB: let it drain
      s:keys(":let g:memdbg_drain_ms = 80000", "<Enter>", ":qall!", "<Enter>")
      deadline = os.time() + 90
      while s:alive() and os.time() < deadline do proc.sleep(0.2) end
      assert.is_false(s:alive(), "Neovim did not exit")
      assert.is_false(exists(path))
      assert.is_false(exists(path .. ".partial"))
      proc.sleep(1)
      assert.is_true(proc.alive(app), "node died after the quit: " .. proc.output(app):sub(-500))
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
