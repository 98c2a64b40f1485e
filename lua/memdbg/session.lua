-- A connected inspector session: commands matched to replies by id, events
-- to subscribers, deadlines, and the cqueues-style embedding protocol
-- (pollfd/events/timeout/step) for someone else's event loop.
local core = require("memdbg.core")
local json = require("memdbg.json")

local Session = {}
local methods = {}

Session.__index = function(self, key)
  if key == "memory" then
    -- the memory domain is loaded on first use, with the runtime's adapter
    local mem = require("memdbg.memory").new(self)
    rawset(self, "memory", mem)
    return mem
  end
  return methods[key]
end

local function now() return core.now() end

function Session.new(conn, fields)
  local self = setmetatable({
    _conn = conn,
    _nextId = 1,
    _pending = {},
    _subs = {},
    _closed = nil, -- {message, code} once the connection is gone
  }, Session)
  for k, v in pairs(fields) do self[k] = v end
  return self
end

local function report_callback_error(self, where, err)
  local handler = rawget(self, "onError")
  if handler then
    pcall(handler, where, err)
  else
    io.stderr:write("memdbg: error in ", where, ": ", tostring(err), "\n")
  end
end

local function complete(self, p, result, err, code, detail)
  self._pending[p.id] = nil
  p.done, p.result, p.err, p.code, p.detail = true, result, err, code, detail
  if p.callback then
    local ok, cerr = pcall(p.callback, result, err, code, detail)
    if not ok then report_callback_error(self, "the callback of " .. p.method, cerr) end
  end
end

local function emit(self, method, params, sessionId)
  local subs = self._subs
  for i = 1, #subs do
    local s = subs[i]
    if s and not s.cancelled and (s.method == nil or s.method == method) then
      local ok, err = pcall(s.fn, params, method, sessionId)
      if not ok then report_callback_error(self, "the handler for " .. method, err) end
    end
  end
end

-- Routing: each received message goes down exactly one of these routes.
-- (Attached sessions, below, filter events by sessionId on top of them.)

-- Text that is not JSON: fails the command whose id can still be read from
-- it, and is reported as a memdbg.protocolError event.
local function route_malformed(self, text, jerr)
  local errmsg = string.format("malformed JSON from %s: %s (message begins %q)", self.url,
    tostring(jerr), text:sub(1, 60))
  self.lastProtocolError = errmsg
  local id = tonumber(text:match('^%s*{%s*"id"%s*:%s*(%d+)'))
  local p = id and self._pending[id]
  if p then complete(self, p, nil, errmsg, "EPROTO") end
  emit(self, "memdbg.protocolError", { message = errmsg })
end

-- A message with an id is a reply, even when it also has a method (workerd
-- ends takeHeapSnapshot that way). Unknown ids are ignored (wrangler's proxy
-- forwards replies to its own commands).
local function route_reply(self, msg)
  local p = self._pending[msg.id]
  if not p then return end
  if type(msg.error) == "table" then
    local e = msg.error
    local data = e.data
    if type(data) == "table" then
      local ok, encoded = pcall(json.encode, data)
      data = ok and encoded or nil
    end
    local m = string.format("%s failed: %s%s", p.method, require("memdbg.describe")(e.message),
      (data ~= nil and data ~= json.null) and (" (" .. tostring(data) .. ")") or "")
    complete(self, p, nil, m, "ECOMMAND", e)
  else
    local r = msg.result
    if type(r) ~= "table" then r = {} end
    complete(self, p, r)
  end
end

-- Everything else with a method is an event, for the subscribers.
local function route_event(self, msg)
  local params = msg.params
  if type(params) ~= "table" then params = {} end
  emit(self, msg.method, params, msg.sessionId)
end

local function dispatch(self, text)
  local msg, jerr = json.decode(text)
  if type(msg) ~= "table" then return route_malformed(self, text, jerr) end
  if msg.id ~= nil then return route_reply(self, msg) end
  if type(msg.method) == "string" then return route_event(self, msg) end
end

local function on_closed(self)
  if self._closed then return end
  local msg, code, close_code, close_reason = self._conn:error()
  local text
  if close_code then
    text = string.format("the runtime closed the connection to %s (close code %d%s)", self.url, close_code,
      close_reason ~= "" and (": " .. close_reason) or "")
  elseif msg then
    text = msg .. " (" .. self.url .. ")"
  else
    text = "the connection to " .. self.url .. " was lost (did the runtime exit?)"
  end
  if self.runtime == "workerd" then
    if tostring(type(self.version) == "table" and self.version.Browser or ""):match("^wrangler") then
      -- wrangler's proxy keeps the first client and closes the newcomer (1002 "Too many clients")
      text = text .. "; wrangler dev allows one inspector client at a time: it refuses a new one while another "
        .. "(DevTools, another memdbg) is connected"
    else
      text = text .. "; workerd allows one inspector client at a time: another client connecting closes this one"
    end
  end
  code = code == "EPROTO" and "EPROTO" or "ECLOSED"
  self._closed = { text, code }
  for _, p in pairs(self._pending) do complete(self, p, nil, text, code) end
  emit(self, "memdbg.closed", { message = text, code = code })
