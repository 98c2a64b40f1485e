-- luacheck: globals vim
-- memdbg.nvim: memdbg inside Neovim, without ever blocking the editor.
--
--   local mn = require("memdbg.nvim")
--   mn.usage({ endpoint = "http://127.0.0.1:9229" }, function(usage, err, code) end)
--   local h = mn.snapshot({ endpoint = ..., path = "x.heapsnapshot",
--     onProgress = function(done, total) end }, function(info, err, code) end)
--   mn.leaks({ endpoint = ..., action = "handleRequests(100)" }, function(report, err, code) end)
--   h:cancel()   -- the callback then gets nil, "... cancelled", "ECANCELLED"
--
-- Every entry point returns a handle at once; the callback (and onProgress,
-- onBytes, onStep) run later through vim.schedule, so they may use any
-- Neovim API.
--
-- HOW IT WORKS. The session's blocking API (sendCommand, takeHeapSnapshot,
-- the workflows) runs unchanged inside a coroutine. The session's waiter hook
-- (session:setWaiter) is called before each wait; when the caller is the
-- task's coroutine it yields instead of waiting. The driver then arms one
-- libuv poll handle on session:pollfd() (for session:events()) and a one-shot
-- timer (the wait, capped at SLICE so libwebsockets' buffered data and timers
-- keep turning), and resumes the coroutine when either fires; the coroutine
-- calls the non-blocking service pass and carries on until its next wait.
-- Each resume does one bounded slice of work (one read of the socket), so the
-- loop's other timers and Neovim's input keep running in between.
-- libuv's rules: one poll handle per fd (checked in `polled`), and the poll
-- is stopped and closed before the session (and its socket) is closed.
-- The leak hunt's analysis (a blocking C parse of three snapshots) runs in a
-- child process (scripts/memdbg find-leaks --json) that cancel() stops.
--
-- What still blocks briefly: memdbg.connect (discovery over HTTP and the
-- websocket handshake; milliseconds on loopback, up to `timeout` for a hung
-- endpoint, 5 s by default here) and session:close() (the close handshake:
-- milliseconds on loopback, at most 0.5 s).
local M = {}

local uv = vim.uv or vim.loop
local unpack = table.unpack or unpack -- luacheck: ignore 113

M.SLICE = 0.05 -- longest sleep between two service passes while waiting (s)
M.DEFAULT_ENDPOINT = "http://127.0.0.1:9229"

local CANCEL = setmetatable({}, { __tostring = function() return "memdbg.nvim: cancelled" end })

-- fd -> task: never two poll handles on one fd
local polled = {}
-- the tasks still running (for cancel_all), and the cancelled ones draining a snapshot
local live = setmetatable({}, { __mode = "k" })
local draining = setmetatable({}, { __mode = "k" })

-- The checkout this file lives in: <root>/lua/memdbg/nvim.lua
local function plugin_root()
  local src = debug.getinfo(1, "S").source
  if src:sub(1, 1) ~= "@" then return nil end
  return vim.fn.fnamemodify(src:sub(2), ":p:h:h:h")
end
M.root = plugin_root()

-- memdbg.core must be the LuaJIT build; from a checkout that is
-- <root>/build/luajit (make LUA=luajit). An installed rock is found as usual.
local function load_memdbg()
  local ok, mod = pcall(require, "memdbg")
  if ok then return mod end
  local first = mod
  if M.root then
    package.cpath = M.root .. "/build/luajit/?.so;" .. package.cpath
    ok, mod = pcall(require, "memdbg")
    if ok then return mod end
  end
  return nil, "memdbg's C modules cannot be loaded in Neovim's LuaJIT (run `make LUA=luajit` in "
    .. tostring(M.root) .. "): " .. tostring(first)
end

------------------------------------------------------------------ the task

local Task = {}
Task.__index = Task

local function in_fast() return vim.in_fast_event and vim.in_fast_event() end

-- Runs fn now unless we are in a libuv callback, where most of the API is off limits.
local function main_loop(fn)
  if in_fast() then vim.schedule(fn) else fn() end
end

