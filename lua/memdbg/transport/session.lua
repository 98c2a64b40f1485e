-- A connected inspector session: commands matched to replies by id, events
-- to subscribers, deadlines, and the cqueues-style embedding protocol
-- (pollfd/events/timeout/step) for someone else's event loop.
--
-- Attached sessions (children(), attach()) are sessions too, of the same
-- class: workers and out-of-process iframes multiplexed over the parent's
-- connection (Chromium's flat sessions by sessionId; Node's and Deno's
-- workers through the NodeWorker domain, whose messages travel as JSON
-- strings inside NodeWorker commands and events). The root session owns the
-- connection and does all the waiting; an attached one has its own ids,
-- pending commands, subscribers and memory domain.
local core = require("memdbg._core")
local json = require("memdbg.util.json")

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
    _flat = {}, -- Chromium sessionId -> attached session, at any depth
    _attached = {}, -- every open attached session -> true
    _workers = {}, -- NodeWorker sessionId -> attached session (a root's own workers)
  }, Session)
  for k, v in pairs(fields) do self[k] = v end
  return self
end

-- The session that owns the connection.
local function root_of(self)
  return rawget(self, "_root") or self
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

-- Routing: each received message goes down exactly one of these routes, in
-- the session it belongs to (dispatch finds it: route_children below).

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
    local m = string.format("%s failed: %s%s", p.method, require("memdbg.util.describe")(e.message),
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
  -- a chunk the C sink should have taken reached Lua: the file misses it
  if rawget(self, "_sinkMethod") == msg.method then self._sinkMissed = true end
  emit(self, msg.method, params, msg.sessionId)
end

local route_children -- below, with the attached sessions

local function deliver(self, msg)
  if msg.id ~= nil then return route_reply(self, msg) end
  if type(msg.method) == "string" then
    if route_children(self, msg) then return end
    return route_event(self, msg)
  end
end

local function dispatch(self, text)
  local msg, jerr = json.decode(text)
  if type(msg) ~= "table" then return route_malformed(self, text, jerr) end
  local sid = msg.sessionId
  if sid ~= nil then
    local child = self._flat[sid]
    if child then return deliver(child, msg) end
    -- a reply of a session no longer attached: its ids are not ours
    if msg.id ~= nil then return end
  end
  return deliver(self, msg)
end

local close_attached -- below

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
  for child in pairs(self._attached) do close_attached(child, text, code) end
  emit(self, "memdbg.closed", { message = text, code = code })
end

-- Fails asynchronous commands whose deadline has passed, the attached
-- sessions' too.
local function expire_one(self, t)
  for _, p in pairs(self._pending) do
    if p.callback and t >= p.deadline then
      complete(self, p, nil, self:_timeoutMessage(p), "ETIMEDOUT")
    end
  end
end

local function expire(root)
  local t = now()
  expire_one(root, t)
  for child in pairs(root._attached) do expire_one(child, t) end
end

function methods:_timeoutMessage(p)
  local iso = rawget(self, "isolate")
  local msg = string.format("%s got no reply within %g s from %s%s", p.method, p.timeout,
    iso and string.format("the %s %s at ", iso.type, iso.id) or "", self.url)
  local route = rawget(self, "_route")
  if route and route.kind == "worker" and self.runtime == "deno" then
    msg = msg .. "; a Deno worker answers one inspector connection at a time (the first that attached to it, "
      .. "until it disconnects): is another memdbg or DevTools attached to it?"
  end
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
  local root = rawget(self, "_root")
  if root then return root:_pump(wait) end
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
  local timeout = cmd.timeout or self.timeout_default or root_of(self).timeout_default
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
  local p = { id = id, method = cmd.method, timeout = timeout, deadline = now() + timeout, callback = cmd.callback }
  self._pending[id] = p
  local ok, err, code = self:_transmit(id, cmd.method, params, cmd.sessionId, timeout)
  if not ok then
    self._pending[id] = nil
    return nil, err, code
  end
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
  local root = root_of(self)
  local deadline = now() + seconds
  repeat
    local wait = deadline - now()
    local t = root:timeout()
    if t and t < wait then wait = t end
    root:_pump(wait > 0 and wait or 0)
    expire(root)
  until self._closed or now() >= deadline
  if self._closed then return nil, self._closed[1], self._closed[2] end
  return true
end

-- The embedding protocol (cqueues'): watch pollfd() for events(), wake up
-- after timeout() seconds at the latest, then call step(), which never blocks.
-- An attached session answers for its root's connection.
function methods:pollfd()
  if self._closed then return nil end
  return root_of(self)._conn:fd()
end

function methods:events()
  if self._closed then return nil end
  return root_of(self)._conn:wantsWrite() and "rw" or "r"
end

function methods:timeout()
  local root = root_of(self)
  local soonest
  local function scan(s)
    for _, p in pairs(s._pending) do
      if p.callback and (soonest == nil or p.deadline < soonest) then soonest = p.deadline end
    end
  end
  scan(root)
  for child in pairs(root._attached) do scan(child) end
  if soonest == nil then return nil end
  local left = soonest - now()
  return left > 0 and left or 0
end

function methods:step()
  local root = root_of(self)
  root:_pump(0)
  expire(root)
  if self._closed then return nil, self._closed[1], self._closed[2] end
  return true
end

--- setWaiter(fn | nil): fn(seconds, session) is called before each wait;
--- when it returns true it has done the waiting (e.g. yielded to an event
--- loop that resumes it once pollfd() is readable or the time is up).
--- On an attached session it sets its root's (which does the waiting).
function methods:setWaiter(fn)
  if fn ~= nil and type(fn) ~= "function" then error("setWaiter takes a function or nil", 2) end
  rawset(root_of(self), "_waiter", fn)
end

function methods:isOpen()
  return not self._closed
end

--- stream{path=, method=, field=, replyId=, noClobber=, force=, command=} -> stream | nil, message, code
--- A snapshot's worth of data on this session: the C sink writes the
--- `field` of `method`'s events (or of the reply to command replyId) to a
--- new private file named after path; {} when Lua takes the data itself.
--- The stream waits, links the file in or drops it (transport/stream.lua).
function methods:stream(o)
  if type(o) ~= "table" then error("stream takes a table {path=, method=, field=}", 2) end
  return require("memdbg.transport.stream").open({
    conn = self._conn,
    pump = function(wait) self:_pump(wait) end,
    forget = function(id) self._pending[id] = nil end,
    closed = function() return self._closed end,
  }, o)
end

--- close(): idempotent; pending commands fail with ECLOSED (an attached
--- session's own, and on the root every attached session's too).
function methods:close()
  if rawget(self, "_root") then return self:_closeAttached() end
  if not self._closed then
    self._closed = { "the session was closed", "ECLOSED" }
    for _, p in pairs(self._pending) do complete(self, p, nil, "the session was closed", "ECLOSED") end
    for child in pairs(self._attached) do close_attached(child, "the session was closed", "ECLOSED") end
  end
  if self._pumping then
    self._closeLater = true
    return
  end
  local mem = rawget(self, "memory")
  if mem and mem.close then mem:close() end
  if self._conn then self._conn:close() end
end

function methods:_transmit(id, method, params, sessionId, timeout)
  local route = rawget(self, "_route")
  if not route then
    return self._conn:send(json.encode({ id = id, method = method, params = params, sessionId = sessionId }))
  end
  if route.kind == "flat" then
    return self._root._conn:send(json.encode({ id = id, method = method, params = params,
      sessionId = route.sessionId }))
  end
  return route.send(self, id, json.encode({ id = id, method = method, params = params }), timeout)
end

--------------------------------------------------------- attached sessions

local children = require("memdbg.transport.children")

-- Ends an attached session (and those attached under it): its pending
-- commands fail with (text, code), and it leaves its root's routes.
function close_attached(child, text, code)
  if child._closed then return end
  child._closed = { text, code }
  local root = child._root
  root._attached[child] = nil
  local route = child._route
  if route.kind == "flat" then
    if root._flat[route.sessionId] == child then root._flat[route.sessionId] = nil end
  elseif child.parent._workers[route.sessionId] == child then
    child.parent._workers[route.sessionId] = nil
  end
  for _, p in pairs(child._pending) do complete(child, p, nil, text, code) end
  for other in pairs(root._attached) do
    if other.parent == child then close_attached(other, text, code) end
  end
  emit(child, "memdbg.closed", { message = text, code = code })
end

-- closesRoot: a session memdbg connected for this child alone
-- (isolates.connect) closes with it.
function methods:_closeAttached()
  if rawget(self, "closesRoot") then
    rawset(self, "closesRoot", nil)
    self:_closeAttached()
    return self._root:close()
  end
  if self._closed then return end
  -- leave the runtime as we found it while the session still answers (not
  -- from inside an event handler: that would wait inside the pump)
  if not self._root._pumping then
    local mem = rawget(self, "memory")
    if mem and mem.close then mem:close() end
    if self._route.explicit and self.parent:isOpen() then
      self.parent:sendCommand { method = "Target.detachFromTarget", params = { sessionId = self.sessionId },
        timeout = 2 }
    end
  end
  close_attached(self, "the session was closed", "ECLOSED")
end

-- What a session knows of its children: kids = {info, ...} in the order
-- they came; info = {id, type, title, url, raw, route = {kind, sessionId}}.
local function kids(self)
  local k = rawget(self, "_kids")
  if not k then
    k = {}
    rawset(self, "_kids", k)
  end
  return k
end

local function forget_kid(self, sessionId)
  local k = kids(self)
  for i = #k, 1, -1 do
    if k[i].route.sessionId == sessionId then return table.remove(k, i) end
  end
end

-- The connection as an attached session sees it: the root's, with the
-- snapshot sink told whose chunks to take.
local MISSED = "a snapshot chunk reached Lua instead of the file (the runtime sent it in a shape the sink "
  .. "does not recognise)"
local function attached_conn(child)
  local conn = child._root._conn
  local route = child._route
  local proxy = {}
  function proxy.sinkStart(_, o)
    local c = {}
    for k, v in pairs(o) do c[k] = v end
    if route.kind == "flat" then c.sessionId = route.sessionId else c.worker = route.sessionId end
    local ok, err, code = conn:sinkStart(c)
    if ok then
      rawset(child, "_sinkMethod", o.method)
      rawset(child, "_sinkMissed", nil)
    end
    return ok, err, code
  end
  function proxy.sinkStatus()
    local b, c, emsg, ecode = conn:sinkStatus()
    if not emsg and rawget(child, "_sinkMissed") then emsg, ecode = MISSED, "EPROTO" end
    return b, c, emsg, ecode
  end
  function proxy.sinkFinish(_, final, keep)
    local missed = rawget(child, "_sinkMissed")
    rawset(child, "_sinkMethod", nil)
    rawset(child, "_sinkMissed", nil)
    if missed and final then
      conn:sinkFinish(nil, keep)
      return nil, MISSED, "EPROTO"
    end
    return conn:sinkFinish(final, keep)
  end
  return setmetatable(proxy, { __index = function(_, k)
    local v = conn[k]
    if type(v) == "function" then return function(_, ...) return v(conn, ...) end end
    return v
  end })
end

-- The attached session for a child (the open one if there is one).
local function open_child(parent, info)
  local root = root_of(parent)
  local route = info.route
  local existing = route.kind == "flat" and root._flat[route.sessionId] or parent._workers[route.sessionId]
  if existing then return existing end
  local child = setmetatable({
    _root = root, _route = route, _nextId = 1, _pending = {}, _subs = {}, _workers = {},
    parent = parent, sessionId = route.sessionId, target = info.raw,
    isolate = { id = info.id, type = info.type, title = info.title, url = info.url },
    runtime = parent.runtime, url = parent.url, endpoint = parent.endpoint, version = parent.version,
    traffic = parent.traffic,
  }, Session)
  child._conn = attached_conn(child)
  if route.kind == "flat" then root._flat[route.sessionId] = child else parent._workers[route.sessionId] = child end
  root._attached[child] = true
  return child
end

-- A worker's message goes as a string in its parent's
-- NodeWorker.sendMessageToWorker; a failure of that fails the command.
local function send_to_worker(child, id, text, timeout)
  child.parent:sendCommand { method = "NodeWorker.sendMessageToWorker", timeout = timeout,
    params = { sessionId = child._route.sessionId, message = children.ascii(text) },
    callback = function(r, err, code)
      local p = child._pending[id]
      if not r and p then complete(child, p, nil, err, code) end
    end }
  return true
end

-- Child bookkeeping and the NodeWorker route, for any session's events.
-- Returns true when the event was a worker's message, delivered to it.
function route_children(self, msg)
  local m, params = msg.method, msg.params
  if type(params) ~= "table" then return false end
  if m == "NodeWorker.receivedMessageFromWorker" then
    local child = self._workers[params.sessionId]
    if not child or type(params.message) ~= "string" then return false end
    local inner, jerr = json.decode(params.message)
    if type(inner) ~= "table" then
      route_malformed(child, params.message, jerr)
    else
      deliver(child, inner)
    end
    return true
  end
  local route = rawget(self, "_route")
  if route and route.kind == "flat" and children.ended(m) then
    -- let go of it, or the same worker started again waits for us
    local parent = self.parent
    forget_kid(parent, route.sessionId)
    close_attached(self, children.gone_message(self.isolate, m), "ECLOSED")
    if parent:isOpen() then
      parent:sendCommand { method = "Target.detachFromTarget", params = { sessionId = route.sessionId },
        callback = function() end }
    end
    return false
  end
  local info, gone = children.event(self, m, params)
  if info then
    forget_kid(self, info.route.sessionId)
    local k = kids(self)
    k[#k + 1] = info
    if info.route.kind == "worker" then info.route.send = send_to_worker end
  elseif gone then
    local was = forget_kid(self, gone)
    local child = self._workers[gone] or root_of(self)._flat[gone]
    if child and child.parent == self then
      close_attached(child, children.gone_message(was or child.isolate, m), "ECLOSED")
    end
  end
  return false
end

--- children() -> { {id, type, title, url}, ... } | nil, message, code
--- The isolates under this session: Node's and Deno's worker_threads /
--- Workers, Chromium's dedicated, shared and service workers and
--- out-of-process iframes. The first call turns discovery on
--- (NodeWorker.enable, or Target.setAutoAttach with flatten); the list
--- follows the runtime's events from then on, and each call on Chromium
--- attaches the shared workers of the page's origin that have come since.
--- EUNSUPPORTED where the runtime has no such thing (Bun, workerd, a Node
--- worker's own workers).
function methods:children()
  if self._closed then return nil, self._closed[1], self._closed[2] end
  local function known(id) return children.find(kids(self), id) ~= nil end
  if not rawget(self, "_kidsOn") then
    local ok, err, code = children.discover(self, known)
    if not ok then return nil, err, code end
    rawset(self, "_kidsOn", true)
  else
    -- shared workers come from no page's events: look for new ones
    local ok, err, code = children.adopt(self, known)
    if not ok then return nil, err, code end
  end
  local out = {}
  for _, k in ipairs(kids(self)) do out[#out + 1] = { id = k.id, type = k.type, title = k.title, url = k.url } end
  return out
end

--- attach(target) -> attached session | nil, message, code
--- target: a child's id (from children()), or function(info) -> bool (info:
--- Chromium's targetInfo, Node's workerInfo); on Chromium also any targetId
--- or type ("page") Target.getTargets lists; nil picks the first page
--- (Chromium's browser-level endpoint answers no heap commands itself).
--- The attached session has the same sendCommand, subscribe, memory and
--- close; closing it leaves its parent open.
function methods:attach(target)
  if target ~= nil and type(target) ~= "string" and type(target) ~= "function" then
    error("attach: target must be a child's id, a targetId, a type or a function", 2)
  end
  if self._closed then return nil, self._closed[1], self._closed[2] end
  local info = children.find(kids(self), target)
  if not info and target ~= nil and self.runtime ~= "chrome" then
    local list, err, code = self:children()
    if not list then return nil, err, code end
    info = children.find(kids(self), target)
    if not info then return nil, children.no_match(self, target, list), "ENOTARGET" end
  end
  if info then return open_child(self, info) end
  -- Chromium: any target, attached on demand
  local err, code
  info, err, code = children.attach_target(self, target)
  if not info then return nil, err, code end
  return open_child(self, info)
end

Session.__gc = function(self)
  if not rawget(self, "_root") and self._conn then self._conn:close() end
end
Session.__close = function(self) self:close() end
Session.__tostring = function(self)
  if rawget(self, "_root") then
    return string.format("memdbg.session{%s %s %s %s %s}", self.runtime, self.url, self.isolate.type,
      self.isolate.id, self._closed and "closed" or "open")
  end
  return string.format("memdbg.session{%s %s %s}", self.runtime, self.url, self._closed and "closed" or "open")
end

return Session
