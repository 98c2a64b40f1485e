-- Connecting, as named phases driven one non-blocking step at a time:
--
--   resolve the host -> refuse non-loopback addresses -> GET /json/version
--   -> GET /json/list -> choose the target -> check its ws:// URL
--   -> resolve and refuse again -> TCP connect + websocket upgrade -> session
--
-- The whole attempt is bounded by the caller's timeout; a phase that runs out
-- of it fails with ETIMEDOUT and says which phase it was. memdbg.connect runs a
-- connector to the end; memdbg.connect{async = true} returns it, for an
-- outside loop to drive with the cqueues protocol (see init.lua):
--   pollfd() (one descriptor for the whole attempt), events(), timeout(), step().
local core = require("memdbg._core")
local endpoint = require("memdbg.transport.endpoint")
local discovery = require("memdbg.transport.discovery")

local connector = {}
local Connector = {}
Connector.__index = Connector

local now = core.now
local unpack = table.unpack or unpack -- luacheck: ignore 113

------------------------------------------------------------- waiting inside

-- Runs inside the connector's coroutine: polls `done()` until it is true,
-- yielding to the driver between polls (obj: what to wait on, with fd() and
-- wantsWrite(), or nil to be polled again soon). False once `deadline` passes.
local function wait_until(self, done, obj, deadline)
  deadline = math.min(deadline or self.deadline, self.deadline)
  while not done() do
    if now() >= deadline then return false end
    self.waiting = obj
    coroutine.yield()
  end
  self.waiting = nil
  return true
end

-- Remembers a C object so that close() can end it wherever the attempt is.
local function own(self, obj)
  self.objects[obj] = true
  return obj
end

local function release(self, obj)
  self.objects[obj] = nil
  obj:close()
end

local function timeout_message(self)
  return string.format("no answer within %g s", self.seconds)
end

------------------------------------------------------------------ phases

-- The addresses of a host: a literal as is; a name through the resolver.
local function resolve(self, ep_text, host)
  local lit = endpoint.literal(host)
  if lit then return { lit } end
  local r, err, code = core.resolveStart(host)
  if not r then return nil, discovery.failure("DNS lookup", ep_text, err, code) end
  own(self, r)
  local addrs, rerr, rcode
  local ok = wait_until(self, function()
    addrs, rerr, rcode = r:result()
    return addrs ~= nil or rerr ~= nil
  end, nil)
  release(self, r)
  if not ok then return nil, discovery.failure("DNS lookup of " .. host, ep_text, timeout_message(self), "ETIMEDOUT") end
  if not addrs then return nil, discovery.failure("DNS lookup", ep_text, rerr, rcode) end
  if #addrs == 0 then return nil, discovery.failure("DNS lookup", ep_text, "no address for " .. host, "ENOTFOUND") end
  return addrs
end

-- An inspector is remote code execution: every address must be loopback,
-- unless the caller allows remote hosts.
local function refuse_remote(self, ep_text, host, addrs)
  if self.opts.allowRemote then return true end
  for _, a in ipairs(addrs) do
    if not endpoint.is_loopback_address(a) then
      local via = a ~= host and (" (" .. host .. " is " .. a .. ")") or ""
      return nil, string.format("refusing to connect to %s%s: it is not a loopback address, and an inspector "
        .. "gives full control of the runtime; pass allowRemote = true (--allow-remote) if you mean it",
        ep_text, via), "EREMOTE"
    end
  end
  return true
end

local function addresses(self, ep_text, host)
  local addrs, err, code = resolve(self, ep_text, host)
  if not addrs then return nil, err, code end
  local ok, rerr, rcode = refuse_remote(self, ep_text, host, addrs)
  if not ok then return nil, rerr, rcode end
  return addrs
end

-- One GET: status, body | nil, message, code, late (late: the TCP connection was accepted).
local function http_get(self, addr, port, path, deadline)
  local req, err, code = core.httpStart(addr, port, path, { maxBody = discovery.MAX_BODY })
  if not req then return nil, err, code end
  own(self, req)
  local ok = wait_until(self, function()
    local st = req:service(0)
    return st == "done" or st == "failed"
  end, req, deadline)
  local phase = req:phase()
  if not ok then
    release(self, req)
    return nil, string.format("GET %s: %s (%s)", path, timeout_message(self), phase), "ETIMEDOUT",
      phase ~= "TCP connect"
  end
  local status, body, rcode = req:result()
  release(self, req)
  if not status then return nil, "GET " .. path .. ": " .. body, rcode, phase ~= "TCP connect" end
  return status, body