end

-- Fails asynchronous commands whose deadline has passed.
local function expire(self)
  local t = now()
  for _, p in pairs(self._pending) do
    if p.callback and t >= p.deadline then
      complete(self, p, nil, self:_timeoutMessage(p), "ETIMEDOUT")
    end
  end
end

function methods:_timeoutMessage(p)
  local msg = string.format("%s got no reply within %g s from %s", p.method, p.timeout, self.url)
  if self.runtime == "workerd" then
    msg = msg .. "; the worker runs GC only while it handles requests: send it traffic "
      .. "(sampling records only then, too)"
  end
  return msg
end

-- Services the connection for up to `wait` seconds and delivers what came.
-- With a waiter set (setWaiter), the waiting is the waiter's: an editor's
-- driver yields there to its event loop, so every blocking call (commands,
-- snapshots, workflows) becomes non-blocking inside the driver's coroutine.
function methods:_pump(wait)
  if self._closed then return end
  local conn = self._conn
  local waiter = rawget(self, "_waiter")
  if waiter and wait > 0 then
    if waiter(wait, self) then wait = 0 end
  end
  conn:service(wait)
  -- a handler may close the session (an action that ended the runtime):
  -- the connection is torn down only once this loop is done with it
  self._pumping = true
  while not self._closed do
    local text = conn:recv()
    if not text then break end
    dispatch(self, text)
  end
  self._pumping = false
  if self._closeLater then
    self._closeLater = nil
    self:close()
    return
  end
  if conn:state() == "closed" then on_closed(self) end
end

--- sendCommand{method, params, timeout, sessionId, callback}
--- Without callback: waits and returns result | nil, message, code[, error object].
--- With callback(result, err, code): returns the command id at once; the
--- callback runs from poll() or step().
function methods:sendCommand(cmd)
  if type(cmd) ~= "table" then error("sendCommand takes a table {method=, params=}", 2) end
  if type(cmd.method) ~= "string" then error("sendCommand: method must be a string", 2) end
  if cmd.params ~= nil and type(cmd.params) ~= "table" then error("sendCommand: params must be a table", 2) end
  if cmd.callback ~= nil and type(cmd.callback) ~= "function" then
    error("sendCommand: callback must be a function", 2)
  end
  local timeout = cmd.timeout or self.timeout_default
  if self._closed then
    if cmd.callback then
      cmd.callback(nil, self._closed[1], self._closed[2])
      return nil
    end
    return nil, self._closed[1], self._closed[2]
  end
  local id = self._nextId
  self._nextId = id + 1
  local params = cmd.params
  if params == nil or next(params) == nil then params = json.object() end -- CDP wants {} for no params
  local text = json.encode({ id = id, method = cmd.method, params = params, sessionId = cmd.sessionId })
  local ok, err, code = self._conn:send(text)
  if not ok then return nil, err, code end
  local p = { id = id, method = cmd.method, timeout = timeout, deadline = now() + timeout, callback = cmd.callback }
  self._pending[id] = p
  if cmd.callback then return id end
  while not p.done do
    local left = p.deadline - now()
    if left <= 0 then
      self._pending[id] = nil
      return nil, self:_timeoutMessage(p), "ETIMEDOUT"
    end
    self:_pump(left)
  end
  if p.err then return nil, p.err, p.code, p.detail end
  return p.result
end

