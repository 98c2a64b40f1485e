-- luacheck: globals vim
-- The driver: runs memdbg's blocking API in a coroutine without ever blocking
-- the editor. memdbg.nvim's entry points are built on driver.start().
--
-- The session's blocking API (sendCommand, takeHeapSnapshot, the workflows)
-- runs unchanged inside a coroutine. The session's waiter hook
-- (session:setWaiter) is called before each wait; when the caller is the
-- task's coroutine it yields instead of waiting. The driver then arms one
-- libuv poll handle on session:pollfd() (for session:events()) and a one-shot
-- timer (the wait, capped at SLICE so buffered data and deadlines keep
-- turning), and resumes the coroutine when either fires; the coroutine
-- calls the non-blocking service pass and carries on until its next wait.
-- Each resume does one bounded slice of work (one read of the socket), so the
-- loop's other timers and Neovim's input keep running in between.
-- libuv's rules: one poll handle per fd (checked in `polled`), and the poll
-- is stopped and closed before the session (and its socket) is closed.
--
-- Connecting does not block either (memdbg.connect{async = true}: lookup,
-- discovery and the upgrade are polled the same way). What still blocks
-- briefly: session:close() (the close handshake: milliseconds on loopback, at
-- most 0.5 s).
local load = require("memdbg.nvim.load")

local M = {}

local uv = vim.uv or vim.loop
local unpack = table.unpack or unpack -- luacheck: ignore 113

M.SLICE = 0.05 -- longest sleep between two service passes while waiting (s)

local CANCEL = setmetatable({}, { __tostring = function() return "memdbg.nvim: cancelled" end })

-- fd -> task: never two poll handles on one fd
local polled = {}
-- the tasks still running (for cancel_all), and the cancelled ones draining a snapshot
local live = setmetatable({}, { __mode = "k" })
local draining = setmetatable({}, { __mode = "k" })

local Task = {}
Task.__index = Task

local connect -- below: the non-blocking connect

local function in_fast() return vim.in_fast_event and vim.in_fast_event() end

-- Runs fn now unless we are in a libuv callback, where most of the API is off limits.
local function main_loop(fn)
  if in_fast() then vim.schedule(fn) else fn() end
end
M.main_loop = main_loop

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
M.finish = function(task, ...) return task:_finish(...) end

-- Commands that make the runtime stream a heap snapshot.
local SNAPSHOT_METHODS = {
  ["HeapProfiler.takeHeapSnapshot"] = true,
  ["HeapProfiler.stopTrackingHeapObjects"] = true,
  ["Heap.snapshot"] = true, -- Bun (WebKit)
  ["Heap.stopTracking"] = true,
}