-- Closes the session with the websocket close handshake (session:close()
-- waits for it, up to 0.5 s; measured 0.3-37 ms on loopback even while a
-- cancelled 100 MB snapshot was streaming: stats.close). Dropping the TCP
-- connection without it (conn:close(true)) while Node 20 was still sending a
-- snapshot made Node segfault in about 1 of 12 cancels, so don't.
-- The poll handle must be stopped before this.
local function close_session(s, stats)
  local t0 = uv.hrtime()
  s:setWaiter(nil)
  pcall(s.close, s)
  if stats then stats.close = (uv.hrtime() - t0) / 1e9 end
end

function Task:_stopPoll()
  local p = self.poll
  if not p then return end
  self.poll, self.events = nil, nil
  if polled[self.fd] == self then polled[self.fd] = nil end
  self.fd = nil
  p:stop()
  if not p:is_closing() then p:close() end
end

-- Stops the handles, then closes the session (poll first: libuv's rule).
function Task:_release()
  self:_stopPoll()
  if self.timer then
    self.timer:stop()
    if not self.timer:is_closing() then self.timer:close() end
    self.timer = nil
  end
  local s = self.session
  if s then
    self.session = nil
    close_session(s, self.stats)
  end
  if self.job then
    local job = self.job
    self.job = nil
    main_loop(function() pcall(vim.fn.jobstop, job) end)
  end
end

-- Hands the outcome to the callback (once).
function Task:_report(result, err, code)
  if self.reported then return end
  self.reported = true
  live[self] = nil
  self.status = err and (code == "ECANCELLED" and "cancelled" or "failed") or "done"
  local cb = self.callback
  vim.schedule(function()
    if cb then cb(result, err, code) end
  end)
end

-- Reports (unless a cancel already did) and releases everything.
function Task:_finish(result, err, code)
  if self.finished then return end
  self.finished = true
  self.draining = false
  draining[self] = nil
  self:_report(result, err, code)
  self:_release()
  if self.cleanup then pcall(self.cleanup, self, result, err, code) end
end

-- Commands that make the runtime stream a heap snapshot.
local SNAPSHOT_METHODS = {
  ["HeapProfiler.takeHeapSnapshot"] = true,
  ["HeapProfiler.stopTrackingHeapObjects"] = true,
  ["Heap.snapshot"] = true, -- Bun (WebKit)
  ["Heap.stopTracking"] = true,
}

local function snapshot_in_flight(session)
  local pending = session and rawget(session, "_pending")
  if not pending or not session:isOpen() then return false end
  for _, p in pairs(pending) do
    if SNAPSHOT_METHODS[p.method] then return true end
  end
  return false
end

--- handle:cancel(): stops the operation; the callback gets nil, "<what> cancelled", "ECANCELLED".
--- Returns false when the operation had already finished.
--- While the runtime is still streaming a snapshot, the connection is not
--- closed at once: Node 20 segfaults now and then when its client goes away
--- mid-snapshot. The callback is told at once; the snapshot drains in the
--- background (nothing more is sent, its file is removed) and the session
--- closes when the runtime's reply arrives, or after opts.drainTimeout (120 s).
--- handle.draining is true meanwhile; handle.finished once all is released.
function Task:cancel()
  if self.reported or self.finished then return false end
  self.cancelled = true
  local co = self.co
  if co and self.started and coroutine.status(co) == "suspended" and snapshot_in_flight(self.session) then
    self.draining = true
    draining[self] = true
    self.drainUntil = uv.hrtime() / 1e9 + (self.opts.drainTimeout or 120)
    self:_report(nil, self.name .. " cancelled", "ECANCELLED")
    return true
  end
  if co and self.started and coroutine.status(co) == "suspended" then
    -- unwind the blocking call stack: the waiter raises CANCEL when resumed
    coroutine.resume(co, CANCEL)
  end
  self:_finish(nil, self.name .. " cancelled", "ECANCELLED")
  return true
end

--- isDone(): the callback has been (or is about to be) called.
function Task:isDone() return self.reported == true end

-- Resumes the coroutine for one slice of work.
function Task:_resume(value)
  if self.finished or self.resuming then return end
  local co = self.co
  if not co or coroutine.status(co) ~= "suspended" then return end
  self.resuming, self.started = true, true
  local t0 = uv.hrtime()
  local ok, a, b, c = coroutine.resume(co, value)
  local slice = (uv.hrtime() - t0) / 1e9
  local st = self.stats
  st.resumes, st.busy = st.resumes + 1, st.busy + slice
  if slice > st.maxSlice then st.maxSlice = slice end
  if slice > 0.02 and #st.slow < 20 then st.slow[#st.slow + 1] = { st.resumes, math.floor(slice * 1000) } end
  self.resuming = false
  if self.finished then return end
  if not ok then
    if a == CANCEL then return self:_finish(nil, self.name .. " cancelled", "ECANCELLED") end
    return self:_finish(nil, "memdbg.nvim: " .. self.name .. " failed: " .. debug.traceback(co, tostring(a)),
      "EINTERNAL")
  end
  if coroutine.status(co) == "dead" then
    self.co = nil
    -- the session is done with: stop polling before it closes
    self:_stopPoll()
    if self.session then
      local s = self.session
      self.session = nil
      close_session(s, self.stats)
    end
    if self.after and a ~= nil and not self.cancelled then return self.after(self, a) end
    return self:_finish(a, b, c)
  end
  self:_arm(a)
end

-- Arms the poll handle (on the session's fd, for its events) and the timer.
function Task:_arm(seconds)
  local s = self.session
  local fd = s and s:pollfd()
  if fd ~= self.fd then self:_stopPoll() end
  if fd and not self.poll then
    local other = polled[fd]
    if other and other ~= self then
      -- cannot happen with one session per task; refuse rather than break libuv
      return self:_finish(nil, "memdbg.nvim: fd " .. fd .. " is already polled", "EINTERNAL")
    end
    self.poll = assert(uv.new_poll(fd))
    self.fd = fd
    polled[fd] = self
  end
  if self.poll then
    local ev = s:events() or "r"
    if ev ~= self.events then
      self.events = ev
      self.poll:start(ev, function() self:_resume() end)
    end
  end
  local wait = type(seconds) == "number" and seconds or M.SLICE
  if wait > M.SLICE then wait = M.SLICE end
  if wait < 0 then wait = 0 end
  self.timer:stop()
  self.timer:start(math.floor(wait * 1000 + 0.5), 0, function() self:_resume() end)
end

-- Wraps a user callback so it runs on the main loop, at most one call queued
-- at a time with the latest arguments (progress can come thousands of times).
-- With every = true each call is delivered (for steps, which are few).
local function deliver(task, fn, every)
  if type(fn) ~= "function" then return nil end
  if every then
    return function(...)
      local args = { n = select("#", ...), ... }
      vim.schedule(function()
        if not task.cancelled then fn(unpack(args, 1, args.n)) end
      end)
    end
  end
  local queued, latest = false, nil
  return function(...)
    latest = { n = select("#", ...), ... }
    if queued then return end
    queued = true
    vim.schedule(function()
      queued = false
      if task.cancelled then return end
      fn(unpack(latest, 1, latest.n))
    end)
  end
end

local function check_args(name, opts, callback)
  if opts == nil then opts = {} end
  if type(opts) == "string" then opts = { endpoint = opts } end
  if type(opts) ~= "table" then error("memdbg.nvim." .. name .. " takes a table of options", 3) end
  if type(callback) ~= "function" then error("memdbg.nvim." .. name .. ": the last argument must be a callback", 3) end
  return opts
end

-- Starts a task: connect, then body(session, task) in a coroutine whose waits
-- yield to the loop. Returns the handle at once.
local function start(name, opts, callback, body, after)
  -- read here: the coroutine runs in libuv callbacks, where vim.g is off limits
  local endpoint = opts.endpoint or vim.g.memdbg_endpoint or M.DEFAULT_ENDPOINT
  local task = setmetatable({ name = name, opts = opts, callback = callback, after = after,
    status = "running",
    -- resumes: slices run; busy, maxSlice: seconds spent inside them (the
    -- time the editor was held), the first slice includes connect; close:
    -- seconds the closing handshake took
    stats = { resumes = 0, busy = 0, maxSlice = 0, slow = {} } }, Task)
  task.timer = uv.new_timer()
  task.co = coroutine.create(function()
    local memdbg, lerr = load_memdbg()
    if not memdbg then return nil, lerr, "ENOMODULE" end
    -- connect raises on a malformed endpoint: a message, not a traceback
    local okc, session, err, code = pcall(memdbg.connect, {
      endpoint = endpoint,
      target = opts.target,
      timeout = opts.connectTimeout or 5,
      allowRemote = opts.allowRemote,
    })
    if not okc then return nil, tostring(session), "EINVAL" end
    if not session then return nil, err, code end
    task.session = session
    -- connect's timeout is also the default command timeout: GC and actions may take longer
    session.timeout_default = opts.commandTimeout or 60
    if task.cancelled then return nil, name .. " cancelled", "ECANCELLED" end
    -- a cancelled task drains a snapshot in flight, and stops there
    local function check_cancel()
      if not task.cancelled then return end
      if task.draining and snapshot_in_flight(session) and uv.hrtime() / 1e9 < task.drainUntil then return end
      error(CANCEL, 0)
    end
    session:setWaiter(function(_, _)
      if coroutine.running() ~= task.co then return false end
      check_cancel()
      local v = coroutine.yield()
      if v == CANCEL then error(CANCEL, 0) end
      check_cancel()
      return true
    end)
    -- nothing new goes to the runtime once cancelled (a workflow would go on
    -- to its next action after the drained snapshot)
    local send = session.sendCommand
    rawset(session, "sendCommand", function(self, cmd)
      if task.cancelled and coroutine.running() == task.co then error(CANCEL, 0) end
      return send(self, cmd)
    end)
    return body(session, task)
  end)
  -- the first slice runs from the loop, so the caller gets its handle first
  task.timer:start(0, 0, function() task:_resume() end)
  live[task] = true
  return task
end

--- cancel_all(): cancels every running operation; returns how many.
function M.cancel_all()
  local n = 0
  for t in pairs(live) do
    if t:cancel() then n = n + 1 end
  end
  return n
end

--- wait_drained(ms): runs the event loop (vim.wait) until no cancelled
--- snapshot is still draining, for at most ms milliseconds (for VimLeavePre:
--- quitting mid-snapshot would otherwise drop the runtime's connection).
--- Returns true when none is left.
function M.wait_drained(ms)
  local function none()
    for t in pairs(draining) do
      if not t.finished then return false end
    end
    return true
  end
  if none() then return true end
  return vim.wait(ms or 3000, none, 20)
end

--- running(): the handles of the operations still running.
function M.running()
  local list = {}
  for t in pairs(live) do list[#list + 1] = t end
  return list
end

------------------------------------------------------------ entry points

--- usage({endpoint=}, function(usage, err, code)) -> handle
--- usage = {usedSize=, totalSize=, ...} (session.memory:getHeapUsage())
function M.usage(opts, callback)
  opts = check_args("usage", opts, callback)
  return start("usage", opts, callback, function(session)
    return session.memory:getHeapUsage()
  end)
end

local function default_snapshot_path(dir)
  local stamp = os.date("!%Y%m%d-%H%M%S") .. string.format("-%03d", math.floor((uv.hrtime() / 1e6) % 1000))
  return string.format("%s/heap-%s.heapsnapshot", dir or vim.fn.getcwd(), stamp)
end

-- The sink fsyncs the file once the snapshot is complete, inside a service
-- pass: with 100 MB of dirty pages that alone can hold the editor for 100 ms
-- or more. So while the data arrives, flush it from libuv's thread pool every
-- `every` bytes (fdatasync on a second descriptor of the same file), leaving
-- the final fsync little to do.
local function background_sync(partial, every)
  local next_at, busy = every, false
  return function(bytes)
    if busy or bytes < next_at then return end
    busy, next_at = true, bytes + every
    uv.fs_open(partial, "r", 0, function(oerr, fd)
      if oerr or not fd then busy = false return end
      uv.fs_fdatasync(fd, function()
        uv.fs_close(fd, function() busy = false end)
      end)
    end)
  end
end
M.background_sync = background_sync

--- snapshot({endpoint=, path=, dir=, gc=false, timeout=30, onProgress=fn(done, total),
---   onBytes=fn(bytes, chunks)}, function(info, err, code)) -> handle
--- info = {path=, bytes=, seconds=, chunks=}. A cancelled or failed snapshot
--- leaves no file (nor a .partial).
function M.snapshot(opts, callback)
  opts = check_args("snapshot", opts, callback)
  local path = opts.path or default_snapshot_path(opts.dir)
  local task
  task = start("snapshot", opts, callback, function(session)
    if opts.gc then
      local ok, err, code = session.memory:collectGarbage()
      if not ok then return nil, err, code end
    end
    local user_bytes = deliver(task, opts.onBytes)
    local sync = opts.syncEvery ~= false and background_sync(path .. ".partial", opts.syncEvery or 16 * 1048576)
    local info, err, code = session.memory:takeHeapSnapshot {
      path = path,
      timeout = opts.timeout,
      onProgress = deliver(task, opts.onProgress),
      onBytes = function(n, chunks)
        if sync then sync(n) end
        if user_bytes then user_bytes(n, chunks) end
      end,
    }
    if not info then return nil, err, code end
    info.result = nil
    return info
  end)
  task.path = path
  task.cleanup = function(t, _, _, code)
    -- destroying the connection removes the sink's .partial; belt and braces.
    -- A drained (cancelled) snapshot may have been completed and renamed.
    if code then os.remove(path .. ".partial") end
    if t.cancelled then os.remove(path) end
  end
  return task
end

-- The command that analyses three snapshots out of process, and its
-- MEMDBG_BUILD: from a checkout, the CLI script under the interpreter whose
-- build is there (build/luajit is, since the driver needs it); else an
-- installed `memdbg`. opts.analyser = {argv...} overrides.
local function analyser(opts)
  if opts.analyser then return vim.deepcopy(opts.analyser), nil end
  local root = M.root
  local script = root and (root .. "/scripts/memdbg")
  if script and vim.fn.filereadable(script) == 1 then
    for _, lua in ipairs({ "luajit", "lua5.4" }) do
      local build = root .. "/build/" .. lua
      if vim.fn.executable(lua) == 1 and vim.fn.filereadable(build .. "/memdbg/_heap.so") == 1 then
        return { lua, script }, build
      end
    end
  end
  return { "memdbg" }, nil
end
M.analyser = analyser

local function remove_tree(dir)
  main_loop(function() vim.fn.delete(dir, "rf") end)
end

--- leaks({endpoint=, action="JS expression", dir=, top=20, gcRounds=2, timeout=30,
---   onStep=fn(step, detail), onProgress=fn(done, total) (each snapshot),
---   onAnalyseProgress=fn(percent, 100) (the analysis)}, function(report, err, code)) -> handle
--- Three snapshots around the action (workflows/detect_leak, capture only),
--- then `memdbg find-leaks A B C --json` in a child process.
--- report = {dir=, snapshots={a,b,c}, bytes=, leaks={{class=, count=, retainedSize=, retainerPath={...}}}}
--- Without dir the snapshots go to a fresh temporary directory, removed on
--- cancel or failure.
function M.leaks(opts, callback)
  opts = check_args("leaks", opts, callback)
  if type(opts.action) ~= "string" or opts.action == "" then
    error("memdbg.nvim.leaks: action must be a JavaScript expression (e.g. \"handleRequests(100)\")", 2)
  end
  local own_dir = opts.dir == nil
  local dir = opts.dir
  if dir then
    vim.fn.mkdir(dir, "p", tonumber("700", 8))
  else
    -- not under vim.fn.tempname(): Neovim removes that directory when it exits
    local base = (os.getenv("TMPDIR") or "/tmp") .. "/memdbg-leaks-XXXXXX"
    local err
    dir, err = uv.fs_mkdtemp(base)
    if not dir then error("memdbg.nvim.leaks: cannot create a directory like " .. base .. ": " .. tostring(err), 2) end
  end
  local task, step, analyse_progress
  task = start("leak hunt", opts, callback, function(session)
    local detect_leak = require("memdbg.workflows.detect_leak")
    local report, err, code = detect_leak.run(session, {
      action = opts.action,
      dir = dir,
      gcRounds = opts.gcRounds,
      timeout = opts.timeout,
      analyse = false,
      onStep = step,
      onProgress = deliver(task, opts.onProgress),
      onBytes = deliver(task, opts.onBytes),
    })
    if not report then return nil, err, code end
    return report
  end, function(t, report)
    -- capture done, session closed: the parse runs in a child process
    if step then step("analyse") end
    main_loop(function()
      if t.finished then return end
      local cmd, build = analyser(opts)
      vim.list_extend(cmd, { "find-leaks", report.snapshots[1], report.snapshots[2], report.snapshots[3],
        "--json", "--top", tostring(opts.top or 20) })
      local out, errtext = {}, ""
      -- MEMDBG_PROGRESS=1: the CLI draws its progress bar on stderr even
      -- though it is not a terminal ("\rfinding leaks [###...]  42% ...\27[K")
      local env = { MEMDBG_PROGRESS = "1" }
      if build then env.MEMDBG_BUILD = build end
      local ok, job = pcall(vim.fn.jobstart, cmd, {
        env = env,
        stdout_buffered = true,
        on_stdout = function(_, data) out = data or {} end,
        on_stderr = function(_, data)
          local chunk = table.concat(data or {}, "\n")
          errtext = errtext .. chunk
          if analyse_progress and not t.finished then
            local pct
            for p in chunk:gmatch("%] +(%d+)%%") do pct = tonumber(p) end
            if pct then analyse_progress(pct, 100) end
          end
        end,
        on_exit = function(_, status)
          t.job = nil
          if t.finished then return end
          local text = table.concat(out, "\n")
          local doc = (status == 0 or status == 1) and require("memdbg.json").decode(text)
          if type(doc) ~= "table" or type(doc.leaks) ~= "table" then
            local msg = vim.trim((errtext:gsub("\r[^\r\n]-\27%[K", "")))
            return t:_finish(nil, string.format("the leak analysis (%s) failed with status %d: %s",
              table.concat(cmd, " "), status, msg ~= "" and msg or text:sub(1, 300)), "EANALYSE")
          end
          report.leaks = doc.leaks
          t:_finish(report)
        end,
      })
      if not ok or type(job) ~= "number" or job <= 0 then
        return t:_finish(nil, "cannot start the leak analysis: " .. table.concat(cmd, " ") .. ": " .. tostring(job),
          "EANALYSE")
      end
      t.job = job
    end)
  end)
  step = deliver(task, opts.onStep, true)
  analyse_progress = deliver(task, opts.onAnalyseProgress)
  task.dir = dir
  task.cleanup = function(t, _, err)
    if (err or t.cancelled) and own_dir then remove_tree(dir) end
  end
  return task
end

------------------------------------------------------------ formatting

local function bytes(n)
  n = tonumber(n) or 0
  local a = math.abs(n)
  if a >= 1073741824 then return string.format("%.2f GB", n / 1073741824) end
  if a >= 1048576 then return string.format("%.1f MB", n / 1048576) end
  if a >= 1024 then return string.format("%.1f KB", n / 1024) end
  return string.format("%d B", math.floor(n))
end
M.bytes = bytes

--- Lines for a scratch buffer.
function M.format_usage(u, endpoint)
  local lines = { "Heap usage of " .. tostring(endpoint), "" }
  local keys = {}
  for k in pairs(u) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local v = u[k]
    if type(v) == "number" then
      lines[#lines + 1] = string.format("  %-24s %14s  (%d)", k, bytes(v), v)
    elseif type(v) ~= "table" then
      lines[#lines + 1] = string.format("  %-24s %s", k, tostring(v))
    end
  end
  return lines
end

function M.format_snapshot(info)
  return {
    "Heap snapshot written",
    "",
    "  path     " .. tostring(info.path),
    "  size     " .. bytes(info.bytes) .. string.format("  (%d bytes, %d chunks)", info.bytes or 0, info.chunks or 0),
    string.format("  seconds  %.2f", info.seconds or 0),
  }
end

function M.format_leaks(report, action)
  local lines = { "Leak hunt" .. (action and (": " .. action) or ""), "" }
  local leaks = report.leaks or {}
  if #leaks == 0 then
    lines[#lines + 1] = "No leaks: nothing allocated by the action stayed alive and grew."
  else
    lines[#lines + 1] = string.format("  %-3s %-32s %10s %14s", "#", "class", "count", "retained")
    for i, g in ipairs(leaks) do
      lines[#lines + 1] = string.format("  %-3d %-32s %10d %14s", i, tostring(g.class), g.count or 0,
        bytes(g.retainedSize))
    end
    lines[#lines + 1] = ""
    lines[#lines + 1] = "Retainer paths"
    for i, g in ipairs(leaks) do
      lines[#lines + 1] = string.format("  #%d %s", i, tostring(g.class))
      for k, stepname in ipairs(g.retainerPath or {}) do
        lines[#lines + 1] = "    " .. string.rep("  ", k - 1) .. tostring(stepname)
      end
    end
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "Snapshots:"
  for _, p in ipairs(report.snapshots or {}) do lines[#lines + 1] = "  " .. p end
  return lines
end

return M