--- subscribe(method|nil, fn(params, method, sessionId)) -> sub with sub:cancel()
function methods:subscribe(method, fn)
  if method ~= nil and type(method) ~= "string" then error("subscribe: method must be a string or nil", 2) end
  if type(fn) ~= "function" then error("subscribe: handler must be a function", 2) end
  local sub = { method = method, fn = fn }
  local subs = self._subs
  subs[#subs + 1] = sub
  function sub.cancel()
    if sub.cancelled then return end
    sub.cancelled = true
    for i = #subs, 1, -1 do
      if subs[i] == sub then table.remove(subs, i) end
    end
  end
  return sub
end

--- poll(seconds): runs the event loop, delivering events and callbacks.
--- Returns true, or nil, message, code once the connection is closed.
function methods:poll(seconds)
  seconds = seconds or 0
  local deadline = now() + seconds
  repeat
    local wait = deadline - now()
    local t = self:timeout()
    if t and t < wait then wait = t end
    self:_pump(wait > 0 and wait or 0)
    expire(self)
  until self._closed or now() >= deadline
  if self._closed then return nil, self._closed[1], self._closed[2] end
  return true
end

-- The embedding protocol (cqueues'): watch pollfd() for events(), wake up
-- after timeout() seconds at the latest, then call step(), which never blocks.
function methods:pollfd()
  if self._closed then return nil end
  return self._conn:fd()
end

function methods:events()
  if self._closed then return nil end
  return self._conn:wantsWrite() and "rw" or "r"
end

function methods:timeout()
  local soonest
  for _, p in pairs(self._pending) do
    if p.callback and (soonest == nil or p.deadline < soonest) then soonest = p.deadline end
  end
  if soonest == nil then return nil end
  local left = soonest - now()
  return left > 0 and left or 0
end

function methods:step()
  self:_pump(0)
  expire(self)
  if self._closed then return nil, self._closed[1], self._closed[2] end
  return true
end

--- setWaiter(fn | nil): fn(seconds, session) is called before each wait;
--- when it returns true it has done the waiting (e.g. yielded to an event
--- loop that resumes it once pollfd() is readable or the time is up).
function methods:setWaiter(fn)
  if fn ~= nil and type(fn) ~= "function" then error("setWaiter takes a function or nil", 2) end
  rawset(self, "_waiter", fn)
end

function methods:isOpen()
  return not self._closed
end

--- close(): idempotent; pending commands fail with ECLOSED.
function methods:close()
  if not self._closed then
    self._closed = { "the session was closed", "ECLOSED" }
    for _, p in pairs(self._pending) do complete(self, p, nil, "the session was closed", "ECLOSED") end
  end
  if self._pumping then
    self._closeLater = true
    return
  end
  local mem = rawget(self, "memory")
  if mem and mem.close then mem:close() end
  if self._conn then self._conn:close() end
end

-- Attached sessions (Chromium's browser endpoint): Target.attachToTarget with
-- flatten gives a sessionId; commands carry it and events are filtered by it.
-- Everything else (the connection, the pump, the embedding protocol) is the
-- parent's, so session.memory works unchanged on an attached target.
local Child = {}
local child_methods = {}

Child.__index = function(self, key)
  if key == "memory" then
    local mem = require("memdbg.memory").new(self)
    rawset(self, "memory", mem)
    return mem
  end
  local m = child_methods[key]
  if m ~= nil then return m end
  local parent = rawget(self, "parent")
  local v = parent[key]
  if type(v) == "function" then
    return function(_, ...) return v(parent, ...) end
  end
  return v
end
Child.__tostring = function(self)
  return string.format("memdbg.session{%s %s session %s}", self.runtime, self.url, self.sessionId)
end

function child_methods:sendCommand(cmd)
  if type(cmd) ~= "table" then error("sendCommand takes a table {method=, params=}", 2) end
  local copy = {}
  for k, v in pairs(cmd) do copy[k] = v end
  copy.sessionId = self.sessionId
  if rawget(self, "_detached") then return nil, "the attached session was closed", "ECLOSED" end
  return self.parent:sendCommand(copy)
end

function child_methods:subscribe(method, fn)
  if type(fn) ~= "function" then error("subscribe: handler must be a function", 2) end
  local sid = self.sessionId
  return self.parent:subscribe(method, function(params, m, esid)
    -- the transport's own pseudo-events (memdbg.*) concern every session
    if esid == sid or (esid == nil and m:sub(1, 7) == "memdbg.") then return fn(params, m, esid) end
  end)
end

function child_methods:isOpen()
  return not rawget(self, "_detached") and self.parent:isOpen()
end

function child_methods:close()
  if rawget(self, "_detached") then return end
  local mem = rawget(self, "memory")
  if mem and mem.close then mem:close() end
  if self.parent:isOpen() then
    self.parent:sendCommand { method = "Target.detachFromTarget", params = { sessionId = self.sessionId }, timeout = 2 }
  end
  rawset(self, "_detached", true)
end

--- attach(target) -> attached session | nil, message, code
--- target: a targetId, a type ("page"), or function(targetInfo) -> bool;
--- nil picks the first page. For Chromium's browser-level endpoint, which
--- answers no heap commands itself.
function methods:attach(target)
  if target ~= nil and type(target) ~= "string" and type(target) ~= "function" then
    error("attach: target must be a targetId, a type or a function", 2)
  end
  local list, err, code = self:sendCommand { method = "Target.getTargets" }
  if not list then return nil, err, code end
  local chosen
  for _, t in ipairs(list.targetInfos or {}) do
    local ok
    if target == nil then ok = t.type == "page" and not tostring(t.url):match("^chrome")
    elseif type(target) == "function" then ok = target(t)
    else ok = t.targetId == target or t.type == target end
    if ok then chosen = t break end
  end
  if not chosen then
    return nil, string.format("no target matches %s at %s", tostring(target or "the first page"), self.url), "ENOTARGET"
  end
  local r
  r, err, code = self:sendCommand { method = "Target.attachToTarget",
    params = { targetId = chosen.targetId, flatten = true } }
  if not r then return nil, err, code end
  return setmetatable({
    parent = self, sessionId = r.sessionId, target = chosen, runtime = self.runtime,
    url = self.url, endpoint = self.endpoint, version = self.version,
  }, Child)
end

Session.__gc = function(self) if self._conn then self._conn:close() end end
Session.__close = function(self) self:close() end
Session.__tostring = function(self)
  return string.format("memdbg.session{%s %s %s}", self.runtime, self.url, self._closed and "closed" or "open")
end

return Session