-- A snapshot command sent and not answered yet (counted by start()'s sendCommand).
local function snapshot_in_flight(task)
  local s = task.session
  return (task.snapshots or 0) > 0 and s ~= nil and s:isOpen()
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
  if co and self.started and coroutine.status(co) == "suspended" and snapshot_in_flight(self) then
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

-- Arms the poll handle (on the session's fd, for its events, or on what a
-- connecting coroutine yielded: {fd=, events=, timeout=}) and the timer.
function Task:_arm(seconds)
  local s = self.session
  local fd, want
  if type(seconds) == "table" then
    fd, want, seconds = seconds.fd, seconds.events, seconds.timeout
  else
    fd = s and s:pollfd()
    want = fd and (s:events() or "r")
  end
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
    local ev = want or "r"
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

--- deliver(task, fn[, every]): wraps a user callback so it runs on the main
--- loop, at most one call queued at a time with the latest arguments (progress
--- can come thousands of times). With every = true each call is delivered
--- (for steps, which are few). Nothing is delivered once the task is cancelled.
function M.deliver(task, fn, every)
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

-- Counts the snapshot commands in flight (see snapshot_in_flight) and sends
-- nothing new once the task is cancelled (a workflow would otherwise go on to
-- its next action after a drained snapshot).
local function guard_send(session, task)
  local send = session.sendCommand
  rawset(session, "sendCommand", function(self, cmd)
    if task.cancelled and coroutine.running() == task.co then error(CANCEL, 0) end
    if type(cmd) ~= "table" or not SNAPSHOT_METHODS[cmd.method] then return send(self, cmd) end
    task.snapshots = (task.snapshots or 0) + 1
    if type(cmd.callback) == "function" then
      local cb, done = cmd.callback, false
      local copy = {}
      for k, v in pairs(cmd) do copy[k] = v end
      copy.callback = function(...)
        if not done then done, task.snapshots = true, task.snapshots - 1 end
        return cb(...)
      end
      local id, err, code = send(self, copy)
      if not id then done, task.snapshots = true, task.snapshots - 1 end
      return id, err, code
    end
    local r = { n = 0 }
    local ok, perr = pcall(function() r = { n = 4, send(self, cmd) } end)
    task.snapshots = task.snapshots - 1
    if not ok then error(perr, 0) end
    return unpack(r, 1, r.n)
  end)
end

-- Connects without blocking: memdbg.connect{async = true} gives a connector
-- whose one descriptor (for the whole attempt: lookup, discovery, upgrade)
-- the loop polls; the coroutine yields {fd=, events=, timeout=} until step()
-- has the session. Poll first, then close: libuv's rule for the connector's
-- descriptor too.
local function connect_args(opts, async)
  return { endpoint = opts.endpoint, target = opts.target, timeout = opts.connectTimeout or 5,
    allowRemote = opts.allowRemote, async = async }
end

connect = function(memdbg, opts, task)
  -- connect raises on a malformed endpoint: a message, not a traceback
  local okc, c, err, code = pcall(memdbg.connect, connect_args(opts, true))
  if not okc then return nil, tostring(c), "EINVAL" end
  if not c then return nil, err, code end
  local function release()
    task:_stopPoll()
    c:close()
  end
  while true do
    local okstep, s, serr, scode = pcall(c.step, c)
    if not okstep then
      release()
      return nil, "memdbg.nvim: connecting failed: " .. tostring(s), "EINTERNAL"
    end
    if s ~= false then
      release()
      return s, serr, scode
    end
    local v = coroutine.yield({ fd = c:pollfd(), events = c:events(), timeout = c:timeout() })
    if v == CANCEL or task.cancelled then
      release()
      error(CANCEL, 0)
    end
  end
end

--- start(name, opts, callback, body[, after]) -> handle
--- Connects (opts.endpoint, target, allowRemote, connectTimeout, commandTimeout),
--- then runs body(session, task) in a coroutine whose waits yield to the loop.
--- Its return values go to the callback, or to after(task, result) (which must
--- call driver.finish(task, ...)) once the session is closed. The first slice
--- runs from the loop, so the caller gets its handle first.
function M.start(name, opts, callback, body, after)
  local task = setmetatable({ name = name, opts = opts, callback = callback, after = after,
    status = "running",
    -- resumes: slices run; busy, maxSlice: seconds spent inside them (the
    -- time the editor was held), the first slice includes connect; close:
    -- seconds the closing handshake took
    stats = { resumes = 0, busy = 0, maxSlice = 0, slow = {} } }, Task)
  task.timer = uv.new_timer()
  task.co = coroutine.create(function()
    local memdbg, lerr, lcode = load.memdbg()
    if not memdbg then return nil, lerr, lcode end
    local session, err, code = connect(memdbg, opts, task)
    if not session then return nil, err, code end
    task.session = session
    -- connect's timeout is also the default command timeout: GC and actions may take longer
    session.timeout_default = opts.commandTimeout or 60
    if task.cancelled then return nil, name .. " cancelled", "ECANCELLED" end
    -- a cancelled task drains a snapshot in flight, and stops there
    local function check_cancel()
      if not task.cancelled then return end
      if task.draining and snapshot_in_flight(task) and uv.hrtime() / 1e9 < task.drainUntil then return end
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
    guard_send(session, task)
    return body(session, task)
  end)
  task.timer:start(0, 0, function() task:_resume() end)
  live[task] = true
  return task
end

--- track(task): counts a task that does not come from start() (a child
--- process) among the running ones; returns it.
function M.track(task)
  live[task] = true
  return task
end

--- untrack(task): the task is over.
function M.untrack(task) live[task] = nil end

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

--- abandon_draining(): releases the cancelled snapshots still draining (for
--- quitting once wait_drained has run out): each session closes with the
--- websocket handshake and its partial file goes. Returns how many.
function M.abandon_draining()
  local n = 0
  for t in pairs(draining) do
    if not t.finished then
      n = n + 1
      t:_finish(nil, t.name .. " cancelled", "ECANCELLED")
    end
  end
  return n
end

--- running(): the handles of the operations still running.
function M.running()
  local list = {}
  for t in pairs(live) do list[#list + 1] = t end
  return list
end

return M