end

local CONNECT_ERRORS = { ECONNREFUSED = true, EHOSTUNREACH = true, ENOTFOUND = true }

-- GET path as JSON: value | nil, message, code, late
local function get_json(self, ep, addr, path, deadline)
  local status, body, code, late = http_get(self, addr, ep.port, path, deadline)
  if not status then return nil, body, code, late end
  return discovery.decode(status, body, path, endpoint.http_url(ep))
end

-- /json/version on the first address that accepts: version, addr | nil, message, code, late
local function first_version(self, ep, addrs, deadline)
  local v, err, code, late
  for i, addr in ipairs(addrs) do
    v, err, code, late = get_json(self, ep, addr, "/json/version", deadline)
    if v or not CONNECT_ERRORS[code] or i == #addrs then return v, addr, err, code, late end
  end
end

-- Discovery: resolve, /json/version, /json/list. Returns
-- {addr, version, runtime, list} | nil, message, code
local function discover(self, ep)
  local addrs, err, code = addresses(self, ep.text, ep.host)
  if not addrs then return nil, err, code end
  local version, addr, verr, vcode, late = first_version(self, ep, addrs)
  if not version and vcode ~= "EHTTP" and vcode ~= "EPROTO" then
    return nil, discovery.failure("discovery", ep.text, verr, vcode, late)
  end
  local runtime = discovery.runtime_of(version)
  local list, lerr, lcode, llate = get_json(self, ep, addr, "/json/list")
  if list == nil and lcode == "EHTTP" then
    list, lerr, lcode, llate = get_json(self, ep, addr, "/json")
  end
  local targets
  if list ~= nil then targets, lerr, lcode = discovery.targets(list) end
  if targets then return { addr = addr, version = version, runtime = runtime, list = targets } end
  if lcode ~= "EHTTP" and lcode ~= "EPROTO" then
    return nil, discovery.failure("target list", ep.text, lerr, lcode, llate)
  end
  if tostring(lerr):match("byte limit") then
    return nil, string.format("cannot read the target list of %s: %s (%d MiB; no inspector sends one that "
      .. "long: is this an inspector?)", ep.text, lerr, math.floor(discovery.MAX_BODY / (1024 * 1024))), "EPROTO"
  end
  if not discovery.is_inspector_version(version) then
    return nil, discovery.not_inspector(ep.text, verr or "no runtime named", lerr)
  end
  if lcode == "EHTTP" then return nil, discovery.no_list(ep.text, lerr, runtime) end
  return nil, discovery.failure("target list", ep.text, lerr, lcode, llate)
end

-- A websocket URL that came from a discovery answer: checked before any byte
-- of it is sent (a CR LF in it would add lines to our request).
local function check_ws_url(ep_text, url)
  if type(url) ~= "string" then
    return nil, "the target at " .. ep_text .. " has no websocket URL", "EPROTO"
  end
  if #url > endpoint.MAX_URL then
    return nil, string.format("refusing the target's websocket URL from %s: longer than %d characters",
      ep_text, endpoint.MAX_URL), "EPROTO"
  end
  if url:find("[%c%s\127]") then
    return nil, string.format("refusing the target's websocket URL from %s: it contains a control character "
      .. "or a space (%s)", ep_text, endpoint.show(url)), "EPROTO"
  end
  local ws, err = endpoint.parse(url)
  if not ws or ws.scheme ~= "ws" then
    return nil, string.format("the target's websocket URL from %s is not a ws:// URL: %s", ep_text,
      err or url), "EPROTO"
  end
  return ws
end

-- TCP connect and websocket upgrade: conn | nil, message, code
local function open_ws(self, url, ws, addr)
  local conn, err, code = core.wsOpen(addr, ws.port, ws.path, { maxMessage = self.opts.maxMessage })
  if not conn then return nil, err .. " (" .. url .. ")", code end
  own(self, conn)
  local ok = wait_until(self, function() return conn:service(0) ~= "connecting" end, conn)
  local phase = conn:phase()
  if not ok then
    release(self, conn)
    return nil, discovery.failure(phase, url, timeout_message(self), "ETIMEDOUT", phase ~= "TCP connect")
  end
  if conn:upgraded() then
    -- the session's now, even if the runtime closed it right after the
    -- handshake (wrangler refuses a second client so): the session reports
    -- that with the close code and what it means for that runtime
    self.objects[conn] = nil
    return conn
  end
  local msg, ecode = conn:error()
  release(self, conn)
  msg, ecode = msg or "the websocket connection failed", ecode or "ECLOSED"
  if phase == "TCP connect" then return nil, discovery.failure("websocket", url, msg, ecode) end
  return nil, string.format("%s (%s)", msg, url), ecode
