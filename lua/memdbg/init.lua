-- memdbg: a memory debugger for JavaScript runtimes.
--   local memdbg = require "memdbg"
--   local session, err, code = memdbg.connect{ endpoint = "http://127.0.0.1:9229" }
-- Errors come back as nil, message, code (see README.md for the codes);
-- argument mistakes raise.
local core = require("memdbg.core")
local endpoint = require("memdbg.endpoint")
local discovery = require("memdbg.discovery")
local Session = require("memdbg.session")

local memdbg = { _VERSION = "memdbg 0.1.0" }

local DEFAULT_ENDPOINT = "http://127.0.0.1:9229"

local function parse_or_raise(text, level)
  local ep, err = endpoint.parse(text)
  if not ep then error(err, level + 1) end
  return ep
end

local function refuse_remote(ep, allow)
  if allow or endpoint.is_loopback(ep.host) then return nil end
  return string.format("refusing to connect to %s: it is not a loopback address, and an inspector gives "
    .. "full control of the runtime; pass allowRemote = true (--allow-remote) if you mean it", ep.text), "EREMOTE"
end

--- targets(endpoint[, {timeout=, allowRemote=}]) -> array of {id, type, title, url, webSocketDebuggerUrl}
function memdbg.targets(text, opts)
  opts = opts or {}
  local ep = parse_or_raise(text or DEFAULT_ENDPOINT, 2)
  local rerr, rcode = refuse_remote(ep, opts.allowRemote)
  if rerr then return nil, rerr, rcode end
  local list, err, code = discovery.list(ep, opts.timeout or 10)
  if not list then
    if code == "EHTTP" then
      return nil, string.format("%s has no target list (%s): for Bun, connect by the ws:// URL it listens on",
        ep.text, err), "ENOTARGET"
    end
    return nil, discovery.failure("target list", ep.text, err, code)
  end
  return list
end

-- Opens the websocket and waits until it is open (or fails, or times out).
local function open_ws(url, ws, opts, timeout)
  local ok, perr, pcode = core.probe(endpoint.address(ws.host), ws.port, timeout)
  if not ok then return nil, discovery.failure("websocket", url, perr, pcode) end
  local conn, err, code = core.wsOpen(endpoint.address(ws.host), ws.port, ws.path,
    { maxMessage = opts.maxMessage })
  if not conn then return nil, err .. " (" .. url .. ")", code end
  local deadline = core.now() + timeout
  while conn:state() == "connecting" and core.now() < deadline do
    conn:service(math.min(0.1, deadline - core.now()))
  end
  local state = conn:state()
  if state == "open" then return conn end
  local msg, ecode = conn:error()
  conn:close()
  if state == "connecting" then
    return nil, string.format("the websocket handshake with %s did not finish within %g s", url, timeout), "ETIMEDOUT"
  end
  return nil, string.format("%s (%s)", msg or "the websocket connection failed", url), ecode or "ECLOSED"
end

--- connect{endpoint=, target=, timeout=10, allowRemote=false, maxMessage=512 MiB} -> session
function memdbg.connect(opts)
  if type(opts) == "string" then opts = { endpoint = opts } end
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then error("connect takes a table {endpoint=, target=, timeout=}", 2) end
  if opts.timeout ~= nil and (type(opts.timeout) ~= "number" or opts.timeout <= 0) then
    error("connect: timeout must be a positive number of seconds", 2)
  end
  local t = opts.target
  if t ~= nil and type(t) ~= "string" and type(t) ~= "function" then
    error("connect: target must be an id, a type or a function", 2)
  end
  local text = opts.endpoint or DEFAULT_ENDPOINT
  local ep = parse_or_raise(text, 2)
  local rerr, rcode = refuse_remote(ep, opts.allowRemote)
  if rerr then return nil, rerr, rcode end
  local timeout = opts.timeout or 10

  local url, version, target
  if ep.scheme == "ws" then
    url = ep.text
    -- best effort: /json/version on the same port names the runtime
    version = discovery.version(ep, math.min(timeout, 2))
  else
    local err, code
    version, err, code = discovery.version(ep, timeout)
    if not version and code ~= "EHTTP" and code ~= "EPROTO" then
      return nil, discovery.failure("discovery", ep.text, err, code)
    end
    local runtime = discovery.runtime_of(version)
    local list
    list, err, code = discovery.list(ep, timeout)
    if not list then
      if runtime == "bun" or code == "EHTTP" then
        return nil, string.format("%s answers no target list (%s): Bun speaks the WebKit inspector protocol; "
          .. "connect by the ws:// URL it listens on (bun --inspect=127.0.0.1:PORT/NAME)", ep.text, err), "ENOTARGET"
      end
      return nil, discovery.failure("target list", ep.text, err, code)
    end
    target, err, code = discovery.choose(list, opts.target, runtime)
    if not target then return nil, err .. " at " .. ep.text, code end
    url = target.webSocketDebuggerUrl
  end

  local ws = endpoint.parse(url)
  if not ws or ws.scheme ~= "ws" then
    return nil, "the target's websocket URL is not ws://: " .. tostring(url), "EPROTO"
  end
  rerr, rcode = refuse_remote(ws, opts.allowRemote)
  if rerr then return nil, rerr, rcode end
  local conn, err, code = open_ws(url, ws, opts, timeout)
  if not conn then return nil, err, code end
  return Session.new(conn, {
    endpoint = ep.text,
    url = url,
    runtime = discovery.runtime_of(version),
    version = version,
    target = target,
    timeout_default = timeout,
  })
end

memdbg.endpoint = endpoint
memdbg.core = core

return memdbg
