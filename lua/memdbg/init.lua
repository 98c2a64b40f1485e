-- memdbg: a memory debugger for JavaScript runtimes.
--   local memdbg = require "memdbg"
--   local session, err, code = memdbg.connect{ endpoint = "http://127.0.0.1:9229" }
-- Errors come back as nil, message, code (see README.md for the codes);
-- argument mistakes raise.
local endpoint = require("memdbg.transport.endpoint")
local connector = require("memdbg.transport.connector")

local memdbg = { _VERSION = "memdbg 0.1.0" }

local DEFAULT_ENDPOINT = "http://127.0.0.1:9229"

local function parse_or_raise(text, level)
  local ep, err = endpoint.parse(text)
  if not ep then error(err, level + 1) end
  return ep
end

local function check_timeout(name, t, level)
  if t ~= nil and (type(t) ~= "number" or t <= 0 or t ~= t) then
    error(name .. ": timeout must be a positive number of seconds", level + 1)
  end
end

--- targets(endpoint[, {timeout=, allowRemote=}]) -> array of {id, type, title, url, webSocketDebuggerUrl}
function memdbg.targets(text, opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("targets: options must be a table", 2) end
  check_timeout("targets", opts.timeout, 2)
  local ep = parse_or_raise(text or DEFAULT_ENDPOINT, 2)
  return connector.run(connector.start(ep, opts, true))
end

--- connect{endpoint=, target=, timeout=10, allowRemote=false, maxMessage=512 MiB, async=false,
---   traffic=fn} -> session | nil, message, code
--- The timeout bounds the whole attempt (lookup, TCP, discovery, upgrade) and
--- is the session's default command timeout. With async = true it returns a
--- connector at once, to drive from an outside loop: watch c:pollfd() for
--- c:events() and call c:step() when it is ready or c:timeout() seconds have
--- passed; step() never blocks and returns false until it returns what
--- connect would (the session, or nil, message, code). c:close() abandons it.
--- traffic = fn() is called while the session waits on the runtime (GC,
--- snapshots, tracking, sampling: session.memory's whileWaiting default, and
--- the workflows' waits): workerd collects garbage only while it handles
--- requests. It is the session's `traffic` field.
function memdbg.connect(opts)
  if type(opts) == "string" then opts = { endpoint = opts } end
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then error("connect takes a table {endpoint=, target=, timeout=}", 2) end
  check_timeout("connect", opts.timeout, 2)
  local t = opts.target
  if t ~= nil and type(t) ~= "string" and type(t) ~= "function" then
    error("connect: target must be an id, a type or a function", 2)
  end
  if opts.traffic ~= nil and type(opts.traffic) ~= "function" then
    error("connect: traffic must be a function", 2)
  end
  if opts.maxMessage ~= nil and (type(opts.maxMessage) ~= "number" or opts.maxMessage < 1) then
    error("connect: maxMessage must be a positive number of bytes", 2)
  end
  local ep = parse_or_raise(opts.endpoint or DEFAULT_ENDPOINT, 2)
  local c = connector.start(ep, opts)
  if opts.async then return c end
  return connector.run(c)
end

memdbg.endpoint = endpoint

return memdbg