end

-- The whole attempt; returns what connect returns.
local function run(self)
  local ep, opts = self.ep, self.opts
  local url, version, target, runtime
  if ep.scheme == "ws" then
    url = ep.text
    -- best effort: /json/version on the same port names the runtime (Bun answers it)
    local addrs, err, code = addresses(self, ep.text, ep.host)
    if not addrs then return nil, err, code end
    if self.listOnly then
      return nil, ep.text .. " is a websocket URL: a target list is read from an http:// endpoint", "ENOTARGET"
    end
    version = first_version(self, ep, addrs, math.min(self.deadline, now() + 2))
    runtime = discovery.runtime_of(version)
  else
    local d, err, code = discover(self, ep)
    if not d then return nil, err, code end
    if self.listOnly then return d.list end
    version, runtime = d.version, d.runtime
    target, err, code = discovery.choose(d.list, opts.target, runtime)
    if not target then return nil, err .. " at " .. ep.text, code end
    url = target.webSocketDebuggerUrl
  end
  local ws, err, code = check_ws_url(ep.text, url)
  if not ws then return nil, err, code end
  local addrs
  addrs, err, code = addresses(self, url, ws.host)
  if not addrs then return nil, err, code end
  local conn
  for i, addr in ipairs(addrs) do
    conn, err, code = open_ws(self, url, ws, addr)
    if conn or not CONNECT_ERRORS[code] or i == #addrs then break end
  end
  if not conn then return nil, err, code end
  return require("memdbg.transport.session").new(conn, {
    endpoint = ep.text, url = url, runtime = runtime, version = version, target = target,
    timeout_default = self.seconds, traffic = self.opts.traffic,
  })
end

---------------------------------------------------------- the pollable object

--- connector.start(ep, opts[, listOnly]) -> connector (ep parsed, opts checked)
function connector.start(ep, opts, listOnly)
  local timeout = opts.timeout or 10
  local self = setmetatable({
    ep = ep, opts = opts, seconds = timeout, deadline = now() + timeout, listOnly = listOnly,
    objects = {}, pollset = core.pollset(),
  }, Connector)
  self.co = coroutine.create(run)
  return self
end

--- step() -> false while connecting; then the session (the target list for
--- memdbg.targets), or nil, message, code. Never blocks.
function Connector:step()
  if self.result then return unpack(self.result, 1, 3) end
  local ok, a, b, c = coroutine.resume(self.co, self)
  if not ok then
    self:close()
    error(debug.traceback(self.co, a), 0)
  end
  if coroutine.status(self.co) == "dead" then
    self.result = { a, b, c }
    self.waiting = nil
    if self.pollset then self.pollset:watch(nil) end
    return a, b, c
  end
  local w = self.waiting
  self.pollset:watch(w and w:fd(), w and w:wantsWrite())
  return false
end

--- The descriptor to watch for readability; the same one for the whole attempt.
function Connector:pollfd()
  return self.pollset and self.pollset:fd()
end

function Connector.events(_)
  return "r"
end

--- Seconds until step() must run again at the latest (nil once finished).
function Connector:timeout()
  if self.result then return nil end
  if not self.waiting then return 0 end -- not started, or between phases
  local left = math.max(0, self.deadline - now())
  if not self.waiting.fd or not self.waiting:fd() then return math.min(left, 0.01) end -- a lookup: polled
  return left
end

--- Whether the attempt has finished (step() then returns its result).
function Connector:done()
  return self.result ~= nil
end

--- close(): abandons the attempt (a session already returned is not closed).
--- Safe to call twice.
function Connector:close()
  for obj in pairs(self.objects) do obj:close() end
  self.objects = {}
  if self.pollset then self.pollset:close() end
  self.pollset = nil
  if not self.result then self.result = { nil, "the connection attempt was abandoned", "ECLOSED" } end
end

Connector.__gc = Connector.close
Connector.__close = Connector.close
Connector.__tostring = function(self)
  return string.format("memdbg.connector{%s %s}", self.ep.text, self.result and "done" or "connecting")
end

--- run(connector) -> its result: the blocking form.
function connector.run(c)
  while true do
    local a, b, code = c:step()
    if a ~= false then
      c:close()
      return a, b, code
    end
    local t = c:timeout()
    if t and t > 0 then core.wait(c:pollfd(), "r", t) end
  end
end

return connector
